//! The server side of main.js: a fixed pool of script worker processes fed by runner threads
//! that take jobs from per-site queues in turn (`scheduler`), each run under the `watchdog`'s
//! eye, a new worker in place of one that was killed (past its deadline, or by a memory
//! limit), a short cool-down for a site whose script hit a limit, and what scripts log
//! (`logs`, which the dashboard reads). An HTTP worker only queues a job and moves on;
//! whoever runs the job writes its answer.

use std::collections::HashMap;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::logs::SiteLogs;
use super::protocol::{read_frame_into, write_array_frame};
use super::scheduler::Queues;
use super::translate::{reply_response, request_frame};
use super::watchdog::Watchdog;
use crate::http::{Deferred, Reply, Request, Response};

/// The dashboard reads a site's lines as `js::pool::LogLine`.
pub use super::logs::LogLine;

/// Largest request body handed to a script.
pub const MAX_SCRIPT_BODY: u64 = 1024 * 1024;
/// How long a job may wait for a worker before it is answered 503.
const MAX_WAIT: Duration = Duration::from_secs(2);
/// Jobs one site may have waiting; more are answered 503 at once.
const MAX_WAITING_PER_SITE: usize = 128;
/// Runner threads beyond the number of workers: one runner writing an answer to a slow
/// client does not keep a worker idle.
const SPARE_RUNNERS: usize = 2;
/// A site whose script hit a limit gets 503s at once for this long.
const COOL_DOWN: Duration = Duration::from_secs(1);

#[derive(Debug, Clone)]
pub struct PoolConfig {
    pub workers: usize,
    pub timeout: Duration,
    pub memory_mb: u64,
    pub max_keys: u64,
    pub data_dir: PathBuf,
    /// Set once the listener is bound.
    pub server_port: u16,
    /// `--fetch-deny-private`: fetch() may not reach loopback or private addresses.
    pub fetch_deny_private: bool,
    /// Called first on each runner thread (the server makes them never wait on a client).
    pub runner_start: Option<fn()>,
}

impl PoolConfig {
    pub fn new(data_dir: PathBuf) -> PoolConfig {
        PoolConfig {
            workers: 3,
            timeout: Duration::from_millis(100),
            memory_mb: 512,
            max_keys: 10_000,
            data_dir,
            server_port: 0,
            fetch_deny_private: false,
            runner_start: None,
        }
    }

    /// The watchdog's deadline: the in-process budget stops plain loops at `timeout`; this
    /// catches what it cannot stop (work inside one builtin, promise jobs), plus room for
    /// commit retries.
    fn hard_deadline(&self) -> Duration {
        self.timeout * 2 + Duration::from_millis(300)
    }
}

struct WorkerProcess {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    /// Where its reply frames are read, kept between frames.
    buffer: Vec<u8>,
}

/// A worker's place in the pool (its watch is the `watchdog`'s, by the same index).
#[derive(Default)]
struct Slot {
    process: Mutex<Option<WorkerProcess>>,
}

/// What runs a job ends with: the worker's reply, its death, or no run at all.
pub(super) enum Outcome {
    Reply(Value),
    /// The worker died: killed by the watchdog (`true`) or by its memory limit or a crash.
    Died(bool),
    /// Not run: the site's queue was full, the job waited too long, or the site is cooling
    /// down after hitting a limit.
    NotRun(Response),
    /// Not run this time: its batch used its time, or did not fit in one frame. It goes back
    /// to the head of its site's queue.
    Again,
}

/// What to do with how a run ended (answer the client, relay a message).
pub(super) type Done = Box<dyn FnOnce(&ScriptPool, Outcome) + Send>;

/// A request frame and what to do with how its run ended.
struct Job {
    frame: Value,
    done: Done,
}

struct Dispatch {
    queues: Queues<Job>,
    free: Vec<usize>,
    cool_down: HashMap<String, Instant>,
    /// Runs under way, counted so that a graceful stop can wait for them.
    running: usize,
}

/// Where scripts' `socket.broadcast` messages go, and who counts `socket.clients()`.
pub trait SocketHub: Send + Sync {
    fn broadcast(&self, site: &str, messages: Vec<String>);
    fn clients(&self, site: &str) -> usize;
}

