//! The web platform inside a site's context: Boa's runtime extensions (URL, TextEncoder, atob,
//! structuredClone, queueMicrotask), the natives behind `crypto` (random bytes, digests, HMAC),
//! `web.js` (Headers, Request, Response, fetch, timers, the KV binding, Workers-style
//! dispatch), and the Workers module form: a `main.js` whose default export has `fetch`.
//! Never sees sockets or the database: `db` and `fetch` natives are `natives`'.

use std::time::{Duration, Instant};

use boa_engine::builtins::promise::PromiseState;
use boa_engine::module::Module;
use boa_engine::object::builtins::{JsArray, JsArrayBuffer};
use boa_engine::{
    Context, JsArgs, JsError, JsNativeError, JsObject, JsResult, JsString, JsValue, NativeFunction,
    Script, Source, js_string,
};

use super::engine::{Failure, RUN, evaluate_budgeted, uncounted};
use boa_runtime::RuntimeExtension;
use boa_runtime::extensions::{
    Base64Extension, EncodingExtension, MicrotaskExtension, StructuredCloneExtension, UrlExtension,
};
use hmac::{KeyInit, Mac};
use sha2::Digest;

/// One script, kept in four files by job: `base.js` opens it (bytes and text, events, abort,
/// timers, console), `forms.js` (URLSearchParams, Blob, File, FormData), `http.js` (Headers,
/// bodies, Request, Response, fetch), `workers.js` (crypto, the KV binding, `__cc_web`) closes it.
const LAZY: &str = include_str!("web/lazy.js");
const WEB: &str = concat!(
    include_str!("web/base.js"),
    include_str!("web/forms.js"),
    include_str!("web/http.js"),
    include_str!("web/workers.js"),
);
/// Largest `crypto.getRandomValues` request (the Web Crypto limit).
const MAX_RANDOM: usize = 65_536;

/// Installs the web platform in a fresh context (after the prelude, which it extends): the
/// engine's classes now, `web.js` on first use (`web/lazy.js`).
pub(super) fn register(ctx: &mut Context) -> Result<(), String> {
    let internal = |e: JsError| format!("internal: {e}");
    UrlExtension.register(None, ctx).map_err(internal)?;
    EncodingExtension.register(None, ctx).map_err(internal)?;
    Base64Extension.register(None, ctx).map_err(internal)?;
    StructuredCloneExtension
        .register(None, ctx)
        .map_err(internal)?;
    MicrotaskExtension.register(None, ctx).map_err(internal)?;
    let natives: [(&str, usize, NativeFunction); 5] = [
        ("__cc_find_all", 2, NativeFunction::from_fn_ptr(find_all)),
        (
            "__cc_random_bytes",
            1,
            NativeFunction::from_fn_ptr(random_bytes),
        ),
        ("__cc_digest", 2, NativeFunction::from_fn_ptr(digest)),
        ("__cc_hmac", 3, NativeFunction::from_fn_ptr(hmac)),
        ("__cc_load_web", 0, NativeFunction::from_fn_ptr(load_web)),
    ];
    for (name, len, f) in natives {
        ctx.register_global_callable(JsString::from(name), len, f)
            .map_err(internal)?;
    }
    ctx.eval(Source::from_bytes(LAZY))
        .map_err(|e| format!("internal web/lazy.js: {e}"))?;
    Ok(())
}

/// Evaluates `web.js` now (a module main.js uses it on every request).
pub(super) fn load_now(ctx: &mut Context) -> Result<(), String> {
    ctx.eval(Source::from_bytes("__cc_web_load()"))
        .map(|_| ())
        .map_err(|e| format!("internal web.js: {e}"))
}

/// `__cc_load_web()`, called by `web/lazy.js` the first time a script touches the platform.
/// Its CPU time is not the script's: the first run to touch the platform would otherwise pay
/// for evaluating it (tens of ms in a debug build) out of its time limit.
fn load_web(_: &JsValue, _: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    uncounted(|| ctx.eval(Source::from_bytes(WEB)))?;
    Ok(JsValue::undefined())
}

