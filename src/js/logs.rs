//! What sites' scripts logged: the last lines of each site for the dashboard (a ring per site,
//! kept in memory since the server started) and the same line in the server log. Owns the
//! rules that keep a script's level and message from forging other server-log lines; never
//! decides what is logged (the pool does) and never keeps more than `LOG_LINES` per site.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// Lines kept per site for the dashboard.
const LOG_LINES: usize = 200;

/// One log line of a site's script.
#[derive(Debug, Clone)]
pub struct LogLine {
    pub unix_time: i64,
    pub level: String,
    pub message: String,
}

/// Every site's ring of recent lines.
#[derive(Default)]
pub(super) struct SiteLogs {
    rings: Mutex<HashMap<String, VecDeque<LogLine>>>,
}

impl SiteLogs {
    /// The last lines a site's script logged, oldest first.
    pub(super) fn lines(&self, site: &str) -> Vec<LogLine> {
        self.rings
            .lock()
            .map(|l| {
                l.get(site)
                    .map(|q| q.iter().cloned().collect())
                    .unwrap_or_default()
            })
            .unwrap_or_default()
    }

    /// Adds a line to a site's log: the server log and the site's ring.
    pub(super) fn log(&self, site: &str, level: &str, message: &str) {
        let (level, message) = one_line(level, message);
        let message = message.as_str();
        crate::log_writer::line(&format!("site {site}: [{level}] {message}\n"));
        self.push(
            site,
            LogLine {
                unix_time: crate::analytics::now_unix(),
                level: level.to_string(),
                message: message.to_string(),
            },
        );
    }

    /// Adds a line to the site's ring, dropping its oldest line when full.
    fn push(&self, site: &str, line: LogLine) {
        if let Ok(mut rings) = self.rings.lock() {
            let ring = rings.entry(site.to_string()).or_default();
            if ring.len() == LOG_LINES {
                ring.pop_front();
            }
            ring.push_back(line);
        }
    }
}

/// A script chooses both: keep them to known levels and one line each, so it cannot forge
/// other lines of the server log.
fn one_line<'a>(level: &'a str, message: &str) -> (&'a str, String) {
    let level = match level {
        "log" | "info" | "warn" | "error" | "debug" => level,
        _ => "log",
    };
    (level, message.escape_debug().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_script_cannot_forge_server_log_lines() {
        assert_eq!(one_line("warn", "ok"), ("warn", "ok".to_string()));
        assert_eq!(
            one_line("error]\nsite other: [info", "x"),
            ("log", "x".to_string())
        );
        assert_eq!(
            one_line("info", "a\nsite other: [info] b\r"),
            ("info", "a\\nsite other: [info] b\\r".to_string())
        );
    }

    #[test]
    fn each_site_keeps_its_last_lines_oldest_first() {
        let logs = SiteLogs::default();
        let line = |n: usize| LogLine {
            unix_time: n as i64,
            level: "log".into(),
            message: n.to_string(),
        };
        for n in 0..LOG_LINES + 3 {
            logs.push("blog", line(n));
        }
        logs.push("shop", line(7));
        let blog: Vec<String> = logs.lines("blog").into_iter().map(|l| l.message).collect();
        assert_eq!(blog.len(), LOG_LINES);
        assert_eq!(blog.first().map(String::as_str), Some("3"));
        assert_eq!(blog.last(), Some(&(LOG_LINES + 2).to_string()));
        assert_eq!(logs.lines("shop").len(), 1);
        assert!(logs.lines("nobody").is_empty());
    }
}
