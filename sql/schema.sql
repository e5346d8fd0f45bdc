-- Generated from datagen/tables.py by `just ddl --write` (python -m datagen ddl --write); do not edit.
-- Schema raw: `just ddl --schema NAME` prints it for another schema. datagen runs these statements
-- itself (core tables when missing, keys after each load, event tables when missing).

-- accounts: A customer: a restaurant group, bar chain, stadium operator, hotel group or office caterer.
CREATE TABLE IF NOT EXISTS "raw"."app_database_accounts" (
    "id" integer NOT NULL,
    "name" character varying(255) NOT NULL,
    "email" character varying(255),
    "created_date" date,
    "business_type" character varying(100),
    "location_count" integer,
    "industry" character varying(100),
    "employee_count" integer,
    "annual_revenue" bigint,
    "website" character varying(500),
    "status" character varying(50),
    "size" character varying(50),
    "created_at" timestamp without time zone NOT NULL,
    "updated_at" timestamp without time zone NOT NULL
);

-- locations: A venue of an account, where its taps are installed.
CREATE TABLE IF NOT EXISTS "raw"."app_database_locations" (
    "id" integer NOT NULL,
    "customer_id" integer NOT NULL,
    "name" character varying(255) NOT NULL,
    "address" character varying(500),
    "city" character varying(100),
    "state" character varying(50),
    "zip_code" character varying(20),
    "country" character varying(50),
    "location_type" character varying(50),
    "business_type" character varying(100),
    "industry" character varying(100),
    "size" character varying(50),
    "expected_device_count" integer,
    "install_date" date,
    "latitude" numeric(10,6),
    "longitude" numeric(10,6),
    "capacity" integer,
    "is_active" boolean,
    "created_at" timestamp without time zone NOT NULL,
    "updated_at" timestamp without time zone NOT NULL
);

-- devices: A tap controller, sensor or gateway installed at a location.
CREATE TABLE IF NOT EXISTS "raw"."app_database_devices" (
    "id" integer NOT NULL,
    "location_id" integer NOT NULL,
    "customer_id" integer NOT NULL,
    "device_type" character varying(100),
    "category" character varying(50),
    "manufacturer" character varying(100),
    "model" character varying(100),
    "serial_number" character varying(100),
    "install_date" date,
    "installation_date" date,
    "warranty_expiry" date,
    "purchase_price" numeric(10,2),
    "firmware_version" character varying(50),
    "ip_address" character varying(45),
    "mac_address" character varying(17),
    "status" character varying(50),
    "is_online" boolean,
    "health_score" numeric(4,3),
    "usage_pattern" character varying(50),
    "expected_lifespan_years" integer,
    "energy_consumption_watts" integer,
    "network_connectivity" character varying(50),
    "last_maintenance_date" date,
    "last_seen_at" timestamp without time zone,
    "created_at" timestamp without time zone NOT NULL,
    "updated_at" timestamp without time zone NOT NULL
);

-- users: A person with a login to the TapFlow app, in one account.
CREATE TABLE IF NOT EXISTS "raw"."app_database_users" (
    "id" integer NOT NULL,
    "customer_id" integer NOT NULL,
    "first_name" character varying(100),
    "last_name" character varying(100),
    "email" character varying(255),
    "role" character varying(50),
    "created_date" date,
    "last_login_date" date,
    "last_login_at" timestamp without time zone,
    "is_active" boolean,
    "created_at" timestamp without time zone NOT NULL,
    "updated_at" timestamp without time zone NOT NULL,
    "permissions" character varying(50)
);

-- subscriptions: An account's plan over time: its current row plus earlier, canceled ones.
CREATE TABLE IF NOT EXISTS "raw"."app_database_subscriptions" (
    "id" integer NOT NULL,
    "customer_id" integer NOT NULL,
    "plan_name" character varying(100),
    "status" character varying(50),
    "start_date" date NOT NULL,
    "end_date" date,
    "monthly_price" numeric(10,2),
    "billing_cycle" character varying(20),
    "monthly_amount" numeric(10,2),
    "current_term_start" date,
    "cancellation_reason" character varying(50),
    "created_at" timestamp without time zone NOT NULL,
    "updated_at" timestamp without time zone NOT NULL
);