/// True when the script has touched the web platform (so timers may be pending).
fn loaded(ctx: &mut Context) -> bool {
    ctx.global_object()
        .has_own_property(js_string!("__cc_timers"), ctx)
        .unwrap_or(false)
}

/// True when `source` is a Workers-style ES module (`export default { fetch }`) rather than a
/// classic script run top to bottom for each request.
pub(super) fn is_module(source: &str) -> bool {
    source.contains("export default")
        || source.contains("export {") && source.contains(" as default")
}

/// What a module-form `main.js` exports, found once when its context is made.
pub(super) struct Exports {
    /// The default export (`{ fetch, scheduled }`).
    pub handler: JsObject,
    /// `__cc_web.serve(…)` and `__cc_web.scheduled(…)` on the arguments in `__cc_call`,
    /// compiled once: evaluated as scripts, they run under the run-time budget.
    serve: Script,
    scheduled: Script,
}

const SERVE: &str = "(function (a) { return __cc_web.serve(a[0], __cc_web.request(a[1]), __cc_web.env(a[1]), a[2]); })(__cc_call)";
const SCHEDULED: &str =
    "(function (a) { return __cc_web.scheduled(a[0], a[1].cron, __cc_web.env(a[1])); })(__cc_call)";

/// Parses and evaluates `source` as a module (its top level runs once, here); imports are
/// refused by the context's loader.
pub(super) fn load_module(source: &str, ctx: &mut Context) -> Result<Exports, String> {
    load_now(ctx)?;
    let module = Module::parse(
        Source::from_bytes(source.as_bytes()).with_path(std::path::Path::new("main.js")),
        None,
        ctx,
    )
    .map_err(|e| format!("main.js does not parse: {e}"))?;
    let promise = module.load_link_evaluate(ctx);
    ctx.run_jobs()
        .map_err(|e| format!("main.js failed while loading: {e}"))?;
    match promise.state() {
        PromiseState::Fulfilled(_) => {}
        PromiseState::Rejected(reason) => {
            return Err(format!(
                "main.js failed while loading: {}",
                JsError::from_opaque(reason)
            ));
        }
        PromiseState::Pending => {
            return Err("main.js's top level never finished (an await that waits forever?)".into());
        }
    }
    let namespace = module.namespace(ctx);
    let handler = namespace
        .get(js_string!("default"), ctx)
        .ok()
        .and_then(|v| v.as_object())
        .ok_or("main.js: `export default` must be an object: export default { fetch(request, env, ctx) { … } }")?;
    let compile = |text: &str, ctx: &mut Context| {
        Script::parse(Source::from_bytes(text), None, ctx).map_err(|e| format!("internal: {e}"))
    };
    Ok(Exports {
        handler,
        serve: compile(SERVE, ctx)?,
        scheduled: compile(SCHEDULED, ctx)?,
    })
}

impl Exports {
    /// Starts `handler.fetch(request, env, ctx)` for `incoming` (the request frame as a JS
    /// value), filling `out` — or, for a cron trigger, `handler.scheduled(event, env, ctx)` —
    /// under the run-time budget; returns the promise of its end.
    pub(super) fn start(
        &self,
        incoming: &JsValue,
        out: &JsValue,
        scheduled: bool,
        ctx: &mut Context,
        deadline: Duration,
    ) -> Result<JsValue, Failure> {
        let args = JsArray::from_iter(
            [self.handler.clone().into(), incoming.clone(), out.clone()],
            ctx,
        );
        ctx.global_object()
            .set(js_string!("__cc_call"), args, false, ctx)
            .map_err(|e| Failure::Error(e.to_string()))?;
        let script = if scheduled {
            &self.scheduled
        } else {
            &self.serve
        };
        evaluate_budgeted(script, ctx, deadline)
    }
}

