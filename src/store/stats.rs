//! The analytics read side: daily roll-ups of `events` into `event_rollups` (kept forever),
//! pruning of raw events once their day is rolled up, and the numbers the dashboard shows.
//!
//! For the analytics page: `rollup_pending(conn, &today_utc())` (cheap when nothing is
//! pending), then `summary(conn, &filter, &today)`; `domains` and `source_types` fill the
//! filter menus. Call `prune` now and then (e.g. daily) to bound the size of `events`.
//!
//! Definitions the numbers follow:
//! - a *pageview* is one `events` row (every recorded request);
//! - *visitors* of one day are the distinct `visitor_hash` values of that day. The hash is
//!   salted per day, so one person is a different visitor every day: over a range, visitors
//!   are the sum of the daily uniques ("visitor-days"), and cannot be anything better;
//! - a *path* is the request path without its query string or fragment;
//! - a *referrer* is the referring URL's host, lower case, without `www.`; requests without
//!   one are left out of the referrer list.
//!
//! Bookkeeping lives in three `settings` rows: `stats_rolled_through` (the last day rolled up:
//! every day with events up to it is in `event_rollups`), `stats_rollup_seen_id` (the highest
//! `events.id` the last roll-up looked at, to find events that arrived after their day was
//! rolled up) and `stats_pruned_before` (raw events before this day may be gone, so such days
//! are never rolled up again).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, Transaction, TransactionBehavior, params};

use crate::store::settings;

/// Most 'path' and 'referrer' rows kept per day, source and domain. Without a cap, a crawler
/// requesting random URLs would add a row per URL per day, forever. Paths below the cap on a
/// given day are missing from the long-range top lists for that day: those lists are
/// approximate, the totals are exact.
pub const TOP_PER_DAY: usize = 100;
/// Entries in each top list of a `Summary`.
pub const TOP_LIST: usize = 10;
/// The longest range `summary` accepts, in days (a leap year).
pub const MAX_DAYS: u32 = 366;

/// Marks the roll-up rows over all sources or all domains. No real source type or domain is
/// '*'; should an event ever carry one, it still counts in the '*' totals but gets no row of
/// its own (which would collide with the totals).
const ALL: &str = "*";

const KEY_ROLLED_THROUGH: &str = "stats_rolled_through";
const KEY_SEEN_ID: &str = "stats_rollup_seen_id";
const KEY_PRUNED_BEFORE: &str = "stats_pruned_before";

/// Rows deleted per statement by `prune`: each statement is its own short write transaction,
/// so the analytics writer never waits long for the lock.
const PRUNE_CHUNK: usize = 5_000;
/// Longest referrer host kept (a DNS name has at most 253 characters).
const MAX_HOST: usize = 253;

/// What `summary` is asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    /// Days ending with today (today included); clamped to 1..=366.
    pub days: u32,
    /// One domain (a site name for 'hosting'), or all. `Some("")` and `Some("*")` mean all.
    pub domain: Option<String>,
    /// One source type ('hosting', 'web', …), or all. `Some("")` and `Some("*")` mean all.
    pub source_type: Option<String>,
}

impl Default for Filter {
    fn default() -> Self {
        Filter {
            days: 30,
            domain: None,
            source_type: None,
        }
    }
}

/// One day of the chart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayPoint {
    /// UTC 'YYYY-MM-DD'.
    pub day: String,
    pub pageviews: u64,
    /// Distinct visitors that day.
    pub visitors: u64,
}

/// One entry of a top list: a domain (`top_sites`) or a referrer host (`top_referrers`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Count {
    pub label: String,
    pub pageviews: u64,
    /// Sum of daily unique visitors (see the module comment).
    pub visitors: u64,
}

/// One entry of `top_paths`: paths are per domain ('/' of two sites are two pages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathCount {
    pub domain: String,
    pub path: String,
    pub pageviews: u64,
    /// Sum of daily unique visitors (see the module comment).
    pub visitors: u64,
}

/// Everything the analytics page shows for one `Filter`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Every day of the range, oldest first, days without events as zeros.
    pub per_day: Vec<DayPoint>,
    /// Sum over `per_day`.
    pub pageviews: u64,
    /// Sum over `per_day` of the daily unique visitors (visitor-days): visitor hashes change
    /// every day, so the same person on two days cannot be recognised as one.
    pub visitors: u64,
    /// Every domain in the selection with its totals, by name (the Hosting page's visits).
    pub all_sites: Vec<Count>,
    /// At most `TOP_LIST` each, most pageviews first (then most visitors, then by name).
    pub top_sites: Vec<Count>,
    pub top_paths: Vec<PathCount>,
    /// Referrer hosts, summed over the domains in the filter.
    pub top_referrers: Vec<Count>,
}

/// Today's UTC date as 'YYYY-MM-DD', the `today` the functions here expect.
pub fn today_utc() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    format_day(secs.div_euclid(86_400))
}

/// Rolls up every finished UTC day (before `today`) that has events and is not rolled up
/// yet, one transaction per day, and re-rolls days that received events after they were
/// rolled up (the writer flushes every 100 ms, so a day's last visits can land after
/// midnight). Returns how many days were (re-)rolled. Idempotent; when nothing is pending it
/// costs a few index lookups plus a look at the events inserted since the previous call.
pub fn rollup_pending(conn: &Connection, today: &str) -> rusqlite::Result<u32> {
    let today = parse_day(today).ok_or_else(|| bad_day("today", today))?;
    let state = State::load(conn)?;
    let max_id: i64 =
        conn.query_row("SELECT coalesce(max(id), 0) FROM events", [], |r| r.get(0))?;

    // Days already rolled up that got events since the last call. Ids only grow (rowids are
    // max + 1), unless pruning removed the newest rows: then look at all that is left.
    let mut late = BTreeSet::new();
    if let Some(rolled) = state.rolled_through
        && max_id != state.seen_id
    {
        let after = if max_id < state.seen_id {
            0
        } else {
            state.seen_id
        };
        // `+created_at`: walk the rowid range, never the created_at index (which would mean
        // every event up to the watermark).
        let mut stmt = conn.prepare_cached(
            "SELECT DISTINCT substr(created_at, 1, 10) FROM events
             WHERE id > ?1 AND id <= ?2 AND +created_at < ?3",
        )?;
        let days = stmt.query_map(params![after, max_id, day_start(rolled + 1)], |r| {
            r.get::<_, String>(0)
        })?;
        for day in days {
            // Days before `pruned_before` may have lost raw rows: re-rolling them would
            // replace complete totals with partial ones, so their late events are dropped.
            if let Some(d) = parse_day(&day?)
                && d < today
                && state.pruned_before.is_none_or(|p| d >= p)
            {
                late.insert(d);
            }
        }
    }

    let mut rolled = 0;
    for &day in &late {
        write_day(conn, day, &aggregate_day(conn, day)?, false)?;
        rolled += 1;
    }

    // New days, oldest first: each step is one index lookup for the next day with events.
    let first_new = match (state.rolled_through, state.pruned_before) {
        (Some(r), Some(p)) => Some((r + 1).max(p)),
        (r, p) => r.map(|r| r + 1).or(p),
    };
    let mut from = first_new.map(day_start).unwrap_or_default();
    let until = day_start(today);
    loop {
        let next: Option<String> = conn.query_row(
            "SELECT min(created_at) FROM events WHERE created_at >= ?1 AND created_at < ?2",
            params![from, until],
            |r| r.get(0),
        )?;
        let Some(ts) = next else { break };
        let prefix = ts.get(..10).unwrap_or(&ts);
        match parse_day(prefix) {
            Some(day) => {
                write_day(conn, day, &aggregate_day(conn, day)?, true)?;
                rolled += 1;
                from = day_start(day + 1);
            }
            // Not a date (insert_batch never writes one): step over every value sharing this
            // prefix rather than stop rolling up for good.
            None => from = format!("{prefix}~"),
        }
    }

    if max_id != state.seen_id {
        settings::set(conn, KEY_SEEN_ID, &max_id.to_string())?;
    }
    Ok(rolled)
}

