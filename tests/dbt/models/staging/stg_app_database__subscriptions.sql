with source as (
    select * from {{ source('app_database', 'subscriptions') }}
),

renamed as (
    select
        id as subscription_id,
        customer_id as account_id,
        plan_name,
        status,
        start_date,
        end_date,
        monthly_price,
        billing_cycle,
        created_at,
        updated_at
    from source
)

select
    *,
    case
        when plan_name ilike '%enterprise%' then 'Enterprise'
        when plan_name ilike '%pro%' then 'Professional'
        when plan_name ilike '%business%' then 'Business'
        when plan_name ilike '%starter%' or plan_name ilike '%basic%' then 'Starter'
        when plan_name ilike '%trial%' or plan_name ilike '%free%' then 'Trial'
        else 'Custom'
    end as plan_tier,
    case lower(status)
        when 'active' then 'Active'
        when 'cancelled' then 'Canceled'
        when 'canceled' then 'Canceled'
        when 'expired' then 'Expired'
        when 'trial' then 'Trial'
        when 'pending' then 'Pending'
        else 'Other'
    end as subscription_status,
    case lower(billing_cycle)
        when 'monthly' then 1
        when 'quarterly' then 3
        when 'annual' then 12
        when 'yearly' then 12
    end as billing_cycle_months,
    monthly_price as mrr,
    monthly_price * 12 as arr
from renamed
