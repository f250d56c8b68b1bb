//! Every site request becomes one `events` row, written off the hot path, flushed on shutdown.

use crate::harness::Server;

#[test]
fn n_requests_make_n_rows_even_across_a_graceful_shutdown() {
    let mut s = Server::start();
    s.write_file("blog", "index.html", "hi");
    const N: usize = 300;
    std::thread::scope(|scope| {
        for t in 0..4 {
            let s = &s;
            scope.spawn(move || {
                for i in 0..N / 4 {
                    let path = if i % 3 == 0 {
                        "/missing".to_string()
                    } else {
                        format!("/?t={t}&i={i}")
                    };
                    s.request(
                        "GET",
                        "blog.localhost",
                        &path,
                        &[
                            ("User-Agent", "curl/8.0"),
                            ("Referer", "https://ref.example/"),
                        ],
                    );
                }
            });
        }
    });
    // Requests that must not be recorded: the dashboard and unknown sites.
    s.get("localhost", "/");
    s.get("nosuchsite.localhost", "/");

    // Stop right away: the writer must flush what is still queued.
    let status = s.stop();
    assert!(status.success(), "exit status {status:?}");

    let db = s.db();
    let total: i64 = db
        .query_row("SELECT count(*) FROM events", [], |r| r.get(0))
        .unwrap();
    assert_eq!(total, N as i64);
    let (hosting, domains, not_found, refs, ua): (i64, i64, i64, i64, i64) = db
        .query_row(
            "SELECT sum(source_type = 'hosting'), count(DISTINCT domain), sum(status = 404),
                    sum(referrer = 'https://ref.example/'), sum(ua_family = 'curl')
             FROM events",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .unwrap();
    assert_eq!(
        (hosting, domains, refs, ua),
        (N as i64, 1, N as i64, N as i64)
    );
    assert_eq!(not_found, (N / 4).div_ceil(3) as i64 * 4);
    let paths: i64 = db
        .query_row(
            "SELECT count(*) FROM events WHERE path = '/missing' AND domain = 'blog'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(paths, not_found);
}

#[test]
fn no_raw_ip_is_stored_and_one_visitor_has_one_hash() {
    let mut s = Server::start();
    s.write_file("blog", "index.html", "hi");
    for _ in 0..3 {
        s.request(
            "GET",
            "blog.localhost",
            "/",
            &[("User-Agent", "Mozilla/5.0 Firefox/120.0")],
        );
    }
    s.request("GET", "blog.localhost", "/", &[("User-Agent", "curl/8")]);
    assert!(s.stop().success());
    let db = s.db();
    let hashes: i64 = db
        .query_row("SELECT count(DISTINCT visitor_hash) FROM events", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(
        hashes, 2,
        "same IP + UA = same visitor; another UA = another visitor"
    );
    let mut stmt = db.prepare("SELECT * FROM events").unwrap();
    let columns = stmt.column_count();
    let rows: Vec<String> = stmt
        .query_map([], |r| {
            Ok((0..columns)
                .map(|i| format!("{:?}", r.get_ref(i).unwrap()))
                .collect::<Vec<_>>()
                .join("|"))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    for row in rows {
        assert!(!row.contains("127.0.0.1"), "raw IP stored: {row}");
    }
}

#[test]
fn sigint_stops_as_cleanly_as_sigterm() {
    let mut s = Server::start();
    s.write_file("blog", "index.html", "hi");
    s.get("blog.localhost", "/");
    let status = s.signal("-INT");
    assert!(status.success(), "exit status {status:?}");
    let rows: i64 = s.count("SELECT count(*) FROM events");
    assert_eq!(rows, 1);
}
