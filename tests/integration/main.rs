//! Integration tests: every test starts the real `cc-server` binary on port 0 with a fresh data
//! dir and talks HTTP to it over loopback (browser_smoke.rs through a headless Chromium).

mod admin;
mod browser;
mod harness;
mod pebble;

mod acme_client;
mod analytics;
mod architecture;
mod backup;
mod batches;
mod browser_smoke;
mod cli;
mod crash;
mod dashboard;
mod dashboard_browser;
mod dashboard_publish;
mod dashboard_publish_browser;
mod deploy;
mod examples;
mod hostile_paths;
mod hosting;
mod hosting_access;
mod https;
mod https_dashboard;
mod limits;
mod links;
mod metrics;
mod personal_cloud;
mod request_path;
mod routing;
mod sandbox;
mod scripts;
mod service;
mod static_files;
mod store;
mod webhooks;
mod websocket;
mod workers_api;
