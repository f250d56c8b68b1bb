//! The JSON API on the dashboard host. Deploy-key endpoints (`/api/deploy`,
//! `/api/sites…`, `/api/whoami`) take `Authorization: Bearer <token>`; everything the dashboard
//! pages do is here too, for a dashboard session (with `X-CSRF-Token` on changes) or a key with
//! the right scope. Answers are JSON, errors `{"error": "…"}`.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::error::ApiError;
use crate::http::{Request, Response};
use crate::public::webhooks;
use crate::services::{Caller, Services};
use crate::store;

/// Largest JSON body the management endpoints read.
const MAX_JSON_BODY: usize = 64 * 1024;

pub struct Api {
    pub svc: Arc<Services>,
}

impl Api {
    pub fn handle(&self, req: &mut Request) -> Response {
        match self.route(req) {
            Ok(r) => r,
            Err(e) => {
                if e.status() == 500 {
                    eprintln!("api: {} {}: {e}", req.method, req.raw_path());
                }
                e.to_json_response()
            }
        }
        .with_header("Cache-Control", "no-store")
        .with_header("X-Content-Type-Options", "nosniff")
    }

    fn route(&self, req: &mut Request) -> Result<Response, ApiError> {
        let path = req.raw_path().trim_end_matches('/').to_string();
        let segments: Vec<&str> = path.trim_start_matches("/api/").split('/').collect();
        let method = req.method.clone();
        match (method.as_str(), segments.as_slice()) {
            ("POST" | "OPTIONS", ["event"]) => {
                Ok(crate::public::tracking::api_event(&self.svc, req))
            }
            ("POST", ["deploy"]) => self.deploy(req),
            ("GET", ["whoami"]) => self.whoami(req),
            ("GET", ["sites"]) => self.list_sites(req),
            ("GET", ["sites", site]) => self.site_detail(req, site),
            ("DELETE", ["sites", site]) => self.teardown(req, site),
            ("POST", ["sites", site, "rollback"]) => self.rollback(req, site),
            ("GET", ["sites", site, "logs"]) => self.logs(req, site),
            ("PUT", ["sites", site, "env", key]) => self.set_env(req, site, key),
            ("DELETE", ["sites", site, "env", key]) => self.delete_env(req, site, key),
            ("GET", ["stats"]) => self.stats(req),
            ("GET", ["keys"]) => self.list_keys(req),
            ("POST", ["keys"]) => self.create_key(req),
            ("DELETE", ["keys", id]) => self.revoke_key(req, id),
            ("GET", ["audit"]) => self.audit(req),
            ("GET", ["tracking"]) => self.list_tracking(req),
            ("POST", ["tracking"]) => self.add_tracking(req),
            ("DELETE", ["tracking", domain]) => self.remove_tracking(req, domain),
            ("GET", ["links"]) => self.list_links(req),
            ("POST", ["links"]) => self.create_link(req),
            ("PUT", ["links", slug]) => self.update_link(req, slug),
            ("DELETE", ["links", slug]) => self.delete_link(req, slug),
            ("GET", ["webhooks"]) => self.list_webhooks(req),
            ("POST", ["webhooks"]) => self.create_webhook(req),
            ("DELETE", ["webhooks", endpoint]) => self.delete_webhook(req, endpoint),
            ("GET", ["webhooks", endpoint, "events"]) => self.webhook_events(req, endpoint),
            (
                _,
                ["deploy"]
                | ["whoami"]
                | ["sites"]
                | ["sites", _]
                | ["sites", _, "rollback" | "logs"]
                | ["sites", _, "env", _]
                | ["stats"]
                | ["keys"]
                | ["keys", _]
                | ["audit"]
                | ["tracking"]
                | ["tracking", _]
                | ["links"]
                | ["links", _]
                | ["webhooks"]
                | ["webhooks", _]
                | ["webhooks", _, "events"]
                | ["event"],
            ) => Err(ApiError::MethodNotAllowed(format!(
                "{method} is not allowed on {path}"
            ))),
            _ => Err(ApiError::NotFound(format!("no API endpoint {path}"))),
        }
    }

    /// The caller, or 401. Changes made with a session cookie must pass the CSRF check.
    fn authenticate(&self, req: &Request) -> Result<(rusqlite::Connection, Caller), ApiError> {
        let conn = self.svc.conn()?;
        let Some(caller) = self.svc.caller(&conn, req)? else {
            return Err(ApiError::Unauthorized(
                "missing, unknown or revoked token: send 'Authorization: Bearer <token>' with a key \
                 from 'cc-server keys create', or log in to the dashboard"
                    .into(),
            ));
        };
        if !matches!(req.method.as_str(), "GET" | "HEAD") {
            self.svc
                .check_csrf(req, &caller, req.header("x-csrf-token"))?;
        }
        Ok((conn, caller))
    }