pub struct ScriptPool {
    config: PoolConfig,
    pub(super) hub: std::sync::OnceLock<Arc<dyn SocketHub>>,
    exe: PathBuf,
    slots: Vec<Slot>,
    watchdog: Arc<Watchdog>,
    dispatch: Mutex<Dispatch>,
    /// Signalled when a job is queued or a worker is freed.
    changed: Condvar,
    logs: SiteLogs,
    /// Runs answered by a worker, and the microseconds they spent in the worker.
    runs: AtomicU64,
    run_micros: AtomicU64,
    /// Frames sent to workers: fewer than `runs` when busy sites' runs went in batches.
    exchanges: AtomicU64,
    /// Worker processes started.
    starts: AtomicU64,
    /// This pool, for the jobs that HTTP workers hand over.
    this: Weak<ScriptPool>,
}

impl ScriptPool {
    /// Starts the runners and the watchdog; workers are started on first use and after each
    /// death.
    pub fn start(config: PoolConfig) -> std::io::Result<Arc<ScriptPool>> {
        let workers = config.workers.max(1);
        // One site may not hold every worker: another site's script always finds one.
        let per_site_cap = if workers > 1 { workers - 1 } else { 1 };
        let pool = Arc::new_cyclic(|this| ScriptPool {
            exe: std::env::current_exe().unwrap_or_default(),
            slots: (0..workers).map(|_| Slot::default()).collect(),
            watchdog: Watchdog::new(workers, config.hard_deadline()),
            dispatch: Mutex::new(Dispatch {
                queues: Queues::new(per_site_cap, MAX_WAITING_PER_SITE, cores()),
                free: (0..workers).collect(),
                cool_down: HashMap::new(),
                running: 0,
            }),
            changed: Condvar::new(),
            logs: SiteLogs::default(),
            runs: AtomicU64::new(0),
            run_micros: AtomicU64::new(0),
            exchanges: AtomicU64::new(0),
            starts: AtomicU64::new(0),
            hub: std::sync::OnceLock::new(),
            config,
            this: this.clone(),
        });
        for i in 0..workers + SPARE_RUNNERS {
            let pool = pool.clone();
            std::thread::Builder::new()
                .name(format!("js-runner-{i}"))
                .spawn(move || {
                    if let Some(start) = pool.config.runner_start {
                        start();
                    }
                    runner(&pool)
                })?;
        }
        Watchdog::spawn(&pool.watchdog)?;
        Ok(pool)
    }

    /// Connects `socket.broadcast`/`socket.clients()` to the WebSocket hub (once).
    pub fn set_hub(&self, hub: Arc<dyn SocketHub>) {
        let _ = self.hub.set(hub);
    }

    /// The last lines a site's script logged, oldest first.
    pub fn logs(&self, site: &str) -> Vec<LogLine> {
        self.logs.lines(site)
    }

    /// Runs `site`'s main.js (in `root`) for `req`: reads the body here, then hands the run
    /// to the queues; the answer comes later (`Response::later`).
    pub fn run(&self, site: &str, root: &Path, req: &mut Request) -> Response {
        let too_large = || {
            Response::text(
                413,
                "413 Payload Too Large: main.js accepts bodies up to 1 MiB",
            )
        };
        if req
            .header("content-length")
            .and_then(|n| n.parse::<u64>().ok())
            .is_some_and(|n| n > MAX_SCRIPT_BODY)
        {
            return too_large();
        }
        let mut body = Vec::new();
        if let Err(e) = req
            .body
            .as_mut()
            .take(MAX_SCRIPT_BODY + 1)
            .read_to_end(&mut body)
        {
            return Response::text(
                400,
                format!("400 Bad Request: the body could not be read: {e}"),
            );
        }
        if body.len() as u64 > MAX_SCRIPT_BODY {
            return too_large();
        }
        let mut frame = request_frame(site, root, req, &body);
        frame["clients"] = json!(self.hub.get().map_or(0, |h| h.clients(site)));
        let (pool, site) = (self.this.clone(), site.to_string());
        Response::later(Deferred::new(move |reply: Reply| {
            let Some(pool) = pool.upgrade() else {
                return reply(busy());
            };
            let site_name = site.clone();
            let done = move |pool: &ScriptPool, outcome: Outcome| {
                reply(pool.http_response(&site_name, outcome))
            };
            pool.submit(&site, frame, false, Box::new(done));
        }))
    }

