//! Running one site's `main.js` for one request, inside a script worker process: warm boa
//! contexts per site (compiled once per deploy), the globals the README documents, a run-time
//! budget for plain loops, and `db` writes buffered and committed only if nothing read has changed —
//! else the script runs again. Never sees sockets or tiny_http: a request comes in as JSON and
//! a reply goes out as JSON. The native functions behind `db`, `console`, `socket` and
//! `fetch` are `natives`'; several requests in one exchange are `batch`'s.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::path::Path;
use std::pin::pin;
use std::rc::Rc;
use std::task::{Context as TaskContext, Poll, Waker};
use std::time::{Duration, Instant, SystemTime};

use boa_engine::builtins::promise::PromiseState;
use boa_engine::module::IdleModuleLoader;
use boa_engine::{
    Context, JsError, JsNativeError, JsObject, JsResult, JsString, JsValue, NativeFunction, Script,
    Source, js_string,
};
use rusqlite::Connection;
use serde_json::{Value, json};

use super::natives::{broadcast, db_delete, db_get, db_list, db_set, fetch, log};
use super::web;
use crate::store::kv::{self, Changes};

const PRELUDE: &str = include_str!("prelude.js");
/// Instructions between deadline checks.
const BUDGET: u32 = 10_000;
/// Iterations one loop may make: stops loops inside callbacks (forEach, sort) that the budget
/// cannot interrupt.
const LOOP_LIMIT: u64 = 10_000_000;
/// Runs in all for one request when what a run read changed before it could commit: the
/// first `OPTIMISTIC_ATTEMPTS` optimistic, the rest holding the write lock.
const MAX_ATTEMPTS: usize = 4;
const OPTIMISTIC_ATTEMPTS: usize = 2;
/// Warm contexts kept per worker; the least recently used goes beyond this.
const MAX_CONTEXTS: usize = 32;

pub(super) const NO_RESPONSE: &str =
    "main.js finished without a response: call res.send(), res.json() or res.redirect()";

/// Limits a worker enforces on every run.
#[derive(Debug, Clone)]
pub struct EngineLimits {
    pub timeout: Duration,
    pub max_keys: u64,
    /// The server's own port: `fetch` to it on a loopback address is refused (a script
    /// calling its own server would wait on itself).
    pub server_port: u16,
    /// Refuse `fetch` to loopback, private, link-local and unique-local addresses entirely.
    pub deny_private: bool,
}

/// Still reachable as `engine::FETCH_TIMEOUT`; the outgoing request itself lives in `fetch`.
pub use super::fetch::FETCH_TIMEOUT;

/// Sends a frame to the server while a run is still going.
pub type Notify = Box<dyn FnMut(&Value)>;

thread_local! {
    /// The worker's connection to cc.db (scripts run on one thread per worker process).
    pub(super) static CONN: RefCell<Option<Connection>> = const { RefCell::new(None) };
    /// The state of the run in progress, reached by the native `__cc_*` functions.
    pub(super) static RUN: RefCell<Option<Run>> = const { RefCell::new(None) };
    /// Sends a frame to the server in the middle of a run (to extend the watchdog's deadline
    /// while `fetch` waits on the network).
    pub(super) static NOTIFY: RefCell<Option<Notify>> = const { RefCell::new(None) };
    /// CPU time this thread spent on `uncounted` work, left out of `thread_cpu`.
    static UNCOUNTED: std::cell::Cell<Duration> = const { std::cell::Cell::new(Duration::ZERO) };
    /// While a batch runs (`batch`): what its earlier runs wrote and what it read from cc.db.
    pub(super) static OVERLAY: RefCell<Option<Overlay>> = const { RefCell::new(None) };
}

/// A batch's view of `db` on top of cc.db: the writes of its runs that succeeded so far (each
/// later run sees them), and what its runs read from cc.db — checked again when the whole
/// batch commits in one transaction.
#[derive(Default)]
pub(super) struct Overlay {
    pub writes: BTreeMap<String, Option<String>>,
    pub reads: HashMap<String, Option<String>>,
    pub lists: Vec<(String, Vec<String>)>,
    pub key_count: Option<u64>,
}

