//! Site visit analytics: requests queue a `Visit` without waiting; one writer
//! thread turns visits into rows — user-agent family, a visitor hash salted per day, no raw IP —
//! and inserts them in batches. A full queue drops visits (counted) rather than slow serving.
//! The public endpoints that record visits from elsewhere are in `public/`; the SQL is in
//! `store/` (analytics, stats), the charts in `dashboard/`.

use std::net::IpAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, TrySendError, sync_channel};
use std::thread::JoinHandle;
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::Connection;

use crate::http::Request;
use crate::secret;
use crate::store::{self, analytics::EventRow, settings};

/// Visits waiting to be written; beyond this, new visits are dropped and counted.
const QUEUE_CAPACITY: usize = 65_536;
/// How often the writer looks for queued visits.
const WRITE_INTERVAL: std::time::Duration = std::time::Duration::from_millis(100);
/// How often this thread checkpoints the WAL for every connection of the process (they have
/// automatic checkpoints turned off, see `store::configure`).
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_secs(1);
/// How often finished days are rolled up and old raw events pruned.
const UPKEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(3600);
/// Most rows written in one transaction.
const MAX_BATCH: usize = 2_000;
const MAX_PATH: usize = 512;
const MAX_REFERRER: usize = 512;

/// A request to a site, as the server saw it.
#[derive(Debug, Clone)]
pub struct Visit {
    pub unix_time: i64,
    /// 'hosting' for a site served here, 'web' for a pageview sent by `/t.js`.
    pub source_type: &'static str,
    /// The site's name, or the domain of a page hosted elsewhere.
    pub site: String,
    pub path: String,
    pub status: u16,
    pub referrer: Option<String>,
    pub user_agent: Option<String>,
    pub ip: IpAddr,
    /// What happened: `pageview`, or a name a page sent to `/track`.
    pub event: Event,
}

impl Visit {
    /// A visit happening now: a pageview (no event) with the request's `Referer` and
    /// `User-Agent`; `ip` is the client's address as the caller resolved it (the socket peer,
    /// or the trusted proxy's `X-Forwarded-For`). Sources with more to say set `event` or
    /// `referrer` on the result.
    pub fn now(
        req: &Request,
        ip: IpAddr,
        source_type: &'static str,
        site: String,
        path: String,
        status: u16,
    ) -> Visit {
        Visit {
            unix_time: now_unix(),
            source_type,
            site,
            path,
            status,
            referrer: req.header("referer").map(str::to_string),
            user_agent: req.header("user-agent").map(str::to_string),
            ip,
            event: Event::default(),
        }
    }
}

/// The parts of a visit that only some sources have.
#[derive(Debug, Clone, Default)]
pub struct Event {
    /// `None` is a pageview.
    pub name: Option<String>,
    /// A JSON object of string tags (`/track`, `/pixel.gif`).
    pub tags: Option<String>,
    /// A webhook's body.
    pub payload: Option<String>,
}

/// An event name a page (`/track`) or a webhook sender (`X-Event-Type`) may give: 1–64 of
/// `a-z A-Z 0-9 _ - .`, so names stay readable in menus and never carry markup or paths.
pub fn is_valid_event_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
}

enum Message {
    // Boxed: the bounded queue preallocates every slot, so slots are kept pointer-sized
    // (65 536 unboxed visits would hold ~8 MB of RSS while idle).
    Visit(Box<Visit>),
    /// Write everything queued before this message, then stop.
    Stop,
}

/// The request side: cheap to call from any worker.
pub struct Recorder {
    queue: SyncSender<Message>,
    dropped: AtomicU64,
}

/// The writer thread; `finish` flushes and joins it.
pub struct Writer {
    thread: JoinHandle<()>,
}

/// Starts the writer on its own connection to `db_path`.
pub fn start(db_path: &Path, retention_days: u32) -> Result<(Recorder, Writer), store::StoreError> {
    let conn = store::open(db_path)?;
    let (queue, rx) = sync_channel(QUEUE_CAPACITY);
    let thread = std::thread::Builder::new()
        .name("analytics".into())
        .spawn(move || write_loop(conn, rx, retention_days))
        .map_err(store::StoreError::Io)?;
    Ok((
        Recorder {
            queue,
            dropped: AtomicU64::new(0),
        },
        Writer { thread },
    ))
}

