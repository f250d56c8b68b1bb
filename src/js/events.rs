//! A WebSocket client's events (`open`, `message`, `close`) run as the site's
//! `socket.on` handlers through the same per-site queue as requests; a message no handler
//! takes is relayed to the site's clients. Methods of `ScriptPool`.

use std::path::Path;

use serde_json::{Value, json};

use super::pool::{Outcome, ScriptPool};
use super::translate::request_frame;
use crate::http::Request;

impl ScriptPool {
    /// Queues the site's `socket.on(event.kind)` handler for a client's event; a message no
    /// handler takes is relayed to all the site's clients. A site's events are handled one at
    /// a time, in order.
    pub fn run_event(
        &self,
        root: &Path,
        event: &crate::ws::Event,
        handled: Box<dyn FnOnce() + Send>,
    ) {
        let site = event.site.as_str();
        let mut req = Request::fake("WS", "/ws", &[]);
        req.remote_ip = event.ip;
        let mut frame = request_frame(site, root, &req, &[]);
        frame["clients"] = json!(self.hub.get().map_or(0, |h| h.clients(site)));
        let client = json!({ "id": event.id, "ip": event.ip.to_string() });
        frame["event"] = json!({ "type": event.kind, "data": event.text, "client": client });
        let (site_name, text, kind) = (site.to_string(), event.text.clone(), event.kind);
        let done = move |pool: &ScriptPool, outcome: Outcome| {
            handled();
            pool.event_ended(&site_name, kind, text, outcome)
        };
        self.submit(site, frame, true, Box::new(done));
    }

    /// How a `socket.on` run ended: its log lines and broadcasts, the relay of a message no
    /// handler took, or why it did not run.
    fn event_ended(&self, site: &str, kind: &str, text: String, outcome: Outcome) {
        match outcome {
            Outcome::Reply(reply) => {
                let unhandled = reply["outcome"] == "ok" && reply["handled"] != Value::Bool(true);
                self.finish(site, reply);
                if unhandled
                    && kind == "message"
                    && let Some(hub) = self.hub.get()
                {
                    hub.broadcast(site, vec![text]);
                }
            }
            Outcome::Died(_) => {
                self.cool_down(site);
                self.log(
                    site,
                    "error",
                    &format!("main.js's {kind} handler hit a limit and its worker was stopped"),
                )
            }
            Outcome::NotRun(_) | Outcome::Again => self.log(
                site,
                "warn",
                &format!("a WebSocket {kind} event was dropped: the site's script queue is full"),
            ),
        }
    }
}
