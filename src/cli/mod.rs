//! The command line: parses arguments, prints help, runs the command and decides
//! the exit code in one place — 0 success, 1 a failure while running, 2 a usage error.
//!
//! `args` parses, `help` holds the texts, `admin` runs the commands that work on the data dir
//! directly, `service` the systemd unit; this file runs the rest. Errors travel up as a
//! `Failure`: only `main` prints them and picks the exit code, never the code that failed.

mod admin;
mod args;
mod help;
mod service;

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use crate::client::{self, Remote};
use crate::config::ServeConfig;
use args::{Command, UsageError, parse};

const VERSION: &str = env!("CARGO_PKG_VERSION");

pub fn main() -> ExitCode {
    let command = match parse(std::env::args_os().skip(1).collect()) {
        Ok(c) => c,
        Err(UsageError(msg)) => {
            eprintln!("cc-server: {msg} (see 'cc-server --help')");
            return ExitCode::from(2);
        }
    };
    if let Command::JsCheck(file) = &command {
        return crate::js::check::main(file);
    }
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
            let remote = Remote::resolve(remote.server, remote.token, remote.ca_file)?;
            let url = client::deploy(&remote, &site, &dir, yes)?;
            println!("Deployment successful: {url}");
        }
        Command::Sites(remote) => {
            print!(
                "{}",
                client::sites(&Remote::resolve(
                    remote.server,
                    remote.token,
                    remote.ca_file
                )?)?
            );
        }
        Command::Rollback(site, remote) => {
            println!(
                "{}",
                client::rollback(
                    &Remote::resolve(remote.server, remote.token, remote.ca_file)?,
                    &site
                )?
            );
        }
        Command::Teardown {
            site,
            remote,
            keep_data,
            yes,
        } => {
            let remote = Remote::resolve(remote.server, remote.token, remote.ca_file)?;
            if !yes && std::io::stdin().is_terminal() && !confirm_teardown(&site, keep_data) {
                return Err(Failure::Run("teardown cancelled".into()));
            }
            println!("{}", client::teardown(&remote, &site, keep_data)?);
        }
        Command::KeysCreate {
            name,
            scopes,
            data_dir,
        } => admin::keys_create(name, scopes, data_dir)?,
        Command::JsWorker {
            data_dir,
            limits,
            memory_mb,
        } => {
            if crate::js::worker::main(&data_dir, limits, memory_mb) != ExitCode::SUCCESS {
                return Err(Failure::Run("script worker failed".into()));
            }
        }
        Command::Passwd(data_dir) => admin::passwd(data_dir)?,
        Command::Protect {
            site,
            user,
            data_dir,
        } => admin::protect(&site, user.as_deref(), data_dir)?,
        Command::Domains(action, data_dir) => admin::domains(action, data_dir)?,
        Command::Backup {
            file,
            force,
            data_dir,
        } => admin::backup(file, force, data_dir)?,
        Command::KeysList(data_dir) => admin::keys_list(data_dir)?,
        Command::JsCheck(_) => unreachable!("handled in main"),
        Command::KeysRevoke(id, data_dir) => admin::keys_revoke(id, data_dir)?,
        Command::Service(action, options) => service::run(action, &options)?,
        Command::Ca(data_dir) => admin::ca(data_dir)?,
        Command::Certs(data_dir) => admin::certs(data_dir)?,
    }
    Ok(())
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
