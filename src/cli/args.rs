//! The arguments: what the user asked for (`Command`), parsed with lexopt, and the usage
//! errors that exit with code 2. Parsing only: never touches the data dir, the network or the
//! terminal (`run` and `admin` do the work).

use std::ffi::OsString;
use std::path::PathBuf;

use super::help::{
    BACKUP_HELP, CA_HELP, CERTS_HELP, DEPLOY_HELP, DOMAINS_HELP, HELP, KEYS_HELP, PASSWD_HELP,
    PROTECT_HELP, REMOTE_HELP, SERVE_HELP, SERVICE_HELP,
};
use crate::config::ServeFlags;

/// What the user asked for.
#[derive(Debug)]
pub(super) enum Command {
    Help(&'static str),
    Version,
    Serve(Box<ServeFlags>),
    Deploy {
        site: String,
        dir: PathBuf,
        remote: RemoteFlags,
        yes: bool,
    },
    Sites(RemoteFlags),
    Rollback(String, RemoteFlags),
    Teardown {
        site: String,
        remote: RemoteFlags,
        keep_data: bool,
        yes: bool,
    },
    KeysCreate {
        name: String,
        scopes: Vec<String>,
        data_dir: Option<String>,
    },
    KeysList(Option<String>),
    JsWorker {
        data_dir: PathBuf,
        limits: crate::js::engine::EngineLimits,
        memory_mb: u64,
    },
    KeysRevoke(i64, Option<String>),
    JsCheck(PathBuf),
    Passwd(Option<String>),
    /// `user: None` removes every user (`--off`).
    Protect {
        site: String,
        user: Option<String>,
        data_dir: Option<String>,
    },
    Domains(DomainsAction, Option<String>),
    Backup {
        file: PathBuf,
        force: bool,
        data_dir: Option<String>,
    },
    Service(ServiceAction, super::service::ServiceOptions),
    /// `ca`: the private CA's certificate; `certs`: every certificate.
    Ca(Option<String>),
    Certs(Option<String>),
}

#[derive(Debug, PartialEq)]
pub(super) enum DomainsAction {
    List,
    Add {
        site: String,
        host: String,
        domain: Option<String>,
    },
    Remove {
        site: String,
        host: String,
    },
}

#[derive(Debug, PartialEq)]
pub(super) enum ServiceAction {
    Install,
    Uninstall,
    Status,
    Unit,
}

#[derive(Debug, Default)]
pub(super) struct RemoteFlags {
    pub(super) server: Option<String>,
    pub(super) token: Option<String>,
    pub(super) ca_file: Option<String>,
}

/// A mistake in the arguments: printed as one line, exit code 2.
#[derive(Debug)]
pub(super) struct UsageError(pub(super) String);

impl From<lexopt::Error> for UsageError {
    fn from(e: lexopt::Error) -> Self {
        UsageError(e.to_string())
    }
}

pub(super) fn parse(args: Vec<OsString>) -> Result<Command, UsageError> {
    use lexopt::prelude::*;
    let mut parser = lexopt::Parser::from_args(args);
    // The first word picks the command; with none (or a flag first), it is `serve`.
    let first = match parser.next()? {
        Some(Value(v)) => Some(string(v, "command")?),
        Some(Short('h') | Long("help")) => return Ok(Command::Help(HELP)),
        Some(Short('V') | Long("version")) => return Ok(Command::Version),
        Some(other) => {
            // A serve flag: hand the whole line to the serve parser.
            let first = owned_arg(other);
            return parse_serve(&mut parser, Some(first));
        }
        None => return Ok(Command::Serve(Box::default())),
    };
    match first.as_deref().unwrap_or("serve") {
        "serve" => parse_serve(&mut parser, None),
        "help" => Ok(Command::Help(HELP)),
        "deploy" => parse_deploy(&mut parser),
        "sites" => {
            let Some((remote, _, _, positional)) = parse_remote(&mut parser)? else {
                return Ok(Command::Help(REMOTE_HELP));
            };
            if let Some(p) = positional {
                return Err(UsageError(format!(
                    "'sites' takes no site name (got '{p}')"
                )));
            }
            Ok(Command::Sites(remote))
        }
        cmd @ ("rollback" | "teardown") => {
            let Some((remote, keep_data, yes, site)) = parse_remote(&mut parser)? else {
                return Ok(Command::Help(REMOTE_HELP));
            };
            let site = site.ok_or_else(|| UsageError(format!("'{cmd}' needs a site name")))?;
            if cmd == "rollback" {
                if keep_data || yes {
                    return Err(UsageError("--keep-data and --yes are for teardown".into()));
                }
                Ok(Command::Rollback(site, remote))
            } else {
                Ok(Command::Teardown {
                    site,
                    remote,
                    keep_data,
                    yes,
                })
            }
        }
        "keys" => parse_keys(&mut parser),
        "passwd" => parse_passwd(&mut parser),
        "ca" => parse_data_dir_only(&mut parser, CA_HELP, Command::Ca),
        "certs" => parse_data_dir_only(&mut parser, CERTS_HELP, Command::Certs),
        "protect" => parse_protect(&mut parser),
        "domains" => parse_domains(&mut parser),
        "backup" => parse_backup(&mut parser),
        "service" => parse_service(&mut parser),
        // Internal: a script worker process started by the server (src/js/worker.rs).
        "__js-worker" => parse_worker(&mut parser),
        // Internal: parses a main.js for a deploy (src/js/check.rs).
        "__js-check" => match parser.next()? {
            Some(lexopt::Arg::Value(v)) => Ok(Command::JsCheck(PathBuf::from(v))),
            _ => Err(UsageError("__js-check needs a file".into())),
        },
        other => Err(UsageError(format!("unknown command '{other}'"))),
    }
}

fn parse_serve(parser: &mut lexopt::Parser, first: Option<String>) -> Result<Command, UsageError> {
    let mut flags = ServeFlags::default();
    let mut pending = first;
    loop {
        let arg = match pending.take() {
            Some(a) => a,
            None => match parser.next()? {
                Some(a) => owned_arg(a),
                None => break,
            },
        };
        let slot = match arg.as_str() {
            "-h" | "--help" => return Ok(Command::Help(SERVE_HELP)),
            "--port" => &mut flags.port,
            "--bind" => &mut flags.bind,
            "--domain" => &mut flags.domain,
            "--data-dir" => &mut flags.data_dir,
            "--workers" => &mut flags.workers,
            "--max-connections" => &mut flags.max_connections,
            "--max-per-address" => &mut flags.max_per_address,
            "--io-timeout" => &mut flags.io_timeout,
            "--head-timeout" => &mut flags.head_timeout,
            "--max-upload-mb" => &mut flags.max_upload_mb,
            "--max-unpacked-mb" => &mut flags.max_unpacked_mb,
            "--max-files" => &mut flags.max_files,
            "--max-site-mb" => &mut flags.max_site_mb,
            "--js-workers" => &mut flags.js_workers,
            "--script-timeout-ms" => &mut flags.script_timeout_ms,
            "--script-memory-mb" => &mut flags.script_memory_mb,
            "--max-keys" => &mut flags.max_keys,
            "--max-ws-per-site" => &mut flags.max_ws_per_site,
            "--max-ws-per-address" => &mut flags.max_ws_per_address,
            "--max-ws" => &mut flags.max_ws,
            "--trusted-proxy" => &mut flags.trusted_proxy,
            "--retention-days" => &mut flags.retention_days,
            "--backups" => &mut flags.backups,
            "--https" => &mut flags.https,
            "--https-port" => &mut flags.https_port,
            "--email" => &mut flags.email,
            "--acme-directory" => &mut flags.acme_directory,
            "--acme-ca-root" => &mut flags.acme_ca_root,
            "--fetch-deny-private" => {
                flags.fetch_deny_private = true;
                continue;
            }
            other if other.starts_with('-') => {
                return Err(UsageError(format!("invalid option '{other}'")));
            }
            other => return Err(UsageError(format!("unexpected argument '{other}'"))),
        };
        *slot = Some(string(parser.value()?, &arg)?);
    }
    Ok(Command::Serve(Box::new(flags)))
}

/// A lexopt argument as text: `--name`, `-x`, or a plain value.
fn owned_arg(arg: lexopt::Arg) -> String {
    match arg {
        lexopt::Arg::Short(c) => format!("-{c}"),
        lexopt::Arg::Long(l) => format!("--{l}"),
        lexopt::Arg::Value(v) => v.to_string_lossy().into_owned(),
    }
}

fn parse_deploy(parser: &mut lexopt::Parser) -> Result<Command, UsageError> {
    use lexopt::prelude::*;
    let (mut site, mut dir, mut remote, mut yes) =
        (None, PathBuf::from("."), RemoteFlags::default(), false);
    while let Some(arg) = parser.next()? {
        match arg {
            Short('h') | Long("help") => return Ok(Command::Help(DEPLOY_HELP)),
            Long("dir") => dir = PathBuf::from(parser.value()?),
            Long("server") => remote.server = Some(string(parser.value()?, "--server")?),
            Long("token") => remote.token = Some(string(parser.value()?, "--token")?),
            Long("ca-file") => remote.ca_file = Some(string(parser.value()?, "--ca-file")?),
            Long("yes") => yes = true,
            Value(v) if site.is_none() => site = Some(string(v, "site")?),
            other => return Err(other.unexpected().into()),
        }
    }
    let site = site
        .ok_or_else(|| UsageError("'deploy' needs a site name: cc-server deploy <site>".into()))?;
    Ok(Command::Deploy {
        site,
        dir,
        remote,
        yes,
    })
}

/// Flags shared by sites/rollback/teardown: (remote, --keep-data, --yes, the site);
/// `None` for `--help`.
type RemoteArgs = (RemoteFlags, bool, bool, Option<String>);

fn parse_remote(parser: &mut lexopt::Parser) -> Result<Option<RemoteArgs>, UsageError> {
    use lexopt::prelude::*;
    let (mut remote, mut keep, mut yes, mut site) = (RemoteFlags::default(), false, false, None);
    while let Some(arg) = parser.next()? {
        match arg {
            Short('h') | Long("help") => return Ok(None),
            Long("server") => remote.server = Some(string(parser.value()?, "--server")?),
            Long("token") => remote.token = Some(string(parser.value()?, "--token")?),
            Long("ca-file") => remote.ca_file = Some(string(parser.value()?, "--ca-file")?),
            Long("keep-data") => keep = true,
            Long("yes") => yes = true,
            Value(v) if site.is_none() => site = Some(string(v, "site")?),
            other => return Err(other.unexpected().into()),
        }
    }
    Ok(Some((remote, keep, yes, site)))
}

/// A command whose only option is `--data-dir`.
fn parse_data_dir_only(
    parser: &mut lexopt::Parser,
    help: &'static str,
    command: fn(Option<String>) -> Command,
) -> Result<Command, UsageError> {
    use lexopt::prelude::*;
    let mut data_dir = None;
    while let Some(arg) = parser.next()? {
        match arg {
            Short('h') | Long("help") => return Ok(Command::Help(help)),
            Long("data-dir") => data_dir = Some(string(parser.value()?, "--data-dir")?),
            other => return Err(other.unexpected().into()),
        }
    }
    Ok(command(data_dir))
}

fn parse_passwd(parser: &mut lexopt::Parser) -> Result<Command, UsageError> {
    use lexopt::prelude::*;
    let mut data_dir = None;
    while let Some(arg) = parser.next()? {
        match arg {
            Short('h') | Long("help") => return Ok(Command::Help(PASSWD_HELP)),
            Long("data-dir") => data_dir = Some(string(parser.value()?, "--data-dir")?),
            other => return Err(other.unexpected().into()),
        }
    }
    Ok(Command::Passwd(data_dir))
}

fn parse_protect(parser: &mut lexopt::Parser) -> Result<Command, UsageError> {
    use lexopt::prelude::*;
    let (mut site, mut user, mut off, mut data_dir) = (None, None, false, None);
    while let Some(arg) = parser.next()? {
        match arg {
            Short('h') | Long("help") => return Ok(Command::Help(PROTECT_HELP)),
            Long("user") => user = Some(string(parser.value()?, "--user")?),
            Long("off") => off = true,
            Long("data-dir") => data_dir = Some(string(parser.value()?, "--data-dir")?),
            Value(v) if site.is_none() => site = Some(string(v, "site")?),
            other => return Err(other.unexpected().into()),
        }
    }
    let Some(site) = site else {
        return Ok(Command::Help(PROTECT_HELP));
    };
    match (user, off) {
        (Some(_), true) => Err(UsageError("give --user NAME or --off, not both".into())),
        (None, false) => Err(UsageError(
            "'protect' needs --user NAME (add a user) or --off (make the site public)".into(),
        )),
        (user, _) => Ok(Command::Protect {
            site,
            user,
            data_dir,
        }),
    }
}

fn parse_domains(parser: &mut lexopt::Parser) -> Result<Command, UsageError> {
    use lexopt::prelude::*;
    let (mut words, mut domain, mut data_dir) = (Vec::new(), None, None);
    while let Some(arg) = parser.next()? {
        match arg {
            Short('h') | Long("help") => return Ok(Command::Help(DOMAINS_HELP)),
            Long("domain") => domain = Some(string(parser.value()?, "--domain")?),
            Long("data-dir") => data_dir = Some(string(parser.value()?, "--data-dir")?),
            Value(v) => words.push(string(v, "argument")?),
            other => return Err(other.unexpected().into()),
        }
    }
    let action = match words.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        [] => return Ok(Command::Help(DOMAINS_HELP)),
        ["list"] => DomainsAction::List,
        ["add", site, host] => DomainsAction::Add {
            site: site.into(),
            host: host.into(),
            domain,
        },
        ["remove", site, host] => DomainsAction::Remove {
            site: site.into(),
            host: host.into(),
        },
        ["add" | "remove", ..] => {
            return Err(UsageError(format!(
                "'domains {}' needs a site and a host: cc-server domains {} <site> <host>",
                words[0], words[0]
            )));
        }
        _ => {
            return Err(UsageError(format!(
                "unknown domains action '{}' (list, add, remove)",
                words[0]
            )));
        }
    };
    Ok(Command::Domains(action, data_dir))
}

