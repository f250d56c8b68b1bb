//! The server's log on stderr — an access line per answered request, the sites' own log lines,
//! the stop messages — gathered in memory and written in batches by one thread (at 32 KiB, or
//! 100 ms after the first waiting line), so a busy server makes one write per many requests,
//! and a stalled stderr (a full pipe, a paused terminal) never holds up an answer, a script or
//! a stop: past 1 MiB waiting, lines are dropped and counted instead.

use std::io::Write;
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::Duration;

const BATCH: usize = 32 * 1024;
const MAX_WAITING: usize = 1024 * 1024;
const LINGER: Duration = Duration::from_millis(100);

struct Log {
    state: Mutex<State>,
    /// Wakes the writer: the first line arrived, or a batch is full.
    ready: Condvar,
    /// Wakes `flush`: the writer emptied the buffer.
    written: Condvar,
}

#[derive(Default)]
struct State {
    waiting: Vec<u8>,
    dropped: u64,
    /// The writer holds a batch it has not finished writing.
    writing: bool,
}

/// Queues one line (ending in `\n`) for stderr.
pub fn line(text: &str) {
    let log = log();
    let mut state = log.state.lock().unwrap_or_else(|e| e.into_inner());
    if state.waiting.len() + text.len() > MAX_WAITING {
        state.dropped += 1;
        return;
    }
    let was_empty = state.waiting.is_empty();
    state.waiting.extend_from_slice(text.as_bytes());
    if was_empty || state.waiting.len() >= BATCH {
        log.ready.notify_one();
    }
}

/// Waits (at most a second: stderr may be stalled) until every queued line is written.
pub fn flush() {
    let log = log();
    let state = log.state.lock().unwrap_or_else(|e| e.into_inner());
    log.ready.notify_one();
    let _ = log
        .written
        .wait_timeout_while(state, Duration::from_secs(1), |s| {
            s.writing || !s.waiting.is_empty()
        });
}

fn log() -> &'static Log {
    static LOG: OnceLock<Log> = OnceLock::new();
    LOG.get_or_init(|| {
        let _ = std::thread::Builder::new()
            .name("access-log".into())
            .spawn(writer);
        Log {
            state: Mutex::new(State::default()),
            ready: Condvar::new(),
            written: Condvar::new(),
        }
    })
}

fn writer() {
    let log = log();
    loop {
        let state = log.state.lock().unwrap_or_else(|e| e.into_inner());
        let state = log
            .ready
            .wait_while(state, |s| s.waiting.is_empty())
            .unwrap_or_else(|e| e.into_inner());
        // Let more lines join the batch unless it is already full.
        let (mut state, _) = log
            .ready
            .wait_timeout_while(state, LINGER, |s| s.waiting.len() < BATCH)
            .unwrap_or_else(|e| e.into_inner());
        let batch = std::mem::take(&mut state.waiting);
        let dropped = std::mem::take(&mut state.dropped);
        state.writing = true;
        drop(state);
        write(&batch, dropped);
        log.state.lock().unwrap_or_else(|e| e.into_inner()).writing = false;
        log.written.notify_all();
    }
}

fn write(batch: &[u8], dropped: u64) {
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(batch);
    if dropped > 0 {
        let _ = writeln!(
            err,
            "cc-server: {dropped} access log lines were dropped: stderr did not keep up"
        );
    }
}
