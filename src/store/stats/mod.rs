//! The analytics read side: daily roll-ups of `events` into `event_rollups` (kept forever),
//! pruning of raw events once their day is rolled up, and the numbers the dashboard shows.
//!
//! For the analytics page: `rollup_pending(conn, &calendar::today_utc())` (cheap when nothing
//! is pending), then `summary(conn, &filter, &today)`; `domains` and `source_types` fill the
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
//!
//! This file holds the public types and the bookkeeping; `aggregate` computes one day's rows
//! from raw events, `rollup` writes and prunes, `summary` reads. Nothing here renders or knows
//! about HTTP: the dashboard and the API present a `Summary` their own way.

mod aggregate;
mod rollup;
mod summary;
#[cfg(test)]
mod tests;

pub use rollup::{prune, rollup_pending};
pub use summary::{domains, source_types, summary};

use rusqlite::Connection;

use crate::calendar::{format_day, parse_day};
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

/// `created_at` of the first second of `day` (days since 1970-01-01).
fn day_start(day: i64) -> String {
    format!("{} 00:00:00", format_day(day))
}

fn bad_day(what: &str, got: &str) -> rusqlite::Error {
    rusqlite::Error::ToSqlConversionFailure(
        format!("{what} must be a UTC date 'YYYY-MM-DD', got {got:?}").into(),
    )
}