fn parse_keys(parser: &mut lexopt::Parser) -> Result<Command, UsageError> {
    use lexopt::prelude::*;
    let action = match parser.next()? {
        Some(Value(v)) => string(v, "keys action")?,
        Some(Short('h') | Long("help")) | None => return Ok(Command::Help(KEYS_HELP)),
        Some(other) => return Err(other.unexpected().into()),
    };
    let (mut name, mut scopes, mut data_dir, mut id) = (None, Vec::new(), None, None);
    while let Some(arg) = parser.next()? {
        match arg {
            Short('h') | Long("help") => return Ok(Command::Help(KEYS_HELP)),
            Long("name") if action == "create" => name = Some(string(parser.value()?, "--name")?),
            Long("scope") if action == "create" => scopes.push(string(parser.value()?, "--scope")?),
            Long("data-dir") => data_dir = Some(string(parser.value()?, "--data-dir")?),
            Value(v) if action == "revoke" && id.is_none() => {
                let text = string(v, "id")?;
                id = Some(text.parse::<i64>().map_err(|_| {
                    UsageError(format!(
                        "'{text}' is not a key id (see 'cc-server keys list')"
                    ))
                })?);
            }
            other => return Err(other.unexpected().into()),
        }
    }
    match action.as_str() {
        "create" => {
            let name = name.ok_or_else(|| UsageError("'keys create' needs --name NAME".into()))?;
            for s in &scopes {
                crate::keys::check_scope(s).map_err(UsageError)?;
            }
            Ok(Command::KeysCreate {
                name,
                scopes,
                data_dir,
            })
        }
        "list" => Ok(Command::KeysList(data_dir)),
        "revoke" => Ok(Command::KeysRevoke(
            id.ok_or_else(|| UsageError("'keys revoke' needs a key id".into()))?,
            data_dir,
        )),
        other => Err(UsageError(format!(
            "unknown keys action '{other}' (create, list or revoke)"
        ))),
    }
}

