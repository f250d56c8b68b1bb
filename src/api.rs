//! The token API on the dashboard host (CONTRACT §4): `/api/deploy`, `/api/sites…`,
//! `/api/whoami`. Every request needs `Authorization: Bearer <token>` of a live deploy key with
//! a scope for the site; every answer is JSON, errors as `{"error": "…"}`.

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::json;

use crate::deploy::{DeployError, Sites, upload};
use crate::http::{Request, Response};
use crate::js::pool::ScriptPool;
use crate::keys;
use crate::router::is_valid_site_name;
use crate::store::{self, keys::KeyRow};

pub struct Api {
    pub db_path: PathBuf,
    pub sites: Sites,
    pub scripts: Arc<ScriptPool>,
    pub domain: String,
    pub port: u16,
}

impl Api {
    pub fn handle(&self, req: &mut Request) -> Response {
        match self.route(req) {
            Ok(r) => r,
            Err(e) => {
                if e.status() == 500 {
                    eprintln!("api: {} {}: {e}", req.method, req.raw_path());
                }
                Response::json_error(e.status(), &e.to_string())
            }
        }
    }

    fn route(&self, req: &mut Request) -> Result<Response, DeployError> {
        let path = req.raw_path().trim_end_matches('/').to_string();
        let segments: Vec<&str> = path.trim_start_matches("/api/").split('/').collect();
        match (req.method.as_str(), segments.as_slice()) {
            ("POST", ["deploy"]) => self.deploy(req),
            ("GET", ["whoami"]) => self.whoami(req),
            ("GET", ["sites"]) => self.list_sites(req),
            ("DELETE", ["sites", site]) => self.teardown(req, site),
            ("POST", ["sites", site, "rollback"]) => self.rollback(req, site),
            ("GET", ["sites", site, "logs"]) => self.logs(req, site),
            (
                _,
                ["deploy"]
                | ["whoami"]
                | ["sites"]
                | ["sites", _]
                | ["sites", _, "rollback" | "logs"],
            ) => Err(DeployError::BadRequest(format!(
                "{} is not allowed on {path}",
                req.method
            ))),
            _ => Err(DeployError::NotFound(format!("no API endpoint {path}"))),
        }
    }

    fn authenticate(&self, req: &Request) -> Result<(rusqlite::Connection, KeyRow), DeployError> {
        let conn = store::open(&self.db_path).map_err(|e| DeployError::Store(e.to_string()))?;
        match keys::authenticate(&conn, req.header("authorization"))? {
            Some(key) => Ok((conn, key)),
            None => Err(DeployError::Unauthorized(
                "missing, unknown or revoked token: send 'Authorization: Bearer <token>' with a key \
                 from 'cc-server keys create'"
                    .into(),
            )),
        }
    }

    fn site_url(&self, site: &str) -> String {
        match self.port {
            80 => format!("http://{site}.{}/", self.domain),
            p => format!("http://{site}.{}:{p}/", self.domain),
        }
    }

