with source as (
    select * from {{ source('app_database', 'accounts') }}
),

renamed as (
    select
        id as account_id,
        name as account_name,
        email,
        business_type,
        location_count,
        created_at,
        updated_at
    from source
)

select
    *,
    -- the platform reads business_type as a plan: exact 'enterprise' / 'professional' / 'business' / 'trial'
    case when business_type = 'trial' then 'trial' else 'active' end as account_status,
    case business_type
        when 'enterprise' then 'enterprise'
        when 'professional' then 'mid_market'
        when 'business' then 'small_business'
        else 'startup'
    end as company_size_category,
    case business_type
        when 'enterprise' then 1
        when 'professional' then 2
        when 'business' then 3
        else 4
    end as account_type_tier
from renamed