/// One script run: what it read and wrote in `db`, what it logged and broadcast.
#[derive(Default)]
pub(super) struct Run {
    pub site: String,
    pub max_keys: u64,
    pub reads: HashMap<String, Option<String>>,
    pub lists: Vec<(String, Vec<String>)>,
    pub writes: BTreeMap<String, Option<String>>,
    pub key_count: Option<u64>,
    pub logs: Vec<(String, String)>,
    pub broadcasts: Vec<String>,
    /// This attempt's requests and what they answered, in order: `(url + options, reply)`.
    pub fetched: Vec<(String, Result<Value, String>)>,
    /// In a retry holding the write lock: the previous attempt's requests, answered again
    /// from here instead of the network — the lock is never held while waiting on a fetch,
    /// and a request is sent once however often the run is retried.
    pub replay: std::collections::VecDeque<(String, Result<Value, String>)>,
    pub replaying: bool,
}

pub(super) struct SiteRuntime {
    ctx: Context,
    /// A classic main.js: its whole source, run for each request.
    main: Option<Script>,
    /// A module main.js (`export default { fetch }`): what it exports.
    pub(super) exports: Option<web::Exports>,
    /// The run-time limit, also the longest a timer may wait.
    limit: Duration,
    /// The prelude's `__cc_setup`, called before each run: it takes the request, returns the
    /// answer object the run fills in.
    setup: JsObject,
    dispatch: Script,
    stamp: (SystemTime, u64),
    pub last_used: Instant,
}

pub struct Engine {
    pub(super) sites: HashMap<String, SiteRuntime>,
    pub(super) limits: EngineLimits,
    /// Sites whose main.js (this version of it) did not load, and why: a module whose top
    /// level throws is not run again for every request.
    failed: HashMap<String, ((SystemTime, u64), String)>,
}

/// Why a run did not produce a response.
pub(super) enum Failure {
    /// Thrown error or syntax error: message for the site log.
    Error(String),
    /// The run-time budget ran out: the context is unusable and is dropped.
    Timeout,
}

impl Engine {
    pub fn new(conn: Connection, limits: EngineLimits, notify: Notify) -> Engine {
        CONN.with(|c| *c.borrow_mut() = Some(conn));
        NOTIFY.with(|n| *n.borrow_mut() = Some(notify));
        super::fetch::configure(limits.server_port, limits.deny_private);
        Engine {
            sites: HashMap::new(),
            limits,
            failed: HashMap::new(),
        }
    }

    /// Handles one request frame and returns the reply frame.
    pub fn handle(&mut self, request: &Value) -> Value {
        self.handle_replaying(request, Vec::new(), Vec::new())
    }

    /// `handle`, for a run whose earlier attempt (in a batch that could not commit) logged
    /// `logs` and sent the requests in `fetched`: those are answered again, not sent again.
    pub(super) fn handle_replaying(
        &mut self,
        request: &Value,
        logs: Vec<(String, String)>,
        fetched: Vec<(String, Result<Value, String>)>,
    ) -> Value {
        let started = Instant::now();
        let cpu_before = thread_cpu();
        let mut reply = self.handle_inner(request, logs, fetched);
        reply["run_us"] = json!(started.elapsed().as_micros() as u64);
        // What the run cost the cores (waiting on `fetch` or for a core does not count): the
        // scheduler's fair share is measured in this.
        reply["cpu_us"] = json!(thread_cpu().saturating_sub(cpu_before).as_micros() as u64);
        reply
    }

