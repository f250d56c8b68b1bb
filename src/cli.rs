//! The command line: parses arguments, prints help, runs the command and decides
//! the exit code in one place — 0 success, 1 a failure while running, 2 a usage error.

use std::ffi::OsString;
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use crate::client::{self, Remote};
use crate::config::{self, ServeConfig, ServeFlags};

const VERSION: &str = env!("CARGO_PKG_VERSION");

const HELP: &str = "\
cc-server — Command Center, a personal cloud in one binary

Every folder in <data-dir>/sites/<name>/ is a website at http://<name>.<domain>:<port>/;
the dashboard is at http://<domain>:<port>/.

USAGE:
    cc-server [serve] [OPTIONS]      start the server (the default command)
    cc-server <command> --help       help for one command

COMMANDS:
    serve                            run the web server
    deploy <site> [--dir .]          zip a folder and publish it as <site>
    sites                            list the sites your token may manage
    rollback <site>                  go back to the previous deployment
    teardown <site>                  delete a site
    keys create --name NAME [--scope SCOPE]...
                                     make a deploy key (on the server's machine)
    keys list | keys revoke ID       list or revoke deploy keys
    passwd                           set the dashboard's admin password (on the server's machine)
    backup <file> [--force]          copy cc.db to <file>, also while the server runs

OPTIONS:
    -h, --help       print this help
    -V, --version    print the version
";

const SERVE_HELP: &str = "\
cc-server serve — run the web server

USAGE:
    cc-server [serve] [OPTIONS]

OPTIONS (each also read from the environment variable shown; a flag wins):
    --port <PORT>            port to listen on, 0 picks a free one   [CC_PORT, default 4698]
    --bind <ADDR>            address to listen on                    [CC_BIND, default 0.0.0.0]
    --domain <DOMAIN>        sites are served at <site>.<DOMAIN>     [CC_DOMAIN, default localhost]
    --data-dir <DIR>         where cc.db and sites/ live             [CC_DATA_DIR, default ~/.config/cc]
    --workers <N>            request-handling threads                [CC_WORKERS, default 2 per core, min 4]
    --max-connections <N>    open connections at once                [CC_MAX_CONNECTIONS, default 16384]
    --max-per-address <N>    open connections per client address     [CC_MAX_PER_ADDRESS, default 256]
    --io-timeout <SECS>      a stalled read or write, or an idle
                             keep-alive connection, is closed after  [CC_IO_TIMEOUT, default 15]
    --head-timeout <SECS>    a request's headers must arrive within  [CC_HEAD_TIMEOUT, default 20]
    --max-upload-mb <N>      largest deploy upload                   [CC_MAX_UPLOAD_MB, default 100]
    --max-unpacked-mb <N>    largest unpacked deploy                 [CC_MAX_UNPACKED_MB, default 500]
    --max-files <N>          most files in one deploy                [CC_MAX_FILES, default 20000]
    --js-workers <N>         main.js worker processes                [CC_JS_WORKERS, default 3]
    --script-timeout-ms <MS> run time per main.js request            [CC_SCRIPT_TIMEOUT_MS, default 100]
    --script-memory-mb <MB>  address space per script worker         [CC_SCRIPT_MEMORY_MB, default 512]
    --max-keys <N>           db keys per site                        [CC_MAX_KEYS, default 10000]
    --max-ws-per-site <N>    WebSocket clients per site              [CC_MAX_WS_PER_SITE, default 256]
    --max-ws <N>             WebSocket clients in all                [CC_MAX_WS, default 4096]
    --fetch-deny-private     main.js fetch() may not reach loopback or
                             private addresses                       [CC_FETCH_DENY_PRIVATE=1]
    --trusted-proxy <IP>     believe X-Forwarded-Proto/-For from this
                             reverse proxy (HTTPS → Secure cookie)   [CC_TRUSTED_PROXY]
    --retention-days <N>     keep raw analytics events this long;
                             daily totals stay forever, 0 keeps all  [CC_RETENTION_DAYS, default 180]
    --backups <N>            daily copies of cc.db kept in
                             <data-dir>/backups/, 0 turns them off   [CC_BACKUPS, default 5]
    -h, --help               print this help

