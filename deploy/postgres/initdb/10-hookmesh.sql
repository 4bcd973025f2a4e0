-- Runs once, when the postgres volume is created. Hasura keeps its metadata and the
-- demo tables in the default database (postgres); the hookmesh services share this
-- one, each in its own schema (email, analytics, orders), created by the services.
CREATE DATABASE hookmesh;
