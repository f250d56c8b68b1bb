//! Cron triggers (Workers' `scheduled`, PocketBase's `cronAdd`): a module `main.js` that says
//! `export const cron = "*/15 * * * *"` (or an array of such) has its `scheduled(event, env,
//! ctx)` run at those minutes (UTC), through the same per-site queue and limits as a request.
//! At most one run of a site's triggers at a time; a minute missed (the server was down, or
//! the site's last run had not ended) is not replayed. Owns the schedule, reading the
//! expressions from the source, and each site's last run; the pool runs the script.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, Utc};
use croner::Cron;

use serde_json::json;

use super::pool::{Outcome, ScriptPool};
use super::translate::request_frame;
use crate::http::Request;

/// The most expressions one site may list.
const MAX_EXPRESSIONS: usize = 10;

/// What the dashboard shows of a site's triggers.
#[derive(Debug, Clone, Default)]
pub struct CronStatus {
    pub expressions: Vec<String>,
    /// Unix seconds of the last run's start, how it ended ("ok" or the error).
    pub last_run: Option<(i64, String)>,
    pub next_run: Option<i64>,
    pub running: bool,
}

struct SiteCron {
    /// main.js's modification time and size when its expressions were read.
    stamp: (SystemTime, u64),
    expressions: Vec<(String, Cron)>,
    running: bool,
    last_run: Option<(i64, String)>,
}

/// Every site's triggers, checked each (cron) minute by one thread.
pub struct Scheduler {
    sites_dir: PathBuf,
    /// Seconds in a cron minute: 60, or fewer for tests (`CC_CRON_MINUTE_SECS`): each such
    /// span then counts as the next minute after the one the server started in.
    minute_secs: u64,
    /// The cron minute the server started in, and that minute's UTC start in seconds.
    epoch: (u64, i64),
    sites: Mutex<HashMap<String, SiteCron>>,
}

/// The expressions `export const cron = …` names in a module main.js: a string literal or an
/// array of them. `Ok(empty)` when the source has none; `Err` for a form that is not a
/// literal, or an expression croner refuses (the deploy shows it).
pub fn expressions(source: &str) -> Result<Vec<String>, String> {
    // A line of its own that starts with it: not a comment, not a string that mentions it.
    let mut offset = 0;
    let mut found_at = None;
    for line in source.split_inclusive('\n') {
        let trimmed = line.trim_start();
        if trimmed.starts_with("export const cron") {
            found_at = Some(offset + (line.len() - trimmed.len()));
            break;
        }
        offset += line.len();
    }
    let Some(at) = found_at else {
        return Ok(Vec::new());
    };
    let rest = source[at + "export const cron".len()..].trim_start();
    let rest = rest
        .strip_prefix('=')
        .ok_or("main.js: write the schedule as export const cron = \"*/15 * * * *\"")?
        .trim_start();
    let literal = |s: &str| -> Option<(String, usize)> {
        let quote = s.chars().next().filter(|c| matches!(c, '"' | '\'' | '`'))?;
        let end = s[1..].find(quote)? + 1;
        Some((s[1..end].to_string(), end + 1))
    };
    let mut found = Vec::new();
    if let Some(list) = rest.strip_prefix('[') {
        let mut rest = list.trim_start();
        while !rest.starts_with(']') {
            let (text, used) = literal(rest).ok_or(
                "main.js: `export const cron` must be a string or an array of strings, written out",
            )?;
            found.push(text);
            rest = rest[used..].trim_start();
            rest = rest.strip_prefix(',').unwrap_or(rest).trim_start();
            if rest.is_empty() {
                return Err("main.js: the cron array has no closing ]".into());
            }
        }
    } else {
        let (text, _) = literal(rest).ok_or(
            "main.js: `export const cron` must be a string or an array of strings, written out",
        )?;
        found.push(text);
    }
    if found.len() > MAX_EXPRESSIONS {
        return Err(format!(
            "main.js: at most {MAX_EXPRESSIONS} cron expressions"
        ));
    }
    for e in &found {
        parse(e)?;
    }
    Ok(found)
}