-- device_maintenance_logs: A maintenance visit to a device: scheduled, overdue or emergency.
CREATE TABLE IF NOT EXISTS "raw"."app_database_device_maintenance_logs" (
    "id" integer NOT NULL,
    "device_id" integer NOT NULL,
    "location_id" integer NOT NULL,
    "customer_id" integer NOT NULL,
    "maintenance_type" character varying(20) NOT NULL,
    "scheduled_date" date NOT NULL,
    "performed_at" timestamp without time zone NOT NULL,
    "technician" character varying(100),
    "duration_minutes" integer,
    "parts_cost" numeric(10,2),
    "notes_category" character varying(50),
    "created_at" timestamp without time zone NOT NULL,
    "updated_at" timestamp without time zone NOT NULL
);

-- The core tables' keys, added in one transaction after COPY and dropped by name before a replace.
ALTER TABLE "raw"."app_database_accounts" ADD CONSTRAINT "app_database_accounts_pkey" PRIMARY KEY ("id");
ALTER TABLE "raw"."app_database_locations" ADD CONSTRAINT "app_database_locations_pkey" PRIMARY KEY ("id");
ALTER TABLE "raw"."app_database_devices" ADD CONSTRAINT "app_database_devices_pkey" PRIMARY KEY ("id");
ALTER TABLE "raw"."app_database_users" ADD CONSTRAINT "app_database_users_pkey" PRIMARY KEY ("id");
ALTER TABLE "raw"."app_database_subscriptions" ADD CONSTRAINT "app_database_subscriptions_pkey" PRIMARY KEY ("id");
ALTER TABLE "raw"."app_database_device_maintenance_logs" ADD CONSTRAINT "app_database_device_maintenance_logs_pkey" PRIMARY KEY ("id");

ALTER TABLE "raw"."app_database_locations" ADD CONSTRAINT "app_database_locations_customer_id_fkey" FOREIGN KEY ("customer_id") REFERENCES "raw"."app_database_accounts" ("id");
ALTER TABLE "raw"."app_database_devices" ADD CONSTRAINT "app_database_devices_location_id_fkey" FOREIGN KEY ("location_id") REFERENCES "raw"."app_database_locations" ("id");
ALTER TABLE "raw"."app_database_devices" ADD CONSTRAINT "app_database_devices_customer_id_fkey" FOREIGN KEY ("customer_id") REFERENCES "raw"."app_database_accounts" ("id");
ALTER TABLE "raw"."app_database_users" ADD CONSTRAINT "app_database_users_customer_id_fkey" FOREIGN KEY ("customer_id") REFERENCES "raw"."app_database_accounts" ("id");
ALTER TABLE "raw"."app_database_subscriptions" ADD CONSTRAINT "app_database_subscriptions_customer_id_fkey" FOREIGN KEY ("customer_id") REFERENCES "raw"."app_database_accounts" ("id");
ALTER TABLE "raw"."app_database_device_maintenance_logs" ADD CONSTRAINT "app_database_device_maintenance_logs_device_id_fkey" FOREIGN KEY ("device_id") REFERENCES "raw"."app_database_devices" ("id");
ALTER TABLE "raw"."app_database_device_maintenance_logs" ADD CONSTRAINT "app_database_device_maintenance_logs_location_id_fkey" FOREIGN KEY ("location_id") REFERENCES "raw"."app_database_locations" ("id");
ALTER TABLE "raw"."app_database_device_maintenance_logs" ADD CONSTRAINT "app_database_device_maintenance_logs_customer_id_fkey" FOREIGN KEY ("customer_id") REFERENCES "raw"."app_database_accounts" ("id");

