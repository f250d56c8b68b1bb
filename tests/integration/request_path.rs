//! The request path under pressure, through the real binary: a flooded slow script site
//! never slows the static sites, the other scripts or the dashboard; its own overflow is
//! answered 503 with Retry-After at once.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::harness::Server;
use crate::scripts::COUNTER;

/// A script that legally spends 90 ms of its 100 ms on every request.
const SLOW: &str = "let t = Date.now(); while (Date.now() - t < 90) {} res.send('slow');";

#[test]
fn a_flooded_slow_script_site_never_slows_the_others() {
    let s = Server::start();
    s.write_file("slow", "main.js", SLOW);
    s.write_file("counter", "main.js", COUNTER);
    s.write_file("plain", "index.html", "plain page");
    // Warm the counter's worker before the flood.
    assert_eq!(s.get("counter.localhost", "/").status, 200);

    let stop = AtomicBool::new(false);
    let answers: Mutex<Vec<(u16, Option<String>)>> = Mutex::new(Vec::new());
    let mut worst = Duration::ZERO;
    std::thread::scope(|scope| {
        for _ in 0..64 {
            scope.spawn(|| {
                while !stop.load(Ordering::Relaxed) {
                    let r = s.get("slow.localhost", "/");
                    let retry = r.header("retry-after").map(str::to_string);
                    answers.lock().unwrap().push((r.status, retry));
                }
            });
        }
        std::thread::sleep(Duration::from_millis(500));
        for _ in 0..10 {
            for (host, path, expected) in [
                ("plain.localhost", "/", 200),
                ("counter.localhost", "/", 200),
                ("localhost", "/login", 200),
            ] {
                let started = Instant::now();
                let r = s.get(host, path);
                let took = started.elapsed();
                assert_eq!(r.status, expected, "{host}{path}: {}", r.text());
                assert!(
                    took < Duration::from_secs(1),
                    "{host}{path} took {took:?} while another site was flooded"
                );
                worst = worst.max(took);
            }
        }
        stop.store(true, Ordering::Relaxed);
    });
    let answers = answers.into_inner().unwrap();
    let ok = answers.iter().filter(|(s, _)| *s == 200).count();
    let busy: Vec<_> = answers.iter().filter(|(s, _)| *s == 503).collect();
    assert!(ok > 0, "the slow site itself still answers");
    assert!(
        !busy.is_empty(),
        "64 clients of a 90 ms site must overflow its queue"
    );
    assert!(
        busy.iter().all(|(_, retry)| retry.as_deref() == Some("1")),
        "every 503 says when to retry"
    );
    assert_eq!(
        answers.len(),
        ok + busy.len(),
        "only 200 or 503: {:?}",
        answers.iter().find(|(s, _)| *s != 200 && *s != 503)
    );
    eprintln!(
        "slow site: {ok} × 200, {} × 503; the others' slowest answer {worst:?}",
        busy.len()
    );
}
