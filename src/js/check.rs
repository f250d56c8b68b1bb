//! Checking a `main.js` before a deploy makes it live: parsed (never run) in a short-lived
//! `cc-server __js-check` process with the workers' memory limit and a time limit, so that a
//! file crafted to upset the parser costs that process, never the server. A syntax error comes
//! back with its line and column; the deploy then fails and the live site stays.

use std::io::Read;
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

/// How long parsing may take before the check gives up (and the deploy fails).
const CHECK_TIME: Duration = Duration::from_secs(10);
/// The checker's address-space limit.
const CHECK_MEMORY: u64 = 512 * 1024 * 1024;

/// `Err(message)` when `file` does not parse as a classic script or (with `export default`)
/// a module.
pub fn syntax(file: &Path) -> Result<(), String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot check main.js: {e}"))?;
    let mut child = Command::new(exe)
        .arg("__js-check")
        .arg(file)
        .env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot check main.js: {e}"))?;
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break status;
        }
        if started.elapsed() > CHECK_TIME {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "main.js could not be parsed within {} s",
                CHECK_TIME.as_secs()
            ));
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut said = String::new();
    if let Some(mut out) = child.stdout.take() {
        let _ = out.by_ref().take(4096).read_to_string(&mut said);
    }
    match status.code() {
        Some(0) => Ok(()),
        Some(1) if !said.trim().is_empty() => Err(said.trim().to_string()),
        _ => Err("main.js could not be parsed (the checker ran out of memory or crashed)".into()),
    }
}

/// The `__js-check FILE` process: exit 0 when the file parses; else the error on stdout, exit 1.
pub fn main(file: &Path) -> ExitCode {
    let _ = rustix::process::setrlimit(
        rustix::process::Resource::As,
        rustix::process::Rlimit {
            current: Some(CHECK_MEMORY),
            maximum: Some(CHECK_MEMORY),
        },
    );
    // The parser recurses: a big stack keeps deep nesting an error, not a crash.
    let file = file.to_path_buf();
    let checked = std::thread::Builder::new()
        .stack_size(64 * 1024 * 1024)
        .spawn(move || super::engine::check_source(&file))
        .ok()
        .and_then(|t| t.join().ok());
    match checked {
        Some(Ok(())) => ExitCode::SUCCESS,
        Some(Err(message)) => {
            println!("{message}");
            ExitCode::from(1)
        }
        None => ExitCode::from(2),
    }
}
