-- The whole current schema of cc.db, for reading. The binary applies the ordered migrations in
-- src/store/migrations/; a test proves that applying them all yields exactly this.

-- One row per visit. 'hosting' rows come from sites served here, 'web' rows from the
-- tracking snippet on sites hosted elsewhere. No raw IP is ever stored.
CREATE TABLE events (
    id           INTEGER PRIMARY KEY,
    created_at   TEXT    NOT NULL,          -- UTC 'YYYY-MM-DD HH:MM:SS'
    source_type  TEXT    NOT NULL,          -- 'hosting' | 'web' | 'pixel' | 'redirect' | 'webhook'
    domain       TEXT    NOT NULL,          -- the site name for 'hosting'
    path         TEXT    NOT NULL,
    status       INTEGER,
    referrer     TEXT,
    ua_family    TEXT,                      -- 'chrome', 'firefox', 'curl', 'bot', …
    visitor_hash TEXT,                      -- sha256(daily salt, ip, user agent), truncated
    event_type   TEXT    NOT NULL DEFAULT 'pageview', -- or a name sent to /track ('signup', …)
    tags         TEXT,                      -- JSON object of string tags (/track, /pixel.gif)
    payload      TEXT                       -- a webhook's body, size-limited
);
CREATE INDEX events_created_at ON events(created_at);
CREATE INDEX events_domain_created_at ON events(domain, created_at);

-- Per UTC day, what the dashboard shows about `events`. Days up to the 'stats_rolled_through'
-- setting are here (src/store/stats.rs); later days are read from `events` itself.
CREATE TABLE event_rollups (
    kind        TEXT    NOT NULL,           -- 'total' | 'path' | 'referrer'
    day         TEXT    NOT NULL,           -- UTC 'YYYY-MM-DD'
    source_type TEXT    NOT NULL,           -- as in events; '*' = all sources ('total' rows only)
    domain      TEXT    NOT NULL,           -- as in events; '*' = all domains ('total' rows only)
    value       TEXT    NOT NULL,           -- '' for 'total'; the path without its query string,
                                            -- or the referrer's host; top 100 per day and site
    pageviews   INTEGER NOT NULL,           -- events that day
    visitors    INTEGER NOT NULL,           -- distinct visitor_hash that day (the salt is daily)
    PRIMARY KEY (kind, day, source_type, domain, value)
) WITHOUT ROWID;

-- The single dashboard admin (CONTRACT §1: first start, `cc-server passwd`).
CREATE TABLE admin (
    id            INTEGER PRIMARY KEY CHECK (id = 1),
    password_hash TEXT NOT NULL,            -- Argon2id PHC string
    updated_at    TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
);

-- Dashboard sessions: the cookie holds a random id, this table only its hash.
CREATE TABLE sessions (
    id_hash    TEXT PRIMARY KEY,            -- sha256 hex of the session cookie value
    csrf_token TEXT NOT NULL,
    created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
    expires_at TEXT NOT NULL,
    ip         TEXT,
    user_agent TEXT
);
CREATE INDEX sessions_expires_at ON sessions(expires_at);

-- Server-wide settings and secrets (e.g. today's visitor-hash salt).
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

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

-- Who did what, for the dashboard's Audit page: logins (failed ones too), deploys, rollbacks,
-- teardowns, key and env var changes. Never holds a password, token or env var value.
CREATE TABLE audit_log (
    id         INTEGER PRIMARY KEY,
    created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
    actor      TEXT NOT NULL,               -- 'admin', a deploy key's name, or '-' (failed login)
    action     TEXT NOT NULL,               -- e.g. 'login', 'login.failed', 'key.create', 'deploy'
    target     TEXT,                        -- the site, key or env var acted on
    ip         TEXT
);

-- Domains hosted elsewhere whose pages may send pageviews (`/t.js`, `POST /api/event`).
CREATE TABLE tracked_domains (
    domain     TEXT PRIMARY KEY,            -- lower-case host name, e.g. 'blog.example.com'
    created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
);

-- `GET /r/<slug>` answers 302 to `target` and records a 'redirect' event.
CREATE TABLE short_links (
    slug       TEXT PRIMARY KEY,            -- 1-64 of a-z A-Z 0-9 - _
    target     TEXT NOT NULL,               -- an http(s) URL, nothing else
    clicks     INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
);

-- `POST /webhook/<endpoint>` stores its body as a 'webhook' event; with a secret, only when
-- the HMAC-SHA256 signature header matches.
CREATE TABLE webhooks (
    endpoint   TEXT PRIMARY KEY,            -- 1-64 of a-z A-Z 0-9 - _
    secret     TEXT,                        -- NULL: no signature required
    created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
);

-- HTTP Basic auth for a whole site (its files, main.js and WebSocket). Set by the admin
-- (`cc-server protect`, the dashboard) or by a deployed `AUTH` file (Surge's convention),
-- whose plain-text passwords are hashed at deploy and never kept.
CREATE TABLE site_passwords (
    site       TEXT NOT NULL,
    user       TEXT NOT NULL,               -- 1-64 printable characters, no ':'
    phc        TEXT NOT NULL,               -- Argon2id PHC string
    source     TEXT NOT NULL,               -- 'admin' or 'AUTH' (a deploy replaces only these)
    created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY (site, user)
);

-- Other host names a site answers for (`www.example.com`). One host, one site.
CREATE TABLE domains (
    host       TEXT PRIMARY KEY,            -- lower case, no port, no trailing dot
    site       TEXT NOT NULL,
    source     TEXT NOT NULL,               -- 'admin' or 'CNAME' (a deploy replaces only these)
    created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX domains_by_site ON domains (site);

-- HTTPS (`--https acme|internal`): the keys and certificates live here, so the data dir
-- stays the one thing to back up.
-- 'ca': the private CA of `--https internal` (certificate and key, PEM);
-- 'acme-account <directory URL>': the ACME account key for that directory (PKCS#8 PEM).
CREATE TABLE tls_keys (
    kind       TEXT PRIMARY KEY,
    pem        TEXT NOT NULL,
    created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
);

-- One certificate per host name, obtained on the first handshake that asks for it and
-- renewed at two thirds of its lifetime.
CREATE TABLE certificates (
    name          TEXT PRIMARY KEY,         -- lower-case host name or IP address
    issuer        TEXT NOT NULL,            -- 'internal' or the ACME directory URL
    chain_pem     TEXT NOT NULL,            -- leaf first
    key_pem       TEXT NOT NULL,            -- PKCS#8
    not_before    INTEGER NOT NULL,         -- Unix seconds
    not_after     INTEGER NOT NULL,
    renewed_at    INTEGER NOT NULL,         -- when this certificate was obtained
    last_error    TEXT,                     -- the last failed renewal, cleared by a success
    last_error_at INTEGER
);
