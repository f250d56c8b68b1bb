//! The server side of main.js: a fixed pool of script worker processes, a watchdog that kills
//! a worker whose run overstays its deadline (or that a memory limit killed) and starts a new
//! one, a cap on how many workers one site may hold, a short cool-down for a site whose script
//! hit a limit, and the per-site log ring the dashboard reads.

use std::collections::{HashMap, VecDeque};
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

use super::protocol::{read_frame, write_frame};
use crate::http::{Request, Response, percent_decode};

/// Largest request body handed to a script.
pub const MAX_SCRIPT_BODY: u64 = 1024 * 1024;
/// How long a request may wait for a free worker.
const QUEUE_TIMEOUT: Duration = Duration::from_secs(5);
/// A site whose script hit a limit gets 503s at once for this long.
const COOL_DOWN: Duration = Duration::from_secs(1);
/// The watchdog's patience while a `fetch` is in flight (its own timeout, plus a margin).
const FETCH_ALLOWANCE: Duration = Duration::from_secs(11);
/// Lines kept per site for the dashboard.
const LOG_LINES: usize = 200;

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
        }
    }

    /// The watchdog's deadline: the in-process budget stops plain loops at `timeout`; this
    /// catches what it cannot stop (work inside one builtin, promise jobs), plus room for
    /// commit retries.
    fn hard_deadline(&self) -> Duration {
        self.timeout * 2 + Duration::from_millis(300)
    }
}

/// One log line of a site's script.
#[derive(Debug, Clone)]
pub struct LogLine {
    pub unix_time: i64,
    pub level: String,
    pub message: String,
}

struct WorkerProcess {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

/// A run being watched: when it must end, and whether the watchdog has killed it.
struct Watch {
    deadline: Instant,
    /// While a `fetch` waits on the network: the deadline to return to, moved by the wait.
    paused: Option<(Instant, Instant)>,
    pid: u32,
    fired: bool,
}

#[derive(Default)]
struct Slot {
    process: Mutex<Option<WorkerProcess>>,
    watch: Mutex<Option<Watch>>,
}

#[derive(Default)]
struct Dispatch {
    free: Vec<usize>,
    per_site: HashMap<String, usize>,
    cool_down: HashMap<String, Instant>,
}

/// Where scripts' `socket.broadcast` messages go, and who counts `socket.clients()`.
pub trait SocketHub: Send + Sync {
    fn broadcast(&self, site: &str, messages: Vec<String>);
    fn clients(&self, site: &str) -> usize;
}

pub struct ScriptPool {
    config: PoolConfig,
    hub: std::sync::OnceLock<Arc<dyn SocketHub>>,
    exe: PathBuf,
    slots: Vec<Slot>,
    dispatch: Mutex<Dispatch>,
    freed: Condvar,
    logs: Mutex<HashMap<String, VecDeque<LogLine>>>,
    /// Runs answered by a worker, and the microseconds they spent in the worker.
    runs: AtomicU64,
    run_micros: AtomicU64,
}

/// How a run ended, as the worker (or the watchdog) tells it.
enum Outcome {
    Reply(Value),
    /// The worker died: killed by the watchdog (`true`) or by its memory limit or a crash.
    Died(bool),
}

impl ScriptPool {
    /// Starts the watchdog; workers are started on first use and after each death.
    pub fn start(config: PoolConfig) -> std::io::Result<Arc<ScriptPool>> {
        let pool = Arc::new(ScriptPool {
            exe: std::env::current_exe()?,
            slots: (0..config.workers.max(1))
                .map(|_| Slot::default())
                .collect(),
            dispatch: Mutex::new(Dispatch {
                free: (0..config.workers.max(1)).collect(),
                ..Dispatch::default()
            }),
            freed: Condvar::new(),
            logs: Mutex::new(HashMap::new()),
            runs: AtomicU64::new(0),
            run_micros: AtomicU64::new(0),
            hub: std::sync::OnceLock::new(),
            config,
        });
        let weak = Arc::downgrade(&pool);
        std::thread::Builder::new()
            .name("js-watchdog".into())
            .spawn(move || watchdog(weak))?;
        Ok(pool)
    }

