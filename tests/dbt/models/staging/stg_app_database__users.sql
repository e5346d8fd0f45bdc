with source as (
    select * from {{ source('app_database', 'users') }}
),

renamed as (
    select
        id as user_id,
        customer_id as account_id,
        first_name,
        last_name,
        email,
        role,
        created_date,
        last_login_date,
        created_at,
        updated_at
    from source
)

select
    *,
    first_name || ' ' || last_name as full_name,
    case
        when role ilike '%admin%' then 'Admin'
        when role ilike '%manager%' then 'Manager'
        when role ilike '%operator%' then 'Operator'
        when role ilike '%viewer%' then 'Viewer'
        else 'Standard'
    end as role_category,
    case
        when role ilike '%admin%' then 4
        when role ilike '%manager%' then 3
        when role ilike '%operator%' then 2
        else 1
    end as permission_level,
    coalesce(email like '%@%', false) as has_valid_email
from renamed
