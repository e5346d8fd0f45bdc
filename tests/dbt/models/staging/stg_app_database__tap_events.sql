{{ config(materialized='incremental', on_schema_change='fail', unique_key='tap_event_id') }}

with source as (
    select * from {{ source('app_database', 'tap_events') }}
    {% if is_incremental() %}
    where "timestamp" > (select max(event_timestamp) from {{ this }})
    {% endif %}
),

renamed as (
    select
        id as tap_event_id,
        device_id,
        location_id,
        "timestamp" as event_timestamp,
        event_type,
        status,
        (metrics->>'volume_ml')::numeric as volume_ml,
        (metrics->>'temperature_c')::numeric as temperature_c,
        (metrics->>'pressure_psi')::numeric as pressure_psi,
        (metrics->>'flow_rate_ml_per_sec')::numeric as flow_rate_ml_per_sec,
        (metrics->>'duration_seconds')::numeric as duration_seconds,
        metrics as raw_metrics,
        device_category,
        created_at
    from source
),

derived as (
    select
        *,
        volume_ml / 29.5735 as volume_oz,
        case
            when lower(event_type) like '%pour%' then 'Pour'
            when lower(event_type) like '%clean%' then 'Cleaning'
            when lower(event_type) like '%error%' then 'Error'
            when lower(event_type) like '%maintenance%' then 'Maintenance'
            when lower(event_type) like '%calibration%' then 'Calibration'
            else 'Other'
        end as event_category,
        coalesce(status = 'success', false) as is_successful,
        coalesce(status = 'error' or lower(event_type) like '%error%', false) as is_error,
        coalesce(temperature_c < -5 or temperature_c > 10, false) as temperature_anomaly,
        coalesce(pressure_psi < 10 or pressure_psi > 50, false) as pressure_anomaly,
        case
            when extract(hour from event_timestamp) between 11 and 14 then 'Lunch'
            when extract(hour from event_timestamp) between 17 and 20 then 'Dinner'
            when extract(hour from event_timestamp) between 20 and 23 then 'Evening'
            when extract(hour from event_timestamp) between 0 and 2 then 'Late Night'
            else 'Other'
        end as business_period
    from renamed
)

select
    *,
    case when event_category = 'Pour' then coalesce(volume_oz * 0.50, 0) else 0 end as estimated_revenue
from derived