    /// Waits (up to `limit`) until no job is waiting or running: the graceful stop.
    pub fn wait_idle(&self, limit: Duration) {
        // It looks every few milliseconds rather than wait on `changed`: a wake-up meant for a
        // runner must never go to this thread instead.
        let give_up = Instant::now() + limit;
        while Instant::now() < give_up {
            match self.dispatch.lock() {
                Ok(d) if d.running > 0 || d.queues.waiting() > 0 => {}
                _ => return,
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// `(runs, exchanges with workers, average microseconds in the worker)` since start: the
    /// server logs it at exit.
    pub fn stats(&self) -> (u64, u64, u64) {
        let runs = self.runs.load(Ordering::Relaxed);
        let exchanges = self.exchanges.load(Ordering::Relaxed);
        (
            runs,
            exchanges,
            self.run_micros.load(Ordering::Relaxed) / runs.max(1),
        )
    }

    /// `(worker processes started, jobs waiting, exchanges under way)` now (`/metrics`).
    pub fn load(&self) -> (u64, usize, usize) {
        let (waiting, running) = self
            .dispatch
            .lock()
            .map_or((0, 0), |d| (d.queues.waiting(), d.running));
        (self.starts.load(Ordering::Relaxed), waiting, running)
    }

    /// Queues a job, or ends it at once when the site is cooling down or its queue is full.
    pub(super) fn submit(&self, site: &str, frame: Value, serial: bool, done: Done) {
        let job = Job { frame, done };
        let mut wake = false;
        let refused = match self.dispatch.lock() {
            Err(_) => Some((job, busy())),
            Ok(mut d) => {
                let now = Instant::now();
                match d.cool_down.get(site) {
                    Some(until) if now < *until => Some((job, cooling())),
                    _ => {
                        d.cool_down.remove(site);
                        let refused = d.queues.push(site, job, serial, now).err();
                        // Wake one idle runner only if it could start this job now; else the
                        // runner that frees a worker or the site's turn takes it. (Waking every
                        // runner for every request cost more than the requests.)
                        wake = refused.is_none() && !d.free.is_empty() && d.queues.may_start(site);
                        refused.map(|job| (job, busy()))
                    }
                }
            }
        };
        match refused {
            Some((job, response)) => (job.done)(self, Outcome::NotRun(response)),
            None if wake => self.changed.notify_one(),
            None => {}
        }
    }

    /// The HTTP answer for how a run ended.
    fn http_response(&self, site: &str, outcome: Outcome) -> Response {
        match outcome {
            Outcome::Reply(reply) => self.finish(site, reply),
            Outcome::NotRun(response) => response,
            // The runner queues these again; never handed to a job's end.
            Outcome::Again => busy(),
            Outcome::Died(killed) => {
                self.cool_down(site);
                let why = if killed {
                    format!(
                        "main.js ran past its {} ms limit and its worker was stopped",
                        self.config.timeout.as_millis()
                    )
                } else {
                    format!(
                        "main.js exceeded the {} MiB memory limit or crashed its worker",
                        self.config.memory_mb
                    )
                };
                self.log(site, "error", &why);
                Response::text(503, format!("503 Service Unavailable: {why}"))
                    .with_header("Retry-After", "1")
            }
        }
    }

    /// Takes in a worker's reply: its log lines, its broadcasts (only now, after its writes
    /// committed), a cool-down after a time-out; returns the HTTP answer.
    pub(super) fn finish(&self, site: &str, reply: Value) -> Response {
        self.runs.fetch_add(1, Ordering::Relaxed);
        self.run_micros
            .fetch_add(reply["run_us"].as_u64().unwrap_or(0), Ordering::Relaxed);
        for line in reply["logs"].as_array().into_iter().flatten() {
            self.log(
                site,
                line[0].as_str().unwrap_or("log"),
                line[1].as_str().unwrap_or(""),
            );
        }
        let error = reply["error"].as_str().unwrap_or_default();
        match reply["outcome"].as_str().unwrap_or_default() {
            "ok" => {
                let broadcasts: Vec<String> = reply["broadcasts"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|m| m.as_str().map(str::to_string))
                    .collect();
                if let Some(hub) = self.hub.get() {
                    hub.broadcast(site, broadcasts);
                }
                reply_response(&reply)
            }
            "timeout" | "conflict" => {
                if reply["outcome"] == "timeout" {
                    self.cool_down(site);
                }
                self.log(site, "error", error);
                Response::text(503, format!("503 Service Unavailable: {error}"))
                    .with_header("Retry-After", "1")
            }
            "no_response" => {
                self.log(site, "error", error);
                Response::text(500, format!("500 Internal Server Error: {error}"))
            }
            "no_script" => Response::text(404, "404 Not Found"),
            _ => {
                self.log(site, "error", &format!("main.js failed: {error}"));
                Response::text(
                    500,
                    "500 Internal Server Error: main.js threw an error (see the site's log)",
                )
            }
        }
    }

    /// The site gets 503s for a moment, and what it has queued is answered 503 now.
    pub(super) fn cool_down(&self, site: &str) {
        let drained = match self.dispatch.lock() {
            Ok(mut d) => {
                d.cool_down
                    .insert(site.to_string(), Instant::now() + COOL_DOWN);
                d.queues.drain(site)
            }
            Err(_) => Vec::new(),
        };
        for job in drained {
            (job.done)(self, Outcome::NotRun(cooling()));
        }
    }

    /// Sends requests (one, or a batch of one site's) to the slot's worker, starting one if
    /// needed, and waits for the replies under the watchdog's eye: one outcome per request.
    fn exchange(&self, index: usize, frames: &[&Value]) -> Vec<Outcome> {
        let slot = &self.slots[index];
        let died = |fired| (0..frames.len()).map(|_| Outcome::Died(fired)).collect();
        let mut process = match slot.process.lock() {
            Ok(p) => p,
            Err(_) => return died(false),
        };
        if process.is_none() {
            match self.spawn() {
                Ok(p) => *process = Some(p),
                Err(e) => {
                    eprintln!("js: cannot start a script worker: {e}");
                    return died(false);
                }
            }
        }
        let worker = process.as_mut().expect("just started");
        // A batch starts no run past one run's time limit, so it needs that much more.
        let extra = if frames.len() > 1 {
            self.config.timeout
        } else {
            Duration::ZERO
        };
        self.watchdog.arm(index, worker.child.id(), extra);
        let mut replies = Vec::with_capacity(frames.len());
        let mut retire = false;
        let exchanged = write_array_frame(&mut worker.stdin, frames).and_then(|sent| {
            while replies.len() < sent {
                match read_frame_into(&mut worker.stdout, &mut worker.buffer)? {
                    // While `fetch` waits on the network the run says so: the deadline then
                    // moves by exactly the time waited.
                    Some(v) if v.get("fetch").is_some() => {
                        self.watchdog.fetch(index, v["fetch"].as_str());
                    }
                    // A run of a batch that could not commit goes again on its own: it gets
                    // a run's time again.
                    Some(v) if v.get("rerun").is_some() => {
                        self.watchdog.arm(index, worker.child.id(), Duration::ZERO);
                    }
                    Some(v) => {
                        retire = v["retire"] == Value::Bool(true);
                        replies.push(v);
                    }
                    None => return Err(std::io::ErrorKind::UnexpectedEof.into()),
                }
            }
            Ok(())
        });
        let fired = self.watchdog.disarm(index);
        // The watchdog may have fired just after the replies arrived: they stand, but the
        // killed process must not stay in the slot. A worker retiring to free memory exits
        // right after its last reply.
        if (exchanged.is_err() || fired || retire)
            && let Some(mut gone) = process.take()
        {
            if exchanged.is_err() || fired {
                let _ = gone.child.kill();
            }
            let _ = gone.child.wait();
        }
        // Replies that arrived stand (their writes committed); when the worker died after
        // them, the rest died with it.
        let died = exchanged.is_err();
        let mut outcomes: Vec<Outcome> = replies
            .into_iter()
            .map(|r| {
                if r["outcome"] == "requeue" {
                    Outcome::Again
                } else {
                    Outcome::Reply(r)
                }
            })
            .collect();
        outcomes.resize_with(frames.len(), || {
            if died {
                Outcome::Died(fired)
            } else {
                Outcome::Again
            }
        });
        outcomes
    }

    fn spawn(&self) -> std::io::Result<WorkerProcess> {
        self.starts.fetch_add(1, Ordering::Relaxed);
        let c = &self.config;
        let mut child = Command::new(&self.exe)
            // Scripts never see the process environment, but keep the password out anyway.
            .env_remove("CC_ADMIN_PASSWORD")
            // systemd's notify socket is the server's to use (NotifyAccess=main), not a script's.
            .env_remove("NOTIFY_SOCKET")
            .env_remove("WATCHDOG_USEC")
            .env_remove("WATCHDOG_PID")
            .arg("__js-worker")
            .arg("--data-dir")
            .arg(&c.data_dir)
            .args(["--timeout-ms", &c.timeout.as_millis().to_string()])
            .args(["--memory-mb", &c.memory_mb.to_string()])
            .args(["--max-keys", &c.max_keys.to_string()])
            .args(["--server-port", &c.server_port.to_string()])
            .args(if c.fetch_deny_private {
                &["--fetch-deny-private"][..]
            } else {
                &[]
            })
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let stdin = child
            .stdin
            .take()
            .ok_or_else(|| std::io::Error::other("no stdin"))?;
        let stdout = BufReader::new(
            child
                .stdout
                .take()
                .ok_or_else(|| std::io::Error::other("no stdout"))?,
        );
        Ok(WorkerProcess {
            child,
            stdin,
            stdout,
            buffer: Vec::new(),
        })
    }

    /// Adds a line to a site's log (the server log and the site's ring).
    pub fn site_log(&self, site: &str, message: &str) {
        self.log(site, "info", message);
    }

    pub(super) fn log(&self, site: &str, level: &str, message: &str) {
        self.logs.log(site, level, message);
    }
}

fn busy() -> Response {
    Response::text(
        503,
        "503 Service Unavailable: every script worker is busy; try again",
    )
    .with_header("Retry-After", "1")
}

fn cooling() -> Response {
    Response::text(
        503,
        "503 Service Unavailable: main.js hit a limit a moment ago; try again in a second",
    )
    .with_header("Retry-After", "1")
}

/// A runner: waits for a job whose site has its turn and a free worker, runs it, frees the
/// worker, then ends the job (which may write to a slow client: the worker is already free).
/// Jobs that waited past `MAX_WAIT` are answered 503 on the way.
fn runner(pool: &ScriptPool) {
    loop {
        let mut expired = Vec::new();
        let next = {
            let Ok(mut d) = pool.dispatch.lock() else {
                return;
            };
            loop {
                let now = Instant::now();
                expired.extend(d.queues.expired(now, MAX_WAIT));
                if !expired.is_empty() {
                    break None;
                }
                if !d.free.is_empty()
                    && let Some(turn) = d.queues.next(now)
                {
                    let slot = d.free.pop().expect("checked non-empty");
                    d.running += 1;
                    break Some((turn, slot));
                }
                d = match pool.changed.wait_timeout(d, Duration::from_millis(200)) {
                    Ok((d, _)) => d,
                    Err(_) => return,
                };
            }
        };
        for job in expired {
            (job.done)(pool, Outcome::NotRun(busy()));
        }
        let Some((turn, slot)) = next else { continue };
        let started = Instant::now();
        let frames: Vec<&Value> = turn.jobs.iter().map(|j| &j.frame).collect();
        let outcomes = pool.exchange(slot, &frames);
        pool.exchanges.fetch_add(1, Ordering::Relaxed);
        // What the runs cost the cores: the CPU time their worker thread spent, or all of the
        // time when the worker died on the way (a run the watchdog killed was burning CPU).
        let worked = if outcomes.iter().any(|o| matches!(o, Outcome::Died(_))) {
            started.elapsed()
        } else {
            outcomes
                .iter()
                .filter_map(|o| match o {
                    Outcome::Reply(reply) => reply["cpu_us"].as_u64(),
                    _ => None,
                })
                .map(Duration::from_micros)
                .sum()
        };
        let ran = outcomes
            .iter()
            .filter(|o| !matches!(o, Outcome::Again))
            .count();
        let (batch, serial) = (turn.batch(), turn.serial);
        // A run of the batch hit a limit: the site cools down, and what the batch did not
        // start is answered as its queue is (not queued again ahead of the cool-down).
        let hit_limit = outcomes.iter().any(|o| match o {
            Outcome::Died(_) => true,
            Outcome::Reply(reply) => reply["outcome"] == "timeout",
            _ => false,
        });
        let (mut again, mut done): (Vec<_>, Vec<_>) = turn
            .jobs
            .into_iter()
            .zip(outcomes)
            .partition(|(_, o)| matches!(o, Outcome::Again));
        if hit_limit {
            done.extend(
                again
                    .drain(..)
                    .map(|(job, _)| (job, Outcome::NotRun(cooling()))),
            );
        }
        if let Ok(mut d) = pool.dispatch.lock() {
            d.free.push(slot);
            d.running -= 1;
            let now = Instant::now();
            d.queues.requeue(
                &turn.site,
                again.into_iter().map(|(job, _)| job).collect(),
                now,
            );
            d.queues
                .finished(&turn.site, serial, batch, ran, worked, now);
        }
        pool.changed.notify_all();
        for (job, outcome) in done {
            (job.done)(pool, outcome);
        }
    }
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