/// Runs promise jobs and due timers until `promise` settles, the run's time `limit` (wall
/// clock, from `started`) passes, or nothing is left that could settle it. Timers due past
/// the limit never run.
pub(super) fn wait_for(
    promise: &JsValue,
    ctx: &mut Context,
    started: Instant,
    limit: Duration,
) -> Result<(), String> {
    loop {
        ctx.run_jobs().map_err(|e| e.to_string())?;
        let state = promise.as_promise().map(|p| p.state());
        match state {
            Some(PromiseState::Rejected(reason)) => {
                return Err(JsError::from_opaque(reason).to_string());
            }
            Some(PromiseState::Pending) => {}
            _ => return drain_timers(ctx, started, limit),
        }
        if !run_due_timer(ctx, started, limit)? {
            return Err(
                "main.js's promise never settled (it waits on something that never comes, \
                 or on a timer past the run's time limit)"
                    .into(),
            );
        }
    }
}

/// After the answer: timers still pending run while the limit allows.
pub(super) fn drain_timers(
    ctx: &mut Context,
    started: Instant,
    limit: Duration,
) -> Result<(), String> {
    if !loaded(ctx) {
        return Ok(());
    }
    while run_due_timer(ctx, started, limit)? {
        ctx.run_jobs().map_err(|e| e.to_string())?;
    }
    clear_timers(ctx);
    Ok(())
}

/// Sleeps until the next timer and runs what is due; `false` when there is none that falls
/// within the run's limit.
fn run_due_timer(ctx: &mut Context, started: Instant, limit: Duration) -> Result<bool, String> {
    let timers = timers(ctx).ok_or("internal: no __cc_timers")?;
    let next = call_method(&timers, "next", ctx)
        .ok()
        .and_then(|v| v.as_number())
        .unwrap_or(-1.0);
    if next < 0.0 {
        return Ok(false);
    }
    let wait = Duration::from_millis(next as u64);
    if started.elapsed() + wait > limit {
        return Ok(false);
    }
    // A retry that holds the db's write lock never sleeps holding it: its timers fire at once.
    let holds_lock = RUN.with(|r| r.borrow().as_ref().is_some_and(|r| r.replaying));
    if !holds_lock {
        std::thread::sleep(wait);
    }
    call_method(&timers, "runDue", ctx).map_err(|e| e.to_string())?;
    Ok(true)
}

/// Drops timers a run left behind, if the platform is loaded at all.
pub(super) fn forget_timers(ctx: &mut Context) {
    if loaded(ctx) {
        clear_timers(ctx);
    }
}

/// Drops timers a run left behind (they never outlive it).
pub(super) fn clear_timers(ctx: &mut Context) {
    if let Some(timers) = timers(ctx) {
        let _ = call_method(&timers, "clear", ctx);
    }
}

fn timers(ctx: &mut Context) -> Option<JsObject> {
    ctx.global_object()
        .get(js_string!("__cc_timers"), ctx)
        .ok()
        .and_then(|v| v.as_object())
}

fn call_method(obj: &JsObject, name: &str, ctx: &mut Context) -> JsResult<JsValue> {
    let f = obj.get(JsString::from(name), ctx)?;
    match f.as_callable() {
        Some(f) => f.call(&obj.clone().into(), &[], ctx),
        None => Ok(JsValue::undefined()),
    }
}

/// An `ArrayBuffer`, or a JS array of numbers (each taken modulo 256, as a Uint8Array
/// would), → bytes.
fn bytes_arg(value: &JsValue, ctx: &mut Context) -> JsResult<Vec<u8>> {
    if let Some(bytes) = value
        .as_object()
        .and_then(|o| JsArrayBuffer::from_object(o).ok())
        .and_then(|b| b.to_vec())
    {
        return Ok(bytes);
    }
    let Some(array) = value.as_object().and_then(|o| JsArray::from_object(o).ok()) else {
        return Err(JsNativeError::typ()
            .with_message("expected an array of bytes")
            .into());
    };
    let len = array.length(ctx)?;
    (0..len)
        .map(|i| Ok(array.get(i, ctx)?.to_number(ctx)? as i64 as u8))
        .collect()
}

