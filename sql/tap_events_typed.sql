-- Tap events in the typed layout (events.tap_events.layout: typed): the five measurements as typed
-- columns, for load tests that do not need the dbt contract. Created by `just generate-events` in place of
-- the contract layout's table in sql/event_tables.sql, with its view (sql/tap_events_view.sql); {schema} as
-- there. tests/test_tables.py proves this file and datagen/tables.py agree.

CREATE TABLE IF NOT EXISTS {schema}.app_database_tap_events (
    id                         INTEGER NOT NULL,
    device_id                  INTEGER NOT NULL,
    location_id                INTEGER NOT NULL,
    "timestamp"                TIMESTAMP NOT NULL,
    event_type                 VARCHAR(50),
    status                     VARCHAR(50),
    device_category            VARCHAR(50),
    volume_ml                  INTEGER,
    temperature_c              REAL,
    pressure_psi               REAL,
    flow_rate_ml_per_sec       REAL,
    duration_seconds           REAL,
    created_at                 TIMESTAMP,
    CONSTRAINT app_database_tap_events_pkey PRIMARY KEY (id),
    CONSTRAINT app_database_tap_events_device_id_fkey
        FOREIGN KEY (device_id) REFERENCES {schema}.app_database_devices (id),
    CONSTRAINT app_database_tap_events_location_id_fkey
        FOREIGN KEY (location_id) REFERENCES {schema}.app_database_locations (id)
) PARTITION BY RANGE (id);