impl Recorder {
    pub fn record(&self, visit: Visit) {
        match self.queue.try_send(Message::Visit(Box::new(visit))) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                if n.is_power_of_two() {
                    eprintln!("analytics: queue full, {n} visits dropped so far");
                }
            }
        }
    }
}

impl Writer {
    /// Writes every visit recorded so far, then ends the writer thread.
    pub fn finish(self, recorder: &Recorder) {
        // A blocking send: at shutdown, waiting for room in the queue is right.
        if recorder.queue.send(Message::Stop).is_ok() {
            let _ = self.thread.join();
        }
    }
}

fn write_loop(mut conn: Connection, rx: Receiver<Message>, retention_days: u32) {
    let mut salt = DailySalt::default();
    let mut batch: Vec<EventRow> = Vec::with_capacity(MAX_BATCH);
    let mut last_checkpoint = std::time::Instant::now();
    // The first upkeep runs a second after start, then hourly.
    let mut next_upkeep = std::time::Instant::now() + std::time::Duration::from_secs(1);
    loop {
        let mut stop = false;
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(Message::Visit(v)) => batch.push(to_row(&conn, &mut salt, *v)),
                Ok(Message::Stop) | Err(TryRecvError::Disconnected) => {
                    stop = true;
                    break;
                }
                Err(TryRecvError::Empty) => break,
            }
        }
        let backlog = batch.len() == MAX_BATCH;
        if !batch.is_empty() {
            if let Err(e) = store::analytics::insert_batch(&mut conn, &batch) {
                eprintln!("analytics: could not write {} visits: {e}", batch.len());
            }
            batch.clear();
        }
        if last_checkpoint.elapsed() >= CHECKPOINT_EVERY {
            if let Err(e) = store::checkpoint(&conn) {
                eprintln!("analytics: checkpoint failed: {e}");
            }
            last_checkpoint = std::time::Instant::now();
        }
        if stop {
            let _ = store::checkpoint(&conn);
            return;
        }
        if std::time::Instant::now() >= next_upkeep {
            upkeep(&conn, retention_days);
            next_upkeep = std::time::Instant::now() + UPKEEP_EVERY;
        }
        // Poll a few times a second rather than block in recv(): a blocked writer would be
        // woken — a context switch — by every single request. With a backlog, go on at once.
        if !backlog {
            std::thread::sleep(WRITE_INTERVAL);
        }
    }
}

/// Rolls finished days up into daily totals, then deletes raw events past the retention.
/// Done here, off the request path, so the analytics page finds the roll-ups ready.
fn upkeep(conn: &Connection, retention_days: u32) {
    let today = crate::calendar::today_utc();
    if let Err(e) = store::stats::rollup_pending(conn, &today) {
        eprintln!("analytics: daily roll-up failed: {e}");
        return;
    }
    if retention_days > 0 {
        match store::stats::prune(conn, retention_days, &today) {
            Ok(0) => {}
            Ok(n) => eprintln!(
                "analytics: deleted {n} raw events older than {retention_days} days (daily totals kept)"
            ),
            Err(e) => eprintln!("analytics: pruning old events failed: {e}"),
        }
    }
}

fn to_row(conn: &Connection, salt: &mut DailySalt, v: Visit) -> EventRow {
    let day = v.unix_time.div_euclid(86_400);
    let ua = v.user_agent.as_deref().unwrap_or("");
    let ip = v.ip.to_string();
    let digest = secret::sha256(&[salt.for_day(conn, day), ip.as_bytes(), b"\n", ua.as_bytes()]);
    EventRow {
        unix_time: v.unix_time,
        source_type: v.source_type,
        domain: v.site,
        path: truncate(v.path, MAX_PATH),
        status: v.status,
        referrer: v.referrer.map(|r| truncate(r, MAX_REFERRER)),
        ua_family: ua_family(ua),
        visitor_hash: secret::hex(&digest[..8]),
        event_type: v.event.name.unwrap_or_else(|| "pageview".into()),
        tags: v.event.tags,
        payload: v.event.payload,
    }
}

/// A random salt that changes every UTC day, so visitor hashes of different days cannot be
/// linked. It is kept in `settings` so a restart mid-day does not double-count visitors; the
/// previous day's salt is overwritten, never kept.
#[derive(Default)]
struct DailySalt {
    day: i64,
    salt: Vec<u8>,
}

impl DailySalt {
    const KEY: &'static str = "visitor_salt";

