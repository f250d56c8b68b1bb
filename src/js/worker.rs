//! The script worker process (`cc-server __js-worker`, started by `pool`): sets its own memory
//! limit, opens cc.db, and answers request frames on stdin with reply frames on stdout until
//! stdin closes. Its stderr is the server's log.

use std::io::{BufReader, Write};
use std::path::Path;
use std::process::ExitCode;

use rustix::process::{
    Resource, Rlimit, Signal, set_parent_process_death_signal, setpriority_process, setrlimit,
};

use super::engine::{Engine, EngineLimits};
use super::protocol::{read_frame_into, write_frame};

/// Scripts run on a thread with a large stack: parsing deeply nested code or a deep
/// JSON.stringify overflows the default 2 MiB and would kill the worker for no good reason.
const JS_STACK: usize = 64 * 1024 * 1024;
/// Script workers run at this nice value: a busy script never starves the server's own
/// threads (static files, the dashboard) of CPU on a small machine.
const NICENESS: i32 = 10;

pub fn main(data_dir: &Path, limits: EngineLimits, memory_mb: u64) -> ExitCode {
    // Die with the server, even if it is killed without a chance to close our stdin.
    let _ = set_parent_process_death_signal(Some(Signal::KILL));
    // Threads started from here on (the script thread) inherit it.
    let _ = setpriority_process(None, NICENESS);
    let bytes = memory_mb.saturating_mul(1024 * 1024);
    if let Err(e) = setrlimit(
        Resource::As,
        Rlimit {
            current: Some(bytes),
            maximum: Some(bytes),
        },
    ) {
        eprintln!("js worker: cannot set the memory limit: {e}");
    }
    let conn = match crate::store::open(&data_dir.join("cc.db")) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("js worker: {e}");
            return ExitCode::from(1);
        }
    };
    let runner = std::thread::Builder::new()
        .name("js".into())
        .stack_size(JS_STACK)
        .spawn(move || {
            let notify = Box::new(|frame: &serde_json::Value| {
                let _ = write_frame(&mut std::io::stdout().lock(), frame);
            });
            let mut engine = Engine::new(conn, limits, notify);
            let mut input = BufReader::new(std::io::stdin().lock());
            let mut statm = std::fs::File::open("/proc/self/statm").ok();
            // A frame is an array of requests (several of one site: `batch`); a reply frame
            // follows for each, in order.
            let mut buf = Vec::new();
            while let Ok(Some(request)) = read_frame_into(&mut input, &mut buf) {
                let requests = match request {
                    serde_json::Value::Array(requests) => requests,
                    one => vec![one],
                };
                let replies = engine.handle_batch(&requests);
                // Warm contexts keep what scripts leave in their globals. Past half the
                // memory limit, retire (the pool starts a new worker) rather than let one
                // site's leftovers make another site's run hit the limit.
                let retire = resident_bytes(statm.as_mut()) > bytes / 2;
                // One frame per reply (each within the frame limit, as a single run's is),
                // written together; the last says whether this worker retires.
                let mut out = Vec::new();
                let last = replies.len().saturating_sub(1);
                let mut failed = false;
                for (i, mut reply) in replies.into_iter().enumerate() {
                    if i == last {
                        reply["retire"] = serde_json::Value::Bool(retire);
                    }
                    failed |= write_frame(&mut out, &reply).is_err();
                    if out.len() > 64 * 1024 {
                        failed |= std::io::stdout().lock().write_all(&out).is_err();
                        out.clear();
                    }
                }
                let mut stdout = std::io::stdout().lock();
                if failed
                    || stdout
                        .write_all(&out)
                        .and_then(|()| stdout.flush())
                        .is_err()
                    || retire
                {
                    break;
                }
            }
        });
    match runner.map(|t| t.join()) {
        Ok(Ok(())) => ExitCode::SUCCESS,
        _ => ExitCode::from(1),
    }
}

/// This process's resident memory, from /proc/self/statm (kept open: read again from the
/// start each time).
fn resident_bytes(statm: Option<&mut std::fs::File>) -> u64 {
    use std::os::unix::fs::FileExt;
    let mut buf = [0u8; 128];
    let Some(n) = statm.and_then(|f| f.read_at(&mut buf, 0).ok()) else {
        return 0;
    };
    std::str::from_utf8(&buf[..n])
        .ok()
        .and_then(|s| s.split_whitespace().nth(1))
        .and_then(|p| p.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}
