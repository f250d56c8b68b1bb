//! A busy site's main.js requests go to a script worker in batches that commit once: each run
//! still sees the runs before it, a failed run's writes are left out, and a batch that runs
//! long hands its remaining requests back instead of answering them late or not at all.

use std::collections::BTreeSet;

use crate::harness::Server;

/// The server's stop line: (runs, exchanges with script workers).
fn runs_and_exchanges(s: &mut Server) -> (u64, u64) {
    assert!(s.stop().success());
    let log = s.log().join("\n");
    let line = log
        .lines()
        .find(|l| l.contains("main.js ran"))
        .unwrap_or_else(|| panic!("no stop line: {log}"));
    let numbers: Vec<u64> = line
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    (numbers[0], numbers[1])
}

#[test]
fn runs_in_one_batch_see_each_other_and_a_failed_runs_writes_are_left_out() {
    let mut s = Server::start();
    s.write_file(
        "busy",
        "main.js",
        r#"
        if (req.path === "/seen") {
          res.json({ seen: db.list("seen/"), n: db.get("n") });
        } else {
          const i = req.query.i;
          db.set("seen/" + i, true);
          const n = (db.get("n") || 0) + 1;
          db.set("n", n);
          if (Number(i) % 5 === 0) throw new Error("run " + i + " fails after writing");
          res.json({ i, n });
        }
        "#,
    );
    // A few runs first: the scheduler batches a site once it knows what a run costs.
    for i in ["w1", "w2", "w3"] {
        assert_eq!(s.get("busy.localhost", &format!("/?i={i}")).status, 200);
    }
    let answers = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for t in 0..25 {
            let (s, answers) = (&s, &answers);
            scope.spawn(move || {
                for k in 0..4 {
                    let i = t * 4 + k;
                    let r = s.get("busy.localhost", &format!("/?i={i}"));
                    answers.lock().unwrap().push((i, r.status, r.text()));
                }
            });
        }
    });
    let answers = answers.into_inner().unwrap();
    let mut counts = BTreeSet::new();
    for (i, status, body) in &answers {
        if i % 5 == 0 {
            assert_eq!(*status, 500, "run {i} throws: {body}");
        } else {
            assert_eq!(*status, 200, "run {i}: {body}");
            let v: serde_json::Value = serde_json::from_str(body).unwrap();
            assert!(
                counts.insert(v["n"].as_u64().unwrap()),
                "two runs saw the same n: {body}"
            );
        }
    }
    // Every successful run saw the one before it: the n they answered are 4 to 83.
    assert_eq!(counts, (4..=83).collect::<BTreeSet<u64>>());
    let seen: serde_json::Value =
        serde_json::from_str(&s.get("busy.localhost", "/seen").text()).unwrap();
    assert_eq!(seen["n"], 83, "only the 80 runs that answered counted");
    let keys: BTreeSet<String> = seen["seen"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap().to_string())
        .collect();
    let expected: BTreeSet<String> = ["w1", "w2", "w3"]
        .into_iter()
        .map(String::from)
        .chain((0..100).filter(|i| i % 5 != 0).map(|i| i.to_string()))
        .map(|i| format!("seen/{i}"))
        .collect();
    assert_eq!(keys, expected, "a failed run's own writes are never kept");
    let (runs, exchanges) = runs_and_exchanges(&mut s);
    assert_eq!(runs, 104);
    assert!(
        exchanges < runs,
        "100 concurrent requests of a cheap script went in batches: {exchanges} exchanges for {runs} runs"
    );
}

#[test]
fn a_batch_that_runs_long_hands_back_the_rest_and_every_request_is_answered() {
    // One script worker: while another site's run holds it, this site's requests queue up.
    let mut s = Server::builder().arg("--js-workers").arg("1").start();
    s.write_file(
        "sometimes-slow",
        "main.js",
        r#"
        if (req.query.slow) { const t = Date.now(); while (Date.now() - t < 40) {} }
        db.set("k" + req.query.i, req.query.i);
        res.send("done " + req.query.i);
        "#,
    );
    s.write_file(
        "blocker",
        "main.js",
        "const t = Date.now(); while (Date.now() - t < 80) {} res.send('x');",
    );
    for i in 0..20 {
        let r = s.get("sometimes-slow.localhost", &format!("/?i=fast{i}"));
        assert_eq!(r.status, 200, "{}", r.text());
    }
    // The site looks cheap, so its queued requests go as one batch; three of them use up a
    // run's time limit (100 ms), and the rest go back to the queue.
    std::thread::scope(|scope| {
        let s = &s;
        scope.spawn(move || assert_eq!(s.get("blocker.localhost", "/").status, 200));
        std::thread::sleep(std::time::Duration::from_millis(20));
        for i in 0..12 {
            scope.spawn(move || {
                let r = s.get("sometimes-slow.localhost", &format!("/?slow=1&i={i}"));
                assert_eq!(r.status, 200, "{}", r.text());
                assert_eq!(r.text(), format!("done {i}"));
            });
        }
    });
    let (runs, exchanges) = runs_and_exchanges(&mut s);
    assert_eq!(runs, 33, "each request ran once");
    assert!(exchanges < runs, "{exchanges} exchanges for {runs} runs");
}

#[test]
fn a_batch_whose_answers_exceed_one_frame_still_answers_each_and_counts_each() {
    // Each answer is 600 000 control characters: 3.6 MB once JSON-escaped, so eight of them
    // are more than one 16 MiB frame between a worker and the server.
    let s = Server::builder().arg("--js-workers").arg("1").start();
    s.write_file(
        "big",
        "main.js",
        r#"
        if (req.query.n) { res.json(db.get("n")); return; }
        db.set("n", (db.get("n") || 0) + 1);
        res.send("\u0001".repeat(req.query.small ? 1 : 600000));
        "#,
    );
    s.write_file(
        "blocker",
        "main.js",
        "const t = Date.now(); while (Date.now() - t < 80) {} res.send('x');",
    );
    for _ in 0..20 {
        assert_eq!(s.get("big.localhost", "/?small=1").status, 200);
    }
    let answered = std::sync::atomic::AtomicU64::new(0);
    std::thread::scope(|scope| {
        let (s, answered) = (&s, &answered);
        scope.spawn(move || assert_eq!(s.get("blocker.localhost", "/").status, 200));
        std::thread::sleep(std::time::Duration::from_millis(20));
        for _ in 0..8 {
            scope.spawn(move || {
                let r = s.get("big.localhost", "/");
                let text = r.text();
                match r.status {
                    200 => {
                        assert_eq!(text.len(), 600_000);
                        answered.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                    // On a loaded machine a request may wait past the queue's limit: it never
                    // ran, and says so. A worker that died is never an answer here.
                    503 => assert!(text.contains("every script worker is busy"), "{text}"),
                    other => panic!("{other}: {}", &text[..text.len().min(300)]),
                }
            });
        }
    });
    let answered = answered.into_inner();
    assert!(answered > 0);
    // Every run whose write was kept was answered 200, and no other.
    assert_eq!(
        s.get("big.localhost", "/?n=1").text(),
        (20 + answered).to_string()
    );
}