    fn for_day(&mut self, conn: &Connection, day: i64) -> &[u8] {
        if self.day != day || self.salt.is_empty() {
            self.salt = self.load_or_create(conn, day);
            self.day = day;
        }
        &self.salt
    }

    fn load_or_create(&self, conn: &Connection, day: i64) -> Vec<u8> {
        let stored = settings::get(conn, Self::KEY).ok().flatten();
        if let Some((d, s)) = stored.as_deref().and_then(|v| v.split_once(':'))
            && d.parse::<i64>() == Ok(day)
        {
            return s.as_bytes().to_vec();
        }
        let fresh = secret::hex(&secret::random_bytes::<32>());
        if let Err(e) = settings::set(conn, Self::KEY, &format!("{day}:{fresh}")) {
            eprintln!("analytics: could not store the daily salt: {e}");
        }
        fresh.into_bytes()
    }
}

/// A coarse browser family from a User-Agent, for "top browsers" without fingerprinting.
pub fn ua_family(ua: &str) -> &'static str {
    let l = ua.to_ascii_lowercase();
    let has = |s: &str| l.contains(s);
    if l.is_empty() {
        "unknown"
    } else if has("bot") || has("crawler") || has("spider") || has("slurp") {
        "bot"
    } else if l.starts_with("curl/") {
        "curl"
    } else if l.starts_with("wget/") {
        "wget"
    } else if has("edg/") {
        "edge"
    } else if has("opr/") || has("opera") {
        "opera"
    } else if has("firefox/") {
        "firefox"
    } else if has("chromium/") || has("chrome/") || has("crios/") {
        "chrome"
    } else if has("safari/") {
        "safari"
    } else {
        "other"
    }
}

fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
    s
}

pub fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_names() {
        for ok in [
            "signup",
            "push",
            "pull_request",
            "v1.2-beta",
            &"a".repeat(64),
        ] {
            assert!(is_valid_event_name(ok), "{ok}");
        }
        for bad in ["", "a b", "<b>", "a/b", "é", &"a".repeat(65)] {
            assert!(!is_valid_event_name(bad), "{bad}");
        }
    }

    #[test]
    fn user_agent_families() {
        let cases = [
            ("", "unknown"),
            ("curl/8.5.0", "curl"),
            ("Wget/1.21", "wget"),
            ("Mozilla/5.0 (compatible; Googlebot/2.1)", "bot"),
            (
                "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0",
                "firefox",
            ),
            (
                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
                "chrome",
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0) AppleWebKit/537.36 Chrome/120.0 Safari/537.36 Edg/120.0",
                "edge",
            ),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0) AppleWebKit/605.1.15 Version/17.0 Mobile/15E148 Safari/604.1",
                "safari",
            ),
            ("something", "other"),
        ];
        for (ua, want) in cases {
            assert_eq!(ua_family(ua), want, "{ua}");
        }
    }

    #[test]
    fn truncation_respects_utf8() {
        assert_eq!(truncate("héllo".into(), 2), "h");
        assert_eq!(truncate("abc".into(), 5), "abc");
    }

    #[test]
    fn visitor_hash_is_stable_within_a_day_and_changes_across_days() {
        let conn = Connection::open_in_memory().unwrap();
        store::migrate(&conn).unwrap();
        let mut salt = DailySalt::default();
        let visit = |t: i64| Visit {
            unix_time: t,
            source_type: "hosting",
            event: Event::default(),
            site: "blog".into(),
            path: "/".into(),
            status: 200,
            referrer: None,
            user_agent: Some("curl/8".into()),
            ip: "10.0.0.1".parse().unwrap(),
        };
        let a = to_row(&conn, &mut salt, visit(86_400 * 100 + 5));
        let b = to_row(&conn, &mut salt, visit(86_400 * 100 + 500));
        let c = to_row(&conn, &mut salt, visit(86_400 * 101 + 5));
        assert_eq!(a.visitor_hash, b.visitor_hash);
        assert_ne!(a.visitor_hash, c.visitor_hash);
        assert!(!a.visitor_hash.contains("10.0.0.1"));
        // A restart the same day (a fresh DailySalt) reuses the stored salt.
        let mut restarted = DailySalt::default();
        let d = to_row(&conn, &mut restarted, visit(86_400 * 101 + 9));
        assert_eq!(c.visitor_hash, d.visitor_hash);
    }
}
