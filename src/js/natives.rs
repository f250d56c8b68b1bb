//! The native functions behind main.js's `db`, `console`, `socket.broadcast` and `fetch`
//! (bound as `__cc_*` by `engine`; `prelude.js` wraps them): argument checks and limits, and
//! the run's record of what it read, wrote, logged, broadcast and fetched. They reach cc.db
//! and the run in progress through `engine`'s thread-locals; never sockets, never tiny_http.

use std::collections::BTreeMap;

use boa_engine::object::builtins::JsArray;
use boa_engine::{Context, JsError, JsNativeError, JsResult, JsString, JsValue};
use rusqlite::Connection;
use serde_json::{Value, json};

use super::engine::{CONN, NOTIFY, OVERLAY, with_run};
use super::fetch::MAX_FETCHES;
use crate::store::kv;

pub const MAX_KEY_BYTES: usize = 512;
pub const MAX_VALUE_BYTES: usize = 1024 * 1024;
const MAX_LOG_LINES: usize = 100;
const MAX_LOG_LINE: usize = 4096;
const MAX_BROADCASTS: usize = 100;
const MAX_BROADCAST_BYTES: usize = 64 * 1024;

fn with_conn<T>(f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> JsResult<T> {
    CONN.with(|c| match c.borrow().as_ref() {
        Some(conn) => f(conn).map_err(|e| {
            JsNativeError::error()
                .with_message(format!("db: {e}"))
                .into()
        }),
        None => Err(JsNativeError::error()
            .with_message("db is not available")
            .into()),
    })
}

fn arg_string(args: &[JsValue], i: usize, ctx: &mut Context) -> JsResult<String> {
    Ok(args
        .get(i)
        .cloned()
        .unwrap_or_default()
        .to_string(ctx)?
        .to_std_string_escaped())
}

/// A `db` key (or prefix) exactly as the script wrote it: a lone surrogate has no UTF-8 form
/// and is refused, so `"\uD800"` can never alias the six characters `"\\uD800"`.
fn key_string(args: &[JsValue], ctx: &mut Context) -> JsResult<String> {
    args.first()
        .cloned()
        .unwrap_or_default()
        .to_string(ctx)?
        .to_std_string()
        .map_err(|_| {
            JsNativeError::typ()
                .with_message("db: a key may not contain a lone surrogate (\\uD800–\\uDFFF)")
                .into()
        })
}

fn check_key(key: &str) -> JsResult<()> {
    if key.is_empty() || key.len() > MAX_KEY_BYTES {
        return Err(JsNativeError::range()
            .with_message(format!("db: a key must be 1 to {MAX_KEY_BYTES} bytes"))
            .into());
    }
    Ok(())
}

pub(super) fn db_get(_: &JsValue, args: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    let key = key_string(args, ctx)?;
    check_key(&key)?;
    let value = with_run(|run| {
        if let Some(v) = run.writes.get(&key) {
            return Ok(v.clone());
        }
        if let Some(v) = run.reads.get(&key) {
            return Ok(v.clone());
        }
        let v = stored(&run.site, &key)?;
        run.reads.insert(key, v.clone());
        Ok(v)
    })?;
    Ok(value.map_or(JsValue::null(), |v| {
        JsValue::from(JsString::from(v.as_str()))
    }))
}

pub(super) fn db_set(_: &JsValue, args: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    let key = key_string(args, ctx)?;
    let value = arg_string(args, 1, ctx)?;
    check_key(&key)?;
    if value.len() > MAX_VALUE_BYTES {
        return Err(JsNativeError::range()
            .with_message(format!(
                "db.set: a value may be at most {} KiB of JSON",
                MAX_VALUE_BYTES / 1024
            ))
            .into());
    }
    with_run(|run| {
        let exists = match run.writes.get(&key).or_else(|| run.reads.get(&key)) {
            Some(v) => v.is_some(),
            None => stored(&run.site, &key)?.is_some(),
        };
        if !exists {
            let count = match run.key_count {
                Some(n) => n,
                None => with_conn(|c| kv::count(c, &run.site))?,
            };
            if count >= run.max_keys {
                return Err(JsNativeError::range()
                    .with_message(format!(
                        "db.set: this site already has {} keys (the limit)",
                        run.max_keys
                    ))
                    .into());
            }
            run.key_count = Some(count + 1);
        }
        run.writes.insert(key, Some(value));
        Ok(JsValue::undefined())
    })
}

pub(super) fn db_delete(_: &JsValue, args: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    let key = key_string(args, ctx)?;
    check_key(&key)?;
    with_run(|run| {
        run.writes.insert(key, None);
        Ok(JsValue::undefined())
    })
}

pub(super) fn db_list(_: &JsValue, args: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    let prefix = key_string(args, ctx)?;
    let keys = with_run(|run| {
        let stored = with_conn(|c| kv::list(c, &run.site, &prefix))?;
        let mut keys: std::collections::BTreeSet<String> = stored.iter().cloned().collect();
        let in_batch = OVERLAY.with(|o| match o.borrow_mut().as_mut() {
            Some(overlay) => {
                overlay.lists.push((prefix.clone(), stored.clone()));
                overlay_writes(&mut keys, &overlay.writes, &prefix);
                true
            }
            None => false,
        });
        if !in_batch {
            run.lists.push((prefix.clone(), stored));
        }
        overlay_writes(&mut keys, &run.writes, &prefix);
        Ok(keys)
    })?;
    let values: Vec<JsValue> = keys
        .iter()
        .map(|k| JsValue::from(JsString::from(k.as_str())))
        .collect();
    Ok(JsArray::from_iter(values, ctx).into())
}

/// Applies the writes under `prefix` to a listing of keys.
fn overlay_writes(
    keys: &mut std::collections::BTreeSet<String>,
    writes: &BTreeMap<String, Option<String>>,
    prefix: &str,
) {
    for (k, v) in writes.range(prefix.to_string()..) {
        if !k.starts_with(prefix) {
            break;
        }
        match v {
            Some(_) => keys.insert(k.clone()),
            None => keys.remove(k),
        };
    }
}

/// A key's value before this run's own writes: what an earlier run of its batch wrote, else
/// what the batch already read, else cc.db (recorded, for the batch's commit to check).
fn stored(site: &str, key: &str) -> JsResult<Option<String>> {
    let seen = OVERLAY.with(|o| {
        o.borrow().as_ref().and_then(|overlay| {
            overlay
                .writes
                .get(key)
                .or_else(|| overlay.reads.get(key))
                .cloned()
        })
    });
    if let Some(v) = seen {
        return Ok(v);
    }
    let v = with_conn(|c| kv::get(c, site, key))?;
    OVERLAY.with(|o| {
        if let Some(overlay) = o.borrow_mut().as_mut() {
            overlay.reads.insert(key.to_string(), v.clone());
        }
    });
    Ok(v)
}

pub(super) fn log(_: &JsValue, args: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    let level = arg_string(args, 0, ctx)?;
    let mut message = arg_string(args, 1, ctx)?;
    if message.len() > MAX_LOG_LINE {
        let mut cut = MAX_LOG_LINE;
        while !message.is_char_boundary(cut) {
            cut -= 1;
        }
        message.truncate(cut);
        message.push('…');
    }
    with_run(|run| {
        if run.logs.len() < MAX_LOG_LINES {
            run.logs.push((level, message));
        }
        Ok(JsValue::undefined())
    })
}

pub(super) fn broadcast(_: &JsValue, args: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    let message = arg_string(args, 0, ctx)?;
    if message.len() > MAX_BROADCAST_BYTES {
        return Err(JsNativeError::range()
            .with_message(format!(
                "socket.broadcast: a message may be at most {} KiB",
                MAX_BROADCAST_BYTES / 1024
            ))
            .into());
    }
    with_run(|run| {
        if run.broadcasts.len() >= MAX_BROADCASTS {
            return Err(JsNativeError::range()
                .with_message(format!(
                    "socket.broadcast: at most {MAX_BROADCASTS} messages per request"
                ))
                .into());
        }
        run.broadcasts.push(message);
        Ok(JsValue::undefined())
    })
}

/// `__cc_fetch(url, optionsJson)` → JSON `{status, url, headers, body}`; throws on network
/// errors. Blocks this worker; the waiting time is excluded from the run-time limit.
pub(super) fn fetch(_: &JsValue, args: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    let url = arg_string(args, 0, ctx)?;
    let options: Value = serde_json::from_str(&arg_string(args, 1, ctx)?).unwrap_or(Value::Null);
    let fail = |m: String| -> JsError {
        JsNativeError::typ()
            .with_message(format!("fetch: {m}"))
            .into()
    };
    let key = format!("{url} {options}");
    let replayed = with_run(|run| {
        if run.fetched.len() >= MAX_FETCHES {
            return Err(fail(format!("at most {MAX_FETCHES} requests per run")));
        }
        if !run.replaying {
            return Ok(None);
        }
        match run.replay.pop_front() {
            Some((asked, reply)) if asked == key => {
                run.fetched.push((asked, reply.clone()));
                Ok(Some(reply))
            }
            _ => Err(fail(
                "this run is being retried after a db conflict, holding the db, and asked for a \
                 request its first attempt did not make (make the requests a run sends depend \
                 only on what it reads)"
                    .into(),
            )),
        }
    })?;
    if let Some(reply) = replayed {
        let reply = reply.map_err(fail)?;
        return Ok(JsValue::from(JsString::from(reply.to_string().as_str())));
    }
    // Tell the server's watchdog to wait for the network too, for as long as it takes.
    let mut notify = |phase: &str| {
        NOTIFY.with(|n| {
            if let Some(notify) = n.borrow_mut().as_mut() {
                notify(&json!({ "fetch": phase }));
            }
        })
    };
    let reply = super::fetch::request(&url, &options, &mut notify);
    with_run(|run| {
        run.fetched.push((key, reply.clone()));
        Ok(())
    })?;
    let reply = reply.map_err(fail)?;
    Ok(JsValue::from(JsString::from(reply.to_string().as_str())))
}
