-- 005_parity: what Command Center v0.2 users relied on: event names and tags (`/track`,
-- `/pixel.gif`), webhook payloads, short links and webhook endpoints.

ALTER TABLE events ADD COLUMN event_type TEXT NOT NULL DEFAULT 'pageview';
ALTER TABLE events ADD COLUMN tags TEXT;
ALTER TABLE events ADD COLUMN payload TEXT;

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
