//! The commands that work on the server's data dir directly, on its own machine (over SSH as
//! well): deploy keys, the admin password with its prompts, and backups of cc.db. Each prints
//! its result; never parses arguments and never talks to a server over the network.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

use super::args::DomainsAction;
use super::{Failure, env};
use crate::config;

/// `keys create`: a new deploy key, its token printed once (alone on the last line).
pub(super) fn keys_create(
    name: String,
    scopes: Vec<String>,
    data_dir: Option<String>,
) -> Result<(), Failure> {
    let conn = open_store(data_dir)?;
    let scopes = if scopes.is_empty() {
        vec!["deploy:*".to_string()]
    } else {
        scopes
    };
    let (id, token) =
        crate::keys::create_audited(&conn, &name, &scopes, "cli", None).map_err(Failure::Usage)?;
    println!(
        "Created key {id} '{}' with scopes {}.",
        name.trim(),
        scopes.join(", ")
    );
    println!("Keep the token secret; it is shown only this once:");
    println!("{token}");
    Ok(())
}

/// `keys list`: every deploy key as a table.
pub(super) fn keys_list(data_dir: Option<String>) -> Result<(), Failure> {
    let conn = open_store(data_dir)?;
    let keys = crate::store::keys::list(&conn).map_err(|e| Failure::Run(e.to_string()))?;
    println!(
        "{:<5} {:<20} {:<28} {:<20} {:<20} STATUS",
        "ID", "NAME", "SCOPES", "CREATED", "LAST USED"
    );
    for k in keys {
        println!(
            "{:<5} {:<20} {:<28} {:<20} {:<20} {}",
            k.id,
            k.name,
            k.scopes.join(","),
            k.created_at,
            k.last_used_at.as_deref().unwrap_or("never"),
            if k.revoked { "revoked" } else { "active" }
        );
    }
    Ok(())
}

/// `ca`: the private CA's certificate on stdout, its fingerprint on stderr.
pub(super) fn ca(data_dir: Option<String>) -> Result<(), Failure> {
    let conn = open_store(data_dir)?;
    let kept = crate::store::tls::key(&conn, "ca")
        .map_err(|e| Failure::Run(e.to_string()))?
        .ok_or_else(|| {
            Failure::Run(
                "no private CA yet: start the server once with --https internal".to_string(),
            )
        })?;
    let ca = crate::tls::ca::Ca::from_pem(&kept).map_err(Failure::Run)?;
    print!("{}", ca.cert_pem());
    eprintln!("SHA-256 fingerprint: {}", ca.fingerprint());
    Ok(())
}

/// `certs`: one line per certificate.
pub(super) fn certs(data_dir: Option<String>) -> Result<(), Failure> {
    let conn = open_store(data_dir)?;
    let certs = crate::store::tls::certificates(&conn).map_err(|e| Failure::Run(e.to_string()))?;
    if certs.is_empty() {
        println!("No certificates yet: they are obtained on the first HTTPS visit of each name.");
        return Ok(());
    }
    println!(
        "{:<32} {:<24} {:<20} {:<20} LAST ERROR",
        "NAME", "ISSUER", "VALID UNTIL", "OBTAINED"
    );
    for c in certs {
        println!(
            "{:<32} {:<24} {:<20} {:<20} {}",
            c.name,
            crate::tls::issuer_label(&c.issuer),
            crate::tls::utc(c.not_after),
            crate::tls::utc(c.renewed_at),
            c.last_error.as_deref().unwrap_or("-")
        );
    }
    Ok(())
}

/// `keys revoke ID`.
pub(super) fn keys_revoke(id: i64, data_dir: Option<String>) -> Result<(), Failure> {
    let conn = open_store(data_dir)?;
    match crate::keys::revoke_audited(&conn, id, "cli", None) {
        Ok(()) => println!("Revoked key {id}: its token no longer works."),
        Err(crate::keys::RevokeError::NoSuchKey(why)) => {
            return Err(Failure::Run(format!("{why} (see 'cc-server keys list')")));
        }
        Err(crate::keys::RevokeError::Store(e)) => return Err(Failure::Run(e.to_string())),
    }
    Ok(())
}

