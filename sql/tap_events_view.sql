-- The view over tap events in the typed layout (sql/tap_events_typed.sql), created with it; {schema} as there.
-- The legacy tap-event row over the typed layout: a source pointed at this view
-- (identifier: app_database_tap_events_view) reads metrics->>'volume_ml' etc., at about 10x the cost of the
-- contract layout's jsonb column (docs/decisions.md: "Tap-event metrics").
-- jsonb_strip_nulls drops the keys an event type does not carry, as the legacy per-type objects did.
CREATE OR REPLACE VIEW {schema}.app_database_tap_events_view AS
SELECT
    id,
    device_id,
    location_id,
    "timestamp",
    event_type,
    status,
    jsonb_strip_nulls(jsonb_build_object(
        'volume_ml', volume_ml,
        'temperature_c', temperature_c,
        'pressure_psi', pressure_psi,
        'flow_rate_ml_per_sec', flow_rate_ml_per_sec,
        'duration_seconds', duration_seconds
    )) AS metrics,
    device_category,
    created_at
FROM {schema}.app_database_tap_events;
