//! Reading the read side: the analytics page's numbers for one `Filter` (roll-ups for
//! finished days, raw events for the rest) and the filter menus. Only reads; never writes a
//! roll-up or a bookkeeping row (`rollup` does).

use std::collections::HashMap;

use rusqlite::{Connection, Transaction, TransactionBehavior, params};

use super::aggregate::{Kind, aggregate_day};
use super::{
    ALL, Count, DayPoint, Filter, MAX_DAYS, PathCount, State, Summary, TOP_LIST, bad_day, day_start,
};
use crate::calendar::{format_day, parse_day};

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
