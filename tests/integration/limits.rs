//! Hostile clients cost bounded time and memory, and never stop the server answering others:
//! a huge unread Content-Length, an endless header line, too many headers, a slowloris client,
//! many idle keep-alive connections, a full connection table.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::harness::{Server, read_response};

/// One worker, so a stuck worker would show as a timeout on the next request.
fn one_worker(extra: &[&str]) -> Server {
    let mut b = Server::builder().arg("--workers").arg("1");
    for a in extra {
        b = b.arg(a);
    }
    let s = b.start();
    s.write_file("web", "index.html", "ok");
    s
}

fn assert_still_serving(s: &Server) {
    let mut c = s.connect();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c.write_all(b"GET / HTTP/1.1\r\nHost: web.localhost\r\n\r\n")
        .unwrap();
    let r = read_response(&mut c).expect("the server stopped answering other clients");
    assert_eq!((r.status, r.text().as_str()), (200, "ok"));
}

/// `n` keep-alive connections that have each been served once and now sit idle.
fn idle_connections(s: &Server, n: usize) -> Vec<TcpStream> {
    (0..n)
        .map(|_| {
            let mut c = s.connect();
            c.write_all(b"GET / HTTP/1.1\r\nHost: web.localhost\r\n\r\n")
                .unwrap();
            assert_eq!(read_response(&mut c).unwrap().status, 200);
            c
        })
        .collect()
}

#[test]
fn a_huge_unread_content_length_costs_nothing() {
    // io-timeout 60: a worker stuck draining the body would block the next request past the
    // client's 10 s read timeout.
    let s = one_worker(&["--io-timeout", "60"]);
    let mut c = s.connect();
    c.write_all(b"GET / HTTP/1.1\r\nHost: web.localhost\r\nContent-Length: 1099511627776\r\n\r\nsome body bytes")
        .unwrap();
    let r = read_response(&mut c).unwrap();
    assert_eq!(r.status, 200);
    // Keep trickling "body" while another client is served by the only worker.
    c.write_all(b"more body").unwrap();
    assert_still_serving(&s);
    // The abused connection is closed rather than reused with body bytes as a request.
    c.write_all(b"GET / HTTP/1.1\r\nHost: web.localhost\r\n\r\n")
        .ok();
    let mut rest = Vec::new();
    let _ = c.read_to_end(&mut rest);
    assert!(
        !String::from_utf8_lossy(&rest).contains("200 OK"),
        "connection was reused"
    );

    // The same for a method the site refuses (405 without reading the body).
    let mut c = s.connect();
    c.write_all(b"POST / HTTP/1.1\r\nHost: web.localhost\r\nContent-Length: 99999999999\r\n\r\nxx")
        .unwrap();
    assert_eq!(read_response(&mut c).unwrap().status, 405);
    assert_still_serving(&s);
}

#[test]
fn an_endless_header_line_gets_431() {
    let s = one_worker(&[]);
    let mut c = s.connect();
    c.write_all(b"GET / HTTP/1.1\r\nHost: web.localhost\r\nX-Long: ")
        .unwrap();
    let chunk = vec![b'a'; 64 * 1024];
    // The server gives up long before 32 MiB; its close makes our writes fail.
    for _ in 0..512 {
        if c.write_all(&chunk).is_err() {
            break;
        }
    }
    let mut got = Vec::new();
    let _ = c.read_to_end(&mut got);
    assert!(
        String::from_utf8_lossy(&got).starts_with("HTTP/1.1 431"),
        "{:?}",
        String::from_utf8_lossy(&got)
    );
    assert_still_serving(&s);
}

#[test]
fn too_many_headers_get_431() {
    let s = one_worker(&[]);
    let mut raw = String::from("GET / HTTP/1.1\r\nHost: web.localhost\r\n");
    for i in 0..500 {
        raw.push_str(&format!("X-H{i}: v\r\n"));
    }
    raw.push_str("\r\n");
    let r = s.raw(raw.as_bytes());
    assert_eq!(r.status, 431);
    assert_still_serving(&s);
}

#[test]
fn a_slowloris_client_is_cut_off_and_others_are_served_meanwhile() {
    let s = one_worker(&["--head-timeout", "2", "--io-timeout", "5"]);
    let mut slow = s.connect();
    let started = Instant::now();
    let head = b"GET / HTTP/1.1\r\nHost: web.localhost\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    let mut cut_off = false;
    for (i, b) in head.iter().enumerate() {
        if slow.write_all(&[*b]).is_err() {
            cut_off = true;
            break;
        }
        if i == 3 {
            assert_still_serving(&s);
        }
        std::thread::sleep(Duration::from_millis(150));
        if started.elapsed() > Duration::from_secs(30) {
            break;
        }
    }
    let mut got = Vec::new();
    slow.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let _ = slow.read_to_end(&mut got);
    let text = String::from_utf8_lossy(&got);
    assert!(
        cut_off || text.starts_with("HTTP/1.1 408"),
        "slow head was served: {text}"
    );
    assert!(!text.contains("200 OK"));
    assert_still_serving(&s);
}

#[test]
fn idle_keep_alive_connections_are_closed_after_the_io_timeout() {
    let s = one_worker(&["--io-timeout", "1"]);
    let mut c = s.connect();
    c.write_all(b"GET / HTTP/1.1\r\nHost: web.localhost\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut c).unwrap().status, 200);
    // Say nothing more: the server hangs up on its own, without a stray response.
    c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut rest = Vec::new();
    let n = c.read_to_end(&mut rest).unwrap_or(0);
    assert_eq!(
        n,
        0,
        "unexpected bytes after idle: {:?}",
        String::from_utf8_lossy(&rest)
    );
}

#[test]
fn many_idle_keep_alive_connections_do_not_block_others() {
    let s = one_worker(&[]);
    let idle = idle_connections(&s, 300);
    for _ in 0..20 {
        assert_still_serving(&s);
    }
    drop(idle);
}

#[test]
fn a_full_connection_table_makes_room_by_closing_the_longest_idle() {
    let s = one_worker(&["--max-connections", "10"]);
    // Ten connections in the middle of a request head, none idle: the newcomer is served
    // and the oldest connection of the address holding the most makes room.
    let mut busy: Vec<TcpStream> = (0..10)
        .map(|_| {
            let mut c = s.connect();
            c.write_all(b"GET / HTTP/1.1\r\n").unwrap();
            std::thread::sleep(Duration::from_millis(20));
            c
        })
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let mut extra = s.connect();
    extra
        .write_all(b"GET / HTTP/1.1\r\nHost: web.localhost\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut extra).unwrap().status, 200);
    let mut byte = [0u8; 1];
    assert_eq!(
        busy[0].read(&mut byte).unwrap_or(0),
        0,
        "the oldest connection was closed"
    );
    busy[9].write_all(b"Host: web.localhost\r\n\r\n").unwrap();
    assert_eq!(read_response(&mut busy[9]).unwrap().status, 200);
    drop(busy);
    drop(extra);
    std::thread::sleep(Duration::from_millis(300));
    // Ten idle keep-alive connections: a newcomer is served, and the one idle longest is
    // closed to make room.
    let mut idle = idle_connections(&s, 10);
    let mut extra = s.connect();
    extra
        .write_all(b"GET / HTTP/1.1\r\nHost: web.localhost\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut extra).unwrap().status, 200);
    assert_eq!(
        idle[0].read(&mut byte).unwrap_or(0),
        0,
        "the oldest idle connection was closed"
    );
    idle[9]
        .write_all(b"GET / HTTP/1.1\r\nHost: web.localhost\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut idle[9]).unwrap().status, 200);
}