/// Deletes raw events from days before `today - keep_days` (today's rows always stay). Rolls
/// up first, then deletes only rolled-up days and only rows a roll-up has seen, so no visit
/// is lost from the totals; roll-ups are kept forever. Deletes in small chunks, each its own
/// short transaction (the analytics writer keeps writing meanwhile). Returns how many events
/// were deleted.
pub fn prune(conn: &Connection, keep_days: u32, today: &str) -> rusqlite::Result<u64> {
    // Late events of a day about to be pruned are counted now or never.
    rollup_pending(conn, today)?;
    let today = parse_day(today).ok_or_else(|| bad_day("today", today))?;
    let state = State::load(conn)?;
    let Some(rolled) = state.rolled_through else {
        return Ok(0);
    };
    let before = (today - i64::from(keep_days)).min(rolled + 1);
    // Recorded first: should pruning stop halfway, no roll-up may run on the partial days.
    if state.pruned_before.is_none_or(|p| p < before) {
        settings::set(conn, KEY_PRUNED_BEFORE, &format_day(before))?;
    }
    let mut stmt = conn.prepare_cached(
        "DELETE FROM events WHERE id IN
           (SELECT id FROM events WHERE created_at < ?1 AND id <= ?2 LIMIT ?3)",
    )?;
    let mut deleted = 0u64;
    loop {
        let n = stmt.execute(params![
            day_start(before),
            state.seen_id,
            PRUNE_CHUNK as i64
        ])?;
        deleted += n as u64;
        if n < PRUNE_CHUNK {
            return Ok(deleted);
        }
    }
}

/// The analytics page's numbers. Rolled-up days come from `event_rollups`; today and any day
/// not rolled up yet are aggregated from `events` the same way a roll-up would (correct but
/// slower, so call `rollup_pending` first). Reads in one transaction of its own unless `conn`
/// is already in one.
pub fn summary(conn: &Connection, filter: &Filter, today: &str) -> rusqlite::Result<Summary> {
    let today = parse_day(today).ok_or_else(|| bad_day("today", today))?;
    let days = filter.days.clamp(1, MAX_DAYS);
    let first = today - i64::from(days) + 1;
    let sel = Selection::new(filter);

    // One snapshot: the watermark and the roll-ups it vouches for must agree.
    let _read = if conn.is_autocommit() {
        Some(Transaction::new_unchecked(
            conn,
            TransactionBehavior::Deferred,
        )?)
    } else {
        None
    };
    let state = State::load(conn)?;
    let last_rolled = state.rolled_through.map_or(first - 1, |r| r.min(today - 1));

    let mut per_day: Vec<(u64, u64)> = vec![(0, 0); days as usize];
    let mut sites: HashMap<String, (u64, u64)> = HashMap::new();
    let mut paths: HashMap<(String, String), (u64, u64)> = HashMap::new();
    let mut referrers: HashMap<String, (u64, u64)> = HashMap::new();

    if last_rolled >= first {
        let (a, b) = (format_day(first), format_day(last_rolled));
        let mut stmt = conn.prepare_cached(
            "SELECT day, pageviews, visitors FROM event_rollups
             WHERE kind = 'total' AND day BETWEEN ?1 AND ?2 AND source_type = ?3 AND domain = ?4",
        )?;
        let mut rows = stmt.query(params![a, b, sel.source_or_all(), sel.domain_or_all()])?;
        while let Some(r) = rows.next()? {
            if let Some(i) = parse_day(r.get_ref(0)?.as_str()?).and_then(|d| index_of(d, first))
                && let Some(slot) = per_day.get_mut(i)
            {
                add(slot, count(r.get(1)?), count(r.get(2)?));
            }
        }

        let mut stmt = conn.prepare_cached(
            "SELECT domain, sum(pageviews), sum(visitors) FROM event_rollups
             WHERE kind = 'total' AND day BETWEEN ?1 AND ?2 AND source_type = ?3
               AND domain <> '*' AND (?4 IS NULL OR domain = ?4)
             GROUP BY domain",
        )?;
        let mut rows = stmt.query(params![a, b, sel.source_or_all(), sel.domain])?;
        while let Some(r) = rows.next()? {
            let slot = sites.entry(r.get(0)?).or_default();
            add(slot, count(r.get(1)?), count(r.get(2)?));
        }

        let mut stmt = conn.prepare_cached(
            "SELECT domain, value, sum(pageviews), sum(visitors) FROM event_rollups
             WHERE kind = 'path' AND day BETWEEN ?1 AND ?2
               AND (?3 IS NULL OR source_type = ?3) AND (?4 IS NULL OR domain = ?4)
             GROUP BY domain, value",
        )?;
        let mut rows = stmt.query(params![a, b, sel.source, sel.domain])?;
        while let Some(r) = rows.next()? {
            let slot = paths.entry((r.get(0)?, r.get(1)?)).or_default();
            add(slot, count(r.get(2)?), count(r.get(3)?));
        }

        let mut stmt = conn.prepare_cached(
            "SELECT value, sum(pageviews), sum(visitors) FROM event_rollups
             WHERE kind = 'referrer' AND day BETWEEN ?1 AND ?2
               AND (?3 IS NULL OR source_type = ?3) AND (?4 IS NULL OR domain = ?4)
             GROUP BY value",
        )?;
        let mut rows = stmt.query(params![a, b, sel.source, sel.domain])?;
        while let Some(r) = rows.next()? {
            let slot = referrers.entry(r.get(0)?).or_default();
            add(slot, count(r.get(1)?), count(r.get(2)?));
        }
    }

    // The same selections as the SQL above, applied to freshly aggregated raw days.
    for day in (last_rolled + 1).max(first)..=today {
        let Some(i) = index_of(day, first) else {
            continue;
        };
        for row in aggregate_day(conn, day)? {
            let (pv, v) = (row.pageviews, row.visitors);
            match row.kind {
                Kind::Total if row.source_type == sel.source_or_all() => {
                    if row.domain == sel.domain_or_all()
                        && let Some(slot) = per_day.get_mut(i)
                    {
                        add(slot, pv, v);
                    }
                    if row.domain != ALL && sel.domain_matches(&row.domain) {
                        add(sites.entry(row.domain).or_default(), pv, v);
                    }
                }
                Kind::Path if sel.matches(&row.source_type, &row.domain) => {
                    add(paths.entry((row.domain, row.value)).or_default(), pv, v);
                }
                Kind::Referrer if sel.matches(&row.source_type, &row.domain) => {
                    add(referrers.entry(row.value).or_default(), pv, v);
                }
                _ => {}
            }
        }
    }

    let per_day: Vec<DayPoint> = per_day
        .into_iter()
        .enumerate()
        .map(|(i, (pageviews, visitors))| DayPoint {
            day: format_day(first + i as i64),
            pageviews,
            visitors,
        })
        .collect();
    let top = |map: HashMap<String, (u64, u64)>| -> Vec<Count> {
        top_n(map.into_iter().map(|(label, (pageviews, visitors))| Count {
            label,
            pageviews,
            visitors,
        }))
    };
    let mut all_sites: Vec<Count> = sites
        .iter()
        .map(|(label, &(pageviews, visitors))| Count {
            label: label.clone(),
            pageviews,
            visitors,
        })
        .collect();
    all_sites.sort_by(|a, b| a.label.cmp(&b.label));
    Ok(Summary {
        all_sites,
        pageviews: per_day
            .iter()
            .map(|p| p.pageviews)
            .fold(0, u64::saturating_add),
        visitors: per_day
            .iter()
            .map(|p| p.visitors)
            .fold(0, u64::saturating_add),
        per_day,
        top_sites: top(sites),
        top_paths: top_n(
            paths
                .into_iter()
                .map(|((domain, path), (pageviews, visitors))| PathCount {
                    domain,
                    path,
                    pageviews,
                    visitors,
                }),
        ),
        top_referrers: top(referrers),
    })
}