fn parse_service(parser: &mut lexopt::Parser) -> Result<Command, UsageError> {
    use lexopt::prelude::*;
    let action = match parser.next()? {
        Some(Value(v)) => match string(v, "service action")?.as_str() {
            "install" => ServiceAction::Install,
            "uninstall" => ServiceAction::Uninstall,
            "status" => ServiceAction::Status,
            "unit" => ServiceAction::Unit,
            other => {
                return Err(UsageError(format!(
                    "unknown service action '{other}' (install, uninstall, status or unit)"
                )));
            }
        },
        Some(Short('h') | Long("help")) | None => return Ok(Command::Help(SERVICE_HELP)),
        Some(other) => return Err(other.unexpected().into()),
    };
    let mut options = super::service::ServiceOptions::default();
    let takes_options = matches!(action, ServiceAction::Install | ServiceAction::Unit);
    while let Some(arg) = parser.next()? {
        match arg {
            Short('h') | Long("help") => return Ok(Command::Help(SERVICE_HELP)),
            Long("user") if takes_options => {
                options.user = string(parser.value()?, "--user")?;
                if options.user == "root" {
                    return Err(UsageError(
                        "--user root would undo the service's sandbox: give a user of its own"
                            .into(),
                    ));
                }
                if !crate::names::is_unix_user(&options.user) {
                    return Err(UsageError(format!(
                        "'{}' is not a user name (a-z, 0-9, '_' and '-', at most 32)",
                        options.user
                    )));
                }
            }
            Long("data-dir") if takes_options => {
                options.data_dir = PathBuf::from(parser.value()?);
                super::service::check_data_dir(&options.data_dir).map_err(UsageError)?;
            }
            Long("domain") if takes_options => {
                let domain = string(parser.value()?, "--domain")?;
                options.domain = crate::names::parse_config_domain(&domain).ok_or_else(|| {
                    UsageError(format!(
                        "--domain: '{domain}' is not a host name such as cc.lan"
                    ))
                })?;
            }
            Long(flag @ ("port" | "https-port")) if takes_options => {
                let flag = format!("--{flag}");
                let port = string(parser.value()?, &flag)?;
                let port = port.parse().ok().filter(|p| *p > 0).ok_or_else(|| {
                    UsageError(format!("{flag}: '{port}' is not a port (1-65535)"))
                })?;
                match flag.as_str() {
                    "--port" => options.port = Some(port),
                    _ => options.https_port = port,
                }
            }
            Long("https") if takes_options => {
                let mode = string(parser.value()?, "--https")?;
                if !["acme", "internal", "off"].contains(&mode.as_str()) {
                    return Err(UsageError(format!(
                        "--https: '{mode}' is not acme, internal or off"
                    )));
                }
                options.https = (mode != "off").then_some(mode);
            }
            Long("email") if takes_options => {
                let email = string(parser.value()?, "--email")?;
                if !email.contains('@') || email.contains(char::is_whitespace) {
                    return Err(UsageError(format!(
                        "--email: '{email}' is not an e-mail address"
                    )));
                }
                options.email = Some(email);
            }
            other => return Err(other.unexpected().into()),
        }
    }
    if options.email.is_some() && options.https.as_deref() != Some("acme") {
        return Err(UsageError("--email is for --https acme".into()));
    }
    Ok(Command::Service(action, options))
}

