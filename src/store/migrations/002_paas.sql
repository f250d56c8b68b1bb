-- 002_paas: deploy keys, the serverless key-value store, deployment history, site secrets.

CREATE TABLE api_keys (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    name         TEXT NOT NULL,             -- e.g. 'Friend Bob'
    key_hash     TEXT NOT NULL UNIQUE,      -- sha256 hex of the token; the token is never stored
    scopes       TEXT NOT NULL DEFAULT '[]',-- JSON array: "deploy:*", "deploy:<site>", "read:stats"
    created_at   TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
    last_used_at TEXT,
    revoked_at   TEXT
);

-- main.js's `db`, scoped per site by the runtime.
CREATE TABLE kv_store (
    site_id    TEXT NOT NULL,
    key        TEXT NOT NULL,
    value      TEXT,                        -- JSON
    updated_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY (site_id, key)
);

CREATE TABLE deployments (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    site_id     TEXT NOT NULL,
    size_bytes  INTEGER NOT NULL,
    file_count  INTEGER NOT NULL,
    deployed_by TEXT,                       -- the deploy key's name
    created_at  TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX deployments_site_id ON deployments(site_id, id);

-- main.js's `process.env`, per site.
CREATE TABLE env_vars (
    site_id    TEXT NOT NULL,
    key        TEXT NOT NULL,
    value      TEXT NOT NULL,
    updated_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY (site_id, key)
);