/// Every domain that has events, raw or rolled up, sorted (for the filter menu).
pub fn domains(conn: &Connection) -> rusqlite::Result<Vec<String>> {
    // The recursive part walks events_domain_created_at one distinct domain at a time, so it
    // costs one index lookup per domain however many events there are.
    let mut stmt = conn.prepare_cached(
        "WITH RECURSIVE d(name) AS (
             SELECT min(domain) FROM events
             UNION ALL
             SELECT (SELECT min(domain) FROM events WHERE domain > d.name) FROM d
             WHERE d.name IS NOT NULL
         )
         SELECT name FROM d WHERE name IS NOT NULL AND name NOT IN ('', '*')
         UNION
         SELECT domain FROM event_rollups WHERE kind = 'total' AND domain <> '*'
         ORDER BY 1",
    )?;
    stmt.query_map([], |r| r.get(0))?.collect()
}

/// Every source type that has events, raw or rolled up, sorted (for the filter menu).
pub fn source_types(conn: &Connection) -> rusqlite::Result<Vec<String>> {
    // `events` has no index on source_type: read the raw rows after the roll-ups only.
    let state = State::load(conn)?;
    let from = state.rolled_through.map(|r| day_start(r + 1));
    let mut stmt = conn.prepare_cached(
        "SELECT source_type FROM events WHERE created_at >= coalesce(?1, '')
           AND source_type NOT IN ('', '*')
         UNION
         SELECT source_type FROM event_rollups WHERE kind = 'total' AND source_type <> '*'
         ORDER BY 1",
    )?;
    stmt.query_map([from], |r| r.get(0))?.collect()
}

/// The `settings` rows this module keeps (see the module comment). An unreadable value (only
/// a hand edit makes one) counts as absent.
struct State {
    rolled_through: Option<i64>,
    seen_id: i64,
    pruned_before: Option<i64>,
}

impl State {
    fn load(conn: &Connection) -> rusqlite::Result<State> {
        let day = |key| -> rusqlite::Result<Option<i64>> {
            Ok(settings::get(conn, key)?.and_then(|v| parse_day(&v)))
        };
        Ok(State {
            rolled_through: day(KEY_ROLLED_THROUGH)?,
            seen_id: settings::get(conn, KEY_SEEN_ID)?
                .and_then(|v| v.parse().ok())
                .unwrap_or(0),
            pruned_before: day(KEY_PRUNED_BEFORE)?,
        })
    }
}

/// `filter`, normalised: `None` = all.
struct Selection<'a> {
    source: Option<&'a str>,
    domain: Option<&'a str>,
}

impl<'a> Selection<'a> {
    fn new(filter: &'a Filter) -> Self {
        let one = |v: &'a Option<String>| v.as_deref().filter(|s| !s.is_empty() && *s != ALL);
        Selection {
            source: one(&filter.source_type),
            domain: one(&filter.domain),
        }
    }
    fn source_or_all(&self) -> &'a str {
        self.source.unwrap_or(ALL)
    }
    fn domain_or_all(&self) -> &'a str {
        self.domain.unwrap_or(ALL)
    }
    fn domain_matches(&self, domain: &str) -> bool {
        self.domain.is_none_or(|d| d == domain)
    }
    fn matches(&self, source: &str, domain: &str) -> bool {
        self.source.is_none_or(|s| s == source) && self.domain_matches(domain)
    }
}

fn add(slot: &mut (u64, u64), pageviews: u64, visitors: u64) {
    slot.0 = slot.0.saturating_add(pageviews);
    slot.1 = slot.1.saturating_add(visitors);
}

