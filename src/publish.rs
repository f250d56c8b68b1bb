//! Publishing a site and what it asks for besides its files: a deploy (from the API or the
//! dashboard), the site's password (an `AUTH` file, `cc-server protect`, the dashboard) and
//! its custom domains (a `CNAME` file, `cc-server domains`, the dashboard). Each is checked
//! against the caller, written, and audited; methods of `Services`. The folder swap itself is
//! `deploy`'s, the SQL the store's, the request-time checks `protect`'s and `domains`'.

use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use rusqlite::Connection;
use serde_json::{Value, json};

use crate::auth;
use crate::deploy::{Unpacked, upload};
use crate::domains;
use crate::error::ApiError;
use crate::http::Request;
use crate::protect;
use crate::services::{Caller, Services};
use crate::site::path::config_file;
use crate::store::{self, hosting::Source};

/// What a site folder's own files ask for. They go with the folder: a deploy applies the new
/// folder's, a rollback the folder it brings back.
pub(crate) struct FolderSettings {
    /// From `AUTH`: `(user, Argon2id PHC)`; the file is never served, and holds only hashes
    /// once deployed.
    users: Vec<(String, String)>,
    /// From `CNAME`.
    host: Option<String>,
}

/// `AUTH` and `CNAME` are a few lines; anything larger is a mistake.
const MAX_SETTINGS_FILE: u64 = 64 * 1024;