fn parse_backup(parser: &mut lexopt::Parser) -> Result<Command, UsageError> {
    use lexopt::prelude::*;
    let (mut file, mut force, mut data_dir) = (None, false, None);
    while let Some(arg) = parser.next()? {
        match arg {
            Short('h') | Long("help") => return Ok(Command::Help(BACKUP_HELP)),
            Long("force") => force = true,
            Long("data-dir") => data_dir = Some(string(parser.value()?, "--data-dir")?),
            Value(v) if file.is_none() => file = Some(PathBuf::from(v)),
            other => return Err(other.unexpected().into()),
        }
    }
    let file = file.ok_or_else(|| {
        UsageError("'backup' needs a file to write: cc-server backup <file>".into())
    })?;
    Ok(Command::Backup {
        file,
        force,
        data_dir,
    })
}

fn parse_worker(parser: &mut lexopt::Parser) -> Result<Command, UsageError> {
    use lexopt::prelude::*;
    let (mut data_dir, mut timeout_ms, mut memory_mb, mut max_keys, mut server_port) =
        (None, 100u64, 512u64, 10_000u64, 0u64);
    let mut deny_private = false;
    let number = |v: OsString, what: &str| -> Result<u64, UsageError> {
        string(v, what)?
            .parse()
            .map_err(|_| UsageError(format!("{what} must be a number")))
    };
    while let Some(arg) = parser.next()? {
        match arg {
            Long("data-dir") => data_dir = Some(PathBuf::from(parser.value()?)),
            Long("timeout-ms") => timeout_ms = number(parser.value()?, "--timeout-ms")?,
            Long("memory-mb") => memory_mb = number(parser.value()?, "--memory-mb")?,
            Long("max-keys") => max_keys = number(parser.value()?, "--max-keys")?,
            Long("server-port") => server_port = number(parser.value()?, "--server-port")?,
            Long("fetch-deny-private") => deny_private = true,
            other => return Err(other.unexpected().into()),
        }
    }
    Ok(Command::JsWorker {
        data_dir: data_dir.ok_or_else(|| UsageError("__js-worker needs --data-dir".into()))?,
        limits: crate::js::engine::EngineLimits {
            timeout: std::time::Duration::from_millis(timeout_ms),
            max_keys,
            server_port: u16::try_from(server_port)
                .map_err(|_| UsageError("--server-port is not a port".into()))?,
            deny_private,
        },
        memory_mb,
    })
}

