//! Crash consistency: the server (or a script worker) is killed with SIGKILL in the middle of
//! `db` writes, a deploy and analytics writes, again and again on the same data dir. After each
//! restart the database passes `PRAGMA integrity_check`, every write that was answered 200 is
//! there, and the site is served whole from one deployment, never a mix of two.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use crate::harness::{Server, zip_of};

/// Records each key it was told was written (`/?i=N` answered 200).
const WRITER: &str = r#"
if (req.query.check) {
  res.json(db.list("w/"));
} else {
  db.set("w/" + req.query.i, Number(req.query.i));
  res.send("ok " + req.query.i);
}
"#;
const FILES: usize = 12;

/// Deployment `version` of the site "pages": `FILES` files of 1 MB that do not compress (an
/// upload and unpack that take a while), each starting with `version`.
fn pages(version: u32) -> Vec<u8> {
    let mut seed = 0x9e37_79b9_u32.wrapping_add(version);
    let bodies: Vec<(String, Vec<u8>)> = (0..FILES)
        .map(|f| {
            let mut body = format!("version {version}\n").into_bytes();
            body.extend((0..1_000_000).map(|_| {
                seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                b'a' + (seed >> 24) as u8 % 26
            }));
            (format!("p{f}.txt"), body)
        })
        .collect();
    let files: Vec<(&str, &[u8])> = bodies
        .iter()
        .map(|(n, b)| (n.as_str(), b.as_slice()))
        .collect();
    zip_of(&files)
}

/// The version every file of "pages" says, or a panic if they disagree.
fn served_version(s: &Server) -> String {
    let versions: Vec<String> = (0..FILES)
        .map(|f| {
            let r = s.get("pages.localhost", &format!("/p{f}.txt"));
            assert_eq!(r.status, 200, "p{f}.txt: {}", r.status);
            r.text().lines().next().unwrap_or_default().to_string()
        })
        .collect();
    assert!(
        versions.iter().all(|v| v == &versions[0]),
        "a mix of deployments is served: {versions:?}"
    );
    versions[0].clone()
}

/// A GET that may fail (the server may be gone): `None` then.
fn try_get(port: u16, host: &str, path: &str) -> Option<crate::harness::HttpResponse> {
    use std::io::Write;
    let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    c.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let head = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    c.write_all(head.as_bytes()).ok()?;
    crate::harness::read_response(&mut c).ok()
}

/// Writes as fast as two clients can until `stop` (or the server is gone), recording each
/// write answered 200 in `done`; each write is followed by a static hit, an analytics event.
fn write_load(s: &Server, stop: &AtomicBool, next: &AtomicU64, done: &Mutex<Vec<u64>>) {
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| {
                while !stop.load(Ordering::Relaxed) {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(r) = try_get(s.port, "writer.localhost", &format!("/?i={i}")) else {
                        return;
                    };
                    if r.status == 200 && r.text() == format!("ok {i}") {
                        done.lock().unwrap().push(i);
                    }
                    if try_get(s.port, "pages.localhost", "/p0.txt").is_none() {
                        return;
                    }
                }
            });
        }
    });
}

#[test]
fn kill_9_during_writes_deploys_and_analytics_loses_nothing_answered() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let start = || Server::builder().data_dir(&data).start();
    let mut s = start();
    s.write_file("writer", "main.js", WRITER);
    let token = s.create_key("crash", &[]);
    assert_eq!(s.deploy_raw(Some(&token), "pages", &pages(0)).status, 200);
    let next = AtomicU64::new(0);
    let answered = Mutex::new(Vec::new());
    for round in 1..=5u32 {
        let zip = pages(round);
        let stop = AtomicBool::new(false);
        std::thread::scope(|scope| {
            let (s, token) = (&s, &token);
            scope.spawn(|| write_load(s, &stop, &next, &answered));
            // A deploy on its way when the kill comes (or just done).
            let deploying = scope.spawn(|| s.deploy_raw(Some(token), "pages", &zip));
            // Kills at different moments of the deploy: the upload, the unpack, the swap.
            std::thread::sleep(Duration::from_millis(40 * round as u64));
            if round == 3 {
                // This round a script worker dies instead: the server goes on.
                for (pid, _) in s.children() {
                    let _ = std::process::Command::new("kill")
                        .args(["-9", &pid.to_string()])
                        .status();
                }
            } else {
                let _ = std::process::Command::new("kill")
                    .args(["-9", &s.pid().to_string()])
                    .status();
            }
            std::thread::sleep(Duration::from_millis(100));
            stop.store(true, Ordering::Relaxed);
            // A deploy cut off by the kill ends in an error; either way the site stays whole.
            let _ = deploying.join();
        });
        if round != 3 {
            s.kill(); // reaps the killed process
            s = start();
        }
        let integrity: String = s
            .db()
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(integrity, "ok", "round {round}");
        // After a worker was killed the site cools down for a second (503): ask again.
        let mut check = s.get("writer.localhost", "/?check=1");
        for _ in 0..30 {
            if check.status == 200 {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
            check = s.get("writer.localhost", "/?check=1");
        }
        let stored: Vec<String> = serde_json::from_str(&check.text()).unwrap();
        let stored: std::collections::HashSet<String> = stored.into_iter().collect();
        for i in answered.lock().unwrap().iter() {
            assert!(
                stored.contains(&format!("w/{i}")),
                "round {round}: write {i} was answered 200 and is gone"
            );
        }
        let version = served_version(&s);
        assert!(
            (0..=round).any(|v| version == format!("version {v}")),
            "round {round}: {version}"
        );
    }
    let answered = answered.lock().unwrap().len();
    assert!(
        answered > 50,
        "the load hardly ran: {answered} writes answered"
    );
    assert!(s.stop().success());
}