    fn deploy(&self, req: &mut Request) -> Result<Response, DeployError> {
        let (conn, key) = self.authenticate(req)?;
        let max = self.sites.limits.max_upload;
        let declared = req
            .header("content-length")
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > max + 1024 * 1024) {
            return Err(upload::upload_too_big(max));
        }
        let content_type = req.header("content-type").map(str::to_string);
        let form = upload::read_form(
            req.body.as_mut(),
            content_type.as_deref(),
            &self.sites.upload_dir(),
            max,
            |site| check_site_access(&key, site),
        )?;
        let site = form.site_name;
        let lock = self.sites.lock(&site)?;
        let unpacked = self.sites.deploy(&lock, &form.zip.path)?;
        let id = store::sites::record_deployment(
            &conn,
            &site,
            unpacked.bytes,
            unpacked.files,
            &key.name,
        )?;
        drop(lock);
        eprintln!(
            "deploy: {site} by '{}': {} files, {} bytes (deployment {id})",
            key.name, unpacked.files, unpacked.bytes
        );
        Ok(Response::json(
            200,
            &json!({
                "site": site,
                "url": self.site_url(&site),
                "files": unpacked.files,
                "bytes": unpacked.bytes,
                "deployment_id": id,
            }),
        ))
    }

    fn whoami(&self, req: &Request) -> Result<Response, DeployError> {
        let (_, key) = self.authenticate(req)?;
        let l = &self.sites.limits;
        Ok(Response::json(
            200,
            &json!({
                "name": key.name,
                "scopes": key.scopes,
                "limits": { "max_upload": l.max_upload, "max_unpacked": l.max_unpacked, "max_files": l.max_files },
            }),
        ))
    }

    fn list_sites(&self, req: &Request) -> Result<Response, DeployError> {
        let (conn, key) = self.authenticate(req)?;
        let mut sites = Vec::new();
        for name in self.sites.names() {
            if !keys::may_deploy(&key.scopes, &name) {
                continue;
            }
            let size = self.sites.measure(&name);
            let last = store::sites::last_deployment(&conn, &name)?;
            sites.push(json!({
                "name": name,
                "url": self.site_url(&name),
                "files": size.files,
                "bytes": size.bytes,
                "last_deploy": last.as_ref().map(|(at, _)| at),
                "last_deploy_by": last.as_ref().map(|(_, by)| by),
            }));
        }
        Ok(Response::json(200, &json!({ "sites": sites })))
    }

    fn rollback(&self, req: &Request, site: &str) -> Result<Response, DeployError> {
        let (conn, key) = self.authenticate(req)?;
        check_site_access(&key, site)?;
        let lock = self.sites.lock(site)?;
        let now = self.sites.rollback(&lock)?;
        let id = store::sites::record_deployment(
            &conn,
            site,
            now.bytes,
            now.files,
            &format!("{} (rollback)", key.name),
        )?;
        eprintln!("rollback: {site} by '{}' (deployment {id})", key.name);
        Ok(Response::json(
            200,
            &json!({ "site": site, "url": self.site_url(site), "files": now.files, "bytes": now.bytes, "deployment_id": id }),
        ))
    }

    /// The site's recent main.js log lines (console.*, errors, limits), oldest first.
    fn logs(&self, req: &Request, site: &str) -> Result<Response, DeployError> {
        let (_, key) = self.authenticate(req)?;
        check_site_access(&key, site)?;
        let lines: Vec<_> = self
            .scripts
            .logs(site)
            .into_iter()
            .map(|l| json!({ "time": l.unix_time, "level": l.level, "message": l.message }))
            .collect();
        Ok(Response::json(200, &json!({ "site": site, "logs": lines })))
    }

    fn teardown(&self, req: &Request, site: &str) -> Result<Response, DeployError> {
        let (mut conn, key) = self.authenticate(req)?;
        check_site_access(&key, site)?;
        let keep_data = req.query().is_some_and(|q| {
            q.split('&')
                .any(|p| p == "keep_data=1" || p == "keep_data=true")
        });
        let lock = self.sites.lock(site)?;
        self.sites.teardown(&lock)?;
        if !keep_data {
            store::sites::delete_data(&mut conn, site)?;
        }
        eprintln!(
            "teardown: {site} by '{}' (data kept: {keep_data})",
            key.name
        );
        Ok(Response::json(
            200,
            &json!({ "site": site, "deleted": true, "data_kept": keep_data }),
        ))
    }
}

/// 400 for a name that cannot be a site, 403 when the key has no scope for it.
fn check_site_access(key: &KeyRow, site: &str) -> Result<(), DeployError> {
    if !is_valid_site_name(site) {
        return Err(DeployError::BadRequest(format!(
            "site name '{site}' is not valid: use 1-63 characters of a-z, 0-9 and '-', not starting or ending with '-'"
        )));
    }
    if !keys::may_deploy(&key.scopes, site) {
        return Err(DeployError::Forbidden(format!(
            "key '{}' may not deploy '{site}' (its scopes: {})",
            key.name,
            key.scopes.join(", ")
        )));
    }
    Ok(())
}
