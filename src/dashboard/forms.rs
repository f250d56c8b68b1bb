//! The signed-in pages' form posts: each calls one `Services` action and answers 303 to the
//! page that shows the result (with a `done=` notice), or the failure with its status.
//! The CSRF and same-origin checks happen before any of these runs (`Dashboard::signed_in`).

use super::{Admin, Dashboard, redirect};
use crate::error::ApiError;
use crate::http::{Request, Response, form_value};

impl Dashboard {
    pub(super) fn rollback(
        &self,
        req: &Request,
        admin: &Admin,
        site: &str,
    ) -> Result<String, ApiError> {
        let mut conn = self.svc.conn()?;
        self.svc.rollback(&mut conn, &admin.caller, site, req)?;
        Ok(format!("/sites/{site}?done=rolled-back"))
    }

    pub(super) fn teardown(
        &self,
        req: &Request,
        admin: &Admin,
        site: &str,
        form: &[(String, String)],
    ) -> Result<String, ApiError> {
        if form_value(form, "confirm").map(str::trim) != Some(site) {
            return Err(ApiError::BadRequest(format!(
                "type the site's name '{site}' to confirm the teardown"
            )));
        }
        let keep = form_value(form, "keep_data") == Some("1");
        let mut conn = self.svc.conn()?;
        self.svc
            .teardown(&mut conn, &admin.caller, site, keep, req)?;
        Ok("/sites?done=torn-down".into())
    }

    pub(super) fn set_env(
        &self,
        req: &Request,
        admin: &Admin,
        site: &str,
        form: &[(String, String)],
    ) -> Result<String, ApiError> {
        let key = form_value(form, "key").unwrap_or("").trim();
        let value = form_value(form, "value").unwrap_or("");
        let conn = self.svc.conn()?;
        self.svc
            .set_env(&conn, &admin.caller, site, key, value, req)?;
        Ok(format!("/sites/{site}?done=env-saved#env"))
    }

    pub(super) fn delete_env(
        &self,
        req: &Request,
        admin: &Admin,
        site: &str,
        form: &[(String, String)],
    ) -> Result<String, ApiError> {
        let key = form_value(form, "key").unwrap_or("");
        let conn = self.svc.conn()?;
        self.svc.delete_env(&conn, &admin.caller, site, key, req)?;
        Ok(format!("/sites/{site}?done=env-deleted#env"))
    }

    /// Adds a Basic-auth user to the site (protecting it), or sets that user's password.
    pub(super) fn protect(
        &self,
        req: &Request,
        admin: &Admin,
        site: &str,
        form: &[(String, String)],
    ) -> Result<String, ApiError> {
        let user = form_value(form, "user").unwrap_or("").trim();
        let password = form_value(form, "password").unwrap_or("");
        let conn = self.svc.conn()?;
        self.svc
            .protect(&conn, &admin.caller, site, user, password, req)?;
        Ok(format!("/sites/{site}?done=user-saved#site-password"))
    }

    /// Removes every user: the site is public again.
    pub(super) fn unprotect(
        &self,
        req: &Request,
        admin: &Admin,
        site: &str,
    ) -> Result<String, ApiError> {
        let conn = self.svc.conn()?;
        let done = match self.svc.unprotect(&conn, &admin.caller, site, req)? {
            true => "made-public",
            false => "was-public",
        };
        Ok(format!("/sites/{site}?done={done}#site-password"))
    }

    pub(super) fn add_site_domain(
        &self,
        req: &Request,
        admin: &Admin,
        site: &str,
        form: &[(String, String)],
    ) -> Result<String, ApiError> {
        let host = form_value(form, "host").unwrap_or("");
        let conn = self.svc.conn()?;
        self.svc.add_domain(&conn, &admin.caller, site, host, req)?;
        Ok(format!("/sites/{site}?done=host-added#site-domains"))
    }

    pub(super) fn remove_site_domain(
        &self,
        req: &Request,
        admin: &Admin,
        site: &str,
        form: &[(String, String)],
    ) -> Result<String, ApiError> {
        let host = form_value(form, "host").unwrap_or("");
        let conn = self.svc.conn()?;
        self.svc
            .remove_domain(&conn, &admin.caller, site, host, req)?;
        Ok(format!("/sites/{site}?done=host-removed#site-domains"))
    }

    /// Creating a key renders the token on the answer itself (never in a URL, never again).
    pub(super) fn create_key(
        &self,
        req: &Request,
        admin: &Admin,
        form: &[(String, String)],
    ) -> Response {
        let scopes = match scopes_from_form(form) {
            Ok(s) => s,
            Err(e) => return self.failed(admin, ApiError::BadRequest(e)),
        };
        let name = form_value(form, "name").unwrap_or("");
        let created = self.svc.conn().and_then(|conn| {
            self.svc
                .create_key(&conn, &admin.caller, name, &scopes, req)
        });
        match created {
            Ok((_, token)) => self.keys(req, admin, Some((name.trim(), &token))),
            Err(e) => self.failed(admin, e),
        }
    }

    pub(super) fn revoke_key(
        &self,
        req: &Request,
        admin: &Admin,
        id: &str,
    ) -> Result<String, ApiError> {
        let id: i64 = id
            .parse()
            .map_err(|_| ApiError::BadRequest(format!("'{id}' is not a key id")))?;
        let conn = self.svc.conn()?;
        self.svc.revoke_key(&conn, &admin.caller, id, req)?;
        Ok("/keys?done=key-revoked".into())
    }