/// One standard 5-field expression (minute hour day-of-month month day-of-week), or a
/// nickname such as `@hourly`.
fn parse(expression: &str) -> Result<Cron, String> {
    let fields = expression.split_whitespace().count();
    if !(fields == 5 || (fields == 1 && expression.trim().starts_with('@'))) {
        return Err(format!(
            "main.js: cron \"{expression}\" should have 5 fields: minute hour day-of-month month day-of-week"
        ));
    }
    expression
        .parse::<Cron>()
        .map_err(|e| format!("main.js: cron \"{expression}\": {e}"))
}

impl Scheduler {
    /// Starts the scheduler thread; it ends when the pool is dropped.
    pub fn start(pool: &Arc<ScriptPool>, sites_dir: PathBuf) -> Arc<Scheduler> {
        let minute_secs = std::env::var("CC_CRON_MINUTE_SECS")
            .ok()
            .and_then(|v| v.parse().ok())
            .filter(|s| (1..=60).contains(s))
            .unwrap_or(60);
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let scheduler = Arc::new(Scheduler {
            sites_dir,
            minute_secs,
            epoch: (secs / minute_secs, (secs / 60 * 60) as i64),
            sites: Mutex::new(HashMap::new()),
        });
        let (weak_pool, me) = (Arc::downgrade(pool), scheduler.clone());
        let _ = std::thread::Builder::new()
            .name("cron".into())
            .stack_size(256 * 1024)
            .spawn(move || me.run(weak_pool));
        scheduler
    }

    fn run(self: Arc<Self>, pool: Weak<ScriptPool>) {
        let mut last_minute = self.minute_now();
        loop {
            std::thread::sleep(Duration::from_millis(250));
            let Some(pool) = pool.upgrade() else {
                return;
            };
            let minute = self.minute_now();
            if minute == last_minute {
                continue;
            }
            last_minute = minute;
            self.tick(&pool, minute);
        }
    }

    /// The current cron minute, counted from 1970.
    fn minute_now(&self) -> u64 {
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        secs / self.minute_secs
    }

    /// The UTC time cron expressions are matched against for `minute` (its first second).
    fn time_of(&self, minute: u64) -> DateTime<Utc> {
        let (first, start) = self.epoch;
        let secs = start + (minute.saturating_sub(first) as i64) * 60;
        DateTime::from_timestamp(secs, 0).unwrap_or_default()
    }

    fn tick(self: &Arc<Self>, pool: &Arc<ScriptPool>, minute: u64) {
        let at = self.time_of(minute);
        for (site, root) in self.site_folders() {
            let Some(due) = self.due(&site, &root, &at) else {
                continue;
            };
            let me = self.clone();
            let started = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64);
            let name = site.clone();
            pool.run_scheduled(
                &site,
                &root,
                &due,
                at.timestamp_millis(),
                Box::new(move |ended: Result<(), String>| {
                    let mut sites = me.sites.lock().unwrap_or_else(|p| p.into_inner());
                    if let Some(s) = sites.get_mut(&name) {
                        s.running = false;
                        s.last_run = Some((started, ended.err().unwrap_or_else(|| "ok".into())));
                    }
                }),
            );
        }
    }

    /// The expression due at `at` for `site` (marking the site running), if any.
    fn due(&self, site: &str, root: &Path, at: &DateTime<Utc>) -> Option<String> {
        let script = root.join("main.js");
        let meta = std::fs::metadata(&script).ok()?;
        let stamp = (meta.modified().unwrap_or(UNIX_EPOCH), meta.len());
        let mut sites = self.sites.lock().unwrap_or_else(|p| p.into_inner());
        if sites.get(site).is_none_or(|s| s.stamp != stamp) {
            let source = std::fs::read_to_string(&script).unwrap_or_default();
            let expressions = if super::web::is_module(&source) {
                expressions(&source)
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|e| parse(&e).ok().map(|c| (e, c)))
                    .collect()
            } else {
                Vec::new()
            };
            let last_run = sites.remove(site).and_then(|s| s.last_run);
            sites.insert(
                site.to_string(),
                SiteCron {
                    stamp,
                    expressions,
                    running: false,
                    last_run,
                },
            );
        }
        let entry = sites.get_mut(site)?;
        if entry.running {
            return None;
        }
        let due = entry
            .expressions
            .iter()
            .find(|(_, cron)| cron.is_time_matching(at).unwrap_or(false))
            .map(|(text, _)| text.clone())?;
        entry.running = true;
        Some(due)
    }

    fn site_folders(&self) -> Vec<(String, PathBuf)> {
        std::fs::read_dir(&self.sites_dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_str()?.to_string();
                crate::names::is_valid_site_name(&name).then(|| (name, e.path()))
            })
            .collect()
    }

    /// A site's triggers, for its dashboard page (`None` when it has none).
    pub fn status(&self, site: &str) -> Option<CronStatus> {
        let sites = self.sites.lock().unwrap_or_else(|p| p.into_inner());
        let s = sites.get(site).filter(|s| !s.expressions.is_empty())?;
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let now: DateTime<Utc> = DateTime::from_timestamp(secs, 0).unwrap_or_default();
        let next_run = s
            .expressions
            .iter()
            .filter_map(|(_, c)| c.find_next_occurrence(&now, false).ok())
            .min()
            .map(|t| t.timestamp());
        Some(CronStatus {
            expressions: s.expressions.iter().map(|(e, _)| e.clone()).collect(),
            last_run: s.last_run.clone(),
            next_run,
            running: s.running,
        })
    }
}