    /// Connects `socket.broadcast`/`socket.clients()` to the WebSocket hub (once).
    pub fn set_hub(&self, hub: Arc<dyn SocketHub>) {
        let _ = self.hub.set(hub);
    }

    /// Runs the site's `socket.on("message")` handler for a message a client sent.
    /// `Some(true)`: handled; `Some(false)`: the script registers no handler; `None`: the
    /// run failed (logged).
    pub fn run_event(
        &self,
        site: &str,
        root: &Path,
        text: &str,
        client: u64,
        ip: std::net::IpAddr,
    ) -> Option<bool> {
        let mut req = Request::fake("WS", "/ws", &[]);
        req.remote_ip = ip;
        let mut frame = request_frame(site, root, &req, &[]);
        frame["clients"] = json!(self.hub.get().map_or(0, |h| h.clients(site)));
        frame["event"] = json!({ "type": "message", "data": text, "client": { "id": client, "ip": ip.to_string() } });
        let slot = self.acquire(site).ok()?;
        let outcome = self.exchange(slot, &frame);
        self.release(slot, site);
        match outcome {
            Outcome::Reply(reply) if reply["outcome"] == "ok" => {
                let handled = reply["handled"] == Value::Bool(true);
                self.answer(site, reply);
                Some(handled)
            }
            Outcome::Reply(reply) => {
                self.answer(site, reply);
                None
            }
            Outcome::Died(_) => {
                self.cool_down(site);
                self.log(
                    site,
                    "error",
                    "main.js's message handler hit a limit and its worker was stopped",
                );
                None
            }
        }
    }

    /// The last lines a site's script logged, oldest first.
    pub fn logs(&self, site: &str) -> Vec<LogLine> {
        self.logs
            .lock()
            .map(|l| {
                l.get(site)
                    .map(|q| q.iter().cloned().collect())
                    .unwrap_or_default()
            })
            .unwrap_or_default()
    }

    /// Runs `site`'s main.js (in `root`) for `req`.
    pub fn run(&self, site: &str, root: &Path, req: &mut Request) -> Response {
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
            return Response::text(
                413,
                "413 Payload Too Large: main.js accepts bodies up to 1 MiB",
            );
        }
        let mut frame = request_frame(site, root, req, &body);
        frame["clients"] = json!(self.hub.get().map_or(0, |h| h.clients(site)));

        let slot = match self.acquire(site) {
            Ok(i) => i,
            Err(response) => return response,
        };
        let outcome = self.exchange(slot, &frame);
        self.release(slot, site);

