//! The commands that talk to a cc-server over HTTP with a deploy token: `deploy`, `sites`,
//! `rollback`, `teardown`. The server's own error message is printed as is.

pub mod pack;

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;

use crate::names::is_valid_site_name;
use crate::secret;

pub const DEFAULT_SERVER: &str = "http://localhost:4698";

/// A failure, printed as `cc-server: <message>`; `usage` failures exit 2, others 1.
#[derive(Debug)]
pub struct ClientError {
    pub message: String,
    pub usage: bool,
}

fn fail(message: impl Into<String>) -> ClientError {
    ClientError {
        message: message.into(),
        usage: false,
    }
}

fn usage(message: impl Into<String>) -> ClientError {
    ClientError {
        message: message.into(),
        usage: true,
    }
}

/// Where to send requests, and with which token.
pub struct Remote {
    server: String,
    token: String,
    agent: ureq::Agent,
}

impl Remote {
    /// `--server` > `CC_SERVER` > default; `--token` > `CC_TOKEN` > `~/.cc-token` (first line);
    /// `--ca-file` > `CC_CA_FILE`: the only CA trusted over HTTPS (a server's private CA, from
    /// `cc-server ca`), else the usual public ones.
    pub fn resolve(
        server: Option<String>,
        token: Option<String>,
        ca_file: Option<String>,
    ) -> Result<Remote, ClientError> {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        let server = server
            .or_else(|| env("CC_SERVER"))
            .unwrap_or_else(|| DEFAULT_SERVER.to_string())
            .trim_end_matches('/')
            .to_string();
        if !(server.starts_with("http://") || server.starts_with("https://")) {
            return Err(usage(format!(
                "--server must be an http:// or https:// URL, not '{server}'"
            )));
        }
        let token = token
            .or_else(|| env("CC_TOKEN"))
            .or_else(token_file)
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                usage(
                    "no deploy token: pass --token, set CC_TOKEN, or put it in ~/.cc-token \
                     (make one on the server with 'cc-server keys create --name NAME')",
                )
            })?;
        let mut tls = ureq::tls::TlsConfig::builder();
        if let Some(file) = ca_file.or_else(|| env("CC_CA_FILE")) {
            let pem = std::fs::read(&file)
                .map_err(|e| usage(format!("--ca-file: cannot read '{file}': {e}")))?;
            let roots = crate::tls::acme::pem_roots(&pem);
            if roots.is_empty() {
                return Err(usage(format!(
                    "--ca-file: '{file}' holds no PEM certificate (make it with 'cc-server ca > {file}' on the server)"
                )));
            }
            tls = tls.root_certs(ureq::tls::RootCerts::new_with_certs(&roots));
        }
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(10)))
            .tls_config(tls.build())
            .build()
            .into();
        Ok(Remote {
            server,
            token,
            agent,
        })
    }

    /// Why the server could not be reached, with what to do about an unknown certificate.
    fn unreachable(&self, e: ureq::Error) -> ClientError {
        let text = e.to_string();
        let hint = if text.contains("UnknownIssuer") {
            " (its certificate is from a CA this machine does not trust: for a server with \
             --https internal, run 'cc-server ca > cc-ca.crt' there and pass --ca-file cc-ca.crt)"
        } else {
            ""
        };
        fail(format!("cannot reach {}: {text}{hint}", self.server))
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server)
    }

    fn auth(&self) -> String {
        format!("Bearer {}", self.token)
    }

    /// Reads a JSON answer; a non-2xx answer becomes its `error` message.
    fn json(
        &self,
        result: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<Value, ClientError> {
        let mut response = result.map_err(|e| self.unreachable(e))?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .read_to_string()
            .map_err(|e| fail(format!("reading the answer from {}: {e}", self.server)))?;
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if (200..300).contains(&status) {
            return Ok(value);
        }
        let message = value["error"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| format!("the server answered {status}: {}", text.trim()));
        Err(fail(format!("{message} (HTTP {status})")))
    }

    fn get(&self, path: &str) -> Result<Value, ClientError> {
        self.json(
            self.agent
                .get(self.url(path))
                .header("Authorization", self.auth())
                .call(),
        )
    }
}

fn token_file() -> Option<String> {
    let home = std::env::var_os("HOME")?;
    let text = std::fs::read_to_string(Path::new(&home).join(".cc-token")).ok()?;
    text.lines().next().map(str::to_string)
}