fn count(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn index_of(day: i64, first: i64) -> Option<usize> {
    usize::try_from(day - first).ok()
}

/// Sorts by pageviews, then visitors (both descending), then by the entry itself, and keeps
/// `TOP_LIST`.
fn top_n<T: Ranked>(items: impl Iterator<Item = T>) -> Vec<T> {
    let mut v: Vec<T> = items.collect();
    v.sort_by(|a, b| {
        b.counts()
            .cmp(&a.counts())
            .then_with(|| a.name().cmp(&b.name()))
    });
    v.truncate(TOP_LIST);
    v
}

trait Ranked {
    fn counts(&self) -> (u64, u64);
    fn name(&self) -> (&str, &str);
}

impl Ranked for Count {
    fn counts(&self) -> (u64, u64) {
        (self.pageviews, self.visitors)
    }
    fn name(&self) -> (&str, &str) {
        (&self.label, "")
    }
}

impl Ranked for PathCount {
    fn counts(&self) -> (u64, u64) {
        (self.pageviews, self.visitors)
    }
    fn name(&self) -> (&str, &str) {
        (&self.domain, &self.path)
    }
}

/// `event_rollups.kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Total,
    Path,
    Referrer,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Total => "total",
            Kind::Path => "path",
            Kind::Referrer => "referrer",
        }
    }
}

/// One `event_rollups` row without its day.
#[derive(Debug, Clone, PartialEq, Eq)]
struct RollupRow {
    kind: Kind,
    source_type: String,
    domain: String,
    value: String,
    pageviews: u64,
    visitors: u64,
}

/// Strings seen while aggregating a day, as small numbers: keys stay `Copy` and each distinct
/// string is allocated once, however many events repeat it.
#[derive(Default)]
struct Interner {
    ids: HashMap<String, u32>,
    names: Vec<String>,
}

impl Interner {
    fn id(&mut self, s: &str) -> u32 {
        if let Some(&id) = self.ids.get(s) {
            return id;
        }
        let id = self.names.len() as u32;
        self.names.push(s.to_owned());
        self.ids.insert(s.to_owned(), id);
        id
    }
}

/// A roll-up row being counted: kind, then source, domain and value as interned ids.
type GroupKey = (Kind, u32, u32, u32);

#[derive(Default)]
struct Acc {
    pageviews: u64,
    visitors: HashSet<u32>,
}

/// A path or referrer host (interned id) with its counts, before the per-day cap.
struct Tally {
    value: u32,
    pageviews: u64,
    visitors: u64,
}

/// Every roll-up row of one UTC day, computed from `events` in one pass over the day's rows.
/// Used both to roll a day up and for today's live numbers, so the two always agree.
fn aggregate_day(conn: &Connection, day: i64) -> rusqlite::Result<Vec<RollupRow>> {
    let mut strings = Interner::default();
    let mut hashes = Interner::default();
    // Referrer URL → host id, so each distinct URL is parsed once.
    let mut hosts: HashMap<String, Option<u32>> = HashMap::new();
    let mut groups: HashMap<GroupKey, Acc> = HashMap::new();
    let (all, empty) = (strings.id(ALL), strings.id(""));

    let mut stmt = conn.prepare_cached(
        "SELECT source_type, domain, path, referrer, visitor_hash FROM events
         WHERE created_at >= ?1 AND created_at < ?2",
    )?;
    let mut rows = stmt.query(params![day_start(day), day_start(day + 1)])?;
    while let Some(r) = rows.next()? {
        let source = r.get_ref(0)?.as_str()?;
        let domain = r.get_ref(1)?.as_str()?;
        let visitor = r.get_ref(4)?.as_str_or_null()?.map(|h| hashes.id(h));
        let (s, d) = (strings.id(source), strings.id(domain));
        let mut bump = |key| {
            let acc: &mut Acc = groups.entry(key).or_default();
            acc.pageviews += 1;
            if let Some(v) = visitor {
                acc.visitors.insert(v);
            }
        };
        bump((Kind::Total, all, all, empty));
        if domain != ALL {
            bump((Kind::Total, all, d, empty));
        }
        if source != ALL {
            bump((Kind::Total, s, all, empty));
        }
        if source == ALL || domain == ALL {
            continue;
        }
        bump((Kind::Total, s, d, empty));
        let path = strings.id(path_key(r.get_ref(2)?.as_str()?));
        bump((Kind::Path, s, d, path));
        if let Some(url) = r.get_ref(3)?.as_str_or_null()? {
            let host = match hosts.get(url) {
                Some(&h) => h,
                None => {
                    let h = referrer_host(url).map(|h| strings.id(&h));
                    hosts.insert(url.to_owned(), h);
                    h
                }
            };
            if let Some(host) = host {
                bump((Kind::Referrer, s, d, host));
            }
        }
    }

    let name = |id: u32| strings.names[id as usize].clone();
    let mut out = Vec::new();
    // Paths and referrers, per (kind, source, domain), before the cap.
    let mut ranked: HashMap<(Kind, u32, u32), Vec<Tally>> = HashMap::new();
    for ((kind, s, d, value), acc) in groups {
        let (pageviews, visitors) = (acc.pageviews, acc.visitors.len() as u64);
        if kind == Kind::Total {
            out.push(RollupRow {
                kind,
                source_type: name(s),
                domain: name(d),
                value: String::new(),
                pageviews,
                visitors,
            });
        } else {
            ranked.entry((kind, s, d)).or_default().push(Tally {
                value,
                pageviews,
                visitors,
            });
        }
    }
    for ((kind, s, d), mut tallies) in ranked {
        tallies.sort_by(|a, b| {
            (b.pageviews, b.visitors)
                .cmp(&(a.pageviews, a.visitors))
                .then_with(|| strings.names[a.value as usize].cmp(&strings.names[b.value as usize]))
        });
        tallies.truncate(TOP_PER_DAY);
        for t in tallies {
            out.push(RollupRow {
                kind,
                source_type: name(s),
                domain: name(d),
                value: name(t.value),
                pageviews: t.pageviews,
                visitors: t.visitors,
            });
        }
    }
    Ok(out)
}

