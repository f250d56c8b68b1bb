//! Integration tests: every test starts the real `cc-server` binary on port 0 with a fresh data
//! dir and talks HTTP to it over loopback.

mod harness;

mod analytics;
mod backup;
mod cli;
mod deploy;
mod examples;
mod hostile_paths;
mod limits;
mod routing;
mod scripts;
mod static_files;
mod store;
mod websocket;
