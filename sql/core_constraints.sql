-- Keys of the core tables, added in one transaction after COPY (faster than checking row by row).
-- datagen drops these by name before it replaces the data and adds them back afterwards.

ALTER TABLE {schema}.app_database_accounts ADD CONSTRAINT app_database_accounts_pkey PRIMARY KEY (id);
ALTER TABLE {schema}.app_database_locations ADD CONSTRAINT app_database_locations_pkey PRIMARY KEY (id);
ALTER TABLE {schema}.app_database_devices ADD CONSTRAINT app_database_devices_pkey PRIMARY KEY (id);
ALTER TABLE {schema}.app_database_users ADD CONSTRAINT app_database_users_pkey PRIMARY KEY (id);
ALTER TABLE {schema}.app_database_subscriptions ADD CONSTRAINT app_database_subscriptions_pkey PRIMARY KEY (id);
ALTER TABLE {schema}.app_database_device_maintenance_logs ADD CONSTRAINT app_database_device_maintenance_logs_pkey
    PRIMARY KEY (id);
ALTER TABLE {schema}.app_database_locations ADD CONSTRAINT app_database_locations_customer_id_fkey
    FOREIGN KEY (customer_id) REFERENCES {schema}.app_database_accounts (id);
ALTER TABLE {schema}.app_database_devices ADD CONSTRAINT app_database_devices_location_id_fkey
    FOREIGN KEY (location_id) REFERENCES {schema}.app_database_locations (id);
ALTER TABLE {schema}.app_database_devices ADD CONSTRAINT app_database_devices_customer_id_fkey
    FOREIGN KEY (customer_id) REFERENCES {schema}.app_database_accounts (id);
ALTER TABLE {schema}.app_database_users ADD CONSTRAINT app_database_users_customer_id_fkey
    FOREIGN KEY (customer_id) REFERENCES {schema}.app_database_accounts (id);
ALTER TABLE {schema}.app_database_subscriptions ADD CONSTRAINT app_database_subscriptions_customer_id_fkey
    FOREIGN KEY (customer_id) REFERENCES {schema}.app_database_accounts (id);
ALTER TABLE {schema}.app_database_device_maintenance_logs ADD CONSTRAINT app_database_device_maintenance_logs_device_id_fkey
    FOREIGN KEY (device_id) REFERENCES {schema}.app_database_devices (id);
ALTER TABLE {schema}.app_database_device_maintenance_logs ADD CONSTRAINT app_database_device_maintenance_logs_location_id_fkey
    FOREIGN KEY (location_id) REFERENCES {schema}.app_database_locations (id);
ALTER TABLE {schema}.app_database_device_maintenance_logs ADD CONSTRAINT app_database_device_maintenance_logs_customer_id_fkey
    FOREIGN KEY (customer_id) REFERENCES {schema}.app_database_accounts (id);