    pub(super) fn add_domain(
        &self,
        req: &Request,
        admin: &Admin,
        form: &[(String, String)],
    ) -> Result<String, ApiError> {
        let conn = self.svc.conn()?;
        self.svc.add_tracked_domain(
            &conn,
            &admin.caller,
            form_value(form, "domain").unwrap_or(""),
            req,
        )?;
        Ok("/tracking?done=domain-added".into())
    }

    pub(super) fn remove_domain(
        &self,
        req: &Request,
        admin: &Admin,
        form: &[(String, String)],
    ) -> Result<String, ApiError> {
        let conn = self.svc.conn()?;
        self.svc.remove_tracked_domain(
            &conn,
            &admin.caller,
            form_value(form, "domain").unwrap_or(""),
            req,
        )?;
        Ok("/tracking?done=domain-removed".into())
    }

    pub(super) fn create_link(
        &self,
        req: &Request,
        admin: &Admin,
        form: &[(String, String)],
    ) -> Result<String, ApiError> {
        let slug = form_value(form, "slug").unwrap_or("").trim();
        let target = form_value(form, "target").unwrap_or("");
        let conn = self.svc.conn()?;
        self.svc
            .create_link(&conn, &admin.caller, slug, target, req)?;
        Ok("/links?done=link-created".into())
    }

    pub(super) fn update_link(
        &self,
        req: &Request,
        admin: &Admin,
        slug: &str,
        form: &[(String, String)],
    ) -> Result<String, ApiError> {
        let target = form_value(form, "target").unwrap_or("");
        let conn = self.svc.conn()?;
        self.svc
            .update_link(&conn, &admin.caller, slug, target, req)?;
        Ok("/links?done=link-updated".into())
    }

    pub(super) fn delete_link(
        &self,
        req: &Request,
        admin: &Admin,
        slug: &str,
    ) -> Result<String, ApiError> {
        let conn = self.svc.conn()?;
        self.svc.delete_link(&conn, &admin.caller, slug, req)?;
        Ok("/links?done=link-deleted".into())
    }

    /// Creating a signed endpoint renders its secret on the answer itself, like a new key's
    /// token; an unsigned one has nothing to show once, so it redirects.
    pub(super) fn create_webhook(
        &self,
        req: &Request,
        admin: &Admin,
        form: &[(String, String)],
    ) -> Response {
        let endpoint = form_value(form, "endpoint").unwrap_or("").trim();
        let signed = form_value(form, "signed") == Some("1");
        let created = self.svc.conn().and_then(|conn| {
            self.svc
                .create_webhook(&conn, &admin.caller, endpoint, signed, req)
        });
        match created {
            Ok(Some(secret)) => self.webhooks(req, admin, Some((endpoint, &secret))),
            Ok(None) => redirect("/webhooks?done=webhook-created"),
            Err(e) => self.failed(admin, e),
        }
    }

    pub(super) fn delete_webhook(
        &self,
        req: &Request,
        admin: &Admin,
        endpoint: &str,
    ) -> Result<String, ApiError> {
        let conn = self.svc.conn()?;
        self.svc
            .delete_webhook(&conn, &admin.caller, endpoint, req)?;
        Ok("/webhooks?done=webhook-deleted".into())
    }
}

/// The scopes the key form asks for: every site, chosen sites, or none; plus `read:stats`.
fn scopes_from_form(form: &[(String, String)]) -> Result<Vec<String>, String> {
    let mut scopes = Vec::new();
    match form_value(form, "access").unwrap_or("all") {
        "all" => scopes.push("deploy:*".to_string()),
        "sites" => {
            let mut names: Vec<String> = form
                .iter()
                .filter(|(k, _)| k == "site")
                .map(|(_, v)| v.trim().to_string())
                .collect();
            names.extend(
                form_value(form, "other_sites")
                    .unwrap_or("")
                    .split([',', ' '])
                    .map(|s| s.trim().to_ascii_lowercase())
                    .filter(|s| !s.is_empty()),
            );
            if names.is_empty() {
                return Err("choose at least one site, or 'every site'".into());
            }
            names.sort();
            names.dedup();
            scopes.extend(names.into_iter().map(|n| format!("deploy:{n}")));
        }
        _ => {}
    }
    if form_value(form, "read_stats") == Some("1") {
        scopes.push("read:stats".into());
    }
    if scopes.is_empty() {
        return Err("a key needs at least one permission: a site to deploy or read:stats".into());
    }
    Ok(scopes)
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn form(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    pub(super) fn scopes_from_the_key_form() {
        assert_eq!(
            scopes_from_form(&form(&[("access", "all")])).unwrap(),
            ["deploy:*"]
        );
        assert_eq!(
            scopes_from_form(&form(&[
                ("access", "sites"),
                ("site", "b"),
                ("other_sites", "A, c"),
                ("read_stats", "1")
            ]))
            .unwrap(),
            ["deploy:a", "deploy:b", "deploy:c", "read:stats"]
        );
        assert!(scopes_from_form(&form(&[("access", "sites")])).is_err());
        assert!(scopes_from_form(&form(&[("access", "none")])).is_err());
        assert_eq!(
            scopes_from_form(&form(&[("access", "none"), ("read_stats", "1")])).unwrap(),
            ["read:stats"]
        );
    }
}
