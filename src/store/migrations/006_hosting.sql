-- 006_hosting: what Surge and Netlify users expect of a site besides its files.

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
