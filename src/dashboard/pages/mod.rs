//! The dashboard's pages as HTML strings, from plain data. No I/O here: handlers in
//! `dashboard/mod.rs` fetch, these render.
//!
//! This file holds the login and setup forms and names every page; `hosting` renders Sites and
//! a site's page (deployments, env vars, script log), `publish` the deploy card and a site's
//! password and custom domains, `admin` the Keys, Tracking, Links, Webhooks and Audit pages,
//! `analytics` the Analytics page, `settings` the Settings page (HTTPS and the private CA).

mod admin;
mod analytics;
mod hosting;
mod publish;
mod settings;

pub use admin::{HookView, audit_page, keys_page, links_page, tracking_page, webhooks_page};
pub use analytics::{AnalyticsView, analytics_page};
pub use hosting::{site_page, sites_list};
pub use publish::deploy_card;
pub use settings::{CertRow, HttpsView, settings_page};

use crate::dashboard::html::esc;

pub fn login_form(has_password: bool) -> String {
    if !has_password {
        return "<p>No admin password is set yet. Open the one-time setup link the server printed \
                in its log, or set one on the server with <code>cc-server passwd</code>.</p>"
            .into();
    }
    "<form method=\"post\" action=\"/login\" class=\"stack\">
<label for=\"password\">Admin password</label>
<input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required autofocus>
<button type=\"submit\" class=\"primary\">Log in</button>
</form>"
        .into()
}

pub fn setup_form(token: &str) -> String {
    format!(
        "<p>Choose the admin password for this dashboard (at least {} characters).</p>
<form method=\"post\" action=\"/setup\" class=\"stack\">
<input type=\"hidden\" name=\"token\" value=\"{}\">
<label for=\"password\">New password</label>
<input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"new-password\" minlength=\"{0}\" required autofocus>
<label for=\"confirm\">Repeat it</label>
<input id=\"confirm\" name=\"confirm\" type=\"password\" autocomplete=\"new-password\" minlength=\"{0}\" required>
<button type=\"submit\" class=\"primary\">Set password</button>
</form>",
        crate::auth::MIN_PASSWORD_LEN,
        esc(token)
    )
}
