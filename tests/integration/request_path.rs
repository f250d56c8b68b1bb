//! The request path under pressure, through the real binary: a flooded slow script site
//! never slows the static sites, the other scripts or the dashboard; its own overflow is
//! answered 503 with Retry-After at once.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::harness::{COUNTER, HttpResponse, Server, connect_from, cpu_seconds, read_response};

/// A script that legally spends 90 ms of its 100 ms on every request.
const SLOW: &str = "let t = Date.now(); while (Date.now() - t < 90) {} res.send('slow');";

struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

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
        // The flood ends even when an assertion below fails.
        let _stop = StopOnDrop(&stop);
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

fn get_on(c: &mut TcpStream, host: &str, path: &str) -> std::io::Result<HttpResponse> {
    c.write_all(format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes())?;
    read_response(c)
}

fn threads_of(pid: u32) -> usize {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap()
}

/// The test process itself needs descriptors for thousands of sockets.
fn raise_own_file_limit() {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    let _ = setrlimit(
        Resource::Nofile,
        Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        },
    );
}

#[test]
fn five_thousand_idle_connections_cost_no_thread_and_block_no_one() {
    raise_own_file_limit();
    let s = Server::builder()
        .arg("--max-per-address")
        .arg("10000")
        .start();
    s.write_file("plain", "index.html", "plain page");
    let before = threads_of(s.pid());
    let mut idle = Vec::new();
    for _ in 0..5000 {
        idle.push(s.connect());
    }
    // Half of them in the middle of a request head, half silent.
    for c in idle.iter_mut().step_by(2) {
        c.write_all(b"GET / HTTP/1.1\r\nHost: pla").unwrap();
    }
    std::thread::sleep(Duration::from_millis(500));
    let started = Instant::now();
    let r = s.get("plain.localhost", "/");
    assert_eq!((r.status, r.text().as_str()), (200, "plain page"));
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "a new client waited {:?} behind 5 000 idle connections",
        started.elapsed()
    );
    let during = threads_of(s.pid());
    assert!(
        // A few threads start lazily (the analytics roll-up, backups); none per connection.
        during <= before + 10,
        "threads went from {before} to {during} with 5 000 connections open"
    );
    // Every idle connection is still usable.
    let last = idle.last_mut().unwrap();
    assert_eq!(get_on(last, "plain.localhost", "/").unwrap().status, 200);
}

