{{ config(materialized='incremental', on_schema_change='fail', unique_key='page_view_id') }}

with source as (
    select * from {{ source('app_database', 'page_views') }}
    {% if is_incremental() %}
    where "timestamp" > (select max(page_view_timestamp) from {{ this }})
    {% endif %}
),

renamed as (
    select
        page_view_id,
        session_id,
        user_id,
        customer_id as account_id,
        page_url,
        page_title,
        "timestamp" as page_view_timestamp,
        time_on_page_seconds,
        referrer_url,
        created_at
    from source
)

select
    *,
    case
        when page_url like '%/dashboard%' then 'Dashboard'
        when page_url like '%/reports%' then 'Reports'
        when page_url like '%/settings%' then 'Settings'
        when page_url like '%/devices%' then 'Devices'
        when page_url like '%/locations%' then 'Locations'
        when page_url like '%/users%' then 'Users'
        when page_url like '%/analytics%' then 'Analytics'
        when page_url like '%/billing%' then 'Billing'
        when page_url like '%/support%' then 'Support'
        when page_url like '%/login%' or page_url like '%/auth%' then 'Authentication'
        when page_url = '/' or page_url like '%/home%' then 'Home'
        else 'Other'
    end as page_category,
    split_part(page_url, '/', 4) as page_path,
    case
        when referrer_url is null then 'Direct'
        when referrer_url like '%google%' then 'Google'
        when referrer_url like '%facebook%' or referrer_url like '%fb.%' then 'Facebook'
        when referrer_url like '%linkedin%' then 'LinkedIn'
        when referrer_url like '%twitter%' or referrer_url like '%t.co%' then 'Twitter'
        when referrer_url like page_url then 'Internal'
        else 'External'
    end as referrer_type,
    case
        when time_on_page_seconds < 10 then 'Bounce'
        when time_on_page_seconds < 30 then 'Quick'
        when time_on_page_seconds < 60 then 'Short'
        when time_on_page_seconds < 180 then 'Medium'
        else 'Long'
    end as time_on_page_category
from renamed