    /// Loads (or reloads, after a deploy) the site's compiled main.js; the failure reply if
    /// there is none or it does not compile.
    pub(super) fn ready(&mut self, site: &str, root: &Path) -> Result<(), Value> {
        let script_path = root.join("main.js");
        let stamp = match std::fs::metadata(&script_path) {
            Ok(m) => (m.modified().unwrap_or(SystemTime::UNIX_EPOCH), m.len()),
            Err(_) => {
                return Err(reply_failure(
                    "no_script",
                    "the site has no main.js",
                    Vec::new(),
                ));
            }
        };
        if self.sites.get(site).is_none_or(|rt| rt.stamp != stamp) {
            self.sites.remove(site);
            if let Some((at, message)) = self.failed.get(site)
                && *at == stamp
            {
                return Err(reply_failure("error", message, Vec::new()));
            }
            if self.failed.len() >= MAX_CONTEXTS {
                self.failed.clear();
            }
            let rt = load(&script_path, stamp, self.limits.timeout).map_err(|message| {
                self.failed
                    .insert(site.to_string(), (stamp, message.clone()));
                reply_failure("error", &message, Vec::new())
            })?;
            self.failed.remove(site);
            self.evict_if_full();
            self.sites.insert(site.to_string(), rt);
        }
        Ok(())
    }

    fn handle_inner(
        &mut self,
        request: &Value,
        mut logs: Vec<(String, String)>,
        mut fetched: Vec<(String, Result<Value, String>)>,
    ) -> Value {
        let site = request["site"].as_str().unwrap_or_default().to_string();
        let root = Path::new(request["root"].as_str().unwrap_or_default()).to_path_buf();
        if let Err(reply) = self.ready(&site, &root) {
            return reply;
        }
        let incoming = incoming(request, env_object(&site));
        // One time limit for all attempts: retries after a conflict do not get fresh budgets.
        // It counts the CPU time this thread spends, so waiting (on `fetch`, or for a core on
        // a busy machine) never counts against the script.
        let deadline = thread_cpu() + self.limits.timeout;
        for attempt in 0..MAX_ATTEMPTS {
            // After two conflicts, run holding the write lock: slower for everyone else for
            // a moment, but a hot key always makes progress. A run that called `fetch` takes
            // the lock on its first retry, and that retry gets its requests' answers from the
            // first attempt: they are sent once, and the lock never waits on the network.
            let locked = attempt >= OPTIMISTIC_ATTEMPTS || !fetched.is_empty();
            if locked && let Err(e) = with_db(kv::lock) {
                return reply_failure("error", &format!("db: {e}"), logs);
            }
            RUN.with(|r| {
                *r.borrow_mut() = Some(Run {
                    site: site.clone(),
                    max_keys: self.limits.max_keys,
                    replay: std::mem::take(&mut fetched).into(),
                    replaying: locked,
                    ..Run::default()
                })
            });
            let rt = self.sites.get_mut(&site).expect("loaded above");
            rt.last_used = Instant::now();
            let result = run_once(rt, &incoming, deadline);
            let run = RUN.with(|r| r.borrow_mut().take()).unwrap_or_default();
            logs.extend(run.logs.iter().cloned());
            if locked && result.is_err() {
                let _ = with_db(|c| kv::unlock(c, &site, None));
            }
            let out = match result {
                Ok(out) => out,
                Err(Failure::Timeout) => {
                    // Frames of the aborted run stay on this context's VM stack: drop it.
                    self.sites.remove(&site);
                    let message = format!(
                        "main.js ran longer than its {} ms limit",
                        self.limits.timeout.as_millis()
                    );
                    return reply_failure("timeout", &message, logs);
                }
                Err(Failure::Error(message)) => return reply_failure("error", &message, logs),
            };
            fetched = run.fetched;
            let changes = Changes {
                reads: run.reads.into_iter().collect(),
                lists: run.lists,
                writes: run.writes.into_iter().collect(),
            };
            let committed = if locked {
                with_db(|c| kv::unlock(c, &site, Some(&changes.writes))).map(|()| true)
            } else {
                CONN.with(|c| {
                    let mut c = c.borrow_mut();
                    let conn = c.as_mut().expect("connection set in Engine::new");
                    kv::commit(conn, &site, &changes)
                })
            };
            match committed {
                Ok(true) => {
                    // A WebSocket message or a cron trigger answers no one.
                    let answers = incoming["event"].is_null() && incoming["cron"].is_null();
                    if answers && out["done"] != Value::Bool(true) {
                        return reply_failure("no_response", NO_RESPONSE, logs);
                    }
                    return reply_ok(&out, &logs, run.broadcasts);
                }
                Ok(false) => continue, // someone changed what we read: run again on fresh data
                Err(e) => return reply_failure("error", &format!("db: {e}"), logs),
            }
        }
        reply_failure(
            "conflict",
            "db: too many concurrent changes to the same keys; try again",
            logs,
        )
    }