        match outcome {
            Outcome::Reply(reply) => self.answer(site, reply),
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
            }
        }
    }

    /// `(runs, average microseconds in the worker)` since start: the server logs it at exit.
    pub fn stats(&self) -> (u64, u64) {
        let runs = self.runs.load(Ordering::Relaxed);
        (runs, self.run_micros.load(Ordering::Relaxed) / runs.max(1))
    }

    fn answer(&self, site: &str, reply: Value) -> Response {
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
                let status = reply["status"]
                    .as_u64()
                    // No 1xx: an interim status would leave the client without an answer.
                    .filter(|s| (200..=599).contains(s))
                    .unwrap_or(200) as u16;
                let mut response = Response::new(status).with_body(
                    reply["body"]
                        .as_str()
                        .unwrap_or_default()
                        .as_bytes()
                        .to_vec(),
                );
                let mut has_type = false;
                for (name, value) in reply["headers"].as_object().into_iter().flatten() {
                    if let (Some(name), Some(value)) = (header_name(name), value.as_str()) {
                        has_type |= name == "content-type";
                        response
                            .headers
                            .push((name.into(), value.replace(['\r', '\n'], " ")));
                    }
                }
                if !has_type {
                    response = response.with_header("Content-Type", "text/plain; charset=utf-8");
                }
                response
            }
            "timeout" => {
                self.cool_down(site);
                self.log(site, "error", error);
                Response::text(503, format!("503 Service Unavailable: {error}"))
            }
            "conflict" => {
                self.log(site, "error", error);
                Response::text(503, format!("503 Service Unavailable: {error}"))
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

    fn acquire(&self, site: &str) -> Result<usize, Response> {
        let cap = if self.slots.len() > 1 {
            self.slots.len() - 1
        } else {
            1
        };
        let give_up = Instant::now() + QUEUE_TIMEOUT;
        let mut d = self.dispatch.lock().map_err(|_| busy())?;
        loop {
            if let Some(until) = d.cool_down.get(site) {
                if Instant::now() < *until {
                    return Err(Response::text(
                        503,
                        "503 Service Unavailable: main.js hit a limit a moment ago; try again in a second",
                    )
                    .with_header("Retry-After", "1"));
                }
                d.cool_down.remove(site);
            }
            // One site may not hold every worker: another site's script always finds one.
            if d.per_site.get(site).copied().unwrap_or(0) < cap
                && let Some(i) = d.free.pop()
            {
                *d.per_site.entry(site.to_string()).or_default() += 1;
                return Ok(i);
            }
            let now = Instant::now();
            if now >= give_up {
                return Err(busy());
            }
            d = self
                .freed
                .wait_timeout(d, give_up - now)
                .map_err(|_| busy())?
                .0;
        }
    }

    fn release(&self, slot: usize, site: &str) {
        if let Ok(mut d) = self.dispatch.lock() {
            d.free.push(slot);
            if let Some(n) = d.per_site.get_mut(site) {
                *n -= 1;
                if *n == 0 {
                    d.per_site.remove(site);
                }
            }
        }
        self.freed.notify_all();
    }

    fn cool_down(&self, site: &str) {
        if let Ok(mut d) = self.dispatch.lock() {
            d.cool_down
                .insert(site.to_string(), Instant::now() + COOL_DOWN);
        }
    }

    /// Sends one request to the slot's worker (starting one if needed) and waits for its reply
    /// under the watchdog's eye.
    fn exchange(&self, slot: usize, frame: &Value) -> Outcome {
        let slot = &self.slots[slot];
        let mut process = match slot.process.lock() {
            Ok(p) => p,
            Err(_) => return Outcome::Died(false),
        };
        if process.is_none() {
            match self.spawn() {
                Ok(p) => *process = Some(p),
                Err(e) => {
                    eprintln!("js: cannot start a script worker: {e}");
                    return Outcome::Died(false);
                }
            }
        }
        let worker = process.as_mut().expect("just started");
        if let Ok(mut w) = slot.watch.lock() {
            *w = Some(Watch {
                deadline: Instant::now() + self.config.hard_deadline(),
                pid: worker.child.id(),
                fired: false,
                paused: None,
            });
        }
        let reply = write_frame(&mut worker.stdin, frame).and_then(|()| {
            loop {
                // While `fetch` waits on the network the run says so: the deadline then moves
                // by exactly the time waited.
                match read_frame(&mut worker.stdout)? {
                    Some(v) if v.get("fetch").is_some() => {
                        if let Ok(mut w) = slot.watch.lock()
                            && let Some(watch) = w.as_mut()
                        {
                            let now = Instant::now();
                            match (v["fetch"].as_str(), watch.paused.take()) {
                                (Some("start"), None) => {
                                    watch.paused = Some((watch.deadline, now));
                                    watch.deadline = now + FETCH_ALLOWANCE;
                                }
                                (Some("end"), Some((before, since))) => {
                                    watch.deadline = before + (now - since);
                                }
                                (_, kept) => watch.paused = kept,
                            }
                        }
                    }
                    other => break Ok(other),
                }
            }
        });
        let fired = slot
            .watch
            .lock()
            .ok()
            .and_then(|mut w| w.take())
            .is_some_and(|w| w.fired);
        match reply {
            // The watchdog may have fired just after the reply arrived: the reply stands, but
            // the killed process must not stay in the slot.
            // A worker retiring to free memory exits right after this reply.
            Ok(Some(v)) if !fired && v["retire"] == Value::Bool(true) => {
                if let Some(mut retired) = process.take() {
                    let _ = retired.child.wait();
                }
                Outcome::Reply(v)
            }
            Ok(Some(v)) if !fired => Outcome::Reply(v),
            Ok(Some(v)) => {
                if let Some(mut dead) = process.take() {
                    let _ = dead.child.kill();
                    let _ = dead.child.wait();
                }
                Outcome::Reply(v)
            }
            _ => {
                if let Some(mut dead) = process.take() {
                    let _ = dead.child.kill();
                    let _ = dead.child.wait();
                }
                Outcome::Died(fired)
            }
        }
    }

    fn spawn(&self) -> std::io::Result<WorkerProcess> {
        let c = &self.config;
        let mut child = Command::new(&self.exe)
            // Scripts never see the process environment, but keep the password out anyway.
            .env_remove("CC_ADMIN_PASSWORD")
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
        })
    }

    /// Adds a line to a site's log (the server log and the site's ring).
    pub fn site_log(&self, site: &str, message: &str) {
        self.log(site, "info", message);
    }

    fn log(&self, site: &str, level: &str, message: &str) {
        // A script chooses both: keep them to known levels and one line each, so it cannot
        // forge other lines of the server log.
        let level = match level {
            "log" | "info" | "warn" | "error" | "debug" => level,
            _ => "log",
        };
        let message: String = message.escape_debug().collect();
        let message = message.as_str();
        eprintln!("site {site}: [{level}] {message}");
        if let Ok(mut logs) = self.logs.lock() {
            let ring = logs.entry(site.to_string()).or_default();
            if ring.len() == LOG_LINES {
                ring.pop_front();
            }
            ring.push_back(LogLine {
                unix_time: crate::analytics::now_unix(),
                level: level.to_string(),
                message: message.to_string(),
            });
        }
    }
}

