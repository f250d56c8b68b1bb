//! cc-server ("Command Center"): a personal cloud in one binary.
//!
//! Data flows one way: `server` (sockets, workers) → `router` (Host header) → `dashboard` or
//! `site` (static files) → `store` (SQLite). `analytics` records site visits off the hot path.

pub mod actions; // what an admin or a key may change, each action once, with its audit record (methods of Services)
pub mod analytics; // visit events: queued by requests, written in batches by one thread
pub mod api; // the token API: deploy, sites, rollback, teardown
pub mod app; // the request handler: Host routing, site vs dashboard, analytics hook
pub mod auth; // the admin password (Argon2id), sessions, CSRF checks, failed-login limit
pub mod backups; // daily copies of cc.db in <data-dir>/backups, the newest N kept
pub mod calendar; // UTC days: today's date, 'YYYY-MM-DD' <-> days since 1970-01-01
pub mod cli; // argument parsing, help text, exit codes
pub mod client; // deploy, sites, rollback, teardown over HTTP with a token
pub mod config; // checked settings from flags > environment > defaults
pub mod dashboard; // the admin host: login, analytics, hosting, keys, audit (HTML pages)
pub mod deploy; // unpacking zips, atomic swaps, rollback, teardown on disk
pub mod domains; // custom domains: which names a site may claim, the host → site map
pub mod error; // ApiError: what went wrong with its HTTP status, for every action, the API and deploys
pub mod http; // owned request/response values, independent of tiny_http
pub mod js; // main.js: script worker processes, the boa engine, db transactions
pub mod keys; // deploy keys: tokens, scopes, authentication
pub mod log_writer; // the log on stderr: access and site lines batched by one thread, never blocking an answer
pub mod metrics; // GET /metrics: request counters by kind and status class, gauges, Prometheus text
pub mod names; // site names, host names and domains: the one place their rules live
pub mod overview; // read-only views of sites for the dashboard pages and the API
pub mod protect; // password-protected sites: HTTP Basic auth with remembered verifications
pub mod public; // the endpoints anyone may call: /t.js, /track, /pixel.gif, /r/<slug>, /webhook/<name>
pub mod publish; // deploying a site and its password and domains, checked and audited (methods of Services)
pub mod ratelimit; // per-address token buckets for the public endpoints
pub mod refreshed; // a small table read from the db again every couple of seconds
pub mod router; // Host header → dashboard | site | unknown
pub mod secret; // random tokens, SHA-256, hex
pub mod server; // listener, worker pool, panic → 500, access log, graceful shutdown
pub mod services; // the shared parts and the checks every request makes: caller, CSRF, client address, rate, audit
pub mod site; // a site request: rules, static files (kept, compressed), main.js, SPA fallback, 404 pages
pub mod store; // SQLite: open, migrations, and every SQL statement
pub mod systemd; // sd_notify for a Type=notify unit: READY, WATCHDOG while the db answers, STOPPING
pub mod tls; // HTTPS: a certificate per name (private CA or ACME), challenges, renewal
pub mod ws; // WebSocket broadcast: handshake check, the per-site hub and its poll loop

#[cfg(test)]
mod properties; // property tests of the parsers and checks of untrusted input (make fuzz runs more)
