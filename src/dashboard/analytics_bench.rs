//! `make bench-stats`: times the analytics read side (`store::stats`) and the page's chart on
//! a database filled by bench/seed_events.py. Here rather than in `store` because it also
//! times the dashboard's chart, and `store` never imports from the dashboard. Test builds
//! only, ignored unless asked for; never asserts a timing (they depend on the machine).

use rusqlite::Connection;

use crate::calendar::today_utc;
use crate::store::stats::{Filter, domains, rollup_pending, source_types, summary};

fn all(days: u32) -> Filter {
    Filter {
        days,
        ..Filter::default()
    }
}

fn raw_count(conn: &Connection) -> i64 {
    conn.query_row("SELECT count(*) FROM events", [], |r| r.get(0))
        .unwrap()
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
    conn.execute_batch("DELETE FROM event_rollups; DELETE FROM settings WHERE key LIKE 'stats_%';")
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