#[test]
fn one_address_at_its_cap_cannot_stop_another() {
    let s = Server::builder().arg("--max-per-address").arg("20").start();
    s.write_file("plain", "index.html", "plain page");
    // 127.0.0.1 holds 40 connections, each in the middle of a head: nothing to close.
    let hogs: Vec<TcpStream> = (0..40)
        .map(|_| {
            let mut c = s.connect();
            let _ = c.write_all(b"GET / HTTP/1.1\r\n");
            c
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let mut refused = s.connect();
    let _ = refused.write_all(b"GET / HTTP/1.1\r\nHost: plain.localhost\r\n\r\n");
    assert!(
        read_response(&mut refused).is_err(),
        "the first address got past its cap"
    );
    let mut other = connect_from(&s, "127.0.0.2");
    let r = get_on(&mut other, "plain.localhost", "/").unwrap();
    assert_eq!(r.status, 200, "a second address is served");
    drop(hogs);
}

#[test]
fn unsupported_versions_get_505_and_free_their_connection() {
    let s = Server::start();
    s.write_file("plain", "index.html", "plain page");
    std::thread::scope(|scope| {
        for _ in 0..10 {
            scope.spawn(|| {
                for _ in 0..110 {
                    let mut c = s.connect();
                    c.write_all(b"GET / HTTP/2.0\r\n").unwrap();
                    let mut buf = Vec::new();
                    let _ = c.read_to_end(&mut buf);
                    if !buf.is_empty() {
                        assert!(
                            buf.starts_with(b"HTTP/1.1 505 "),
                            "{}",
                            String::from_utf8_lossy(&buf)
                        );
                    }
                }
            });
        }
    });
    let r = s.get("plain.localhost", "/");
    assert_eq!(r.status, 200);
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let s = Server::start();
    for name in ["a", "b", "c"] {
        s.write_file("plain", &format!("{name}.txt"), format!("file {name}"));
    }
    let mut c = s.connect();
    c.write_all(
        b"GET /a.txt HTTP/1.1\r\nHost: plain.localhost\r\n\r\n\
          GET /b.txt HTTP/1.1\r\nHost: plain.localhost\r\n\r\n\
          GET /c.txt HTTP/1.1\r\nHost: plain.localhost\r\n\r\n",
    )
    .unwrap();
    for name in ["a", "b", "c"] {
        let r = read_response(&mut c).unwrap();
        assert_eq!(r.text(), format!("file {name}"));
    }
}

/// Two HTTP workers, a 3 s head deadline, a static site and a main.js site.
fn trickle_server() -> Server {
    let s = Server::builder()
        .arg("--workers")
        .arg("2")
        .arg("--head-timeout")
        .arg("3")
        .start();
    s.write_file("plain", "index.html", "plain page");
    s.write_file("api", "main.js", "res.send('got ' + req.body.length);");
    s
}

/// For two seconds the `slow` connections each send a byte now and then, while the static
/// site and the dashboard must answer within 1 s.
fn trickle_while_others_are_served(s: &Server, slow: &mut [TcpStream]) {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(2) {
        for c in slow.iter_mut() {
            let _ = c.write_all(b"1");
        }
        let t = Instant::now();
        assert_eq!(s.get("plain.localhost", "/").status, 200);
        assert_eq!(s.get("localhost", "/login").status, 200);
        assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn trickled_bodies_hold_no_worker_and_end_in_408() {
    let s = trickle_server();
    let trickle = |host: &'static str, path: &'static str| {
        let mut c = s.connect();
        c.write_all(
            format!("POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 60000\r\n\r\n")
                .as_bytes(),
        )
        .unwrap();
        c
    };
    let mut slow = vec![
        trickle("localhost", "/login"),
        trickle("localhost", "/login"),
        trickle("api.localhost", "/"),
        trickle("api.localhost", "/"),
    ];
    let started = Instant::now();
    trickle_while_others_are_served(&s, &mut slow);
    for c in &mut slow {
        let r = read_response(c).expect("an answer at the deadline");
        assert_eq!(r.status, 408, "{}", r.text());
    }
    assert!(started.elapsed() < Duration::from_secs(8));
    // A whole small body still works.
    let r = s.send("POST", "api.localhost", "/", &[], b"hello");
    assert_eq!(r.text(), "got 5");
}

#[test]
fn ambiguous_framing_is_refused_and_never_runs_a_second_request() {
    let s = Server::start();
    s.write_file("plain", "index.html", "plain page");
    s.write_file(
        "victim",
        "main.js",
        "if (req.path === '/hit') db.set('hits', (db.get('hits') || 0) + 1); res.json(db.get('hits') || 0);",
    );
    s.write_file(
        "codes",
        "main.js",
        "res.status(Number(req.query.code)).send(req.query.code === '200' ? 'body' : '');",
    );
    let smuggled = "GET /hit HTTP/1.1\r\nHost: victim.localhost\r\n\r\n";
    let chunk = format!("{:x}\r\n{smuggled}\r\n0\r\n\r\n", smuggled.len());
    let cases: Vec<(String, u16)> = vec![
        (
            format!(
                "GET / HTTP/1.1\r\nHost: plain.localhost\r\nTransfer-Encoding: chunked\r\n\r\n{chunk}"
            ),
            200,
        ),
        (
            format!(
                "POST / HTTP/1.1\r\nHost: victim.localhost\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{smuggled}"
            ),
            400,
        ),
        (
            format!(
                "POST / HTTP/1.1\r\nHost: plain.localhost\r\nContent-Length: 3\r\nContent-Length: {}\r\n\r\n{smuggled}",
                smuggled.len()
            ),
            400,
        ),
        (
            format!(
                "POST / HTTP/1.1\r\nHost: plain.localhost\r\nContent-Length: abc\r\n\r\n{smuggled}"
            ),
            400,
        ),
        (
            format!(
                "POST / HTTP/1.1\r\nHost: plain.localhost\r\nContent-Length: -1\r\n\r\n{smuggled}"
            ),
            400,
        ),
        (
            format!(
                "POST / HTTP/1.1\r\nHost: plain.localhost\r\nContent-Length: 38, 38\r\n\r\n{smuggled}"
            ),
            400,
        ),
        (
            format!(
                "POST / HTTP/1.1\r\nHost: plain.localhost\r\nContent-Length: +38\r\n\r\n{smuggled}"
            ),
            400,
        ),
        (
            format!(
                "GET / HTTP/1.1\r\nHost: plain.localhost\r\nHost: victim.localhost\r\n\r\n{smuggled}"
            ),
            400,
        ),
        (
            format!(
                "POST / HTTP/1.1\r\nHost: plain.localhost\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n{chunk}"
            ),
            400,
        ),
        (
            format!("GET / HTTP/2.0\r\nHost: plain.localhost\r\n\r\n{smuggled}"),
            505,
        ),
        (format!("GET / HTTP/1.1\r\n\r\n{smuggled}"), 400),
    ];
    for (raw, expected) in &cases {
        let mut c = s.connect();
        c.write_all(raw.as_bytes()).unwrap();
        let first = read_response(&mut c).unwrap_or_else(|e| panic!("{raw:?}: {e}"));
        assert_eq!(first.status, *expected, "{raw:?}: {}", first.text());
        // Nothing more comes on this connection: the bytes after the head were no request.
        let mut rest = Vec::new();
        let _ = c.read_to_end(&mut rest);
        assert!(
            rest.is_empty(),
            "{raw:?} was followed by {:?}",
            String::from_utf8_lossy(&rest)
        );
    }
    assert_eq!(
        s.get("victim.localhost", "/").text(),
        "0",
        "a smuggled request ran"
    );
    // No length on answers that have no body.
    for code in ["204", "304"] {
        let r = s.get("codes.localhost", &format!("/?code={code}"));
        assert_eq!(r.status.to_string(), code);
        assert_eq!(r.header("content-length"), None, "{code} has a length");
    }
    let r = s.get("codes.localhost", "/?code=200");
    assert_eq!(r.header("content-length"), Some("4"));
}

#[test]
fn chunked_bodies_stray_upgrades_and_huge_heads_are_answered_at_once() {
    let s = Server::start();
    s.write_file("api", "main.js", "res.send(req.method + ' ' + req.body);");
    // A chunked body (with an extension and a trailer), then a pipelined request behind it.
    let mut c = s.connect();
    c.write_all(
        b"POST / HTTP/1.1\r\nHost: api.localhost\r\nTransfer-Encoding: chunked\r\n\r\n\
          5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n\
          GET / HTTP/1.1\r\nHost: api.localhost\r\n\r\n",
    )
    .unwrap();
    assert_eq!(read_response(&mut c).unwrap().text(), "POST hello world");
    assert_eq!(read_response(&mut c).unwrap().text(), "GET ");
    // Chunk sizes are hex digits only.
    for bad in ["+5", " 5", "5 ", "0x5", "fffffffffffffffff"] {
        let r = s.raw(
            format!("POST / HTTP/1.1\r\nHost: api.localhost\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{bad}\r\nhello\r\n0\r\n\r\n")
                .as_bytes(),
        );
        assert_eq!(r.status, 400, "chunk size {bad:?}: {}", r.text());
    }
    // `Connection: upgrade` on an ordinary request is no endless body.
    let started = Instant::now();
    let mut c = s.connect();
    c.write_all(
        b"GET /x HTTP/1.1\r\nHost: api.localhost\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n",
    )
    .unwrap();
    assert_eq!(read_response(&mut c).unwrap().text(), "GET ");
    assert!(started.elapsed() < Duration::from_secs(2));
    // A complete head far over the limits is refused, not re-parsed forever.
    let fields: String = (0..100)
        .map(|i| format!("X-{i}: {}\r\n", "v".repeat(1000)))
        .collect();
    let started = Instant::now();
    let r = s.raw(format!("GET / HTTP/1.1\r\nHost: api.localhost\r\n{fields}\r\n").as_bytes());
    assert_eq!(r.status, 431);
    assert!(started.elapsed() < Duration::from_secs(2));
    // A declared body over main.js's limit is refused before a byte of it is read.
    let mut c = s.connect();
    c.write_all(b"POST / HTTP/1.1\r\nHost: api.localhost\r\nContent-Length: 999999999999\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut c).unwrap().status, 413);
}

#[test]
fn clients_that_keep_pipelining_cannot_shut_out_others() {
    let s = Server::builder().arg("--workers").arg("2").start();
    s.write_file("plain", "index.html", "plain page");
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let _stop = StopOnDrop(&stop);
        for _ in 0..6 {
            scope.spawn(|| {
                let mut c = s.connect();
                let mut reader = c.try_clone().unwrap();
                let batch = "GET / HTTP/1.1\r\nHost: plain.localhost\r\n\r\n".repeat(200);
                let drain = std::thread::spawn(move || {
                    let mut buf = vec![0u8; 65536];
                    while matches!(reader.read(&mut buf), Ok(n) if n > 0) {}
                });
                while !stop.load(Ordering::Relaxed) {
                    if c.write_all(batch.as_bytes()).is_err() {
                        break;
                    }
                }
                let _ = c.shutdown(std::net::Shutdown::Both);
                let _ = drain.join();
            });
        }
        std::thread::sleep(Duration::from_millis(500));
        for _ in 0..5 {
            let started = Instant::now();
            let r = s.get("plain.localhost", "/");
            assert_eq!(r.status, 200);
            assert!(
                started.elapsed() < Duration::from_secs(1),
                "a newcomer waited {:?} behind pipelining clients",
                started.elapsed()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    });
}

#[test]
fn readers_that_never_read_a_big_file_hold_no_worker() {
    let s = Server::builder().arg("--workers").arg("2").start();
    s.write_file("plain", "index.html", "plain page");
    s.write_file("plain", "big.bin", vec![7u8; 20 * 1024 * 1024]);
    // Six clients ask for 20 MB each and read nothing.
    let stalled = stalled_readers(
        &s,
        6,
        b"GET /big.bin HTTP/1.1\r\nHost: plain.localhost\r\n\r\n",
    );
    std::thread::sleep(Duration::from_millis(500));
    for _ in 0..5 {
        let started = Instant::now();
        assert_eq!(s.get("plain.localhost", "/").status, 200);
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "a newcomer waited {:?} behind readers that do not read",
            started.elapsed()
        );
    }
    a_stalled_reader_still_gets_it_all(stalled, 20 * 1024 * 1024);
}

/// `n` clients that each send `request` and read nothing.
fn stalled_readers(s: &Server, n: usize, request: &[u8]) -> Vec<TcpStream> {
    (0..n)
        .map(|_| {
            let mut c = s.connect();
            c.write_all(request).unwrap();
            c
        })
        .collect()
}

/// A stalled reader that starts reading still gets the whole answer (`len` bytes), and its
/// connection serves its next request.
fn a_stalled_reader_still_gets_it_all(stalled: Vec<TcpStream>, len: usize) {
    let mut c = stalled.into_iter().next().unwrap();
    let r = read_response(&mut c).unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.body.len(), len);
    assert_eq!(get_on(&mut c, "plain.localhost", "/").unwrap().status, 200);
}

#[test]
fn trickled_chunked_continue_and_larger_bodies_hold_no_worker() {
    let s = trickle_server();
    let heads = [
        "POST / HTTP/1.1\r\nHost: api.localhost\r\nTransfer-Encoding: chunked\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: api.localhost\r\nContent-Length: 100000\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: api.localhost\r\nContent-Length: 1000\r\nExpect: 100-continue\r\n\r\n",
    ];
    let mut slow: Vec<TcpStream> = heads
        .iter()
        .cycle()
        .take(6)
        .map(|head| {
            let mut c = s.connect();
            c.write_all(head.as_bytes()).unwrap();
            c
        })
        .collect();
    trickle_while_others_are_served(&s, &mut slow);
    // A well-behaved 100-continue client: the server asks for the body itself.
    let mut c = s.connect();
    c.write_all(b"POST / HTTP/1.1\r\nHost: api.localhost\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
        .unwrap();
    let mut interim = [0u8; 25];
    c.read_exact(&mut interim).unwrap();
    assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    c.write_all(b"hello").unwrap();
    assert_eq!(read_response(&mut c).unwrap().text(), "got 5");
    // A 200 KB body arrives whole.
    let big = vec![b'x'; 200_000];
    assert_eq!(
        s.send("POST", "api.localhost", "/", &[], &big).text(),
        "got 200000"
    );
    drop(slow);
}

#[test]
fn readers_that_never_read_a_big_script_answer_hold_no_thread() {
    // Whoever writes a main.js answer (the script pool's runners) must not wait on a client
    // that does not read: eight stalled readers of an 8 MB answer, more than there are
    // runners, while another site's script, a static site and the dashboard answer.
    let s = Server::builder()
        .arg("--workers")
        .arg("2")
        .arg("--script-timeout-ms")
        .arg("5000")
        .start();
    s.write_file("plain", "index.html", "plain page");
    s.write_file("big", "main.js", "res.send('x'.repeat(8 * 1024 * 1024));");
    s.write_file("other", "main.js", "res.send('other');");
    let stalled = stalled_readers(&s, 8, b"GET / HTTP/1.1\r\nHost: big.localhost\r\n\r\n");
    // Every big answer is made and handed to the connection layer.
    let deadline = Instant::now() + Duration::from_secs(30);
    while s
        .log()
        .iter()
        .filter(|l| l.starts_with("GET big.localhost"))
        .count()
        < 8
    {
        assert!(
            Instant::now() < deadline,
            "the big answers were not all written: {:?}",
            s.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    for _ in 0..5 {
        let started = Instant::now();
        assert_eq!(s.get("other.localhost", "/").text(), "other");
        assert_eq!(s.get("plain.localhost", "/").status, 200);
        assert_eq!(s.get("localhost", "/login").status, 200);
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "others waited {:?} behind readers that do not read",
            started.elapsed()
        );
    }
    a_stalled_reader_still_gets_it_all(stalled, 8 * 1024 * 1024);
}

#[test]
fn a_half_closed_reader_of_a_big_answer_costs_no_cpu_and_is_closed() {
    // A client that asks for 20 MB, shuts down its sending side and never reads: its
    // connection must wait quietly and be closed at the write timeout.
    let s = Server::builder()
        .arg("--io-timeout")
        .arg("2")
        .arg("--script-timeout-ms")
        .arg("5000")
        .start();
    s.write_file("plain", "big.bin", vec![7u8; 20 * 1024 * 1024]);
    // Built from 1 MiB pieces: boa caps the iterations of one `repeat`.
    s.write_file(
        "big",
        "main.js",
        "res.send('x'.repeat(1 << 20).repeat(12));",
    );
    let mut clients = Vec::new();
    for (host, path, size) in [
        ("plain.localhost", "/big.bin", 20 << 20),
        ("big.localhost", "/", 12 << 20),
        ("plain.localhost", "/big.bin", 20 << 20),
    ] {
        let mut c = s.connect();
        write!(c, "GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n").unwrap();
        std::thread::sleep(Duration::from_millis(300));
        c.shutdown(std::net::Shutdown::Write).unwrap();
        clients.push((c, size));
    }
    // The script's answer is made and handed to the connection layer before measuring.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !s.log_contains("GET big.localhost / 200") {
        assert!(
            Instant::now() < deadline,
            "no answer from big: {:?}",
            s.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(500));
    let before = cpu_seconds(s.pid());
    std::thread::sleep(Duration::from_secs(2));
    let used = cpu_seconds(s.pid()) - before;
    assert!(used < 1.0, "the server spun: {used:.2} CPU seconds in 2 s");
    // Closed at the write timeout (2 s, no progress): reading ends before the whole answer.
    std::thread::sleep(Duration::from_secs(3));
    for (mut c, size) in clients {
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut got = 0usize;
        let mut buf = vec![0u8; 1 << 16];
        let started = Instant::now();
        while let Ok(n) = c.read(&mut buf) {
            if n == 0 {
                break;
            }
            got += n;
        }
        assert!(got < size, "a stalled answer was never given up");
        assert!(started.elapsed() < Duration::from_secs(10));
    }
}

#[test]
fn a_stderr_nobody_reads_stalls_no_answer_no_script_and_no_stop() {
    use std::io::BufRead;
    use std::process::{Command, Stdio};
    // The server's stderr is a pipe that nobody reads (a wedged log collector): once it is
    // full, answers, scripts that log and a SIGTERM must all still go through.
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    for (site, file, text) in [
        ("plain", "index.html", "plain page"),
        (
            "chatty",
            "main.js",
            "console.log('x'.repeat(1000)); res.send('logged');",
        ),
        ("quiet", "main.js", "res.send('quiet');"),
    ] {
        std::fs::create_dir_all(data.join("sites").join(site)).unwrap();
        std::fs::write(data.join("sites").join(site).join(file), text).unwrap();
    }
    let mut child = Command::new(crate::harness::BIN)
        .args(["serve", "--port", "0", "--bind", "127.0.0.1", "--data-dir"])
        .arg(&data)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let _unread_stderr = child.stderr.take();
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let port: u16 = first.trim().rsplit(':').next().unwrap().parse().unwrap();
    let get = |host: &str| {
        let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        write!(
            c,
            "GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        read_response(&mut c).map(|r| String::from_utf8_lossy(&r.body).to_string())
    };
    // About 300 KB of log: far more than a pipe holds.
    let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    for _ in 0..300 {
        assert_eq!(get_on(&mut c, "chatty.localhost", "/").unwrap().status, 200);
    }
    let started = Instant::now();
    assert_eq!(get("quiet.localhost").unwrap(), "quiet");
    assert_eq!(get("chatty.localhost").unwrap(), "logged");
    assert_eq!(get("plain.localhost").unwrap(), "plain page");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );

    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(15);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "SIGTERM did not stop the server");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn busy_keep_alive_clients_cannot_hold_off_a_stop() {
    let s = Server::start();
    s.write_file("plain", "index.html", "plain page");
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                let mut c = s.connect();
                while !stop.load(Ordering::Relaxed) {
                    if get_on(&mut c, "plain.localhost", "/").is_err() {
                        return;
                    }
                }
            });
        }
        std::thread::sleep(Duration::from_millis(500));
        let pid = s.pid();
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        // Gone, or a zombie waiting for the harness to reap it.
        let running = || {
            std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|st| {
                st.rsplit(')')
                    .next()
                    .is_some_and(|r| !r.trim_start().starts_with('Z'))
            })
        };
        while running() {
            if Instant::now() > deadline {
                stop.store(true, Ordering::Relaxed);
                panic!("the server kept serving busy keep-alive clients after SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        stop.store(true, Ordering::Relaxed);
    });
}

#[test]
fn a_low_open_file_limit_lowers_max_connections_and_files_still_open() {
    if std::process::Command::new("prlimit")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("skipped: prlimit (util-linux) is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let site = dir.path().join("sites/docs");
    std::fs::create_dir_all(&site).unwrap();
    std::fs::write(site.join("big.bin"), vec![b'z'; 300_000]).unwrap();
    let mut child = std::process::Command::new("prlimit")
        .args([
            "--nofile=700:700",
            crate::harness::BIN,
            "serve",
            "--port",
            "0",
        ])
        .args([
            "--bind",
            "127.0.0.1",
            "--data-dir",
            dir.path().to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::{BufRead, BufReader};
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    let port: u16 = first.trim().rsplit(':').next().unwrap().parse().unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut banner = String::new();
    for _ in 0..4 {
        err.read_line(&mut banner).unwrap();
    }
    assert!(
        banner.contains("fits 94 connections: --max-connections lowered from 16384"),
        "{banner}"
    );
    // Idle connections up to the fitted limit: the next file still opens.
    let idle: Vec<TcpStream> = (0..80)
        .map(|_| TcpStream::connect(("127.0.0.1", port)).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        c,
        "GET /big.bin HTTP/1.1\r\nHost: docs.localhost\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut body = Vec::new();
    let _ = c.read_to_end(&mut body);
    let text = String::from_utf8_lossy(&body[..body.len().min(200)]).to_string();
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(body.len() > 300_000);
    drop(idle);
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn readers_past_the_write_behind_budget_are_cut_off_not_waited_for() {
    // More stalled readers of big script answers than the 64 MiB write-behind budget holds:
    // the threads that hand script answers out must not wait on them (every site's scripts
    // would stall for the write timeout); the readers past the budget are cut off instead.
    let s = Server::builder()
        .arg("--script-timeout-ms")
        .arg("5000")
        .start();
    // Made once when the module loads: each run only hands out 15 MB.
    s.write_file(
        "big",
        "main.js",
        "const body = 'x'.repeat(1 << 20).repeat(15);\nexport default { fetch() { return new Response(body); } };",
    );
    s.write_file(
        "other",
        "main.js",
        "export default { fetch() { return new Response('other'); } };",
    );
    // Small receive buffers, as a client far away would have: the answers wait at the server.
    let _stalled: Vec<socket2::Socket> = (0..10)
        .map(|_| {
            let c =
                socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
            c.set_recv_buffer_size(4096).unwrap();
            let addr: std::net::SocketAddr = ([127, 0, 0, 1], s.port).into();
            c.connect(&addr.into()).unwrap();
            let mut stream: &socket2::Socket = &c;
            stream
                .write_all(b"GET / HTTP/1.1\r\nHost: big.localhost\r\n\r\n")
                .unwrap();
            c
        })
        .collect();
    std::thread::sleep(Duration::from_secs(4));
    for _ in 0..5 {
        let started = Instant::now();
        assert_eq!(s.get("other.localhost", "/").text(), "other");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "another site's script waited {:?} behind readers that do not read",
            started.elapsed()
        );
    }
}