fn bytes_value(bytes: &[u8], ctx: &mut Context) -> JsValue {
    JsArray::from_iter(bytes.iter().map(|b| JsValue::from(*b)), ctx).into()
}

/// `__cc_find_all(haystack, needle)`: every index where `needle` starts in `haystack` (both
/// ArrayBuffers), not overlapping, at most 100 000 of them (a form with more parts is refused
/// by the parser running out of delimiters).
fn find_all(_: &JsValue, args: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    let haystack = bytes_arg(args.get_or_undefined(0), ctx)?;
    let needle = bytes_arg(args.get_or_undefined(1), ctx)?;
    if needle.is_empty() {
        return Ok(JsArray::new(ctx)?.into());
    }
    let found = memchr::memmem::find_iter(&haystack, &needle)
        .take(100_000)
        .map(|i| JsValue::from(i as f64));
    Ok(JsArray::from_iter(found, ctx).into())
}

fn random_bytes(_: &JsValue, args: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    let n = args.get_or_undefined(0).to_number(ctx)? as usize;
    if n > MAX_RANDOM {
        return Err(JsNativeError::range()
            .with_message(format!(
                "crypto.getRandomValues: {n} bytes asked for, at most {MAX_RANDOM}"
            ))
            .into());
    }
    let mut buf = vec![0u8; n];
    getrandom::fill(&mut buf)
        .map_err(|e| JsNativeError::error().with_message(format!("no randomness: {e}")))?;
    Ok(bytes_value(&buf, ctx))
}

fn algorithm(value: &JsValue) -> String {
    value
        .as_string()
        .map(|s| s.to_std_string_escaped().to_ascii_uppercase())
        .unwrap_or_default()
}

fn unsupported(name: &str) -> JsError {
    JsNativeError::typ()
        .with_message(format!(
            "NotSupportedError: '{name}' is not supported (use SHA-1, SHA-256, SHA-384 or SHA-512)"
        ))
        .into()
}

fn digest(_: &JsValue, args: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    let name = algorithm(args.get_or_undefined(0));
    let data = bytes_arg(args.get_or_undefined(1), ctx)?;
    let out: Vec<u8> = match name.as_str() {
        "SHA-1" => sha1::Sha1::digest(&data).to_vec(),
        "SHA-256" => sha2::Sha256::digest(&data).to_vec(),
        "SHA-384" => sha2::Sha384::digest(&data).to_vec(),
        "SHA-512" => sha2::Sha512::digest(&data).to_vec(),
        _ => return Err(unsupported(&name)),
    };
    Ok(bytes_value(&out, ctx))
}

fn hmac(_: &JsValue, args: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    let name = algorithm(args.get_or_undefined(0));
    let key = bytes_arg(args.get_or_undefined(1), ctx)?;
    let data = bytes_arg(args.get_or_undefined(2), ctx)?;
    fn mac<M: Mac + KeyInit>(key: &[u8], data: &[u8]) -> Vec<u8> {
        let mut m = <M as KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
        m.update(data);
        m.finalize().into_bytes().to_vec()
    }
    let out = match name.as_str() {
        "SHA-1" => mac::<hmac::Hmac<sha1::Sha1>>(&key, &data),
        "SHA-256" => mac::<hmac::Hmac<sha2::Sha256>>(&key, &data),
        "SHA-384" => mac::<hmac::Hmac<sha2::Sha384>>(&key, &data),
        "SHA-512" => mac::<hmac::Hmac<sha2::Sha512>>(&key, &data),
        _ => return Err(unsupported(&name)),
    };
    Ok(bytes_value(&out, ctx))
}