/// `passwd`: sets the admin password (which ends every dashboard session).
pub(super) fn passwd(data_dir: Option<String>) -> Result<(), Failure> {
    let mut conn = open_store(data_dir)?;
    let password = read_new_password(Some("CC_ADMIN_PASSWORD"), "New admin password: ")?;
    crate::auth::set_password(&mut conn, &password).map_err(Failure::Run)?;
    crate::store::audit::record_or_log(&conn, "cli", "password", None, None);
    println!("The admin password is set. Log in to the dashboard with it.");
    Ok(())
}

/// `protect <site> --user NAME` / `--off`.
pub(super) fn protect(
    site: &str,
    user: Option<&str>,
    data_dir: Option<String>,
) -> Result<(), Failure> {
    let dir = data_dir_of(data_dir.clone())?;
    if !crate::names::is_valid_site_name(site) || !dir.join("sites").join(site).is_dir() {
        return Err(Failure::Run(format!(
            "there is no site '{site}' in {}",
            dir.join("sites").display()
        )));
    }
    let conn = open_store(data_dir)?;
    let run = |e: rusqlite::Error| Failure::Run(e.to_string());
    let Some(user) = user else {
        let removed = crate::store::hosting::clear_site_users(&conn, site).map_err(run)?;
        crate::store::audit::record_or_log(&conn, "cli", "unprotect", Some(site), None);
        println!("'{site}' is public ({removed} user(s) removed).");
        return Ok(());
    };
    crate::protect::check_user(user).map_err(Failure::Usage)?;
    let password = read_new_password(None, &format!("Password for {user} on {site}: "))?;
    crate::auth::check_new_password(&password).map_err(Failure::Run)?;
    let phc = crate::auth::hash_password(&password).map_err(Failure::Run)?;
    crate::store::hosting::set_user(&conn, site, user, &phc).map_err(run)?;
    crate::store::audit::record_or_log(&conn, "cli", "protect", Some(site), None);
    println!("'{site}' now asks for a password; {user} may sign in.");
    Ok(())
}

/// `domains list | add | remove`.
pub(super) fn domains(action: DomainsAction, data_dir: Option<String>) -> Result<(), Failure> {
    let conn = open_store(data_dir.clone())?;
    let run = |e: rusqlite::Error| Failure::Run(e.to_string());
    match action {
        DomainsAction::List => {
            let rows = crate::store::hosting::domains(&conn).map_err(run)?;
            if rows.is_empty() {
                println!("No custom domains. Add one: cc-server domains add <site> <host>");
            }
            for (host, site) in rows {
                println!("{host:<40} {site}");
            }
        }
        DomainsAction::Add { site, host, domain } => {
            let sites = data_dir_of(data_dir)?.join("sites");
            if !crate::names::is_valid_site_name(&site) || !sites.join(&site).is_dir() {
                return Err(Failure::Run(format!(
                    "there is no site '{site}' in {}",
                    sites.display()
                )));
            }
            let domain = domain
                .or_else(|| env("CC_DOMAIN"))
                .map(|d| crate::names::normalise_domain(&d).unwrap_or(d))
                .unwrap_or_else(|| "localhost".into());
            let host = crate::domains::check_claim(&host, &domain).map_err(Failure::Usage)?;
            let source = crate::store::hosting::Source::Admin;
            if let Some(owner) =
                crate::store::hosting::claim_domain(&conn, &host, &site, source).map_err(run)?
            {
                return Err(Failure::Run(format!(
                    "{host} belongs to the site '{owner}'; remove it there first"
                )));
            }
            crate::store::audit::record_or_log(&conn, "cli", "domain add", Some(&site), None);
            println!("{host} now serves the site '{site}'.");
        }
        DomainsAction::Remove { site, host } => {
            let host = host.trim().to_ascii_lowercase();
            if !crate::store::hosting::release_domain(&conn, &site, &host).map_err(run)? {
                return Err(Failure::Run(format!("'{site}' has no domain {host}")));
            }
            crate::store::audit::record_or_log(&conn, "cli", "domain remove", Some(&site), None);
            println!("{host} no longer serves '{site}'.");
        }
    }
    Ok(())
}

