//! WebSocket broadcast through the real server, with tungstenite as the client.

use std::net::TcpStream;
use std::time::Duration;

use tungstenite::Message;

use crate::harness::{Server, Ws, connect, connect_from};

/// GETs `path` on `site` until it answers `want` (the hub registers clients asynchronously);
/// returns the last answer.
fn poll_until(s: &Server, site: &str, path: &str, want: &str) -> String {
    let mut last = String::new();
    for _ in 0..100 {
        last = s.get(&format!("{site}.localhost"), path).text();
        if last == want {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    last
}

fn next_text(ws: &mut Ws) -> String {
    loop {
        match ws.read().expect("a message") {
            Message::Text(t) => return t.as_str().to_string(),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("unexpected {other:?}"),
        }
    }
}

/// Nothing arrives within a short wait.
fn silent(ws: &mut Ws) -> bool {
    ws.get_ref()
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let quiet = match ws.read() {
        Err(tungstenite::Error::Io(e)) => matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
        _ => false,
    };
    ws.get_ref()
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    quiet
}

#[test]
fn a_broadcast_reaches_every_client_of_its_site_once_and_no_other_site() {
    let s = Server::start();
    s.write_file(
        "a",
        "main.js",
        r#"socket.broadcast("hello " + req.query.n); res.send("sent to " + socket.clients());"#,
    );
    s.write_file("b", "index.html", "b");
    let (mut a1, mut a2, mut b1) = (connect(&s, "a"), connect(&s, "a"), connect(&s, "b"));
    // The hub registers clients asynchronously; socket.clients() tells when both are in.
    assert_eq!(poll_until(&s, "a", "/?n=0", "sent to 2"), "sent to 2");
    while !silent(&mut a1) {}
    while !silent(&mut a2) {}
    s.get("a.localhost", "/?n=1");
    assert_eq!(next_text(&mut a1), "hello 1");
    assert_eq!(next_text(&mut a2), "hello 1");
    assert!(
        silent(&mut a1) && silent(&mut a2),
        "delivered more than once"
    );
    assert!(silent(&mut b1), "another site's client got the broadcast");
}

#[test]
fn without_a_handler_messages_are_relayed_to_the_whole_site() {
    let s = Server::start();
    s.write_file("chat", "index.html", "<h1>chat</h1>");
    let (mut c1, mut c2) = (connect(&s, "chat"), connect(&s, "chat"));
    std::thread::sleep(Duration::from_millis(200));
    c1.send(Message::text("hi all")).unwrap();
    assert_eq!(next_text(&mut c1), "hi all");
    assert_eq!(next_text(&mut c2), "hi all");
}

#[test]
fn frames_sent_with_the_handshake_are_not_lost() {
    use std::io::Write;
    let s = Server::start();
    s.write_file("chat", "index.html", "<h1>chat</h1>");
    let mut listener = connect(&s, "chat");
    std::thread::sleep(Duration::from_millis(200));
    // A client that does not wait for the 101: the handshake and two masked text frames
    // leave in one write.
    let mut eager = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    let mut bytes = b"GET /ws HTTP/1.1\r\nHost: chat.localhost\r\nUpgrade: websocket\r\n\
        Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
        Sec-WebSocket-Version: 13\r\n\r\n"
        .to_vec();
    for text in ["early one", "early two"] {
        let mask = [0x12u8, 0x34, 0x56, 0x78];
        bytes.extend([0x81, 0x80 | text.len() as u8]);
        bytes.extend(mask);
        bytes.extend(text.bytes().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    }
    eager.write_all(&bytes).unwrap();
    assert_eq!(next_text(&mut listener), "early one");
    assert_eq!(next_text(&mut listener), "early two");
}

#[test]
fn a_socket_on_handler_stores_and_broadcasts() {
    let s = Server::start();
    s.write_file(
        "chat",
        "main.js",
        r#"
        socket.on("message", (msg, client) => {
          const log = db.get("log") || [];
          log.push(msg);
          db.set("log", log);
          socket.broadcast({ from: client.id, msg });
        });
        if (req.method === "GET") res.json(db.get("log") || []);
        "#,
    );
    let (mut c1, mut c2) = (connect(&s, "chat"), connect(&s, "chat"));
    std::thread::sleep(Duration::from_millis(200));
    c1.send(Message::text("yo")).unwrap();
    for c in [&mut c1, &mut c2] {
        let v: serde_json::Value = serde_json::from_str(&next_text(c)).unwrap();
        assert_eq!(v["msg"], "yo");
    }
    assert_eq!(s.get("chat.localhost", "/").text(), r#"["yo"]"#);
}

#[test]
fn bad_upgrades_get_clear_answers_and_a_reader_that_never_reads_is_dropped() {
    let s = Server::start();
    s.write_file(
        "a",
        "main.js",
        r#"for (let i = 0; i < 100; i++) socket.broadcast("x".repeat(8000) + i); res.send("ok");"#,
    );
    // Unknown site, broken handshake, oversized message.
    let r = s.request(
        "GET",
        "nosite.localhost",
        "/ws",
        &[("Upgrade", "websocket"), ("Connection", "Upgrade")],
    );
    assert_eq!(r.status, 404);
    let r = s.request(
        "GET",
        "a.localhost",
        "/ws",
        &[
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Version", "13"),
        ],
    );
    assert_eq!(r.status, 400);
    assert!(r.text().contains("bad WebSocket handshake"), "{}", r.text());
    let mut big = connect(&s, "a");
    let _ = big.send(Message::text("y".repeat(100 * 1024)));
    let closed = loop {
        match big.read() {
            Ok(Message::Close(_)) | Err(_) => break true,
            Ok(_) => continue,
        }
    };
    assert!(closed);

    // A client that never reads, and one that does, while 3 000 messages of 8 KB go out.
    let mut reader = connect(&s, "a");
    let lazy = connect(&s, "a");
    std::thread::sleep(Duration::from_millis(200));
    std::thread::scope(|scope| {
        let got = scope.spawn(|| {
            let mut n = 0;
            while n < 3000 {
                let t = next_text(&mut reader);
                assert!(t.ends_with(&(n % 100).to_string()), "out of order at {n}");
                n += 1;
            }
            n
        });
        for _ in 0..30 {
            assert_eq!(s.get("a.localhost", "/").text(), "ok");
        }
        assert_eq!(got.join().unwrap(), 3000);
    });
    drop(lazy);
    // Only the reading client is left.
    let mut count = String::new();
    for _ in 0..100 {
        count = s.get("a.localhost", "/").text();
        std::thread::sleep(Duration::from_millis(20));
        if s.log_contains("too slow") {
            break;
        }
    }
    assert_eq!(count, "ok");
    assert!(
        s.log_contains("too slow"),
        "the lazy client was not dropped"
    );
}

/// Threads and open descriptors of the server process.
fn threads_and_fds(s: &Server) -> (usize, usize) {
    let dir = format!("/proc/{}", s.pid());
    let count = |sub: &str| std::fs::read_dir(format!("{dir}/{sub}")).unwrap().count();
    (count("task"), count("fd"))
}

#[test]
fn abrupt_disconnects_leak_no_threads_or_connections() {
    // No daily backup: its SQLite connection may leave a descriptor pending until a lock is
    // released, which is not what this test counts.
    let s = Server::builder()
        .arg("--backups")
        .arg("0")
        .arg("--max-ws-per-address")
        .arg("64")
        .start();
    s.write_file("a", "main.js", r#"res.send(String(socket.clients()));"#);
    s.get("a.localhost", "/"); // start a script worker before counting
    // Opening and closing run the site's main.js (socket.on "open"/"close"): one round first,
    // so that the script workers it starts are there before counting.
    let warm: Vec<Ws> = (0..50).map(|_| connect(&s, "a")).collect();
    assert_eq!(poll_until(&s, "a", "/", "50"), "50");
    drop(warm);
    assert_eq!(poll_until(&s, "a", "/", "0"), "0");
    std::thread::sleep(Duration::from_millis(500));
    let before = threads_and_fds(&s);
    let clients: Vec<Ws> = (0..50).map(|_| connect(&s, "a")).collect();
    assert_eq!(poll_until(&s, "a", "/", "50"), "50");
    // Drop every socket without a close frame.
    drop(clients);
    // tiny_http's idle connection threads end 5 s after their last connection.
    let mut after = (usize::MAX, usize::MAX);
    for _ in 0..120 {
        after = threads_and_fds(&s);
        if after.0 <= before.0 + 2 && after.1 <= before.1 && s.get("a.localhost", "/").text() == "0"
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(s.get("a.localhost", "/").text(), "0");
    // Opens and closes are in the site's log.
    let token = s.create_key("me", &["deploy:a"]);
    let auth = format!("Bearer {token}");
    let logs = s
        .request(
            "GET",
            "localhost",
            "/api/sites/a/logs",
            &[("Authorization", &auth)],
        )
        .text();
    assert!(logs.contains("opened from 127.0.0.1"), "{logs}");
    assert!(
        logs.contains("closed (connection lost)") || logs.contains("closed (closed by the client)"),
        "{logs}"
    );
    assert!(
        after.0 <= before.0 + 2,
        "threads: before {before:?}, after {after:?}"
    );
    assert!(
        after.1 <= before.1,
        "descriptors: before {before:?}, after {after:?}"
    );
}

#[test]
fn one_clients_burst_slows_only_that_client() {
    use std::io::Write;
    let s = Server::start();
    s.write_file("chat", "index.html", "<h1>chat</h1>");
    let (mut reader, mut speaker) = (connect(&s, "chat"), connect(&s, "chat"));
    let mut flooder = connect(&s, "chat");
    assert_eq!(
        poll_until(&s, "chat", "/", "<h1>chat</h1>"),
        "<h1>chat</h1>"
    );
    std::thread::sleep(Duration::from_millis(300));
    flooder.get_mut().write_all(&burst_of_x(10_000)).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    // Everyone else stays connected and hears the next message, after at most the flooder's
    // share of relayed 'x's.
    speaker
        .send(Message::text("hello from a neighbour"))
        .unwrap();
    let mut relayed = 0;
    loop {
        match reader
            .read()
            .expect("the reader was disconnected by someone else's burst")
        {
            Message::Text(t) if t.as_str() == "x" => relayed += 1,
            Message::Text(t) => {
                assert_eq!(t.as_str(), "hello from a neighbour");
                break;
            }
            Message::Ping(_) | Message::Pong(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(relayed < 2_000, "{relayed} of the burst were relayed first");
    assert_eq!(
        next_text(&mut speaker).len(),
        1,
        "the speaker was disconnected"
    );
}

/// The status line's code for a WebSocket handshake to `site` sent with `origin` (if any).
fn handshake_status(s: &Server, site: &str, origin: Option<&str>) -> u16 {
    handshake_on(&mut s.connect(), s, site, origin)
}

/// Sends a WebSocket handshake for `site` on `c` and returns the answer's status code (the
/// connection stays open: a 101 keeps its place in the hub).
fn handshake_on(c: &mut TcpStream, s: &Server, site: &str, origin: Option<&str>) -> u16 {
    use std::io::{Read, Write};
    let origin = origin.map_or(String::new(), |o| format!("Origin: {o}\r\n"));
    write!(
        c,
        "GET /ws HTTP/1.1\r\nHost: {site}.localhost:{}\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Version: 13\r\n{origin}\r\n",
        s.port
    )
    .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && c.read(&mut byte).unwrap_or(0) == 1 {
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head);
    head.split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0)
}

#[test]
fn one_address_cannot_take_every_place_of_a_site() {
    let s = Server::builder()
        .arg("--max-ws-per-address")
        .arg("3")
        .start();
    s.write_file("chat", "index.html", "<h1>chat</h1>");
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut c = connect_from(&s, "127.0.0.1");
        assert_eq!(handshake_on(&mut c, &s, "chat", None), 101);
        held.push(c);
    }
    assert_eq!(
        poll_until(&s, "chat", "/", "<h1>chat</h1>"),
        "<h1>chat</h1>"
    );
    std::thread::sleep(Duration::from_millis(200)); // the hub counts its clients
    let mut fourth = connect_from(&s, "127.0.0.1");
    assert_eq!(handshake_on(&mut fourth, &s, "chat", None), 503);
    let mut neighbour = connect_from(&s, "127.0.0.2");
    assert_eq!(handshake_on(&mut neighbour, &s, "chat", None), 101);
    s.write_file("other", "index.html", "other");
    let mut elsewhere = connect_from(&s, "127.0.0.1");
    assert_eq!(handshake_on(&mut elsewhere, &s, "other", None), 101);
    // A place is given back when its client leaves.
    drop(held.pop());
    let mut again = 0;
    for _ in 0..50 {
        let mut c = connect_from(&s, "127.0.0.1");
        again = handshake_on(&mut c, &s, "chat", None);
        if again == 101 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(again, 101);
}

#[test]
fn pages_on_other_origins_may_not_open_a_sites_websocket_unless_it_lists_them() {
    let s = Server::start();
    s.write_file("chat", "index.html", "<h1>chat</h1>");
    let own = format!("http://chat.localhost:{}", s.port);
    assert_eq!(
        handshake_status(&s, "chat", None),
        101,
        "a client that is no browser"
    );
    assert_eq!(
        handshake_status(&s, "chat", Some(&own)),
        101,
        "the site's own page"
    );
    assert_eq!(
        handshake_status(&s, "chat", Some("https://evil.example")),
        403
    );
    assert_eq!(handshake_status(&s, "chat", Some("null")), 403);
    let own_other_site = format!("http://other.localhost:{}", s.port);
    assert_eq!(handshake_status(&s, "chat", Some(&own_other_site)), 403);
    s.db()
        .execute(
            "INSERT INTO env_vars (site_id, key, value) VALUES ('chat', 'CC_WS_ORIGINS', 'https://friend.example, https://evil.example/')",
            [],
        )
        .unwrap();
    assert_eq!(
        handshake_status(&s, "chat", Some("https://evil.example")),
        101
    );
    assert_eq!(
        handshake_status(&s, "chat", Some("https://friend.example")),
        101
    );
    assert_eq!(
        handshake_status(&s, "chat", Some("https://third.example")),
        403
    );
}

#[test]
fn a_message_flood_waits_at_the_hub_and_never_crowds_out_the_sites_other_work() {
    use std::io::Write;
    let s = Server::start();
    // A handler that takes 20 ms a message: two flooders' 200 messages take four seconds.
    s.write_file(
        "slowchat",
        "main.js",
        r#"
        socket.on("message", (m) => {
          const t = Date.now(); while (Date.now() - t < 20) {}
          db.set("handled", (db.get("handled") || 0) + 1);
          if (m === "ping") socket.broadcast("pong");
        });
        res.json(db.get("handled"));
        "#,
    );
    let mut flooders = [connect(&s, "slowchat"), connect(&s, "slowchat")];
    let mut speaker = connect(&s, "slowchat");
    std::thread::sleep(Duration::from_millis(300));
    // 100 messages each, in one write: within each client's burst allowance.
    let burst = burst_of_x(100);
    for f in &mut flooders {
        f.get_mut().write_all(&burst).unwrap();
    }
    std::thread::sleep(Duration::from_millis(200));
    // The site's visitors still get answers, and its handler hears the neighbour soon.
    let r = s.get("slowchat.localhost", "/");
    assert_eq!(r.status, 200, "{}", r.text());
    speaker.send(Message::text("ping")).unwrap();
    let started = std::time::Instant::now();
    loop {
        match speaker.read().expect("the speaker was disconnected") {
            Message::Text(t) if t.as_str() == "pong" => break,
            _ => {}
        }
    }
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the neighbour's message waited behind the flood: {:?}",
        started.elapsed()
    );
    // Nothing was dropped: every message of the flood is handled in the end.
    let mut handled = 0;
    for _ in 0..100 {
        handled = s.get("slowchat.localhost", "/").text().parse().unwrap_or(0);
        if handled == 201 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(handled, 201, "messages were dropped");
}

/// `n` one-byte text frames for one write, masked with a zero key so the byte is 'x'.
fn burst_of_x(n: usize) -> Vec<u8> {
    let frame = [0x81u8, 0x81, 0, 0, 0, 0, b'x'];
    frame
        .iter()
        .copied()
        .cycle()
        .take(frame.len() * n)
        .collect()
}