    fn evict_if_full(&mut self) {
        if self.sites.len() >= MAX_CONTEXTS
            && let Some(oldest) = self
                .sites
                .iter()
                .min_by_key(|(_, rt)| rt.last_used)
                .map(|(name, _)| name.clone())
        {
            self.sites.remove(&oldest);
        }
    }
}

/// What a script sees of a request frame: never a path on the server, and its env.
pub(super) fn incoming(request: &Value, env: Value) -> Value {
    let mut incoming = request.clone();
    if let Some(fields) = incoming.as_object_mut() {
        fields.remove("root");
    }
    incoming["env"] = env;
    incoming
}

/// The reply for a run that answered and whose writes committed.
pub(super) fn reply_ok(out: &Value, logs: &[(String, String)], broadcasts: Vec<String>) -> Value {
    json!({
        "outcome": "ok",
        "status": out["status"],
        "headers": out["headers"],
        "body": out["body"],
        "base64": out["base64"],
        "handled": out["handled"],
        "logs": logs_json(logs),
        "broadcasts": broadcasts,
    })
}

pub(super) fn reply_failure(outcome: &str, message: &str, logs: Vec<(String, String)>) -> Value {
    json!({ "outcome": outcome, "error": message, "logs": logs_json(&logs), "broadcasts": [] })
}

pub(super) fn logs_json(logs: &[(String, String)]) -> Value {
    Value::Array(logs.iter().map(|(l, m)| json!([l, m])).collect())
}

pub(super) fn env_object(site: &str) -> Value {
    let vars = CONN.with(|c| {
        c.borrow()
            .as_ref()
            .map(|conn| kv::env_vars(conn, site).unwrap_or_default())
            .unwrap_or_default()
    });
    Value::Object(
        vars.into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect(),
    )
}

/// A fresh context for a site: limits, native helpers, the prelude and the web platform, and
/// the compiled script (or the evaluated module).
fn load(
    script_path: &Path,
    stamp: (SystemTime, u64),
    limit: Duration,
) -> Result<SiteRuntime, String> {
    let source =
        std::fs::read_to_string(script_path).map_err(|e| format!("cannot read main.js: {e}"))?;
    let mut ctx = context()?;
    let (main, exports) = if web::is_module(&source) {
        (None, Some(web::load_module(&source, &mut ctx)?))
    } else {
        (Some(compile_classic(&source, &mut ctx)?), None)
    };
    let setup = ctx
        .global_object()
        .get(js_string!("__cc_setup"), &mut ctx)
        .ok()
        .and_then(|f| f.as_callable())
        .ok_or("internal prelude: no __cc_setup")?;
    let dispatch = Script::parse(Source::from_bytes("__cc_dispatch()"), None, &mut ctx)
        .map_err(|e| format!("internal: {e}"))?;
    Ok(SiteRuntime {
        ctx,
        main,
        exports,
        limit,
        setup,
        dispatch,
        stamp,
        last_used: Instant::now(),
    })
}

/// Parses (never runs) a main.js file as the server would load it: a module when it says
/// `export default`, else a classic script.
pub(super) fn check_source(path: &Path) -> Result<(), String> {
    let source = std::fs::read_to_string(path).map_err(|e| format!("cannot read main.js: {e}"))?;
    let mut ctx = Context::builder()
        .module_loader(Rc::new(IdleModuleLoader))
        .build()
        .map_err(|e| format!("internal: {e}"))?;
    if web::is_module(&source) {
        boa_engine::Module::parse(Source::from_bytes(source.as_bytes()), None, &mut ctx)
            .map(|_| ())
            .map_err(|e| format!("main.js does not parse: {e}"))
    } else {
        compile_classic(&source, &mut ctx).map(|_| ())
    }
}

