//! The command line (CONTRACT §1): parses arguments, prints help, runs the command and decides
//! the exit code in one place — 0 success, 1 a failure while running, 2 a usage error.

use std::ffi::OsString;
use std::process::ExitCode;

use crate::config::{ServeConfig, ServeFlags};

const VERSION: &str = env!("CARGO_PKG_VERSION");

const HELP: &str = "\
cc-server — Command Center, a personal cloud in one binary

Every folder in <data-dir>/sites/<name>/ is a website at http://<name>.<domain>:<port>/;
the dashboard is at http://<domain>:<port>/.

USAGE:
    cc-server [serve] [OPTIONS]      start the server (the default command)
    cc-server <command> --help       help for one command

COMMANDS:
    serve       run the web server

OPTIONS:
    -h, --help       print this help
    -V, --version    print the version

Run 'cc-server serve --help' for the server's options and environment variables.
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
    --max-connections <N>    open connections at once                [CC_MAX_CONNECTIONS, default 1024]
    --io-timeout <SECS>      a stalled read or write, or an idle
                             keep-alive connection, is closed after  [CC_IO_TIMEOUT, default 15]
    --head-timeout <SECS>    a request's headers must arrive within  [CC_HEAD_TIMEOUT, default 20]
    -h, --help               print this help

On start the server prints 'listening on http://<bind>:<port>'. It stops cleanly on
Ctrl-C or SIGTERM: in-flight requests finish and analytics are written first.
";

/// What the user asked for.
#[derive(Debug)]
enum Command {
    Help(&'static str),
    Version,
    Serve(ServeFlags),
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
    match command {
        Command::Help(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Command::Version => {
            println!("cc-server {VERSION}");
            ExitCode::SUCCESS
        }
        Command::Serve(flags) => {
            let config = match ServeConfig::resolve(&flags, |k| std::env::var(k).ok()) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("cc-server: {} (see 'cc-server serve --help')", e.0);
                    return ExitCode::from(2);
                }
            };
            match crate::server::run(config) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("cc-server: error: {e}");
                    ExitCode::from(1)
                }
            }
        }
    }
}

fn parse(args: Vec<OsString>) -> Result<Command, UsageError> {
    use lexopt::prelude::*;
    let mut parser = lexopt::Parser::from_args(args);
    let mut command: Option<String> = None;
    let mut flags = ServeFlags::default();

    while let Some(arg) = parser.next()? {
        match arg {
            Short('h') | Long("help") => {
                return Ok(Command::Help(if command.is_some() {
                    SERVE_HELP
                } else {
                    HELP
                }));
            }
            Short('V') | Long("version") if command.is_none() => return Ok(Command::Version),
            Long("port") => flags.port = Some(string(parser.value()?, "--port")?),
            Long("bind") => flags.bind = Some(string(parser.value()?, "--bind")?),
            Long("domain") => flags.domain = Some(string(parser.value()?, "--domain")?),
            Long("data-dir") => flags.data_dir = Some(string(parser.value()?, "--data-dir")?),
            Long("workers") => flags.workers = Some(string(parser.value()?, "--workers")?),
            Long("max-connections") => {
                flags.max_connections = Some(string(parser.value()?, "--max-connections")?)
            }
            Long("io-timeout") => flags.io_timeout = Some(string(parser.value()?, "--io-timeout")?),
            Long("head-timeout") => {
                flags.head_timeout = Some(string(parser.value()?, "--head-timeout")?)
            }
            Value(v) if command.is_none() => {
                let name = string(v, "command")?;
                match name.as_str() {
                    "serve" => command = Some(name),
                    "help" => return Ok(Command::Help(HELP)),
                    other => return Err(UsageError(format!("unknown command '{other}'"))),
                }
            }
            other => return Err(other.unexpected().into()),
        }
    }
    Ok(Command::Serve(flags))
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
        assert!(matches!(p(&["-V"]), Ok(Command::Version)));
    }

    #[test]
    fn mistakes_are_usage_errors() {
        for args in [
            &["--nope"][..],
            &["--port"],
            &["frobnicate"],
            &["serve", "extra"],
            &["-x"],
        ] {
            assert!(p(args).is_err(), "{args:?}");
        }
    }
}