/// `cc-server deploy <site>`: zip `dir`, upload it, print the live URL.
pub fn deploy(remote: &Remote, site: &str, dir: &Path, yes: bool) -> Result<String, ClientError> {
    if !is_valid_site_name(site) {
        return Err(usage(format!(
            "'{site}' is not a valid site name: use 1-63 characters of a-z, 0-9 and '-', not starting or ending with '-'"
        )));
    }
    let dir = dir
        .canonicalize()
        .map_err(|e| usage(format!("cannot deploy {}: {e}", dir.display())))?;
    if !dir.is_dir() {
        return Err(usage(format!("{} is not a folder", dir.display())));
    }
    let home = std::env::var_os("HOME").map(PathBuf::from);
    if !yes && (dir == Path::new("/") || home.as_deref() == Some(dir.as_path())) {
        return Err(usage(format!(
            "{} is your home or root folder; deploying it is probably a mistake (add --yes if not)",
            dir.display()
        )));
    }

    // Ask first: a wrong token or scope, or a too-big zip, fails before any upload.
    let whoami = remote.get("/api/whoami")?;
    let scopes: Vec<String> = whoami["scopes"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    if !crate::keys::may_deploy(&scopes, site) {
        return Err(fail(format!(
            "key '{}' may not deploy '{site}' (its scopes: {})",
            whoami["name"].as_str().unwrap_or("?"),
            scopes.join(", ")
        )));
    }

    let files = pack::collect(&dir).map_err(|e| fail(format!("reading {}: {e}", dir.display())))?;
    if files.is_empty() && !yes {
        return Err(usage(format!(
            "{} has no files to deploy (after dot-files, node_modules and .ccignore); add --yes to deploy an empty site",
            dir.display()
        )));
    }
    let progress = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let zip_path = TempFile(std::env::temp_dir().join(format!(
        "cc-deploy-{}.zip",
        secret::hex(&secret::random_bytes::<8>())
    )));
    let zip_size = pack::zip(&files, &zip_path.0, progress)
        .map_err(|e| fail(format!("zipping {}: {e}", dir.display())))?;
    if let Some(max) = whoami["limits"]["max_upload"].as_u64()
        && zip_size > max
    {
        return Err(fail(format!(
            "the zip is {} MiB but the server accepts at most {} MiB",
            zip_size.div_ceil(1024 * 1024),
            max / (1024 * 1024)
        )));
    }

    let boundary = format!("cc-boundary-{}", secret::hex(&secret::random_bytes::<12>()));
    let head = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"site_name\"\r\n\r\n{site}\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{site}.zip\"\r\n\
         Content-Type: application/zip\r\n\r\n"
    );
    let tail = format!("\r\n--{boundary}--\r\n");
    let total = head.len() as u64 + zip_size + tail.len() as u64;
    let bar = if progress {
        ProgressBar::new(total)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("uploading {bar:30} {bytes}/{total_bytes} {bytes_per_sec}")
            .expect("valid template"),
    );
    let file = File::open(&zip_path.0).map_err(|e| fail(format!("reading the zip: {e}")))?;
    let body = io::Cursor::new(head.into_bytes())
        .chain(file)
        .chain(io::Cursor::new(tail.into_bytes()));
    let body = bar.wrap_read(body);
    let result = remote
        .agent
        .post(remote.url("/api/deploy"))
        .header("Authorization", remote.auth())
        .header(
            "Content-Type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .header("Content-Length", total.to_string())
        .send(ureq::SendBody::from_owned_reader(body));
    bar.finish_and_clear();
    let answer = remote.json(result)?;
    Ok(answer["url"].as_str().unwrap_or_default().to_string())
}

/// `cc-server sites`: one line per site the token may manage.
pub fn sites(remote: &Remote) -> Result<String, ClientError> {
    let answer = remote.get("/api/sites")?;
    let mut out = format!(
        "{:<24} {:>7} {:>10}  {:<20} {}\n",
        "SITE", "FILES", "SIZE", "LAST DEPLOY", "URL"
    );
    for s in answer["sites"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "{:<24} {:>7} {:>10}  {:<20} {}\n",
            s["name"].as_str().unwrap_or("?"),
            s["files"].as_u64().unwrap_or(0),
            human_bytes(s["bytes"].as_u64().unwrap_or(0)),
            s["last_deploy"].as_str().unwrap_or("never (by hand)"),
            s["url"].as_str().unwrap_or(""),
        ));
    }
    Ok(out)
}

/// `cc-server rollback <site>`.
pub fn rollback(remote: &Remote, site: &str) -> Result<String, ClientError> {
    let path = format!("/api/sites/{site}/rollback");
    let answer = remote.json(
        remote
            .agent
            .post(remote.url(&path))
            .header("Authorization", remote.auth())
            .send_empty(),
    )?;
    Ok(format!(
        "Rolled back '{site}' to its previous deployment: {}",
        answer["url"].as_str().unwrap_or_default()
    ))
}

/// `cc-server teardown <site>`: the files go; `db` data and env vars too unless `keep_data`.
pub fn teardown(remote: &Remote, site: &str, keep_data: bool) -> Result<String, ClientError> {
    let path = format!(
        "/api/sites/{site}{}",
        if keep_data { "?keep_data=1" } else { "" }
    );
    remote.json(
        remote
            .agent
            .delete(remote.url(&path))
            .header("Authorization", remote.auth())
            .call(),
    )?;
    Ok(if keep_data {
        format!("Deleted the files of '{site}'; its key-value data and env vars are kept")
    } else {
        format!("Deleted '{site}': its files, key-value data and env vars")
    })
}

fn human_bytes(n: u64) -> String {
    match n {
        0..1024 => format!("{n} B"),
        1024..1_048_576 => format!("{:.1} KiB", n as f64 / 1024.0),
        _ => format!("{:.1} MiB", n as f64 / 1_048_576.0),
    }
}

/// A temp file removed on drop.
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
