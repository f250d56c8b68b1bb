//! What an admin (a dashboard session) or a deploy key (a token) may do — roll back, tear down,
//! set env vars, create and revoke keys, edit tracked domains, short links and webhook
//! endpoints — each written once for both the HTML pages and the JSON API, each checked against
//! the caller and written to the audit log. The checks themselves (who is asking, CSRF, scope)
//! live in `services`; these are methods of its `Services`.

use rusqlite::Connection;

use crate::deploy::Unpacked;
use crate::error::ApiError;
use crate::http::Request;
use crate::keys;
use crate::names::normalise_domain;
use crate::public::links;
use crate::public::webhooks;
use crate::services::{Caller, Services};
use crate::store;

/// Longest env var value: main.js gets every value on every run.
pub const MAX_ENV_VALUE: usize = 32 * 1024;
/// Most env vars per site.
pub const MAX_ENV_VARS: usize = 100;

impl Services {
    pub(crate) fn check_existing_site(&self, caller: &Caller, site: &str) -> Result<(), ApiError> {
        self.check_site(caller, site)?;
        if !self.sites.live_dir(site).is_dir() {
            return Err(ApiError::NotFound(format!("there is no site '{site}'")));
        }
        Ok(())
    }

    /// Swaps the live site with its previous deployment; returns what is live now and the
    /// new deployment row's id.
    /// The folder brought back brings its settings back too (its `AUTH` users, its `CNAME`).
    pub fn rollback(
        &self,
        conn: &mut Connection,
        caller: &Caller,
        site: &str,
        req: &Request,
    ) -> Result<(Unpacked, i64), ApiError> {
        self.check_site(caller, site)?;
        let lock = self.sites.lock(site)?;
        let now = self.swap_in(conn, site, |_, inspect| {
            self.sites.rollback(&lock, |previous| {
                let settings = self.kept_folder_settings(previous)?;
                inspect(settings)
            })
        })?;
        let id = store::sites::record_deployment(
            conn,
            site,
            now.bytes,
            now.files,
            &format!("{} (rollback)", caller.name),
        )?;
        drop(lock);
        self.audit(conn, &caller.name, "rollback", Some(site), req);
        eprintln!("rollback: {site} by '{}' (deployment {id})", caller.name);
        Ok((now, id))
    }

    /// Removes a site's files (and its `db` keys and env vars unless `keep_data`).
    pub fn teardown(
        &self,
        conn: &mut Connection,
        caller: &Caller,
        site: &str,
        keep_data: bool,
        req: &Request,
    ) -> Result<(), ApiError> {
        self.check_site(caller, site)?;
        let lock = self.sites.lock(site)?;
        self.sites.teardown(&lock)?;
        // Its host names are free for other sites; its password stays with its data, so a
        // site torn down and deployed again is never public by accident.
        store::hosting::release_all_domains(conn, site)?;
        self.domains.changed();
        if !keep_data {
            store::sites::delete_data(conn, site)?;
            store::hosting::clear_site_users(conn, site)?;
            self.protection.changed();
        }
        drop(lock);
        self.audit(conn, &caller.name, "teardown", Some(site), req);
        eprintln!(
            "teardown: {site} by '{}' (data kept: {keep_data})",
            caller.name
        );
        Ok(())
    }

    /// Sets an env var; `true` when it is new. The value never reaches a log.
    pub fn set_env(
        &self,
        conn: &Connection,
        caller: &Caller,
        site: &str,
        key: &str,
        value: &str,
        req: &Request,
    ) -> Result<bool, ApiError> {
        self.check_existing_site(caller, site)?;
        check_env_key(key).map_err(ApiError::BadRequest)?;
        if value.len() > MAX_ENV_VALUE {
            return Err(ApiError::TooLarge(format!(
                "the value of {key} is {} bytes; the limit is {MAX_ENV_VALUE}",
                value.len()
            )));
        }
        let existing = store::kv::env_vars(conn, site)?;
        if existing.len() >= MAX_ENV_VARS && !existing.iter().any(|(k, _)| k == key) {
            return Err(ApiError::BadRequest(format!(
                "'{site}' already has {MAX_ENV_VARS} env vars, the most a site may have"
            )));
        }
        let new = store::sites::set_env(conn, site, key, value)?;
        self.pretty_urls.changed();
        self.audit(
            conn,
            &caller.name,
            "env.set",
            Some(&format!("{site}:{key}")),
            req,
        );
        Ok(new)
    }

    pub fn delete_env(
        &self,
        conn: &Connection,
        caller: &Caller,
        site: &str,
        key: &str,
        req: &Request,
    ) -> Result<(), ApiError> {
        self.check_site(caller, site)?;
        self.pretty_urls.changed();
        if !store::sites::delete_env(conn, site, key)? {
            return Err(ApiError::NotFound(format!(
                "'{site}' has no env var '{key}'"
            )));
        }
        self.audit(
            conn,
            &caller.name,
            "env.delete",
            Some(&format!("{site}:{key}")),
            req,
        );
        Ok(())
    }

    /// Creates a deploy key (admin only) and returns `(id, token)`: the only time the token
    /// exists outside the caller's hands.
    pub fn create_key(
        &self,
        conn: &Connection,
        caller: &Caller,
        name: &str,
        scopes: &[String],
        req: &Request,
    ) -> Result<(i64, String), ApiError> {
        require_admin(caller)?;
        let ip = self.client_ip(req).to_string();
        keys::create_audited(conn, name, scopes, &caller.name, Some(&ip))
            .map_err(ApiError::BadRequest)
    }