/// Replaces the roll-up of `day` with `rows` in one write transaction, and with `advance`
/// moves the rolled-through mark to it (new days are rolled oldest first).
fn write_day(
    conn: &Connection,
    day: i64,
    rows: &[RollupRow],
    advance: bool,
) -> rusqlite::Result<()> {
    let day = format_day(day);
    // IMMEDIATE: take the write lock up front; a deferred transaction that reads and then
    // writes fails outright (SQLITE_BUSY_SNAPSHOT) if the analytics writer committed between.
    let tx = Transaction::new_unchecked(conn, TransactionBehavior::Immediate)?;
    tx.execute(
        "DELETE FROM event_rollups WHERE kind IN ('total', 'path', 'referrer') AND day = ?1",
        [&day],
    )?;
    {
        let mut insert = tx.prepare_cached(
            "INSERT INTO event_rollups
               (kind, day, source_type, domain, value, pageviews, visitors)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?;
        for r in rows {
            insert.execute(params![
                r.kind.as_str(),
                day,
                r.source_type,
                r.domain,
                r.value,
                i64::try_from(r.pageviews).unwrap_or(i64::MAX),
                i64::try_from(r.visitors).unwrap_or(i64::MAX),
            ])?;
        }
    }
    if advance {
        settings::set(&tx, KEY_ROLLED_THROUGH, &day)?;
    }
    tx.commit()
}

/// The path as a top-list entry: without query string or fragment, which would split one page
/// into many rows (`?utm_source=…`, cache busters) and can carry tokens.
fn path_key(path: &str) -> &str {
    let end = path.find(['?', '#']).unwrap_or(path.len());
    &path[..end]
}

/// The host of a referrer URL, lower case, without port, user info, trailing dot or `www.`;
/// `None` when there is none. Hosts rather than full URLs: full referrers carry search terms,
/// session and reset tokens, and are so varied that the per-day cap would cut most of them;
/// the host is what "where do visitors come from" asks. The referring page is not kept.
fn referrer_host(referrer: &str) -> Option<String> {
    let r = referrer.trim();
    let rest = match r.find("://") {
        Some(i) => &r[i + 3..],
        None => r.strip_prefix("//").unwrap_or(r),
    };
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let host_port = authority.rsplit('@').next().unwrap_or(authority);
    let host = if host_port.starts_with('[') {
        // IPv6 literal: keep the brackets, drop the port after them.
        &host_port[..host_port.find(']').map_or(host_port.len(), |i| i + 1)]
    } else {
        host_port.split(':').next().unwrap_or(host_port)
    };
    let mut host = host.trim_end_matches('.').to_ascii_lowercase();
    if let Some(bare) = host.strip_prefix("www.")
        && !bare.is_empty()
    {
        host = bare.to_string();
    }
    if host.len() > MAX_HOST {
        let mut cut = MAX_HOST;
        while !host.is_char_boundary(cut) {
            cut -= 1;
        }
        host.truncate(cut);
    }
    (!host.is_empty()).then_some(host)
}

/// `created_at` of the first second of `day` (days since 1970-01-01).
fn day_start(day: i64) -> String {
    format!("{} 00:00:00", format_day(day))
}

/// Days since 1970-01-01 of a 'YYYY-MM-DD' that is a real date, else `None`.
fn parse_day(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let digits = [0, 1, 2, 3, 5, 6, 8, 9];
    if b.len() != 10
        || b[4] != b'-'
        || b[7] != b'-'
        || !digits.iter().all(|&i| b[i].is_ascii_digit())
    {
        return None;
    }
    let num = |from: usize, to: usize| -> i64 {
        b[from..to]
            .iter()
            .fold(0, |n, c| n * 10 + i64::from(c - b'0'))
    };
    let days = days_from_civil(num(0, 4), num(5, 7), num(8, 10));
    // Round-tripping rejects month 13, 30 February and the like.
    (format_day(days) == s).then_some(days)
}

/// 'YYYY-MM-DD' of a day counted from 1970-01-01.
fn format_day(days: i64) -> String {
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

// Howard Hinnant's proleptic Gregorian calendar algorithms
// (https://howardhinnant.github.io/date_algorithms.html).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn bad_day(what: &str, got: &str) -> rusqlite::Error {
    rusqlite::Error::ToSqlConversionFailure(
        format!("{what} must be a UTC date 'YYYY-MM-DD', got {got:?}").into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        crate::store::migrate(&conn).unwrap();
        conn
    }

    /// One event per line: "date time source domain path referrer visitor", where the
    /// referrer `-` is NULL and `''` the empty string.
    fn insert(conn: &Connection, lines: &[&str]) {
        for line in lines {
            let f: Vec<&str> = line.split_whitespace().collect();
            let [date, time, source, domain, path, referrer, visitor] = f[..] else {
                panic!("bad test event {line:?}");
            };
            let referrer = match referrer {
                "-" => None,
                "''" => Some(""),
                r => Some(r),
            };
            conn.execute(
                "INSERT INTO events (created_at, source_type, domain, path, status, referrer,
                                     ua_family, visitor_hash)
                 VALUES (?1, ?2, ?3, ?4, 200, ?5, 'firefox', ?6)",
                params![
                    format!("{date} {time}"),
                    source,
                    domain,
                    path,
                    referrer,
                    visitor
                ],
            )
            .unwrap();
        }
    }

    fn all(days: u32) -> Filter {
        Filter {
            days,
            ..Filter::default()
        }
    }

    /// Every roll-up row as "kind day source domain value pageviews visitors".
    fn rollup_rows(conn: &Connection) -> Vec<String> {
        let mut stmt = conn
            .prepare(
                "SELECT kind || ' ' || day || ' ' || source_type || ' ' || domain || ' ' || value
                        || ' ' || pageviews || ' ' || visitors
                 FROM event_rollups ORDER BY kind, day, source_type, domain, value",
            )
            .unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    /// (pageviews, visitors) of one roll-up row, by "kind day source domain [value]".
    fn rollup(conn: &Connection, key: &str) -> Option<(i64, i64)> {
        let k: Vec<&str> = key.split(' ').collect();
        conn.query_row(
            "SELECT pageviews, visitors FROM event_rollups
             WHERE kind = ?1 AND day = ?2 AND source_type = ?3 AND domain = ?4 AND value = ?5",
            params![k[0], k[1], k[2], k[3], k.get(4).copied().unwrap_or("")],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .ok()
    }

    fn raw_count(conn: &Connection) -> i64 {
        conn.query_row("SELECT count(*) FROM events", [], |r| r.get(0))
            .unwrap()
    }

    fn per_day(s: &Summary) -> Vec<(u64, u64)> {
        s.per_day
            .iter()
            .map(|p| (p.pageviews, p.visitors))
            .collect()
    }

    fn labels(list: &[Count]) -> Vec<(&str, u64, u64)> {
        list.iter()
            .map(|c| (c.label.as_str(), c.pageviews, c.visitors))
            .collect()
    }

    const TODAY: &str = "2026-03-03";

    /// Two finished days and today; two sites and an external domain; two sources.
    fn sample(conn: &Connection) {
        insert(
            conn,
            &[
                "2026-03-01 08:00:00 hosting blog / https://www.Google.com/search?q=x v1",
                "2026-03-01 09:00:00 hosting blog /?utm=1 - v1",
                "2026-03-01 10:00:00 hosting blog /about '' v1",
                "2026-03-01 11:00:00 hosting blog /about#team https://news.ycombinator.com/item?id=1 v2",
                "2026-03-01 23:59:59 hosting shop / https://google.com/ v1",
                "2026-03-01 12:00:00 web example.org /pricing - v3",
                "2026-03-02 00:00:00 hosting blog / - w1",
                "2026-03-02 13:00:00 hosting blog / - w1",
                "2026-03-03 07:00:00 hosting blog /new https://lobste.rs/ x1",
                "2026-03-03 08:00:00 hosting shop / - x2",
            ],
        );
    }

    #[test]
    fn an_empty_database_has_zeros_for_every_day() {
        let conn = db();
        assert_eq!(rollup_pending(&conn, TODAY).unwrap(), 0);
        let s = summary(&conn, &all(7), TODAY).unwrap();
        assert_eq!(s.per_day.len(), 7);
        assert_eq!(s.per_day[0].day, "2026-02-25");
        assert_eq!(s.per_day[6].day, TODAY);
        assert_eq!(per_day(&s), [(0, 0); 7]);
        assert_eq!((s.pageviews, s.visitors), (0, 0));
        assert!(s.top_sites.is_empty() && s.top_paths.is_empty() && s.top_referrers.is_empty());
        assert!(domains(&conn).unwrap().is_empty());
        assert!(source_types(&conn).unwrap().is_empty());
        assert_eq!(prune(&conn, 0, TODAY).unwrap(), 0);
    }

    #[test]
    fn rollup_counts_pageviews_and_daily_unique_visitors() {
        let conn = db();
        sample(&conn);
        assert_eq!(
            rollup_pending(&conn, TODAY).unwrap(),
            2,
            "two finished days"
        );

        // All sources and domains: v1 on blog and on shop is one visitor that day.
        assert_eq!(rollup(&conn, "total 2026-03-01 * *"), Some((6, 3)));
        assert_eq!(rollup(&conn, "total 2026-03-01 hosting *"), Some((5, 2)));
        assert_eq!(rollup(&conn, "total 2026-03-01 * blog"), Some((4, 2)));
        assert_eq!(rollup(&conn, "total 2026-03-01 hosting blog"), Some((4, 2)));
        assert_eq!(
            rollup(&conn, "total 2026-03-01 web example.org"),
            Some((1, 1))
        );
        assert_eq!(rollup(&conn, "total 2026-03-02 * *"), Some((2, 1)));
        // Paths lose their query string and fragment.
        assert_eq!(
            rollup(&conn, "path 2026-03-01 hosting blog /"),
            Some((2, 1))
        );
        assert_eq!(
            rollup(&conn, "path 2026-03-01 hosting blog /about"),
            Some((2, 2))
        );
        // Referrers are hosts; NULL and '' are no referrer.
        let referrers: Vec<String> = rollup_rows(&conn)
            .into_iter()
            .filter(|r| r.starts_with("referrer"))
            .collect();
        assert_eq!(
            referrers,
            [
                "referrer 2026-03-01 hosting blog google.com 1 1",
                "referrer 2026-03-01 hosting blog news.ycombinator.com 1 1",
                "referrer 2026-03-01 hosting shop google.com 1 1",
            ]
        );
        // Today is not over, so not rolled up.
        assert_eq!(rollup(&conn, "total 2026-03-03 * *"), None);

        let s = summary(&conn, &all(3), TODAY).unwrap();
        let days: Vec<&str> = s.per_day.iter().map(|p| p.day.as_str()).collect();
        assert_eq!(days, ["2026-03-01", "2026-03-02", TODAY]);
        assert_eq!(per_day(&s), [(6, 3), (2, 1), (2, 2)]);
        assert_eq!(
            (s.pageviews, s.visitors),
            (10, 6),
            "visitors: summed daily uniques"
        );
        assert_eq!(
            labels(&s.top_sites),
            [("blog", 7, 4), ("shop", 2, 2), ("example.org", 1, 1)]
        );
        assert_eq!(
            labels(&s.all_sites),
            [("blog", 7, 4), ("example.org", 1, 1), ("shop", 2, 2)],
            "every domain, by name"
        );
        let paths: Vec<_> = s
            .top_paths
            .iter()
            .map(|p| (p.domain.as_str(), p.path.as_str(), p.pageviews))
            .collect();
        assert_eq!(
            paths,
            [
                ("blog", "/", 4),
                ("blog", "/about", 2),
                ("shop", "/", 2),
                ("blog", "/new", 1),
                ("example.org", "/pricing", 1),
            ]
        );
        assert_eq!(
            labels(&s.top_referrers),
            [
                ("google.com", 2, 2),
                ("lobste.rs", 1, 1),
                ("news.ycombinator.com", 1, 1)
            ]
        );
    }

    #[test]
    fn todays_raw_rows_count_and_unrolled_days_match_rolled_ones() {
        let conn = db();
        sample(&conn);
        // Without a roll-up every day comes from raw events…
        let before = summary(&conn, &all(30), TODAY).unwrap();
        assert_eq!(before.per_day.last().map(|p| p.pageviews), Some(2));
        assert_eq!(before.pageviews, 10);
        // …and gives exactly what the roll-ups give afterwards.
        rollup_pending(&conn, TODAY).unwrap();
        assert_eq!(summary(&conn, &all(30), TODAY).unwrap(), before);
        // A visit today shows at once.
        insert(&conn, &["2026-03-03 09:00:00 hosting blog /new - x1"]);
        let after = summary(&conn, &all(30), TODAY).unwrap();
        assert_eq!(per_day(&after).last(), Some(&(3, 2)));
    }

    #[test]
    fn filters_by_domain_and_source_type() {
        let conn = db();
        sample(&conn);
        rollup_pending(&conn, TODAY).unwrap();
        let get = |domain: Option<&str>, source: Option<&str>| {
            let filter = Filter {
                days: 3,
                domain: domain.map(str::to_string),
                source_type: source.map(str::to_string),
            };
            summary(&conn, &filter, TODAY).unwrap()
        };

        let blog = get(Some("blog"), None);
        assert_eq!(per_day(&blog), [(4, 2), (2, 1), (1, 1)]);
        assert_eq!(labels(&blog.top_sites), [("blog", 7, 4)]);
        assert!(blog.top_paths.iter().all(|p| p.domain == "blog"));
        assert_eq!(
            labels(&blog.top_referrers),
            [
                ("google.com", 1, 1),
                ("lobste.rs", 1, 1),
                ("news.ycombinator.com", 1, 1)
            ]
        );

        let web = get(None, Some("web"));
        assert_eq!(per_day(&web), [(1, 1), (0, 0), (0, 0)]);
        assert_eq!(labels(&web.top_sites), [("example.org", 1, 1)]);
        assert_eq!(web.top_paths.len(), 1);
        assert!(web.top_referrers.is_empty());

        assert_eq!(
            per_day(&get(Some("shop"), Some("hosting"))),
            [(1, 1), (0, 0), (1, 1)]
        );
        let nobody = get(Some("shop"), Some("web"));
        assert_eq!(nobody.pageviews, 0);
        assert!(nobody.top_sites.is_empty() && nobody.top_paths.is_empty());
        // '' and '*' mean all, not a domain of that name.
        assert_eq!(get(Some("*"), Some("")), get(None, None));

        assert_eq!(domains(&conn).unwrap(), ["blog", "example.org", "shop"]);
        assert_eq!(source_types(&conn).unwrap(), ["hosting", "web"]);
    }

    #[test]
    fn rollup_is_idempotent_and_picks_up_late_events() {
        let conn = db();
        sample(&conn);
        assert_eq!(rollup_pending(&conn, TODAY).unwrap(), 2);
        let rows = rollup_rows(&conn);
        assert_eq!(rollup_pending(&conn, TODAY).unwrap(), 0);
        assert_eq!(rollup_rows(&conn), rows);
        // A visit of yesterday written after the roll-up (the writer's last batch of the day).
        insert(&conn, &["2026-03-02 23:59:59 hosting blog /late - w9"]);
        assert_eq!(rollup_pending(&conn, TODAY).unwrap(), 1);
        assert_eq!(rollup(&conn, "total 2026-03-02 * *"), Some((3, 2)));
        assert_eq!(
            rollup(&conn, "path 2026-03-02 hosting blog /late"),
            Some((1, 1))
        );
        assert_eq!(rollup_pending(&conn, TODAY).unwrap(), 0);
        // The next day, today is rolled up too.
        assert_eq!(rollup_pending(&conn, "2026-03-04").unwrap(), 1);
        assert_eq!(rollup(&conn, "total 2026-03-03 * *"), Some((2, 2)));
    }

    #[test]
    fn prune_keeps_the_totals_and_deletes_only_rolled_up_raw_rows() {
        let conn = db();
        sample(&conn);
        let before = summary(&conn, &all(7), TODAY).unwrap();
        // Keep one finished day: prune rolls up, then 2026-03-01 goes; 03-02 and today stay.
        assert_eq!(prune(&conn, 1, TODAY).unwrap(), 6);
        assert_eq!(raw_count(&conn), 4);
        assert_eq!(summary(&conn, &all(7), TODAY).unwrap(), before);
        // example.org and 'web' now only exist in the roll-ups.
        assert_eq!(domains(&conn).unwrap(), ["blog", "example.org", "shop"]);
        assert_eq!(source_types(&conn).unwrap(), ["hosting", "web"]);

        // A late event of 03-02 is rolled up before its day is pruned; today's rows stay even
        // with keep_days = 0.
        insert(&conn, &["2026-03-02 23:59:59 hosting blog /late - w9"]);
        assert_eq!(prune(&conn, 0, TODAY).unwrap(), 3);
        assert_eq!(raw_count(&conn), 2);
        let after = summary(&conn, &all(7), TODAY).unwrap();
        assert_eq!(after.pageviews, before.pageviews + 1);
        assert_eq!(per_day(&after)[5], (3, 2));

        // A very late event for a pruned day cannot replace its complete roll-up.
        insert(&conn, &["2026-03-01 12:00:00 hosting blog / - zz"]);
        assert_eq!(rollup_pending(&conn, TODAY).unwrap(), 0);
        assert_eq!(rollup(&conn, "total 2026-03-01 * *"), Some((6, 3)));
        assert_eq!(
            prune(&conn, 0, TODAY).unwrap(),
            1,
            "and it goes with the next prune"
        );
    }

    #[test]
    fn paths_and_referrers_are_capped_per_day_but_totals_are_exact() {
        let conn = db();
        let mut lines = Vec::new();
        for i in 0..TOP_PER_DAY + 50 {
            // /p000 gets the most visits; the others tie and are kept by name.
            for _ in 0..if i == 0 { 6 } else { 1 } {
                lines.push(format!(
                    "2026-03-01 10:00:00 hosting blog /p{i:03} https://r{i:03}.example/x v"
                ));
            }
        }
        insert(&conn, &lines.iter().map(String::as_str).collect::<Vec<_>>());
        rollup_pending(&conn, TODAY).unwrap();
        let rows = rollup_rows(&conn);
        let count = |kind: &str| rows.iter().filter(|r| r.starts_with(kind)).count();
        assert_eq!(count("path"), TOP_PER_DAY);
        assert_eq!(count("referrer"), TOP_PER_DAY);
        assert_eq!(
            rollup(&conn, "path 2026-03-01 hosting blog /p000"),
            Some((6, 1))
        );
        assert_eq!(
            rollup(&conn, "path 2026-03-01 hosting blog /p099"),
            Some((1, 1))
        );
        assert_eq!(rollup(&conn, "path 2026-03-01 hosting blog /p100"), None);
        assert_eq!(rollup(&conn, "total 2026-03-01 * *"), Some((155, 1)));
        let s = summary(&conn, &all(7), TODAY).unwrap();
        assert_eq!(s.top_paths.len(), TOP_LIST);
        assert_eq!(s.top_paths[0].path, "/p000");
        assert_eq!(s.top_paths[1].path, "/p001", "ties are ordered by name");
        assert_eq!(s.top_referrers.len(), TOP_LIST);
    }

    #[test]
    fn days_are_clamped_and_bad_dates_are_errors() {
        let conn = db();
        assert_eq!(summary(&conn, &all(0), TODAY).unwrap().per_day.len(), 1);
        let year = summary(&conn, &all(10_000), TODAY).unwrap();
        assert_eq!(year.per_day.len(), MAX_DAYS as usize);
        assert_eq!(year.per_day[0].day, "2025-03-03");
        for bad in [
            "",
            "2026-3-3",
            "2026-02-30",
            "2026-13-01",
            "today",
            "2026-03-03 00:00",
        ] {
            assert!(summary(&conn, &all(7), bad).is_err(), "{bad:?}");
            assert!(rollup_pending(&conn, bad).is_err(), "{bad:?}");
            assert!(prune(&conn, 1, bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn calendar_arithmetic() {
        assert_eq!(parse_day("1970-01-01"), Some(0));
        assert_eq!(parse_day("2000-02-29"), Some(11_016));
        assert_eq!(parse_day("2100-02-29"), None);
        assert_eq!(parse_day("+202-01-01"), None);
        assert_eq!(format_day(-1), "1969-12-31");
        assert_eq!(
            parse_day("2024-02-29")
                .map(|d| format_day(d + 1))
                .as_deref(),
            Some("2024-03-01")
        );
        // Years 0083..9909, every 997th day.
        for d in (-700_000..2_900_000).step_by(997) {
            assert_eq!(parse_day(&format_day(d)), Some(d));
        }
        let today = today_utc();
        assert!(parse_day(&today).is_some(), "{today}");
    }

    #[test]
    fn referrer_hosts_and_path_keys() {
        let cases = [
            ("https://www.Google.com/search?q=secret", Some("google.com")),
            ("http://user:pw@Example.org:8080/x", Some("example.org")),
            ("https://news.ycombinator.com", Some("news.ycombinator.com")),
            ("https://example.com./", Some("example.com")),
            ("http://[::1]:8080/", Some("[::1]")),
            (
                "android-app://com.google.android.gm/",
                Some("com.google.android.gm"),
            ),
            ("//cdn.example/x", Some("cdn.example")),
            ("ref.example", Some("ref.example")),
            ("", None),
            ("   ", None),
            ("https:///path", None),
        ];
        for (url, want) in cases {
            assert_eq!(referrer_host(url).as_deref(), want, "{url}");
        }
        let long = referrer_host(&format!("https://{}/", "é".repeat(300))).unwrap();
        assert!(long.len() <= MAX_HOST);
        assert_eq!(path_key("/a?b#c"), "/a");
        assert_eq!(path_key("/a#c?b"), "/a");
    }

    #[test]
    fn odd_stored_values_do_not_break_the_rollup() {
        let conn = db();
        insert(
            &conn,
            &[
                "2026-03-01 10:00:00 * blog / - v1",
                "2026-03-01 10:00:00 hosting * / - v2",
                "2026-03-01 10:00:00 hosting blog / - v3",
                "2026-99-99 10:00:00 hosting blog / - v4",
                "2026-03-02 10:00:00 hosting blog / - v5",
            ],
        );
        assert_eq!(rollup_pending(&conn, TODAY).unwrap(), 2);
        assert_eq!(rollup(&conn, "total 2026-03-01 * *"), Some((3, 3)));
        assert_eq!(rollup(&conn, "total 2026-03-01 hosting blog"), Some((1, 1)));
        assert_eq!(rollup(&conn, "total 2026-03-02 * *"), Some((1, 1)));
        assert_eq!(domains(&conn).unwrap(), ["blog"]);
    }

    /// `make bench-stats`: times the read side on a database filled by bench/seed_events.py.
    /// Prints numbers, asserts none (they depend on the machine).
    #[test]
    #[ignore = "benchmark: set CC_BENCH_DB to a seeded cc.db and build with --release"]
    fn bench_on_a_seeded_database() {
        use std::time::{Duration, Instant};
        let path = std::env::var("CC_BENCH_DB")
            .expect("CC_BENCH_DB=path/to/cc.db (python3 bench/seed_events.py path/to/cc.db)");
        let conn = crate::store::open(std::path::Path::new(&path)).unwrap();
        // Measure the first roll-up every run: forget earlier ones (raw events are all there,
        // as long as nobody pruned this file).
        conn.execute_batch(
            "DELETE FROM event_rollups; DELETE FROM settings WHERE key LIKE 'stats_%';",
        )
        .unwrap();
        let today = today_utc();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let timed = |f: &mut dyn FnMut()| {
            let t = Instant::now();
            f();
            t.elapsed()
        };
        println!("{} raw events, today {today}", raw_count(&conn));

        let mut unrolled = None;
        let d = timed(&mut || unrolled = Some(summary(&conn, &all(90), &today).unwrap()));
        println!(
            "summary 90 days before any roll-up (all raw): {:8.1} ms",
            ms(d)
        );

        let mut days = 0;
        let d = timed(&mut || days = rollup_pending(&conn, &today).unwrap());
        println!(
            "rollup_pending, first time ({days} days):     {:8.1} ms",
            ms(d)
        );
        let d = timed(&mut || days = rollup_pending(&conn, &today).unwrap());
        println!(
            "rollup_pending, nothing pending ({days} days): {:8.1} ms",
            ms(d)
        );
        let rows: i64 = conn
            .query_row("SELECT count(*) FROM event_rollups", [], |r| r.get(0))
            .unwrap();
        println!("event_rollups rows: {rows}");
        assert_eq!(
            summary(&conn, &all(90), &today).unwrap().per_day,
            unrolled.unwrap().per_day,
            "roll-ups and raw events disagree"
        );

        let blog = |days| Filter {
            days,
            domain: Some("blog".into()),
            source_type: None,
        };
        for (name, filter) in [
            ("7 days, all domains ", all(7)),
            ("30 days, all domains", all(30)),
            ("90 days, all domains", all(90)),
            ("7 days, blog        ", blog(7)),
            ("30 days, blog       ", blog(30)),
            ("90 days, blog       ", blog(90)),
        ] {
            let mut runs: Vec<Duration> = (0..7)
                .map(|_| timed(&mut || drop(summary(&conn, &filter, &today).unwrap())))
                .collect();
            runs.sort();
            println!(
                "summary {name}: median {:6.1} ms, worst {:6.1} ms",
                ms(runs[runs.len() / 2]),
                ms(runs[runs.len() - 1])
            );
        }

        // What the analytics page does: roll up (nothing pending), summary, menus, chart.
        let d = timed(&mut || {
            rollup_pending(&conn, &today).unwrap();
            let s = summary(&conn, &all(90), &today).unwrap();
            domains(&conn).unwrap();
            source_types(&conn).unwrap();
            drop(crate::dashboard::chart::daily_chart(&s.per_day));
        });
        println!("page work, 90 days all domains: {:8.1} ms", ms(d));
    }
}
