with source as (
    select * from {{ source('app_database', 'devices') }}
),

renamed as (
    select
        id as device_id,
        location_id,
        device_type,
        category,
        manufacturer,
        model,
        serial_number,
        install_date,
        warranty_expiry,
        purchase_price,
        firmware_version,
        ip_address,
        mac_address,
        status,
        usage_pattern,
        expected_lifespan_years,
        energy_consumption_watts,
        network_connectivity,
        created_at,
        updated_at
    from source
)

select
    *,
    -- raw status is Title Case ('Online'); staging lowercases it before matching
    coalesce(lower(status) = 'online', false) as is_online,
    case lower(status)
        when 'online' then 'online'
        when 'offline' then 'offline'
        when 'maintenance' then 'maintenance'
        when 'error' then 'error'
        else 'unknown'
    end as operational_status,
    case device_type
        when 'tap_controller' then 'primary'
        when 'sensor' then 'secondary'
        when 'gateway' then 'infrastructure'
        else 'other'
    end as device_priority,
    energy_consumption_watts * 24 * 365 / 1000.0 * 0.12 as annual_energy_cost_usd,
    coalesce(warranty_expiry between current_date and current_date + 90, false) as warranty_expiring_soon
from renamed
