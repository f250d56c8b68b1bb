
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