/// A context with the limits, the natives, the prelude and the web platform.
pub(super) fn context() -> Result<Context, String> {
    // No module loader: boa's default one reads any file under the working directory (and
    // beyond, by absolute path), so `import()` would reach other sites and the data dir.
    let mut ctx = Context::builder()
        .module_loader(Rc::new(IdleModuleLoader))
        .build()
        .map_err(|e| format!("internal: {e}"))?;
    ctx.runtime_limits_mut()
        .set_loop_iteration_limit(LOOP_LIMIT);
    let natives: [(&str, usize, NativeFunction); 7] = [
        ("__cc_fetch", 2, NativeFunction::from_fn_ptr(fetch)),
        ("__cc_db_get", 1, NativeFunction::from_fn_ptr(db_get)),
        ("__cc_db_set", 2, NativeFunction::from_fn_ptr(db_set)),
        ("__cc_db_delete", 1, NativeFunction::from_fn_ptr(db_delete)),
        ("__cc_db_list", 1, NativeFunction::from_fn_ptr(db_list)),
        ("__cc_log", 2, NativeFunction::from_fn_ptr(log)),
        ("__cc_broadcast", 1, NativeFunction::from_fn_ptr(broadcast)),
    ];
    for (name, len, f) in natives {
        ctx.register_global_callable(JsString::from(name), len, f)
            .map_err(|e| format!("internal: {e}"))?;
    }
    ctx.eval(Source::from_bytes(PRELUDE))
        .map_err(|e| format!("internal prelude: {e}"))?;
    web::register(&mut ctx)?;
    Ok(ctx)
}

/// A classic main.js, compiled to run once per request.
pub(super) fn compile_classic(source: &str, ctx: &mut Context) -> Result<Script, String> {
    // Wrapped on the same line so line numbers in errors match the file; a function body so
    // that running it again per request does not re-declare top-level let/const; async when
    // the source mentions `await`, so that top-level await works (an async call makes two
    // promises and their resolving functions: an eighth of a cheap run).
    let wrapped = if source.contains("await") {
        format!("(async function () {{{source}\n}})()")
    } else {
        format!("(function () {{{source}\n}})()")
    };
    let source = Source::from_bytes(wrapped.as_bytes()).with_path(Path::new("main.js"));
    Script::parse(source, None, ctx).map_err(|e| format!("main.js does not parse: {e}"))
}

/// CPU time used by this thread so far, less what `uncounted` work took: the time runs are
/// measured in.
pub(super) fn thread_cpu() -> Duration {
    raw_thread_cpu().saturating_sub(UNCOUNTED.with(|u| u.get()))
}

fn raw_thread_cpu() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// Runs `f` without counting its CPU time against the run in progress: work the server does
/// for a script once per context (loading the web platform on first use), not the script's.
pub(super) fn uncounted<T>(f: impl FnOnce() -> T) -> T {
    let before = raw_thread_cpu();
    let result = f();
    let spent = raw_thread_cpu().saturating_sub(before);
    UNCOUNTED.with(|u| u.set(u.get() + spent));
    result
}