    pub fn revoke_key(
        &self,
        conn: &Connection,
        caller: &Caller,
        id: i64,
        req: &Request,
    ) -> Result<(), ApiError> {
        require_admin(caller)?;
        let ip = self.client_ip(req).to_string();
        keys::revoke_audited(conn, id, &caller.name, Some(&ip)).map_err(|e| match e {
            keys::RevokeError::NoSuchKey(why) => ApiError::NotFound(why),
            keys::RevokeError::Store(e) => e.into(),
        })
    }

    /// Allows a domain hosted elsewhere to send pageviews; returns the normalised domain.
    pub fn add_tracked_domain(
        &self,
        conn: &Connection,
        caller: &Caller,
        domain: &str,
        req: &Request,
    ) -> Result<String, ApiError> {
        require_admin(caller)?;
        let domain = normalise_domain(domain).map_err(ApiError::BadRequest)?;
        if store::tracking::add(conn, &domain)? {
            self.audit(conn, &caller.name, "tracking.add", Some(&domain), req);
        }
        Ok(domain)
    }

    pub fn remove_tracked_domain(
        &self,
        conn: &Connection,
        caller: &Caller,
        domain: &str,
        req: &Request,
    ) -> Result<(), ApiError> {
        require_admin(caller)?;
        if !store::tracking::remove(conn, domain)? {
            return Err(ApiError::NotFound(format!(
                "'{domain}' is not a tracked domain"
            )));
        }
        self.audit(conn, &caller.name, "tracking.remove", Some(domain), req);
        Ok(())
    }

    /// Adds a short link `/r/<slug>` → `target`; returns the target as stored. 409 when the
    /// slug is taken: a link in use is never silently repointed.
    pub fn create_link(
        &self,
        conn: &Connection,
        caller: &Caller,
        slug: &str,
        target: &str,
        req: &Request,
    ) -> Result<String, ApiError> {
        require_admin(caller)?;
        links::check_slug(slug).map_err(ApiError::BadRequest)?;
        let target = links::check_target(target).map_err(ApiError::BadRequest)?;
        if !store::links::create(conn, slug, &target)? {
            return Err(ApiError::Conflict(format!(
                "the short link '{slug}' already exists: edit it, or choose another slug"
            )));
        }
        self.audit(conn, &caller.name, "link.create", Some(slug), req);
        Ok(target)
    }

    /// Points an existing short link at a new target (its clicks are kept).
    pub fn update_link(
        &self,
        conn: &Connection,
        caller: &Caller,
        slug: &str,
        target: &str,
        req: &Request,
    ) -> Result<String, ApiError> {
        require_admin(caller)?;
        let target = links::check_target(target).map_err(ApiError::BadRequest)?;
        if !store::links::update_target(conn, slug, &target)? {
            return Err(ApiError::NotFound(format!(
                "there is no short link '{slug}'"
            )));
        }
        self.audit(conn, &caller.name, "link.update", Some(slug), req);
        Ok(target)
    }

    pub fn delete_link(
        &self,
        conn: &Connection,
        caller: &Caller,
        slug: &str,
        req: &Request,
    ) -> Result<(), ApiError> {
        require_admin(caller)?;
        if !store::links::delete(conn, slug)? {
            return Err(ApiError::NotFound(format!(
                "there is no short link '{slug}'"
            )));
        }
        self.audit(conn, &caller.name, "link.delete", Some(slug), req);
        Ok(())
    }

    /// Creates a webhook endpoint (admin only). With `signed`, returns its new secret: the
    /// only time it leaves the server.
    pub fn create_webhook(
        &self,
        conn: &Connection,
        caller: &Caller,
        endpoint: &str,
        signed: bool,
        req: &Request,
    ) -> Result<Option<String>, ApiError> {
        require_admin(caller)?;
        if !webhooks::is_valid_endpoint(endpoint) {
            return Err(ApiError::BadRequest(format!(
                "'{endpoint}' is not an endpoint name: use 1-64 characters of a-z, A-Z, 0-9, '-' and '_'"
            )));
        }
        let secret = signed.then(webhooks::new_secret);
        if !store::webhooks::create(conn, endpoint, secret.as_deref())? {
            return Err(ApiError::Conflict(format!(
                "there is already a webhook endpoint '{endpoint}'"
            )));
        }
        let target = if signed {
            format!("{endpoint} (signed)")
        } else {
            endpoint.to_string()
        };
        self.audit(conn, &caller.name, "webhook.create", Some(&target), req);
        Ok(secret)
    }

    /// Deletes an endpoint: its URL answers 404 from now on; what it received stays in the
    /// events (and Analytics) until the retention period prunes it.
    pub fn delete_webhook(
        &self,
        conn: &Connection,
        caller: &Caller,
        endpoint: &str,
        req: &Request,
    ) -> Result<(), ApiError> {
        require_admin(caller)?;
        if !store::webhooks::delete(conn, endpoint)? {
            return Err(ApiError::NotFound(format!(
                "there is no webhook endpoint '{endpoint}'"
            )));
        }
        self.audit(conn, &caller.name, "webhook.delete", Some(endpoint), req);
        Ok(())
    }
}

fn require_admin(caller: &Caller) -> Result<(), ApiError> {
    if caller.is_admin() {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "only the admin (a dashboard session) may do this, not a deploy key".into(),
        ))
    }
}

/// An env var name as shells and Workers allow: a letter or `_`, then letters, digits, `_`.
pub fn check_env_key(key: &str) -> Result<(), String> {
    let mut chars = key.chars();
    let ok = key.len() <= 128
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "'{key}' is not an env var name: use letters, digits and '_' (not starting with a digit, at most 128)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_keys() {
        for ok in ["API_KEY", "_x", "a1"] {
            assert!(check_env_key(ok).is_ok(), "{ok}");
        }
        for bad in ["", "1A", "A-B", "A B", "é", &"A".repeat(129)] {
            assert!(check_env_key(bad).is_err(), "{bad}");
        }
    }
}
