with source as (
    select * from {{ source('app_database', 'locations') }}
),

renamed as (
    select
        id as location_id,
        customer_id as account_id,
        name as location_name,
        address,
        city,
        state,
        zip_code,
        country,
        location_type,
        business_type,
        size,
        expected_device_count,
        install_date,
        created_at,
        updated_at
    from source
)

select
    *,
    case
        when country <> 'US' or country is null then 'International'
        when state in ('CA', 'OR', 'WA', 'NV', 'AZ') then 'West'
        when state in ('TX', 'OK', 'AR', 'LA', 'NM') then 'Southwest'
        when state in ('IL', 'IN', 'IA', 'KS', 'MI', 'MN', 'MO', 'NE', 'ND', 'OH', 'SD', 'WI') then 'Midwest'
        when state in ('CT', 'ME', 'MA', 'NH', 'RI', 'VT', 'NJ', 'NY', 'PA') then 'Northeast'
        when state in ('FL', 'GA', 'NC', 'SC', 'VA', 'TN', 'KY', 'WV', 'AL', 'MS') then 'Southeast'
        else 'Other'
    end as region,
    case
        when location_type ilike '%flagship%' then 'Flagship'
        when location_type ilike '%standard%' then 'Standard'
        when location_type ilike '%express%' then 'Express'
        when location_type ilike '%kiosk%' then 'Kiosk'
        else 'Other'
    end as location_category,
    case
        when business_type ilike '%restaurant%' then 'Restaurant'
        when business_type ilike '%bar%' then 'Bar'
        when business_type ilike '%brewery%' then 'Brewery'
        when business_type ilike '%hotel%' then 'Hotel'
        when business_type ilike '%club%' then 'Club'
        else 'Other'
    end as venue_category,
    case lower(size)
        when 'small' then 1
        when 'medium' then 2
        when 'large' then 3
        when 'enterprise' then 4
    end as size_tier
from renamed