-- tap_events: One event a device reported: a pour, a temperature or pressure reading, a health check ... One
-- partition per day of the event range, named app_database_tap_events_pYYYYMMDD; a day's ids are one
-- contiguous run, so a window of days is replaced by swapping whole partitions. In the contract layout
-- (events.tap_events.layout: contract, the default) metrics holds the measurements the staging model reads as
-- jsonb keys.
CREATE TABLE IF NOT EXISTS "raw"."app_database_tap_events" (
    "id" integer NOT NULL,
    "device_id" integer NOT NULL,
    "location_id" integer NOT NULL,
    "timestamp" timestamp without time zone NOT NULL,
    "event_type" character varying(50),
    "status" character varying(50),
    "metrics" jsonb NOT NULL,
    "device_category" character varying(50),
    "created_at" timestamp without time zone,
    CONSTRAINT "app_database_tap_events_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "app_database_tap_events_device_id_fkey" FOREIGN KEY ("device_id") REFERENCES "raw"."app_database_devices" ("id"),
    CONSTRAINT "app_database_tap_events_location_id_fkey" FOREIGN KEY ("location_id") REFERENCES "raw"."app_database_locations" ("id")
) PARTITION BY RANGE ("id");

-- tap_events in the typed layout (events.tap_events.layout: typed), which datagen creates instead of the
-- table above: the measurements as typed columns, with the view app_database_tap_events_view that reads like
-- the contract layout. Commented out here: a schema holds one layout.
-- CREATE TABLE IF NOT EXISTS "raw"."app_database_tap_events" (
--     "id" integer NOT NULL,
--     "device_id" integer NOT NULL,
--     "location_id" integer NOT NULL,
--     "timestamp" timestamp without time zone NOT NULL,
--     "event_type" character varying(50),
--     "status" character varying(50),
--     "device_category" character varying(50),
--     "volume_ml" integer,
--     "temperature_c" real,
--     "pressure_psi" real,
--     "flow_rate_ml_per_sec" real,
--     "duration_seconds" real,
--     "created_at" timestamp without time zone,
--     CONSTRAINT "app_database_tap_events_pkey" PRIMARY KEY ("id"),
--     CONSTRAINT "app_database_tap_events_device_id_fkey" FOREIGN KEY ("device_id") REFERENCES "raw"."app_database_devices" ("id"),
--     CONSTRAINT "app_database_tap_events_location_id_fkey" FOREIGN KEY ("location_id") REFERENCES "raw"."app_database_locations" ("id")
-- ) PARTITION BY RANGE ("id");
-- CREATE OR REPLACE VIEW "raw"."app_database_tap_events_view" AS
-- SELECT
--     "id",
--     "device_id",
--     "location_id",
--     "timestamp",
--     "event_type",
--     "status",
--     jsonb_strip_nulls(jsonb_build_object(
--         'volume_ml', "volume_ml",
--         'temperature_c', "temperature_c",
--         'pressure_psi', "pressure_psi",
--         'flow_rate_ml_per_sec', "flow_rate_ml_per_sec",
--         'duration_seconds', "duration_seconds"
--     )) AS "metrics",
--     "device_category",
--     "created_at"
-- FROM "raw"."app_database_tap_events";

-- user_sessions: A user's session in the TapFlow app. One partition per day of the event range, named
-- app_database_user_sessions_pYYYYMMDD; a day's ids are one contiguous run, so a window of days is replaced
-- by swapping whole partitions.
CREATE TABLE IF NOT EXISTS "raw"."app_database_user_sessions" (
    "session_id" integer NOT NULL,
    "user_id" integer NOT NULL,
    "customer_id" integer NOT NULL,
    "start_time" timestamp without time zone NOT NULL,
    "end_time" timestamp without time zone NOT NULL,
    "duration_seconds" integer,
    "page_views" integer,
    "actions_taken" integer,
    "device_type" character varying(50),
    "browser" character varying(50),
    "created_at" timestamp without time zone,
    CONSTRAINT "app_database_user_sessions_pkey" PRIMARY KEY ("session_id"),
    CONSTRAINT "app_database_user_sessions_user_id_fkey" FOREIGN KEY ("user_id") REFERENCES "raw"."app_database_users" ("id"),
    CONSTRAINT "app_database_user_sessions_customer_id_fkey" FOREIGN KEY ("customer_id") REFERENCES "raw"."app_database_accounts" ("id")
) PARTITION BY RANGE ("session_id");