    fn admin(&self, req: &Request) -> Result<(rusqlite::Connection, Caller), ApiError> {
        let (conn, caller) = self.authenticate(req)?;
        if !caller.is_admin() {
            return Err(ApiError::Forbidden(
                "only the admin (a dashboard session) may do this, not a deploy key".into(),
            ));
        }
        Ok((conn, caller))
    }

    fn json_body(&self, req: &mut Request) -> Result<Value, ApiError> {
        let body = req.read_small_body(MAX_JSON_BODY).map_err(|_| {
            ApiError::TooLarge(format!(
                "the JSON body may be at most {MAX_JSON_BODY} bytes"
            ))
        })?;
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::BadRequest(format!("the body is not JSON: {e}")))
    }

    fn deploy(&self, req: &mut Request) -> Result<Response, ApiError> {
        let (mut conn, caller) = self.authenticate(req)?;
        let answer = self.svc.deploy_upload(&mut conn, &caller, req)?;
        Ok(Response::json(200, &answer))
    }

    fn whoami(&self, req: &Request) -> Result<Response, ApiError> {
        let (_, caller) = self.authenticate(req)?;
        let l = &self.svc.sites.limits;
        Ok(Response::json(
            200,
            &json!({
                "name": caller.name,
                "scopes": caller.scopes,
                "admin": caller.is_admin(),
                "limits": { "max_upload": l.max_upload, "max_unpacked": l.max_unpacked, "max_files": l.max_files },
            }),
        ))
    }

    fn list_sites(&self, req: &Request) -> Result<Response, ApiError> {
        let (conn, caller) = self.authenticate(req)?;
        self.svc.check_analytics_rate(&caller)?;
        let sites: Vec<Value> = crate::overview::sites(&self.svc, &conn)?
            .into_iter()
            .filter(|s| caller.may_manage(&s.name))
            .map(|s| s.to_json())
            .collect();
        Ok(Response::json(200, &json!({ "sites": sites })))
    }

    fn site_detail(&self, req: &Request, site: &str) -> Result<Response, ApiError> {
        let (conn, caller) = self.authenticate(req)?;
        self.svc.check_site(&caller, site)?;
        self.svc.check_analytics_rate(&caller)?;
        let detail = crate::overview::site(&self.svc, &conn, site)?;
        Ok(Response::json(200, &detail.to_json()))
    }

    fn rollback(&self, req: &Request, site: &str) -> Result<Response, ApiError> {
        let (mut conn, caller) = self.authenticate(req)?;
        let (now, id) = self.svc.rollback(&mut conn, &caller, site, req)?;
        Ok(Response::json(
            200,
            &json!({ "site": site, "url": self.svc.site_url(site), "files": now.files, "bytes": now.bytes, "deployment_id": id }),
        ))
    }

    /// The site's recent main.js log lines (console.*, errors, limits), oldest first.
    fn logs(&self, req: &Request, site: &str) -> Result<Response, ApiError> {
        let (_, caller) = self.authenticate(req)?;
        self.svc.check_site(&caller, site)?;
        let lines: Vec<_> = self
            .svc
            .scripts
            .logs(site)
            .into_iter()
            .map(|l| json!({ "time": l.unix_time, "level": l.level, "message": l.message }))
            .collect();
        Ok(Response::json(200, &json!({ "site": site, "logs": lines })))
    }

    fn teardown(&self, req: &Request, site: &str) -> Result<Response, ApiError> {
        let (mut conn, caller) = self.authenticate(req)?;
        let keep_data = req.query().is_some_and(|q| {
            q.split('&')
                .any(|p| p == "keep_data=1" || p == "keep_data=true")
        });
        self.svc
            .teardown(&mut conn, &caller, site, keep_data, req)?;
        Ok(Response::json(
            200,
            &json!({ "site": site, "deleted": true, "data_kept": keep_data }),
        ))
    }

    fn set_env(&self, req: &mut Request, site: &str, key: &str) -> Result<Response, ApiError> {
        let (conn, caller) = self.authenticate(req)?;
        let body = self.json_body(req)?;
        let Some(value) = body.get("value").and_then(Value::as_str) else {
            return Err(ApiError::BadRequest(
                "send {\"value\": \"…\"} (a string)".into(),
            ));
        };
        let created = self.svc.set_env(&conn, &caller, site, key, value, req)?;
        Ok(Response::json(
            if created { 201 } else { 200 },
            &json!({ "site": site, "key": key, "created": created }),
        ))
    }

    fn delete_env(&self, req: &Request, site: &str, key: &str) -> Result<Response, ApiError> {
        let (conn, caller) = self.authenticate(req)?;
        self.svc.delete_env(&conn, &caller, site, key, req)?;
        Ok(Response::json(
            200,
            &json!({ "site": site, "key": key, "deleted": true }),
        ))
    }

    /// Analytics as JSON: `?days=30&site=blog&source=hosting`, for a session or `read:stats`.
    fn stats(&self, req: &Request) -> Result<Response, ApiError> {
        let (conn, caller) = self.authenticate(req)?;
        if !caller.may_read_stats() {
            return Err(ApiError::Forbidden(format!(
                "key '{}' has no read:stats scope",
                caller.name
            )));
        }
        self.svc.check_analytics_rate(&caller)?;
        let filter = crate::overview::stats_filter(&req.query_pairs());
        let summary = crate::overview::stats(&conn, &filter)?;
        Ok(Response::json(
            200,
            &crate::overview::stats_json(&filter, &summary),
        ))
    }

    fn list_keys(&self, req: &Request) -> Result<Response, ApiError> {
        let (conn, _) = self.admin(req)?;
        let keys: Vec<Value> = store::keys::list(&conn)?
            .into_iter()
            .map(|k| {
                json!({ "id": k.id, "name": k.name, "scopes": k.scopes, "created_at": k.created_at,
                        "last_used_at": k.last_used_at, "revoked": k.revoked })
            })
            .collect();
        Ok(Response::json(200, &json!({ "keys": keys })))
    }

    fn create_key(&self, req: &mut Request) -> Result<Response, ApiError> {
        let (conn, caller) = self.admin(req)?;
        let body = self.json_body(req)?;
        let name = body.get("name").and_then(Value::as_str).unwrap_or("");
        let scopes: Vec<String> = body
            .get("scopes")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let (id, token) = self.svc.create_key(&conn, &caller, name, &scopes, req)?;
        Ok(Response::json(
            201,
            &json!({ "id": id, "name": name.trim(), "scopes": scopes, "token": token }),
        ))
    }

    fn revoke_key(&self, req: &Request, id: &str) -> Result<Response, ApiError> {
        let (conn, caller) = self.admin(req)?;
        let id: i64 = id
            .parse()
            .map_err(|_| ApiError::BadRequest(format!("'{id}' is not a key id")))?;
        self.svc.revoke_key(&conn, &caller, id, req)?;
        Ok(Response::json(200, &json!({ "id": id, "revoked": true })))
    }

    fn audit(&self, req: &Request) -> Result<Response, ApiError> {
        let (conn, _) = self.admin(req)?;
        let rows: Vec<Value> = store::audit::recent(&conn, 200)?
            .into_iter()
            .map(|a| {
                json!({ "time": a.created_at, "actor": a.actor, "action": a.action,
                        "target": a.target, "ip": a.ip })
            })
            .collect();
        Ok(Response::json(200, &json!({ "audit": rows })))
    }

    fn list_tracking(&self, req: &Request) -> Result<Response, ApiError> {
        let (conn, _) = self.admin(req)?;
        let domains = store::tracking::list(&conn)?;
        Ok(Response::json(200, &json!({ "domains": domains })))
    }

    fn add_tracking(&self, req: &mut Request) -> Result<Response, ApiError> {
        let (conn, caller) = self.admin(req)?;
        let body = self.json_body(req)?;
        let domain = body.get("domain").and_then(Value::as_str).unwrap_or("");
        let domain = self.svc.add_tracked_domain(&conn, &caller, domain, req)?;
        Ok(Response::json(201, &json!({ "domain": domain })))
    }

    fn link_json(&self, req: &Request, l: &store::links::LinkRow) -> Value {
        json!({ "slug": l.slug, "target": l.target, "url": crate::public::links::short_url(&self.svc, req, &l.slug),
                "clicks": l.clicks, "created_at": l.created_at, "updated_at": l.updated_at })
    }

    fn list_links(&self, req: &Request) -> Result<Response, ApiError> {
        let (conn, _) = self.admin(req)?;
        let links: Vec<Value> = store::links::list(&conn)?
            .iter()
            .map(|l| self.link_json(req, l))
            .collect();
        Ok(Response::json(200, &json!({ "links": links })))
    }

    fn create_link(&self, req: &mut Request) -> Result<Response, ApiError> {
        let (conn, caller) = self.admin(req)?;
        let body = self.json_body(req)?;
        let field = |name: &str| body.get(name).and_then(Value::as_str).unwrap_or("");
        let slug = field("slug").trim();
        self.svc
            .create_link(&conn, &caller, slug, field("target"), req)?;
        let link = store::links::get(&conn, slug)?
            .ok_or_else(|| ApiError::NotFound(format!("there is no short link '{slug}'")))?;
        Ok(Response::json(201, &self.link_json(req, &link)))
    }

    fn update_link(&self, req: &mut Request, slug: &str) -> Result<Response, ApiError> {
        let (conn, caller) = self.admin(req)?;
        let body = self.json_body(req)?;
        let Some(target) = body.get("target").and_then(Value::as_str) else {
            return Err(ApiError::BadRequest(
                "send {\"target\": \"https://…\"} (a string)".into(),
            ));
        };
        self.svc.update_link(&conn, &caller, slug, target, req)?;
        let link = store::links::get(&conn, slug)?
            .ok_or_else(|| ApiError::NotFound(format!("there is no short link '{slug}'")))?;
        Ok(Response::json(200, &self.link_json(req, &link)))
    }

    fn delete_link(&self, req: &Request, slug: &str) -> Result<Response, ApiError> {
        let (conn, caller) = self.admin(req)?;
        self.svc.delete_link(&conn, &caller, slug, req)?;
        Ok(Response::json(
            200,
            &json!({ "slug": slug, "deleted": true }),
        ))
    }

    fn remove_tracking(&self, req: &Request, domain: &str) -> Result<Response, ApiError> {
        let (conn, caller) = self.admin(req)?;
        self.svc
            .remove_tracked_domain(&conn, &caller, domain, req)?;
        Ok(Response::json(
            200,
            &json!({ "domain": domain, "deleted": true }),
        ))
    }

    fn list_webhooks(&self, req: &Request) -> Result<Response, ApiError> {
        let (conn, _) = self.admin(req)?;
        let hooks: Vec<Value> = store::webhooks::list(&conn)?
            .into_iter()
            .map(|h| {
                json!({ "endpoint": h.endpoint, "url": webhooks::endpoint_url(&self.svc, req, &h.endpoint),
                        "signed": h.signed, "events": h.events, "created_at": h.created_at })
            })
            .collect();
        Ok(Response::json(200, &json!({ "webhooks": hooks })))
    }

    /// `{"endpoint": "github", "signed": true}` → 201 with the secret, shown only here.
    fn create_webhook(&self, req: &mut Request) -> Result<Response, ApiError> {
        let (conn, caller) = self.admin(req)?;
        let body = self.json_body(req)?;
        let endpoint = body.get("endpoint").and_then(Value::as_str).unwrap_or("");
        let signed = body.get("signed").and_then(Value::as_bool).unwrap_or(false);
        let secret = self
            .svc
            .create_webhook(&conn, &caller, endpoint, signed, req)?;
        Ok(Response::json(
            201,
            &json!({ "endpoint": endpoint, "url": webhooks::endpoint_url(&self.svc, req, endpoint),
                     "signed": signed, "secret": secret }),
        ))
    }

    fn delete_webhook(&self, req: &Request, endpoint: &str) -> Result<Response, ApiError> {
        let (conn, caller) = self.admin(req)?;
        self.svc.delete_webhook(&conn, &caller, endpoint, req)?;
        Ok(Response::json(
            200,
            &json!({ "endpoint": endpoint, "deleted": true }),
        ))
    }

    /// What an endpoint received, newest first: `?limit=` up to 200 (default 20).
    fn webhook_events(&self, req: &Request, endpoint: &str) -> Result<Response, ApiError> {
        let (conn, _) = self.admin(req)?;
        if store::webhooks::get(&conn, endpoint)?.is_none() {
            return Err(ApiError::NotFound(format!(
                "there is no webhook endpoint '{endpoint}'"
            )));
        }
        let limit = req
            .query_pairs()
            .into_iter()
            .find(|(k, _)| k == "limit")
            .and_then(|(_, v)| v.parse::<u32>().ok())
            .unwrap_or(20)
            .clamp(1, 200);
        let events: Vec<Value> = store::webhooks::recent_payloads(&conn, endpoint, limit)?
            .into_iter()
            .map(|p| json!({ "time": p.created_at, "event_type": p.event_type, "payload": p.payload }))
            .collect();
        Ok(Response::json(
            200,
            &json!({ "endpoint": endpoint, "events": events }),
        ))
    }
}
