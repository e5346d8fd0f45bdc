-- Core entity tables of the TapFlow raw schema, created by `just generate` when missing.
-- {schema} is replaced by the target schema (default raw) through psycopg.sql.Identifier.
-- Keys are added after the data (sql/core_constraints.sql). tests/test_tables.py proves this file
-- and datagen/tables.py agree.

CREATE TABLE IF NOT EXISTS {schema}.app_database_accounts (
    id                         INTEGER NOT NULL,
    name                       VARCHAR(255) NOT NULL,
    email                      VARCHAR(255),
    created_date               DATE,
    business_type              VARCHAR(100),
    location_count             INTEGER,
    industry                   VARCHAR(100),
    employee_count             INTEGER,
    annual_revenue             BIGINT,
    website                    VARCHAR(500),
    status                     VARCHAR(50),
    size                       VARCHAR(50),
    created_at                 TIMESTAMP NOT NULL,
    updated_at                 TIMESTAMP NOT NULL
);

CREATE TABLE IF NOT EXISTS {schema}.app_database_locations (
    id                         INTEGER NOT NULL,
    customer_id                INTEGER NOT NULL,
    name                       VARCHAR(255) NOT NULL,
    address                    VARCHAR(500),
    city                       VARCHAR(100),
    state                      VARCHAR(50),
    zip_code                   VARCHAR(20),
    country                    VARCHAR(50),
    location_type              VARCHAR(50),
    business_type              VARCHAR(100),
    industry                   VARCHAR(100),
    size                       VARCHAR(50),
    expected_device_count      INTEGER,
    install_date               DATE,
    latitude                   NUMERIC(10,6),
    longitude                  NUMERIC(10,6),
    capacity                   INTEGER,
    is_active                  BOOLEAN,
    created_at                 TIMESTAMP NOT NULL,
    updated_at                 TIMESTAMP NOT NULL
);

CREATE TABLE IF NOT EXISTS {schema}.app_database_devices (
    id                         INTEGER NOT NULL,
    location_id                INTEGER NOT NULL,
    customer_id                INTEGER NOT NULL,
    device_type                VARCHAR(100),
    category                   VARCHAR(50),
    manufacturer               VARCHAR(100),
    model                      VARCHAR(100),
    serial_number              VARCHAR(100),
    install_date               DATE,
    installation_date          DATE,
    warranty_expiry            DATE,
    purchase_price             NUMERIC(10,2),
    firmware_version           VARCHAR(50),
    ip_address                 VARCHAR(45),
    mac_address                VARCHAR(17),
    status                     VARCHAR(50),
    is_online                  BOOLEAN,
    health_score               NUMERIC(4,3),
    usage_pattern              VARCHAR(50),
    expected_lifespan_years    INTEGER,
    energy_consumption_watts   INTEGER,
    network_connectivity       VARCHAR(50),
    last_maintenance_date      DATE,
    last_seen_at               TIMESTAMP,
    created_at                 TIMESTAMP NOT NULL,
    updated_at                 TIMESTAMP NOT NULL
);

CREATE TABLE IF NOT EXISTS {schema}.app_database_users (
    id                         INTEGER NOT NULL,
    customer_id                INTEGER NOT NULL,
    first_name                 VARCHAR(100),
    last_name                  VARCHAR(100),
    email                      VARCHAR(255),
    role                       VARCHAR(50),
    created_date               DATE,
    last_login_date            DATE,
    last_login_at              TIMESTAMP,
    is_active                  BOOLEAN,
    created_at                 TIMESTAMP NOT NULL,
    updated_at                 TIMESTAMP NOT NULL,
    permissions                VARCHAR(50)
);

CREATE TABLE IF NOT EXISTS {schema}.app_database_subscriptions (
    id                         INTEGER NOT NULL,
    customer_id                INTEGER NOT NULL,
    plan_name                  VARCHAR(100),
    status                     VARCHAR(50),
    start_date                 DATE NOT NULL,
    end_date                   DATE,
    monthly_price              NUMERIC(10,2),
    billing_cycle              VARCHAR(20),
    monthly_amount             NUMERIC(10,2),
    current_term_start         DATE,
    cancellation_reason        VARCHAR(50),
    created_at                 TIMESTAMP NOT NULL,
    updated_at                 TIMESTAMP NOT NULL
);

CREATE TABLE IF NOT EXISTS {schema}.app_database_device_maintenance_logs (
    id                         INTEGER NOT NULL,
    device_id                  INTEGER NOT NULL,
    location_id                INTEGER NOT NULL,
    customer_id                INTEGER NOT NULL,
    maintenance_type           VARCHAR(20) NOT NULL,
    scheduled_date             DATE NOT NULL,
    performed_at               TIMESTAMP NOT NULL,
    technician                 VARCHAR(100),
    duration_minutes           INTEGER,
    parts_cost                 NUMERIC(10,2),
    notes_category             VARCHAR(50),
    created_at                 TIMESTAMP NOT NULL,
    updated_at                 TIMESTAMP NOT NULL
);
