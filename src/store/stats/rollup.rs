//! Writing the read side: rolling finished days up into `event_rollups` (and re-rolling days
//! that got late events), and pruning raw events once their day is rolled up. Owns the
//! bookkeeping `settings` rows' updates; never computes what the dashboard shows.

use std::collections::BTreeSet;

use rusqlite::{Connection, Transaction, TransactionBehavior, params};

use super::aggregate::{RollupRow, aggregate_day};
use super::{KEY_PRUNED_BEFORE, KEY_ROLLED_THROUGH, KEY_SEEN_ID, State, bad_day, day_start};
use crate::calendar::{format_day, parse_day};
use crate::store::settings;

/// Rows deleted per statement by `prune`: each statement is its own short write transaction,
/// so the analytics writer never waits long for the lock.
const PRUNE_CHUNK: usize = 5_000;

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
