//! Several requests of one site in one exchange with a script worker (inside the worker
//! process): each runs in turn on the site's warm context and sees what the earlier ones
//! wrote, and all their writes commit in one transaction, checked against everything the
//! batch read — so a busy site pays one frame each way, one wake-up and one commit for many
//! requests, and still loses no update. When the commit finds that something read has
//! changed, each run goes again on its own (the single-run path, with its retries). Replies
//! leave only after the commit, so no one is answered with a write that did not happen.

use std::path::Path;
use std::time::Instant;

use serde_json::{Value, json};

use super::engine::{
    CONN, Engine, Failure, NOTIFY, OVERLAY, Overlay, RUN, Run, env_object, incoming, reply_failure,
    reply_ok, run_once, thread_cpu,
};
use crate::store::kv::{self, Changes};

/// How a run of the batch ended before the commit.
enum Ran {
    /// Its answer, held until the batch commits.
    Done {
        out: Value,
        logs: Vec<(String, String)>,
        broadcasts: Vec<String>,
        fetched: Vec<(String, Result<Value, String>)>,
    },
    /// Its final reply: it failed, and its writes were left out.
    Failed(Value),
    /// Not run: the batch had used its time; the server queues it again.
    Requeue,
}

impl Engine {
    /// Handles the request frames of one exchange (all of one site, or a single one) and
    /// returns a reply frame for each, in order.
    pub fn handle_batch(&mut self, requests: &[Value]) -> Vec<Value> {
        match requests {
            [] => Vec::new(),
            [one] => vec![self.handle(one)],
            _ => self.run_batch(requests),
        }
    }

    fn run_batch(&mut self, requests: &[Value]) -> Vec<Value> {
        let site = requests[0]["site"].as_str().unwrap_or_default().to_string();
        let root = Path::new(requests[0]["root"].as_str().unwrap_or_default()).to_path_buf();
        if let Err(reply) = self.ready(&site, &root) {
            return vec![reply; requests.len()];
        }
        // Loading the script (above) is not the runs' time.
        let started = Instant::now();
        let env = env_object(&site);
        OVERLAY.with(|o| *o.borrow_mut() = Some(Overlay::default()));
        let mut ran = Vec::with_capacity(requests.len());
        let mut costs = Vec::with_capacity(requests.len());
        let mut stopped = false;
        // The CPU clock is a system call: read once per run, each run's end is the next start.
        let mut cpu_mark = thread_cpu();
        for request in requests {
            // A batch starts no run once it has used a run's time limit: the watchdog gives
            // a batch that much more than one run.
            if stopped || started.elapsed() > self.limits.timeout {
                ran.push(Ran::Requeue);
                costs.push((0, 0));
                continue;
            }
            let t0 = Instant::now();
            let deadline = cpu_mark + self.limits.timeout;
            let outcome = self.run_one(&site, incoming(request, env.clone()), deadline);
            stopped = matches!(&outcome, Ran::Failed(r) if r["outcome"] == "timeout");
            ran.push(outcome);
            let cpu_now = thread_cpu();
            costs.push((
                t0.elapsed().as_micros() as u64,
                cpu_now.saturating_sub(cpu_mark).as_micros() as u64,
            ));
            cpu_mark = cpu_now;
        }
        let overlay = OVERLAY.with(|o| o.borrow_mut().take()).unwrap_or_default();
        let committed = if overlay.writes.is_empty() {
            Ok(true)
        } else {
            let changes = Changes {
                reads: overlay.reads.into_iter().collect(),
                lists: overlay.lists,
                writes: overlay.writes.into_iter().collect(),
            };
            CONN.with(|c| match c.borrow_mut().as_mut() {
                Some(conn) => kv::commit(conn, &site, &changes),
                None => Err(rusqlite::Error::InvalidQuery),
            })
        };
        let mut replies: Vec<Value> = ran
            .into_iter()
            .zip(requests)
            .map(|(ran, request)| match ran {
                Ran::Failed(reply) => reply,
                Ran::Requeue => json!({ "outcome": "requeue" }),
                Ran::Done {
                    out,
                    logs,
                    broadcasts,
                    fetched,
                } => match &committed {
                    Ok(true) => reply_ok(&out, &logs, broadcasts),
                    // Something the batch read changed before it could commit: this run
                    // goes again on its own, on fresh data (its requests are not sent again).
                    // The server's watchdog gives it a run's time again.
                    Ok(false) => {
                        notify(&json!({ "rerun": true }));
                        self.handle_replaying(request, logs, fetched)
                    }
                    Err(e) => reply_failure("error", &format!("db: {e}"), logs),
                },
            })
            .collect();
        for (reply, (run_us, cpu_us)) in replies.iter_mut().zip(costs) {
            if reply.get("run_us").is_none() {
                reply["run_us"] = json!(run_us);
                reply["cpu_us"] = json!(cpu_us);
            }
        }
        replies
    }

    /// One run of the batch, optimistic, on top of the writes of the runs before it.
    fn run_one(&mut self, site: &str, incoming: Value, deadline: std::time::Duration) -> Ran {
        let key_count = OVERLAY.with(|o| o.borrow().as_ref().and_then(|o| o.key_count));
        RUN.with(|r| {
            *r.borrow_mut() = Some(Run {
                site: site.to_string(),
                max_keys: self.limits.max_keys,
                key_count,
                ..Run::default()
            })
        });
        let Some(rt) = self.sites.get_mut(site) else {
            return Ran::Failed(reply_failure("error", "internal: no context", Vec::new()));
        };
        rt.last_used = Instant::now();
        let result = run_once(rt, &incoming, deadline);
        let run = RUN.with(|r| r.borrow_mut().take()).unwrap_or_default();
        match result {
            Err(Failure::Timeout) => {
                // Frames of the aborted run stay on this context's VM stack: drop it.
                self.sites.remove(site);
                let message = format!(
                    "main.js ran longer than its {} ms limit",
                    self.limits.timeout.as_millis()
                );
                Ran::Failed(reply_failure("timeout", &message, run.logs))
            }
            Err(Failure::Error(message)) => Ran::Failed(reply_failure("error", &message, run.logs)),
            Ok(out) if out["done"] != Value::Bool(true) => Ran::Failed(reply_failure(
                "no_response",
                super::engine::NO_RESPONSE,
                run.logs,
            )),
            Ok(out) => {
                OVERLAY.with(|o| {
                    if let Some(overlay) = o.borrow_mut().as_mut() {
                        overlay.writes.extend(run.writes);
                        overlay.key_count = run.key_count.or(overlay.key_count);
                    }
                });
                Ran::Done {
                    out,
                    logs: run.logs,
                    broadcasts: run.broadcasts,
                    fetched: run.fetched,
                }
            }
        }
    }
}

/// Sends a frame to the server before the batch's replies (as `fetch` does mid-run).
fn notify(frame: &Value) {
    NOTIFY.with(|n| {
        if let Some(notify) = n.borrow_mut().as_mut() {
            notify(frame);
        }
    });
}