impl Services {
    /// A deploy form in `req`'s body (the API's and the dashboard's): `site_name` and a zip or
    /// a folder's files. What is declared too big is refused before a byte is read, and so is
    /// an upload while every upload place is taken (503). Answers
    /// `{site, url, files, bytes, deployment_id}`.
    pub fn deploy_upload(
        &self,
        conn: &mut Connection,
        caller: &Caller,
        req: &mut Request,
    ) -> Result<Value, ApiError> {
        let max = self.sites.limits.max_upload;
        // The multipart framing adds a little to the files.
        let declared = req
            .header("content-length")
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > max + 1024 * 1024) {
            return Err(upload::upload_too_big(max));
        }
        let content_type = req.header("content-type").map(str::to_string);
        let reading = self.uploads.take()?;
        let limits = upload::FormLimits::new(max, self.sites.limits.max_files);
        let form = upload::read_form(
            req.body.as_mut(),
            content_type.as_deref(),
            &self.sites.upload_dir(),
            &limits,
            |site| self.check_site(caller, site),
        )?;
        drop(reading);
        let site = form.site_name;
        let (unpacked, id) = self.deploy(conn, caller, &site, &form.zip.path, req)?;
        Ok(json!({
            "site": site,
            "url": self.site_url(&site),
            "files": unpacked.files,
            "bytes": unpacked.bytes,
            "deployment_id": id,
        }))
    }

    /// Makes the zip at `zip` the live `site`; returns what went live and the deployment id.
    pub fn deploy(
        &self,
        conn: &mut Connection,
        caller: &Caller,
        site: &str,
        zip: &Path,
        req: &Request,
    ) -> Result<(Unpacked, i64), ApiError> {
        self.check_site(caller, site)?;
        let lock = self.sites.lock(site)?;
        let db_bytes = store::kv::bytes(conn, site)?;
        let unpacked = self.swap_in(conn, site, |conn, inspect| {
            self.sites.deploy(&lock, zip, db_bytes, |staging| {
                let settings = self.deployed_folder_settings(conn, site, staging)?;
                inspect(settings)
            })
        })?;
        let id = store::sites::record_deployment(
            conn,
            site,
            unpacked.bytes,
            unpacked.files,
            &caller.name,
        )?;
        drop(lock);
        self.audit(conn, &caller.name, "deploy", Some(site), req);
        eprintln!(
            "deploy: {site} by '{}': {} files, {} bytes (deployment {id})",
            caller.name, unpacked.files, unpacked.bytes
        );
        Ok((unpacked, id))
    }

    /// Swaps a folder in (`swap`: a deploy or a rollback, which reads the folder's settings and
    /// hands them to the `inspect` it is given) and brings its settings with it: its users are
    /// added before the swap, put back as they were if the swap fails, and its settings are
    /// applied once it is live.
    pub(crate) fn swap_in<T>(
        &self,
        conn: &mut Connection,
        site: &str,
        swap: impl FnOnce(
            &Connection,
            &mut dyn FnMut(FolderSettings) -> Result<FolderSettings, ApiError>,
        ) -> Result<(T, FolderSettings), ApiError>,
    ) -> Result<T, ApiError> {
        let before = store::hosting::site_users_from(conn, site, Source::File)?;
        let mut protected_early = false;
        let shared: &Connection = conn;
        let swapped = swap(shared, &mut |settings| {
            protected_early = self.protect_before_swap(shared, site, &settings)?;
            Ok(settings)
        });
        let (done, settings) = match swapped {
            Ok(swapped) => swapped,
            Err(e) => {
                if protected_early {
                    self.restore_file_users(conn, site, &before);
                }
                return Err(e);
            }
        };
        self.apply_folder_settings(conn, site, &settings)?;
        Ok(done)
    }

    /// The users a folder about to go live brings are added before the swap, so that its
    /// files are never live without them (the ones it drops are dropped after the swap, by
    /// [`Services::apply_folder_settings`]). True when there were any.
    pub(crate) fn protect_before_swap(
        &self,
        conn: &Connection,
        site: &str,
        settings: &FolderSettings,
    ) -> Result<bool, ApiError> {
        if settings.users.is_empty() {
            return Ok(false);
        }
        store::hosting::add_site_users(conn, site, Source::File, &settings.users)?;
        self.protection.changed();
        Ok(true)
    }

    /// After a swap that did not happen: the users the files gave before.
    pub(crate) fn restore_file_users(
        &self,
        conn: &mut Connection,
        site: &str,
        before: &[(String, String)],
    ) {
        if let Err(e) = store::hosting::set_site_users(conn, site, Source::File, before) {
            eprintln!("deploy: {site}: the users from AUTH could not be restored: {e}");
        }
        self.protection.changed();
    }

    /// After a swap: the live folder's `AUTH` users and `CNAME` host replace what the folder
    /// before it gave (what the admin set stays).
    pub(crate) fn apply_folder_settings(
        &self,
        conn: &mut Connection,
        site: &str,
        settings: &FolderSettings,
    ) -> Result<(), ApiError> {
        let applied = store::hosting::set_site_users(conn, site, Source::File, &settings.users);
        self.protection.changed();
        applied?;
        if let Some(host) = &settings.host
            && let Some(owner) = store::hosting::claim_domain(conn, host, site, Source::File)?
        {
            eprintln!("deploy: {site}: CNAME {host} was claimed by '{owner}' meanwhile; not given");
        }
        store::hosting::release_file_domains(conn, site, settings.host.as_deref())?;
        self.domains.changed();
        Ok(())
    }

    /// Reads and checks `AUTH` and `CNAME` in a folder about to go live by a deploy. A
    /// plain-text `AUTH` is hashed, and the file rewritten with the hashes.
    fn deployed_folder_settings(
        &self,
        conn: &Connection,
        site: &str,
        staging: &Path,
    ) -> Result<FolderSettings, ApiError> {
        let mut users = Vec::new();
        if let Some(text) = read_settings_file(staging, "AUTH")? {
            let plain = protect::parse_auth_file(&text).map_err(ApiError::BadRequest)?;
            let admins = store::hosting::site_users_from(conn, site, Source::Admin)?;
            if let Some((user, _)) = plain.iter().find(|(u, _)| admins.iter().any(|a| &a.0 == u)) {
                return Err(ApiError::BadRequest(format!(
                    "AUTH: the user '{user}' was set by the admin (cc-server protect or the \
                     dashboard), and a deploy cannot change it; use another name in AUTH, or \
                     ask the admin to remove that user"
                )));
            }
            for (user, password) in plain {
                let phc = auth::hash_password(&password).map_err(ApiError::Store)?;
                users.push((user, phc));
            }
            // Plain-text passwords are not kept on the disk: the hashes take their place.
            let path = staging.join("AUTH");
            std::fs::remove_file(&path).map_err(ApiError::Io)?;
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
                .and_then(|mut f| f.write_all(protect::hashed_auth_file(&users).as_bytes()))
                .map_err(ApiError::Io)?;
        }
        // A main.js that does not parse never goes live.
        if let Some((path, _)) = config_file(staging, "main.js") {
            crate::js::check::syntax(&path).map_err(ApiError::BadRequest)?;
            let source = std::fs::read_to_string(&path).unwrap_or_default();
            crate::js::cron::expressions(&source).map_err(ApiError::BadRequest)?;
        }
        let host = match read_settings_file(staging, "CNAME")? {
            None => None,
            Some(text) => {
                let host =
                    domains::parse_cname_file(&text, &self.domain).map_err(ApiError::BadRequest)?;
                if let Some(owner) = store::hosting::domain_owner(conn, &host)?
                    && owner != site
                {
                    return Err(ApiError::Conflict(format!(
                        "CNAME: {host} belongs to the site '{owner}'; remove it there first"
                    )));
                }
                Some(host)
            }
        };
        Ok(FolderSettings { users, host })
    }

    /// Reads `AUTH` (as a deploy left it: hashed) and `CNAME` in a folder a rollback is about
    /// to bring back. An `AUTH` that is not the hashed form refuses the rollback: the folder's
    /// files must not go live without their password.
    pub(crate) fn kept_folder_settings(&self, folder: &Path) -> Result<FolderSettings, ApiError> {
        let users = match read_settings_file(folder, "AUTH")? {
            None => Vec::new(),
            Some(text) => protect::parse_hashed_auth_file(&text).map_err(|e| {
                ApiError::BadRequest(format!(
                    "the previous deployment cannot be brought back: its {e}"
                ))
            })?,
        };
        let host = read_settings_file(folder, "CNAME")?.and_then(|text| {
            domains::parse_cname_file(&text, &self.domain)
                .inspect_err(|e| eprintln!("rollback: the previous deployment's CNAME: {e}"))
                .ok()
        });
        Ok(FolderSettings { users, host })
    }

    /// Protects `site` with HTTP Basic auth for `user` (added, or its password replaced).
    pub fn protect(
        &self,
        conn: &Connection,
        caller: &Caller,
        site: &str,
        user: &str,
        password: &str,
        req: &Request,
    ) -> Result<(), ApiError> {
        self.check_existing_site(caller, site)?;
        protect::check_user(user).map_err(ApiError::BadRequest)?;
        auth::check_new_password(password).map_err(ApiError::BadRequest)?;
        let phc = auth::hash_password(password).map_err(ApiError::Store)?;
        store::hosting::set_user(conn, site, user, &phc)?;
        self.protection.changed();
        self.audit(conn, &caller.name, "protect", Some(site), req);
        Ok(())
    }

    /// Makes `site` public again; `false` when it was not protected.
    pub fn unprotect(
        &self,
        conn: &Connection,
        caller: &Caller,
        site: &str,
        req: &Request,
    ) -> Result<bool, ApiError> {
        self.check_site(caller, site)?;
        let removed = store::hosting::clear_site_users(conn, site)? > 0;
        self.protection.changed();
        if removed {
            self.audit(conn, &caller.name, "unprotect", Some(site), req);
        }
        Ok(removed)
    }

    /// Gives `host` to `site` (409 when another site has it); returns it normalised.
    pub fn add_domain(
        &self,
        conn: &Connection,
        caller: &Caller,
        site: &str,
        host: &str,
        req: &Request,
    ) -> Result<String, ApiError> {
        self.check_existing_site(caller, site)?;
        let host = domains::check_claim(host, &self.domain).map_err(ApiError::BadRequest)?;
        if let Some(owner) = store::hosting::claim_domain(conn, &host, site, Source::Admin)? {
            return Err(ApiError::Conflict(format!(
                "{host} belongs to the site '{owner}'; remove it there first"
            )));
        }
        self.domains.changed();
        self.audit(conn, &caller.name, "domain add", Some(site), req);
        Ok(host)
    }

    /// Takes `host` from `site`; 404 when the site does not have it.
    pub fn remove_domain(
        &self,
        conn: &Connection,
        caller: &Caller,
        site: &str,
        host: &str,
        req: &Request,
    ) -> Result<(), ApiError> {
        self.check_site(caller, site)?;
        let host = host.trim().to_ascii_lowercase();
        if !store::hosting::release_domain(conn, site, &host)? {
            return Err(ApiError::NotFound(format!("'{site}' has no domain {host}")));
        }
        self.domains.changed();
        self.audit(conn, &caller.name, "domain remove", Some(site), req);
        Ok(())
    }
}

/// A settings file at the top of a folder, as text; `None` when there is none.
fn read_settings_file(root: &Path, name: &str) -> Result<Option<String>, ApiError> {
    let Some((path, meta)) = config_file(root, name) else {
        return Ok(None);
    };
    if meta.len() > MAX_SETTINGS_FILE {
        return Err(ApiError::BadRequest(format!(
            "{name} is {} KiB: it should be a few lines",
            meta.len() / 1024
        )));
    }
    let mut text = String::new();
    std::fs::File::open(&path)
        .and_then(|f| f.take(MAX_SETTINGS_FILE).read_to_string(&mut text))
        .map_err(|e| ApiError::BadRequest(format!("{name} is not readable text: {e}")))?;
    Ok(Some(text))
}