fn busy() -> Response {
    Response::text(
        503,
        "503 Service Unavailable: every script worker is busy; try again",
    )
    .with_header("Retry-After", "1")
}

/// Kills workers whose run is past its hard deadline.
fn watchdog(pool: Weak<ScriptPool>) {
    while let Some(pool) = pool.upgrade() {
        let now = Instant::now();
        for slot in &pool.slots {
            if let Ok(mut w) = slot.watch.lock()
                && let Some(watch) = w.as_mut()
                && !watch.fired
                && now > watch.deadline
            {
                watch.fired = true;
                if let Some(pid) = rustix::process::Pid::from_raw(watch.pid as i32) {
                    let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
                }
            }
        }
        drop(pool);
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Only header names that are safe to send (letters, digits, '-').
/// Headers that frame the HTTP message or the connection: the server sets them, never a
/// script (a script's Content-Length could split one response into two).
const RESERVED_HEADERS: &[&str] = &[
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "upgrade",
    "te",
    "trailer",
    "proxy-connection",
    "date",
    "server",
];

fn header_name(name: &str) -> Option<String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    let name = name.to_ascii_lowercase();
    (ok && !RESERVED_HEADERS.contains(&name.as_str())).then_some(name)
}

fn request_frame(site: &str, root: &Path, req: &Request, body: &[u8]) -> Value {
    let mut headers = Map::new();
    for (name, value) in &req.headers {
        match headers.get_mut(name) {
            Some(Value::String(existing)) => {
                existing.push_str(", ");
                existing.push_str(value);
            }
            _ => {
                headers.insert(name.clone(), Value::String(value.clone()));
            }
        }
    }
    let mut query = Map::new();
    for pair in req
        .query()
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        query.insert(form_decode(k), Value::String(form_decode(v)));
    }
    let path = percent_decode(req.raw_path())
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_else(|| req.raw_path().to_string());
    json!({
        "site": site,
        "root": root,
        "method": req.method,
        "path": path,
        "query": query,
        "headers": headers,
        "body": String::from_utf8_lossy(body),
        "ip": req.remote_ip.to_string(),
        "clients": 0,
    })
}

fn form_decode(s: &str) -> String {
    let s = s.replace('+', " ");
    percent_decode(&s)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or(s)
}
