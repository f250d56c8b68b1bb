-- 004_dashboard: the audit log and the tracking snippet's allowed domains.

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
