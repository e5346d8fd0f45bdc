{{ config(materialized='incremental', on_schema_change='fail', unique_key='usage_id') }}

with source as (
    select * from {{ source('app_database', 'feature_usage') }}
    {% if is_incremental() %}
    where "timestamp" > (select max(usage_timestamp) from {{ this }})
    {% endif %}
),

renamed as (
    select
        usage_id,
        user_id,
        customer_id as account_id,
        feature_name,
        usage_count,
        "timestamp" as usage_timestamp,
        created_at
    from source
)

select
    *,
    case
        when lower(feature_name) like '%report%' then 'Reporting'
        when lower(feature_name) like '%analytics%' then 'Analytics'
        when lower(feature_name) like '%export%' then 'Export'
        when lower(feature_name) like '%api%' then 'API'
        when lower(feature_name) like '%integration%' then 'Integration'
        when lower(feature_name) like '%automation%' then 'Automation'
        when lower(feature_name) like '%alert%' or lower(feature_name) like '%notification%' then 'Alerts'
        when lower(feature_name) like '%dashboard%' then 'Dashboard'
        when lower(feature_name) like '%inventory%' then 'Inventory'
        when lower(feature_name) like '%forecast%' then 'Forecasting'
        else 'Other'
    end as feature_category,
    case
        when lower(feature_name) like '%premium%' or lower(feature_name) like '%advanced%' then 'Premium'
        when lower(feature_name) like '%pro%' then 'Professional'
        when lower(feature_name) like '%basic%' or lower(feature_name) like '%standard%' then 'Standard'
        else 'Unknown'
    end as feature_tier,
    case
        when usage_count <= 1 then 'Single'
        when usage_count <= 5 then 'Light'
        when usage_count <= 20 then 'Moderate'
        when usage_count <= 50 then 'Heavy'
        else 'Power'
    end as usage_intensity,
    coalesce(usage_count > 10, false) as is_adopted,
    extract(hour from usage_timestamp) between 9 and 17
        and extract(isodow from usage_timestamp) between 1 and 5 as is_business_hours
from renamed