impl ScriptPool {
    /// Runs `site`'s `scheduled()` for the trigger `cron` of the minute at `scheduled_ms`;
    /// `ended` hears how it went (the site's log too).
    fn run_scheduled(
        &self,
        site: &str,
        root: &Path,
        cron: &str,
        scheduled_ms: i64,
        ended: Box<dyn FnOnce(Result<(), String>) + Send>,
    ) {
        let host = format!("{site}.localhost");
        let req = Request::fake("GET", "/", &[("host", host.as_str())]);
        let mut frame = request_frame(site, root, &req, &[]);
        frame["cron"] = json!({ "cron": cron, "scheduledTime": scheduled_ms, "type": "scheduled" });
        let (site_name, expression) = (site.to_string(), cron.to_string());
        let done = move |pool: &ScriptPool, outcome: Outcome| {
            let result = match outcome {
                Outcome::Reply(reply) => {
                    let result = match reply["outcome"].as_str() {
                        Some("ok") => Ok(()),
                        _ => Err(reply["error"].as_str().unwrap_or("failed").to_string()),
                    };
                    pool.finish(&site_name, reply);
                    result
                }
                Outcome::Died(_) => {
                    pool.cool_down(&site_name);
                    Err("it hit a limit and its worker was stopped".to_string())
                }
                Outcome::NotRun(_) | Outcome::Again => {
                    Err("not run: the site's script queue was full".to_string())
                }
            };
            match &result {
                Ok(()) => pool.log(
                    &site_name,
                    "info",
                    &format!("cron \"{expression}\": scheduled() ran"),
                ),
                Err(why) => pool.log(
                    &site_name,
                    "error",
                    &format!("cron \"{expression}\": {why}"),
                ),
            }
            ended(result);
        };
        self.submit(site, frame, true, Box::new(done));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expressions_are_read_from_the_source_and_checked() {
        assert_eq!(
            expressions("export const cron = \"*/15 * * * *\";\nexport default {}").unwrap(),
            ["*/15 * * * *"]
        );
        assert_eq!(
            expressions("export const cron = ['0 * * * *', \"30 2 * * 1\"];").unwrap(),
            ["0 * * * *", "30 2 * * 1"]
        );
        assert!(expressions("export default {}").unwrap().is_empty());
        assert!(
            expressions("// export const cron = \"* * * * *\";\nexport default {}")
                .unwrap()
                .is_empty()
        );
        assert!(expressions("export const cron = \"61 * * * *\";").is_err());
        assert!(expressions("export const cron = \"* * *\";").is_err());
        assert!(expressions("export const cron = makeIt();").is_err());
        let at = DateTime::from_timestamp(29_000_000 * 60, 0).unwrap();
        let every = parse("* * * * *").unwrap();
        assert!(every.is_time_matching(&at).unwrap());
    }
}