fn string(v: OsString, what: &str) -> Result<String, UsageError> {
    v.into_string()
        .map_err(|_| UsageError(format!("{what}: the value is not valid UTF-8")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<Command, UsageError> {
        parse(args.iter().map(OsString::from).collect())
    }

    #[test]
    fn serve_is_the_default_command() {
        assert!(matches!(p(&[]), Ok(Command::Serve(_))));
        match p(&["--port", "0", "--domain=cc.lan"]).unwrap() {
            Command::Serve(f) => {
                assert_eq!(f.port.as_deref(), Some("0"));
                assert_eq!(f.domain.as_deref(), Some("cc.lan"));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            p(&["serve", "--bind", "::"]),
            Ok(Command::Serve(_))
        ));
    }

    #[test]
    fn help_and_version() {
        assert!(matches!(p(&["--help"]), Ok(Command::Help(HELP))));
        assert!(matches!(
            p(&["serve", "--help"]),
            Ok(Command::Help(SERVE_HELP))
        ));
        assert!(matches!(
            p(&["deploy", "--help"]),
            Ok(Command::Help(DEPLOY_HELP))
        ));
        assert!(matches!(
            p(&["keys", "--help"]),
            Ok(Command::Help(KEYS_HELP))
        ));
        assert!(matches!(
            p(&["backup", "--help"]),
            Ok(Command::Help(BACKUP_HELP))
        ));
        assert!(matches!(p(&["-V"]), Ok(Command::Version)));
    }

    #[test]
    fn other_commands() {
        assert!(matches!(
            p(&["deploy", "blog", "--dir", "x", "--yes"]),
            Ok(Command::Deploy { yes: true, .. })
        ));
        assert!(matches!(
            p(&["keys", "create", "--name", "bob", "--scope", "deploy:blog"]),
            Ok(Command::KeysCreate { .. })
        ));
        assert!(matches!(
            p(&["keys", "revoke", "3"]),
            Ok(Command::KeysRevoke(3, None))
        ));
        assert!(matches!(
            p(&["teardown", "blog", "--keep-data"]),
            Ok(Command::Teardown {
                keep_data: true,
                ..
            })
        ));
        assert!(matches!(
            p(&["rollback", "blog"]),
            Ok(Command::Rollback(..))
        ));
        assert!(matches!(
            p(&[
                "backup",
                "/tmp/cc.db",
                "--force",
                "--data-dir",
                "/var/lib/cc"
            ]),
            Ok(Command::Backup {
                force: true,
                data_dir: Some(_),
                ..
            })
        ));
    }

    #[test]
    fn mistakes_are_usage_errors() {
        for args in [
            &["--nope"][..],
            &["--port"],
            &["frobnicate"],
            &["serve", "extra"],
            &["-x"],
            &["deploy"],
            &["keys", "create"],
            &["keys", "create", "--name", "x", "--scope", "root"],
            &["keys", "revoke", "abc"],
            &["keys", "frob"],
            &["rollback"],
            &["sites", "extra"],
            &["backup"],
            &["backup", "a.db", "b.db"],
            &["backup", "a.db", "--yes"],
            &["backup", "a.db", "--data-dir"],
        ] {
            assert!(p(args).is_err(), "{args:?}");
        }
    }
}