pub(super) fn run_once(
    rt: &mut SiteRuntime,
    incoming: &Value,
    deadline: Duration,
) -> Result<Value, Failure> {
    let started = Instant::now();
    let limit = rt.limit;
    let ctx = &mut rt.ctx;
    let error = |e: JsError| Failure::Error(describe(e));
    web::forget_timers(ctx);
    let value = JsValue::from_json(incoming, ctx).map_err(error)?;
    let out = rt
        .setup
        .call(&JsValue::undefined(), std::slice::from_ref(&value), ctx)
        .map_err(error)?;
    let is_event = !incoming["event"].is_null();
    let waited = match (&rt.exports, &rt.main) {
        (Some(_), _) if is_event => {
            settle(&rt.dispatch, ctx, deadline)?;
            web::drain_timers(ctx, started, limit)
        }
        (Some(exports), _) => {
            let scheduled = incoming["cron"].is_object();
            let promise = exports.start(&value, &out, scheduled, ctx, deadline)?;
            let waited = web::wait_for(&promise, ctx, started, limit);
            // An answer already made stands when only `ctx.waitUntil` work did not end.
            match waited {
                Err(why) if !scheduled && answered(&out, ctx) => {
                    let _ = with_run(|r| {
                        r.logs.push((
                            "warn".into(),
                            format!("ctx.waitUntil work did not end within the run: {why}"),
                        ));
                        Ok(())
                    });
                    Ok(())
                }
                other => other,
            }
        }
        (None, Some(main)) => {
            settle(main, ctx, deadline)?;
            if is_event {
                // A WebSocket message: the top level ran (registering handlers); now the handler.
                settle(&rt.dispatch, ctx, deadline)?;
            }
            web::drain_timers(ctx, started, limit)
        }
        (None, None) => Err("internal: no script".into()),
    };
    // Timers a run leaves behind never fire in another run (with another run's reads).
    web::forget_timers(ctx);
    if thread_cpu() > deadline {
        return Err(Failure::Timeout);
    }
    waited.map_err(Failure::Error)?;
    out.to_json(ctx)
        .map_err(error)
        .map(|v| v.unwrap_or(Value::Null))
}

/// Runs a compiled script under the run-time budget, then its promise jobs; a rejected
/// promise becomes an error.
fn settle(script: &Script, ctx: &mut Context, deadline: Duration) -> Result<(), Failure> {
    let error = |e: JsError| Failure::Error(describe(e));
    let promise = evaluate_budgeted(script, ctx, deadline)?;
    // Settle promise jobs (async functions, .then): they run without the budget; the pool's
    // watchdog kills the worker if they never end.
    ctx.run_jobs().map_err(error)?;
    if let Some(p) = promise.as_promise()
        && let PromiseState::Rejected(reason) = p.state()
    {
        return Err(Failure::Error(describe(JsError::from_opaque(reason))));
    }
    Ok(())
}

/// Evaluates `script` under the run-time budget: its code, and every function it calls before
/// it returns, stop at `deadline` (CPU time of this thread).
pub(super) fn evaluate_budgeted(
    script: &Script,
    ctx: &mut Context,
    deadline: Duration,
) -> Result<JsValue, Failure> {
    let result = {
        let mut fut = pin!(script.evaluate_async_with_budget(ctx, BUDGET));
        let mut cx = TaskContext::from_waker(Waker::noop());
        loop {
            if let Poll::Ready(r) = fut.as_mut().poll(&mut cx) {
                break r;
            }
            if thread_cpu() > deadline {
                return Err(Failure::Timeout);
            }
        }
    };
    result.map_err(|e| Failure::Error(describe(e)))
}

/// True when the run's answer object says a response was made.
fn answered(out: &JsValue, ctx: &mut Context) -> bool {
    out.as_object()
        .and_then(|o| o.get(js_string!("done"), ctx).ok())
        .is_some_and(|v| v.to_boolean())
}

/// An error for the site log: "TypeError: x is not a function".
fn describe(e: JsError) -> String {
    e.to_string()
}

fn with_db<T>(f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> rusqlite::Result<T> {
    CONN.with(|c| match c.borrow().as_ref() {
        Some(conn) => f(conn),
        None => Err(rusqlite::Error::InvalidQuery),
    })
}

pub(super) fn with_run<T>(f: impl FnOnce(&mut Run) -> JsResult<T>) -> JsResult<T> {
    RUN.with(|r| match r.borrow_mut().as_mut() {
        Some(run) => f(run),
        None => Err(JsNativeError::error()
            .with_message("no request is running")
            .into()),
    })
}