/// `backup <file>`: a consistent copy of cc.db while the server may be running.
pub(super) fn backup(file: PathBuf, force: bool, data_dir: Option<String>) -> Result<(), Failure> {
    let bytes = crate::store::backup::backup(&data_dir_of(data_dir)?, &file, force)
        .map_err(|e| Failure::Run(e.to_string()))?;
    println!(
        "backed up cc.db ({} KB) to {}",
        bytes.div_ceil(1024),
        file.display()
    );
    Ok(())
}

/// `--data-dir`, else `CC_DATA_DIR`, else ~/.config/cc: for the commands that work on the
/// data dir directly (keys, backup).
fn data_dir_of(flag: Option<String>) -> Result<PathBuf, Failure> {
    config::resolve_data_dir(flag, &env).map_err(|e| Failure::Usage(e.0))
}

fn open_store(data_dir: Option<String>) -> Result<rusqlite::Connection, Failure> {
    let dir = data_dir_of(data_dir)?;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode_private()
        .create(&dir)
        .map_err(|e| Failure::Run(format!("cannot use data dir {}: {e}", dir.display())))?;
    crate::store::open(&dir.join("cc.db")).map_err(|e| Failure::Run(e.to_string()))
}

trait PrivateDir {
    fn mode_private(&mut self) -> &mut Self;
}

impl PrivateDir for std::fs::DirBuilder {
    fn mode_private(&mut self) -> &mut Self {
        std::os::unix::fs::DirBuilderExt::mode(self, 0o700)
    }
}

/// The new password: CC_ADMIN_PASSWORD, else asked twice on the terminal without echo, else
/// one line of standard input (for scripts: `echo "$PW" | cc-server passwd`).
/// A new password: from `env_var` when set, one line of standard input when that is not a
/// terminal, else typed twice at `prompt`.
fn read_new_password(env_var: Option<&str>, prompt: &str) -> Result<String, Failure> {
    if let Some(p) = env_var.and_then(env).filter(|p| !p.is_empty()) {
        return Ok(p);
    }
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        let mut line = String::new();
        stdin
            .lock()
            .read_line(&mut line)
            .map_err(|e| Failure::Run(format!("could not read the password: {e}")))?;
        return Ok(line.trim_end_matches(['\n', '\r']).to_string());
    }
    let first = prompt_hidden(prompt)?;
    crate::auth::check_new_password(&first).map_err(Failure::Run)?;
    if prompt_hidden("Repeat it: ")? != first {
        return Err(Failure::Run(
            "the two passwords differ; nothing changed".into(),
        ));
    }
    Ok(first)
}

/// Reads a line from the terminal with echo turned off (and back on, even on error).
fn prompt_hidden(prompt: &str) -> Result<String, Failure> {
    use rustix::termios::{LocalModes, OptionalActions, tcgetattr, tcsetattr};
    let stdin = std::io::stdin();
    eprint!("{prompt}");
    let _ = std::io::stderr().flush();
    let saved = tcgetattr(&stdin).ok();
    if let Some(t) = &saved {
        let mut quiet = t.clone();
        quiet.local_modes.remove(LocalModes::ECHO);
        let _ = tcsetattr(&stdin, OptionalActions::Now, &quiet);
    }
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    if let Some(t) = &saved {
        let _ = tcsetattr(&stdin, OptionalActions::Now, t);
    }
    eprintln!();
    read.map_err(|e| Failure::Run(format!("could not read the password: {e}")))?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}
