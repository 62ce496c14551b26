-- The registry's identity: which deployment (commune) this database belongs to.
CREATE TABLE registry_info (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
INSERT INTO registry_info(key, value) VALUES ('format', 'kyso-registry-1');
