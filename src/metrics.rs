//! `GET /metrics` in Prometheus's text format: requests counted by what they reached and
//! their status class, and gauges read from the script pool and the WebSocket hub when
//! asked. Owns atomics and the rendering only; never SQL, never sockets.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

/// What a request reached.
#[derive(Clone, Copy)]
pub enum Kind {
    Dashboard,
    Api,
    Static,
    Script,
    WebSocket,
    /// Plain HTTP sent to HTTPS, and ACME challenges (`--https acme`).
    Https,
    Unknown,
}

const KINDS: [(&str, Kind); 7] = [
    ("dashboard", Kind::Dashboard),
    ("api", Kind::Api),
    ("static", Kind::Static),
    ("script", Kind::Script),
    ("websocket", Kind::WebSocket),
    ("https", Kind::Https),
    ("unknown", Kind::Unknown),
];
const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

#[derive(Default)]
pub struct Metrics {
    requests: [[AtomicU64; 5]; 7],
}

/// What the server's parts say about themselves when the metrics are read.
pub struct Gauges {
    pub uptime_s: u64,
    pub script_runs: u64,
    pub script_exchanges: u64,
    pub script_worker_starts: u64,
    pub script_jobs_waiting: usize,
    pub script_jobs_running: usize,
    pub websocket_clients: usize,
    pub websocket_messages_in_flight: usize,
}

impl Metrics {
    /// Counts one answered request.
    pub fn count(&self, kind: Kind, status: u16) {
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        self.requests[kind as usize][class].fetch_add(1, Ordering::Relaxed);
    }

    pub fn render(&self, g: &Gauges) -> String {
        let mut out = String::new();
        let mut metric = |name: &str, kind: &str, help: &str, lines: &[(String, u64)]| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (labels, value) in lines {
                let _ = writeln!(out, "{name}{labels} {value}");
            }
        };
        let mut requests = Vec::new();
        for (label, kind) in KINDS {
            for (class, counter) in CLASSES.iter().zip(&self.requests[kind as usize]) {
                let n = counter.load(Ordering::Relaxed);
                if n > 0 {
                    requests.push((format!("{{kind=\"{label}\",class=\"{class}\"}}"), n));
                }
            }
        }
        metric(
            "cc_requests_total",
            "counter",
            "Requests answered, by what they reached and status class.",
            &requests,
        );
        let single: [(&str, &str, &str, u64); 8] = [
            (
                "cc_uptime_seconds",
                "gauge",
                "Seconds since the server started.",
                g.uptime_s,
            ),
            (
                "cc_script_runs_total",
                "counter",
                "main.js runs that a script worker answered.",
                g.script_runs,
            ),
            (
                "cc_script_exchanges_total",
                "counter",
                "Frames sent to script workers (a batch of runs is one).",
                g.script_exchanges,
            ),
            (
                "cc_script_worker_starts_total",
                "counter",
                "Script worker processes started (the first ones, and each restart after a kill or a retirement).",
                g.script_worker_starts,
            ),
            (
                "cc_script_jobs_waiting",
                "gauge",
                "main.js runs and WebSocket messages waiting for a script worker.",
                g.script_jobs_waiting as u64,
            ),
            (
                "cc_script_jobs_running",
                "gauge",
                "Exchanges with script workers under way.",
                g.script_jobs_running as u64,
            ),
            (
                "cc_websocket_clients",
                "gauge",
                "WebSocket clients connected, all sites.",
                g.websocket_clients as u64,
            ),
            (
                "cc_websocket_messages_in_flight",
                "gauge",
                "WebSocket messages read and not yet handled, all sites.",
                g.websocket_messages_in_flight as u64,
            ),
        ];
        for (name, kind, help, value) in single {
            metric(name, kind, help, &[(String::new(), value)]);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_render_by_kind_and_class_in_the_text_format() {
        let m = Metrics::default();
        m.count(Kind::Static, 200);
        m.count(Kind::Static, 304);
        m.count(Kind::Script, 503);
        m.count(Kind::Script, 999);
        let text = m.render(&Gauges {
            uptime_s: 7,
            script_runs: 1,
            script_exchanges: 1,
            script_worker_starts: 3,
            script_jobs_waiting: 0,
            script_jobs_running: 0,
            websocket_clients: 2,
            websocket_messages_in_flight: 0,
        });
        assert!(text.contains("cc_requests_total{kind=\"static\",class=\"2xx\"} 1\n"));
        assert!(text.contains("cc_requests_total{kind=\"static\",class=\"3xx\"} 1\n"));
        assert!(text.contains("cc_requests_total{kind=\"script\",class=\"5xx\"} 2\n"));
        assert!(text.contains("# TYPE cc_websocket_clients gauge\ncc_websocket_clients 2\n"));
        assert!(!text.contains("kind=\"api\""), "empty series are left out");
    }
}
