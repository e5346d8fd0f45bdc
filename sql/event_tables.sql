-- Event tables of the TapFlow raw schema, created by `just generate-events` when missing.
-- {schema} is replaced by the target schema (default raw) through psycopg.sql.Identifier.
-- Each is partitioned by id range, one partition per day of the event range (named <table>_pYYYYMMDD):
-- a day's ids are one contiguous run, so a window of days is replaced by swapping whole partitions.
-- The keys live on the parents; PostgreSQL checks them for each partition as it is attached.
-- tests/test_tables.py proves this file and datagen/tables.py agree.

-- Tap events in the contract layout (events.tap_events.layout: contract, the default): the staging model
-- reads metrics->>'volume_ml', 'temperature_c', 'pressure_psi', 'flow_rate_ml_per_sec', 'duration_seconds'
-- and metrics itself. An event carries the keys of its type (an empty object for events without measurements).
-- sql/tap_events_typed.sql is the typed layout, created instead when the config asks for it.
CREATE TABLE IF NOT EXISTS {schema}.app_database_tap_events (
    id                         INTEGER NOT NULL,
    device_id                  INTEGER NOT NULL,
    location_id                INTEGER NOT NULL,
    "timestamp"                TIMESTAMP NOT NULL,
    event_type                 VARCHAR(50),
    status                     VARCHAR(50),
    metrics                    JSONB NOT NULL,
    device_category            VARCHAR(50),
    created_at                 TIMESTAMP,
    CONSTRAINT app_database_tap_events_pkey PRIMARY KEY (id),
    CONSTRAINT app_database_tap_events_device_id_fkey
        FOREIGN KEY (device_id) REFERENCES {schema}.app_database_devices (id),
    CONSTRAINT app_database_tap_events_location_id_fkey
        FOREIGN KEY (location_id) REFERENCES {schema}.app_database_locations (id)
) PARTITION BY RANGE (id);

CREATE TABLE IF NOT EXISTS {schema}.app_database_user_sessions (
    session_id                 INTEGER NOT NULL,
    user_id                    INTEGER NOT NULL,
    customer_id                INTEGER NOT NULL,
    start_time                 TIMESTAMP NOT NULL,
    end_time                   TIMESTAMP NOT NULL,
    duration_seconds           INTEGER,
    page_views                 INTEGER,
    actions_taken              INTEGER,
    device_type                VARCHAR(50),
    browser                    VARCHAR(50),
    created_at                 TIMESTAMP,
    CONSTRAINT app_database_user_sessions_pkey PRIMARY KEY (session_id),
    CONSTRAINT app_database_user_sessions_user_id_fkey
        FOREIGN KEY (user_id) REFERENCES {schema}.app_database_users (id),
    CONSTRAINT app_database_user_sessions_customer_id_fkey
        FOREIGN KEY (customer_id) REFERENCES {schema}.app_database_accounts (id)
) PARTITION BY RANGE (session_id);

CREATE TABLE IF NOT EXISTS {schema}.app_database_page_views (
    page_view_id               INTEGER NOT NULL,
    session_id                 INTEGER NOT NULL,
    user_id                    INTEGER NOT NULL,
    customer_id                INTEGER NOT NULL,
    page_url                   VARCHAR(500),
    page_title                 VARCHAR(255),
    "timestamp"                TIMESTAMP NOT NULL,
    time_on_page_seconds       INTEGER,
    referrer_url               VARCHAR(500),
    created_at                 TIMESTAMP,
    CONSTRAINT app_database_page_views_pkey PRIMARY KEY (page_view_id),
    CONSTRAINT app_database_page_views_session_id_fkey
        FOREIGN KEY (session_id) REFERENCES {schema}.app_database_user_sessions (session_id),
    CONSTRAINT app_database_page_views_user_id_fkey
        FOREIGN KEY (user_id) REFERENCES {schema}.app_database_users (id),
    CONSTRAINT app_database_page_views_customer_id_fkey
        FOREIGN KEY (customer_id) REFERENCES {schema}.app_database_accounts (id)
) PARTITION BY RANGE (page_view_id);

CREATE TABLE IF NOT EXISTS {schema}.app_database_feature_usage (
    usage_id                   INTEGER NOT NULL,
    user_id                    INTEGER NOT NULL,
    customer_id                INTEGER NOT NULL,
    feature_name               VARCHAR(100),
    usage_count                INTEGER,
    "timestamp"                TIMESTAMP NOT NULL,
    created_at                 TIMESTAMP,
    CONSTRAINT app_database_feature_usage_pkey PRIMARY KEY (usage_id),
    CONSTRAINT app_database_feature_usage_user_id_fkey
        FOREIGN KEY (user_id) REFERENCES {schema}.app_database_users (id),
    CONSTRAINT app_database_feature_usage_customer_id_fkey
        FOREIGN KEY (customer_id) REFERENCES {schema}.app_database_accounts (id)
) PARTITION BY RANGE (usage_id);