On start the server prints 'listening on http://<bind>:<port>'. It stops cleanly on
Ctrl-C or SIGTERM: in-flight requests finish and analytics are written first.

The first start without an admin password takes CC_ADMIN_PASSWORD as the password, or
prints a one-time setup link (http://<domain>:<port>/setup?token=...) to the log.
";

const DEPLOY_HELP: &str = "\
cc-server deploy — zip a folder and publish it as a site

USAGE:
    cc-server deploy <site> [--dir .] [--server URL] [--token TOKEN] [--yes]

Zips the folder (skipping dot-files, .git, node_modules and what .ccignore lists, in
.gitignore syntax), uploads it, and prints 'Deployment successful: <url>'. The site is
swapped in atomically: visitors see the old site or the new one, never a mix.

OPTIONS:
    --dir <DIR>          the folder to deploy (default: the current folder)
    --server <URL>       the cc-server to deploy to     [CC_SERVER, default http://localhost:4698]
    --token <TOKEN>      a deploy key's token           [CC_TOKEN, then the first line of ~/.cc-token]
    --yes                deploy even an empty folder or your home folder
    -h, --help           print this help
";

const REMOTE_HELP: &str = "\
cc-server sites | rollback <site> | teardown <site> — manage sites on a server

USAGE:
    cc-server sites [--server URL] [--token TOKEN]
    cc-server rollback <site> [--server URL] [--token TOKEN]
    cc-server teardown <site> [--keep-data] [--yes] [--server URL] [--token TOKEN]

sites      lists the sites the token may manage: files, size, last deploy, URL.
rollback   swaps the live site with its previous deployment (run it again to undo).
teardown   deletes the site's files and previous deployment, and its key-value data and
           env vars unless --keep-data is given. Asks first on a terminal unless --yes.

OPTIONS:
    --server <URL>       [CC_SERVER, default http://localhost:4698]
    --token <TOKEN>      [CC_TOKEN, then the first line of ~/.cc-token]
";

const KEYS_HELP: &str = "\
cc-server keys — deploy keys, managed on the server's own data dir (works over SSH)

USAGE:
    cc-server keys create --name NAME [--scope SCOPE]... [--data-dir DIR]
    cc-server keys list [--data-dir DIR]
    cc-server keys revoke ID [--data-dir DIR]

SCOPES (repeat --scope; default deploy:*):
    deploy:*         deploy, roll back and tear down every site
    deploy:<site>    only that site (e.g. for a friend)
    read:stats       read analytics

'keys create' prints the token alone on its last line; it is shown only once.
Only its SHA-256 is stored. --data-dir defaults to CC_DATA_DIR, then ~/.config/cc.
";

const PASSWD_HELP: &str = "\
cc-server passwd — set the dashboard's admin password, on the server's own data dir

USAGE:
    cc-server passwd [--data-dir DIR]

Asks for the new password twice (it is not shown), or takes it from CC_ADMIN_PASSWORD, or
reads one line from standard input when that is not a terminal. At least 8 characters.
Every dashboard session ends: log in again with the new password. Works while the server
runs. --data-dir defaults to CC_DATA_DIR, then ~/.config/cc.
";

const BACKUP_HELP: &str = "\
cc-server backup — a consistent copy of cc.db, taken while the server runs

USAGE:
    cc-server backup <FILE> [--force] [--data-dir DIR]

Copies <data-dir>/cc.db (analytics, deploy keys, every site's db data and env vars,
settings) with SQLite's online backup API: the server keeps serving and writing, and
the copy is the database as it was at one moment. The copy is written beside <FILE>
under a temporary name, checked with PRAGMA integrity_check, and renamed to <FILE>
(mode 0600) only when complete. Site files are not in cc.db: archive <data-dir>/sites
(and deploy/previous) with tar.

OPTIONS:
    --force              replace <FILE> if it exists (otherwise: refuse, exit 1)
    --data-dir <DIR>     the server's data dir    [CC_DATA_DIR, default ~/.config/cc]
    -h, --help           print this help

TO RESTORE: stop the server, copy the file over <data-dir>/cc.db, delete
<data-dir>/cc.db-wal and <data-dir>/cc.db-shm if they exist, start the server.
";

/// What the user asked for.
#[derive(Debug)]
enum Command {
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
    Passwd(Option<String>),
    Backup {
        file: PathBuf,
        force: bool,
        data_dir: Option<String>,
    },
}

#[derive(Debug, Default)]
struct RemoteFlags {
    server: Option<String>,
    token: Option<String>,
}

/// A mistake in the arguments: printed as one line, exit code 2.
#[derive(Debug)]
struct UsageError(String);

impl From<lexopt::Error> for UsageError {
    fn from(e: lexopt::Error) -> Self {
        UsageError(e.to_string())
    }
}

pub fn main() -> ExitCode {
    let command = match parse(std::env::args_os().skip(1).collect()) {
        Ok(c) => c,
        Err(UsageError(msg)) => {
            eprintln!("cc-server: {msg} (see 'cc-server --help')");
            return ExitCode::from(2);
        }
    };
    match run(command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(msg)) => {
            eprintln!("cc-server: {msg}");
            ExitCode::from(2)
        }
        Err(Failure::Run(msg)) => {
            eprintln!("cc-server: error: {msg}");
            ExitCode::from(1)
        }
    }
}

enum Failure {
    Usage(String),
    Run(String),
}

impl From<client::ClientError> for Failure {
    fn from(e: client::ClientError) -> Self {
        if e.usage {
            Failure::Usage(e.message)
        } else {
            Failure::Run(e.message)
        }
    }
}

fn env(k: &str) -> Option<String> {
    std::env::var(k).ok()
}

fn run(command: Command) -> Result<(), Failure> {
    match command {
        Command::Help(text) => print!("{text}"),
        Command::Version => println!("cc-server {VERSION}"),
        Command::Serve(flags) => {
            let config = ServeConfig::resolve(&flags, env)
                .map_err(|e| Failure::Usage(format!("{} (see 'cc-server serve --help')", e.0)))?;
            crate::server::run(config).map_err(|e| Failure::Run(e.to_string()))?;
        }
        Command::Deploy {
            site,
            dir,
            remote,
            yes,
        } => {
            let remote = Remote::resolve(remote.server, remote.token)?;
            let url = client::deploy(&remote, &site, &dir, yes)?;
            println!("Deployment successful: {url}");
        }
        Command::Sites(remote) => {
            print!(
                "{}",
                client::sites(&Remote::resolve(remote.server, remote.token)?)?
            );
        }
        Command::Rollback(site, remote) => {
            println!(
                "{}",
                client::rollback(&Remote::resolve(remote.server, remote.token)?, &site)?
            );
        }
        Command::Teardown {
            site,
            remote,
            keep_data,
            yes,
        } => {
            let remote = Remote::resolve(remote.server, remote.token)?;
            if !yes && std::io::stdin().is_terminal() && !confirm_teardown(&site, keep_data) {
                return Err(Failure::Run("teardown cancelled".into()));
            }
            println!("{}", client::teardown(&remote, &site, keep_data)?);
        }
        Command::KeysCreate {
            name,
            scopes,
            data_dir,
        } => {
            let conn = open_store(data_dir)?;
            let scopes = if scopes.is_empty() {
                vec!["deploy:*".to_string()]
            } else {
                scopes
            };
            let (id, token) = crate::keys::create(&conn, &name, &scopes).map_err(Failure::Usage)?;
            let target = format!("#{id} {}", name.trim());
            let _ = crate::store::audit::record(&conn, "cli", "key.create", Some(&target), None);
            println!(
                "Created key {id} '{}' with scopes {}.",
                name.trim(),
                scopes.join(", ")
            );
            println!("Keep the token secret; it is shown only this once:");
            println!("{token}");
        }
        Command::JsWorker {
            data_dir,
            limits,
            memory_mb,
        } => {
            if crate::js::worker::main(&data_dir, limits, memory_mb) != ExitCode::SUCCESS {
                return Err(Failure::Run("script worker failed".into()));
            }
        }
        Command::Passwd(data_dir) => {
            let mut conn = open_store(data_dir)?;
            let password = read_new_password()?;
            crate::auth::set_password(&mut conn, &password).map_err(Failure::Run)?;
            let _ = crate::store::audit::record(&conn, "cli", "password", None, None);
            println!("The admin password is set. Log in to the dashboard with it.");
        }
        Command::Backup {
            file,
            force,
            data_dir,
        } => {
            let bytes = crate::store::backup::backup(&data_dir_of(data_dir)?, &file, force)
                .map_err(|e| Failure::Run(e.to_string()))?;
            println!(
                "backed up cc.db ({} KB) to {}",
                bytes.div_ceil(1024),
                file.display()
            );
        }
        Command::KeysList(data_dir) => {
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
        }
        Command::KeysRevoke(id, data_dir) => {
            let conn = open_store(data_dir)?;
            match crate::store::keys::revoke(&conn, id) {
                Ok(true) => {
                    let target = format!("#{id}");
                    let _ = crate::store::audit::record(
                        &conn,
                        "cli",
                        "key.revoke",
                        Some(&target),
                        None,
                    );
                    println!("Revoked key {id}: its token no longer works.");
                }
                Ok(false) => {
                    return Err(Failure::Run(format!(
                        "there is no active key with id {id} (see 'cc-server keys list')"
                    )));
                }
                Err(e) => return Err(Failure::Run(e.to_string())),
            }
        }
    }
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

fn confirm_teardown(site: &str, keep_data: bool) -> bool {
    eprint!(
        "This deletes the site '{site}'{}. Type the site name to confirm: ",
        if keep_data {
            ""
        } else {
            " with its key-value data and env vars"
        }
    );
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).is_ok() && line.trim() == site
}

fn parse(args: Vec<OsString>) -> Result<Command, UsageError> {
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
        "backup" => parse_backup(&mut parser),
        // Internal: a script worker process started by the server (src/js/worker.rs).
        "__js-worker" => parse_worker(&mut parser),
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
            "--js-workers" => &mut flags.js_workers,
            "--script-timeout-ms" => &mut flags.script_timeout_ms,
            "--script-memory-mb" => &mut flags.script_memory_mb,
            "--max-keys" => &mut flags.max_keys,
            "--max-ws-per-site" => &mut flags.max_ws_per_site,
            "--max-ws" => &mut flags.max_ws,
            "--trusted-proxy" => &mut flags.trusted_proxy,
            "--retention-days" => &mut flags.retention_days,
            "--backups" => &mut flags.backups,
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
            Long("keep-data") => keep = true,
            Long("yes") => yes = true,
            Value(v) if site.is_none() => site = Some(string(v, "site")?),
            other => return Err(other.unexpected().into()),
        }
    }
    Ok(Some((remote, keep, yes, site)))
}

/// The new password: CC_ADMIN_PASSWORD, else asked twice on the terminal without echo, else
/// one line of standard input (for scripts: `echo "$PW" | cc-server passwd`).
fn read_new_password() -> Result<String, Failure> {
    if let Some(p) = env("CC_ADMIN_PASSWORD").filter(|p| !p.is_empty()) {
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
    let first = prompt_hidden("New admin password: ")?;
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