-- page_views: A page a user viewed during a session. One partition per day of the event range, named
-- app_database_page_views_pYYYYMMDD; a day's ids are one contiguous run, so a window of days is replaced by
-- swapping whole partitions.
CREATE TABLE IF NOT EXISTS "raw"."app_database_page_views" (
    "page_view_id" integer NOT NULL,
    "session_id" integer NOT NULL,
    "user_id" integer NOT NULL,
    "customer_id" integer NOT NULL,
    "page_url" character varying(500),
    "page_title" character varying(255),
    "timestamp" timestamp without time zone NOT NULL,
    "time_on_page_seconds" integer,
    "referrer_url" character varying(500),
    "created_at" timestamp without time zone,
    CONSTRAINT "app_database_page_views_pkey" PRIMARY KEY ("page_view_id"),
    CONSTRAINT "app_database_page_views_session_id_fkey" FOREIGN KEY ("session_id") REFERENCES "raw"."app_database_user_sessions" ("session_id"),
    CONSTRAINT "app_database_page_views_user_id_fkey" FOREIGN KEY ("user_id") REFERENCES "raw"."app_database_users" ("id"),
    CONSTRAINT "app_database_page_views_customer_id_fkey" FOREIGN KEY ("customer_id") REFERENCES "raw"."app_database_accounts" ("id")
) PARTITION BY RANGE ("page_view_id");

-- feature_usage: How often a user used an app feature at a point in time. One partition per day of the event
-- range, named app_database_feature_usage_pYYYYMMDD; a day's ids are one contiguous run, so a window of days
-- is replaced by swapping whole partitions.
CREATE TABLE IF NOT EXISTS "raw"."app_database_feature_usage" (
    "usage_id" integer NOT NULL,
    "user_id" integer NOT NULL,
    "customer_id" integer NOT NULL,
    "feature_name" character varying(100),
    "usage_count" integer,
    "timestamp" timestamp without time zone NOT NULL,
    "created_at" timestamp without time zone,
    CONSTRAINT "app_database_feature_usage_pkey" PRIMARY KEY ("usage_id"),
    CONSTRAINT "app_database_feature_usage_user_id_fkey" FOREIGN KEY ("user_id") REFERENCES "raw"."app_database_users" ("id"),
    CONSTRAINT "app_database_feature_usage_customer_id_fkey" FOREIGN KEY ("customer_id") REFERENCES "raw"."app_database_accounts" ("id")
) PARTITION BY RANGE ("usage_id");

-- Every table datagen creates carries its ownership comment; datagen replaces only tables that do (or that
-- --adopt takes over).
COMMENT ON TABLE "raw"."app_database_accounts" IS 'managed by datagen: replaced by `just generate`';

COMMENT ON TABLE "raw"."app_database_locations" IS 'managed by datagen: replaced by `just generate`';

COMMENT ON TABLE "raw"."app_database_devices" IS 'managed by datagen: replaced by `just generate`';

COMMENT ON TABLE "raw"."app_database_users" IS 'managed by datagen: replaced by `just generate`';

COMMENT ON TABLE "raw"."app_database_subscriptions" IS 'managed by datagen: replaced by `just generate`';

COMMENT ON TABLE "raw"."app_database_device_maintenance_logs" IS 'managed by datagen: replaced by `just generate`';

COMMENT ON TABLE "raw"."app_database_tap_events" IS 'managed by datagen: day partitions replaced by `just generate-events`';

COMMENT ON TABLE "raw"."app_database_user_sessions" IS 'managed by datagen: day partitions replaced by `just generate-events`';

COMMENT ON TABLE "raw"."app_database_page_views" IS 'managed by datagen: day partitions replaced by `just generate-events`';

COMMENT ON TABLE "raw"."app_database_feature_usage" IS 'managed by datagen: day partitions replaced by `just generate-events`';
