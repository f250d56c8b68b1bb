//! main.js, the serverless backend. Scripts run in worker processes of this same
//! binary (`pool` on the server side, `worker` + `engine` + `batch` inside each process), so a script that
//! loops inside a builtin, recurses the native stack away or allocates without end costs one
//! killed worker — never the server.

mod batch;
pub mod check;
pub mod cron;
pub mod engine;
mod events;
pub mod fetch;
mod logs;
mod natives;
pub mod pool;
pub mod protocol;
pub mod scheduler;
pub mod translate;
mod watchdog;
mod web;
pub mod worker;

/// Every `fetch()` from a main.js carries this header; the server refuses requests with it,
/// so a script cannot reach the dashboard (or loop through its own sites) by another name
/// for this machine.
pub const SCRIPT_FETCH_HEADER: &str = "cc-script-fetch";
