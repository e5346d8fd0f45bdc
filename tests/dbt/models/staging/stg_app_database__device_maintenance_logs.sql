-- No platform staging model reads this table; this one reads every column datagen loads.
with source as (
    select * from {{ source('app_database', 'device_maintenance_logs') }}
)

select
    id as device_maintenance_log_id,
    device_id,
    location_id,
    customer_id as account_id,
    maintenance_type,
    scheduled_date,
    performed_at,
    technician,
    duration_minutes,
    parts_cost,
    notes_category,
    created_at,
    updated_at
from source
