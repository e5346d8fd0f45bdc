{{ config(materialized='incremental', on_schema_change='fail', unique_key='session_id') }}

with source as (
    select * from {{ source('app_database', 'user_sessions') }}
    {% if is_incremental() %}
    where start_time > (select max(start_time) from {{ this }})
    {% endif %}
),

renamed as (
    select
        session_id,
        user_id,
        customer_id as account_id,
        start_time,
        end_time,
        duration_seconds,
        page_views,
        actions_taken,
        device_type,
        browser,
        created_at
    from source
)

select
    *,
    case
        when device_type ilike '%mobile%' or device_type ilike '%phone%' then 'Mobile'
        when device_type ilike '%tablet%' or device_type ilike '%ipad%' then 'Tablet'
        when device_type ilike '%desktop%' or device_type ilike '%computer%' then 'Desktop'
        else 'Other'
    end as device_category,
    case
        when browser ilike '%chrome%' then 'Chrome'
        when browser ilike '%safari%' then 'Safari'
        when browser ilike '%firefox%' then 'Firefox'
        when browser ilike '%edge%' then 'Edge'
        else 'Other'
    end as browser_family,
    case
        when duration_seconds < 30 then 'Bounce'
        when duration_seconds < 120 then 'Quick'
        when duration_seconds < 300 then 'Short'
        when duration_seconds < 900 then 'Medium'
        when duration_seconds < 1800 then 'Long'
        else 'Extended'
    end as session_length_category,
    case
        when page_views < 2 then 'Single Page'
        when page_views < 5 then 'Light'
        when page_views < 10 then 'Moderate'
        else 'Heavy'
    end as engagement_level
from renamed
