//! The analytics read side's unit tests, on an in-memory database with the real migrations.
//! Test data and assertions only; never a timing (`dashboard::analytics_bench` measures).

use rusqlite::{Connection, params};

use super::aggregate::{MAX_HOST, path_key, referrer_host};
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
