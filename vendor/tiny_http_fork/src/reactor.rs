//! cc-server patch: connections without threads (PATCHES.md, 8).
//!
//! Every open connection waits in one epoll set with one-shot readiness. The threads that
//! call `Server::recv()` wait on that set themselves: the one woken for a connection reads
//! what arrived (without blocking), parses the request head strictly (RFC 9112 framing, see
//! `head`) and returns the `Request`; when the request is answered its connection goes back
//! into the set (or, with a pipelined request already buffered, to the next `recv()`). A
//! partial head, an idle keep-alive connection or a small body still arriving costs a few
//! bytes of buffer and no thread; deadlines are enforced by a sweep that `recv()` callers run
//! in turn. Connections are capped in all and per client address; at a cap the oldest idle
//! connection is closed to make room. A request being answered lives in `exchange`; what is
//! left of an answer to a slow reader is written from here (`write_more`).

use std::collections::{HashMap, VecDeque};
use std::io::{self, ErrorKind, Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustix::buffer::spare_capacity;
use rustix::event::{EventfdFlags, PollFd, PollFlags, Timespec, epoll, eventfd};
use rustix::net::SendFlags;

use crate::config::ConnectionLimits;
use crate::chunked::chunked_end;
use crate::head::{self, Framing};
use crate::request::Request;

const LISTENER: u64 = 0;
const WAKE: u64 = 1;
const FIRST_CONNECTION: u64 = 2;
const READ_CHUNK: usize = 16 * 1024;
/// A request body up to this size (a login form, a script's JSON, a chunked upload's first
/// part) is read in full before the request is handed out, so a client trickling it holds
/// no thread.
const PREBUFFERED_BODY: usize = 64 * 1024;
/// Larger bodies up to this size (main.js takes 1 MiB) are read ahead too, while all such
/// read-ahead together stays within `READ_AHEAD_BUDGET`; past it they are read by the handler.
const READ_AHEAD_BODY: usize = 1024 * 1024;
const READ_AHEAD_BUDGET: usize = 64 * 1024 * 1024;
/// A larger body must arrive at this average rate (after the read timeout's grace).
pub(crate) const MIN_BODY_RATE: u64 = 32 * 1024;
/// Response bytes gathered before a write: head and a small body leave in one syscall.
pub(crate) const WRITE_BUFFER: usize = 64 * 1024;
/// Answers a client is not reading fast enough wait in memory, written from the set as it
/// makes room, up to this much over all connections; past it, the writing thread waits.
pub(crate) const WRITE_BEHIND_BUDGET: usize = 64 * 1024 * 1024;
const SWEEP_EVERY: Duration = Duration::from_millis(200);
/// Readiness events taken per `epoll_wait`: a busy server wakes fewer threads.
const EVENTS_PER_WAIT: usize = 16;

thread_local! {
    static SCRATCH: std::cell::RefCell<Box<[u8; READ_CHUNK]>> =
        std::cell::RefCell::new(Box::new([0; READ_CHUNK]));
}

/// What a parked connection is waiting for.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Waiting {
    /// Its next request (keep-alive): closed quietly at the idle timeout.
    Idle,
    /// The rest of a request head, or of a small body: 408 at the deadline.
    Request,
    /// Room to write the rest of an answer: closed at the write timeout.
    Write,
}

struct Parked {
    conn: Conn,
    waiting: Waiting,
    deadline: Instant,
    since: Instant,
    /// The rest of an answer, sent whenever the client has room for more.
    writing: Option<Box<WriteRest>>,
}

/// What is left of an answer to a slow reader — bytes, then a file region — waiting in the
/// set like any other connection: it holds no thread.
pub(crate) struct WriteRest {
    pub(crate) bytes: Vec<u8>,
    pub(crate) sent: usize,
    /// `(file, offset, bytes left)`, sent by the kernel after `bytes`.
    pub(crate) file: Option<(std::sync::Arc<std::fs::File>, u64, u64)>,
    /// Whether the connection serves another request afterwards.
    pub(crate) reuse: bool,
    /// Bytes of `WRITE_BEHIND_BUDGET` held, given back when this is dropped.
    pub(crate) reserved: usize,
    /// When the rest first waited, how many bytes went out since, and when it is given up:
    /// the deadline moves only when bytes go out, and never past the write timeout plus one
    /// second per `MIN_BODY_RATE` bytes taken.
    pub(crate) since: Instant,
    pub(crate) done: u64,
    pub(crate) deadline: Option<Instant>,
    pub(crate) shared: Arc<Shared>,
}

impl Drop for WriteRest {
    fn drop(&mut self) {
        self.shared.write_behind.fetch_sub(self.reserved, Relaxed);
    }
}

pub(crate) struct Shared {
    epoll: OwnedFd,
    wake: OwnedFd,
    listener: TcpListener,
    pub(crate) limits: ConnectionLimits,
    parked: Mutex<HashMap<u64, Parked>>,
    /// Connections with a pipelined request already in their buffer.
    ready: Mutex<VecDeque<Conn>>,
    per_address: Mutex<HashMap<IpAddr, usize>>,
    open: AtomicUsize,
    /// Bytes reserved by connections reading a large body ahead.
    read_ahead: AtomicUsize,
    /// Bytes of answers waiting for slow readers.
    pub(crate) write_behind: AtomicUsize,
    next_token: AtomicU64,
    stops: AtomicUsize,
    /// A stop has begun: answered connections close instead of waiting for another
    /// request, so busy keep-alive clients cannot hold the stop off.
    stopping: AtomicBool,
    accepting: AtomicBool,
    last_sweep: Mutex<Instant>,
}

/// One client connection and the bytes read from it that no request has consumed yet.
pub(crate) struct Conn {
    pub(crate) token: u64,
    pub(crate) stream: Arc<TcpStream>,
    pub(crate) peer: SocketAddr,
    pub(crate) buf: Vec<u8>,
    /// When the first byte of the request being read arrived.
    pub(crate) started: Option<Instant>,
    /// Whether it still counts toward the connection caps (until it is dropped; an
    /// upgraded WebSocket connection counts for its whole life).
    pub(crate) counted: bool,
    /// How many bytes the request being read needs in `buf` (head and body), when known.
    pub(crate) want: usize,
    /// Bytes of `READ_AHEAD_BUDGET` this connection holds.
    pub(crate) reserved: usize,
    /// `100 Continue` was sent for the request being read.
    pub(crate) continued: bool,
    /// It came through the TLS relay (`tls.rs`): `stream` is the relay's plain end.
    pub(crate) secure: bool,
    pub(crate) shared: Arc<Shared>,
}

impl Conn {
    fn uncount(&mut self) {
        if std::mem::take(&mut self.counted) {
            self.shared.unreserve(canonical(self.peer.ip()));
        }
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        let _ = epoll::delete(&self.shared.epoll, &*self.stream);
        // Unread input makes the kernel reset the connection, which can destroy an answer
        // still on its way: say we are done, take what is already there, then close.
        let _ = self.stream.shutdown(Shutdown::Write);
        drain(&self.stream);
        let _ = self.stream.shutdown(Shutdown::Both);
        self.uncount();
        self.shared.read_ahead.fetch_sub(self.reserved, Relaxed);
    }
}

pub(crate) struct Reactor {
    pub(crate) shared: Arc<Shared>,
}

impl Reactor {
    pub(crate) fn new(listener: TcpListener, limits: ConnectionLimits) -> io::Result<Reactor> {
        listener.set_nonblocking(true)?;
        let epoll = epoll::create(epoll::CreateFlags::CLOEXEC)?;
        let wake = eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)?;
        epoll::add(
            &epoll,
            &listener,
            epoll::EventData::new_u64(LISTENER),
            epoll::EventFlags::IN | epoll::EventFlags::ONESHOT,
        )?;
        epoll::add(
            &epoll,
            &wake,
            epoll::EventData::new_u64(WAKE),
            epoll::EventFlags::IN | epoll::EventFlags::ET,
        )?;
        Ok(Reactor {
            shared: Arc::new(Shared {
                epoll,
                wake,
                listener,
                limits,
                parked: Mutex::new(HashMap::new()),
                ready: Mutex::new(VecDeque::new()),
                per_address: Mutex::new(HashMap::new()),
                open: AtomicUsize::new(0),
                read_ahead: AtomicUsize::new(0),
                write_behind: AtomicUsize::new(0),
                next_token: AtomicU64::new(FIRST_CONNECTION),
                stops: AtomicUsize::new(0),
                stopping: AtomicBool::new(false),
                accepting: AtomicBool::new(true),
                last_sweep: Mutex::new(Instant::now()),
            }),
        })
    }

    /// The next request, waiting at most until `until` (`None`: for as long as it takes).
    /// `Ok(None)` when the time is up; an error after `unblock()`.
    pub(crate) fn next(&self, until: Option<Instant>) -> io::Result<Option<Request>> {
        let shared = &self.shared;
        let mut events = Vec::with_capacity(EVENTS_PER_WAIT);
        loop {
            shared.sweep_if_due();
            // With connections already waiting for a turn, only look (no wait) for new ones:
            // they join the back of the same queue, so a client that keeps pipelining gets
            // one request per turn and never shuts out newcomers or the sweep.
            let backlog = shared.ready.lock().is_ok_and(|r| !r.is_empty());
            let mut wait = if backlog { Duration::ZERO } else { SWEEP_EVERY };
            if let Some(until) = until {
                let now = Instant::now();
                if now >= until && !backlog {
                    return Ok(None);
                }
                wait = wait.min(until.saturating_duration_since(now));
            }
            let timeout = Timespec::try_from(wait).unwrap_or(Timespec {
                tv_sec: 0,
                tv_nsec: 200_000_000,
            });
            events.clear();
            match epoll::wait(&shared.epoll, spare_capacity(&mut events), Some(&timeout)) {
                Ok(_) => {}
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(e.into()),
            }
            // Every ready connection is taken out of the set and queued; this thread goes on
            // with them one by one, and wakes one more thread to share a batch.
            let mut taken = 0;
            for event in events.drain(..) {
                match event.data.u64() {
                    LISTENER => shared.accept_all(),
                    WAKE => {
                        let mut b = [0u8; 8];
                        let _ = rustix::io::read(&shared.wake, &mut b);
                    }
                    token => {
                        let parked = shared.parked.lock().ok().and_then(|mut p| p.remove(&token));
                        match parked {
                            Some(Parked {
                                conn,
                                writing: Some(rest),
                                ..
                            }) => shared.write_more(conn, *rest),
                            Some(parked) => {
                                if let Ok(mut r) = shared.ready.lock() {
                                    r.push_back(parked.conn);
                                    taken += 1;
                                }
                            }
                            None => {}
                        }
                    }
                }
            }
            if taken > 1 {
                shared.notify();
            }
            let ready = shared.ready.lock().ok().and_then(|mut r| r.pop_front());
            // Requests already read are answered before a stop.
            if ready.is_none() && shared.take_stop() {
                return Err(io::Error::new(ErrorKind::Other, "thread unblocked"));
            }
            if let Some(conn) = ready {
                // A backlog: another thread helps.
                if shared.ready.lock().is_ok_and(|r| r.len() >= 2) {
                    shared.notify();
                }
                if let Some(rq) = shared.advance(conn) {
                    return Ok(Some(rq));
                }
            }
        }
    }

    /// Makes one thread blocked in `next` return an error (the graceful stop).
    pub(crate) fn unblock(&self) {
        self.shared.stopping.store(true, Relaxed);
        self.shared.stops.fetch_add(1, Relaxed);
        self.shared.notify();
    }

    pub(crate) fn open_connections(&self) -> usize {
        self.shared.open.load(Relaxed)
    }
}

impl Shared {
    fn take_stop(&self) -> bool {
        self.stops
            .fetch_update(Relaxed, Relaxed, |n| n.checked_sub(1))
            .is_ok()
    }

    /// Wakes a thread waiting in `epoll_wait`.
    fn notify(&self) {
        let _ = rustix::io::write(&self.wake, &1u64.to_ne_bytes());
    }

    fn accept_all(self: &Arc<Self>) {
        for _ in 0..256 {
            match self.listener.accept() {
                Ok((stream, peer)) => self.admit(stream, peer),
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if out_of_resources(&e) => {
                    // Out of descriptors: make room, and try again a moment later.
                    self.close_oldest_idle(None);
                    std::thread::sleep(Duration::from_millis(5));
                    break;
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::ConnectionAborted
                            | ErrorKind::ConnectionReset
                            | ErrorKind::Interrupted
                    ) => {}
                Err(_) => {
                    // EINVAL after shutdown(): the server is stopping; accept no more.
                    self.accepting.store(false, Relaxed);
                    return;
                }
            }
        }
        let _ = epoll::modify(
            &self.epoll,
            &self.listener,
            epoll::EventData::new_u64(LISTENER),
            epoll::EventFlags::IN | epoll::EventFlags::ONESHOT,
        );
    }

    fn admit(self: &Arc<Self>, stream: TcpStream, peer: SocketAddr) {
        let ip = canonical(peer.ip());
        if !self.reserve(ip) {
            // Every connection of this address (or of the server) is busy: refuse this one.
            return;
        }
        self.admit_reserved(stream, peer, false);
    }

    /// Adds a connection already counted in by `reserve` (the TLS relay counts its
    /// connections from the handshake on); `secure` marks its requests as HTTPS.
    pub(crate) fn admit_reserved(self: &Arc<Self>, stream: TcpStream, peer: SocketAddr, secure: bool) {
        let ip = canonical(peer.ip());
        if stream.set_nonblocking(true).is_err() {
            self.unreserve(ip);
            return;
        }
        let conn = Conn {
            token: self.next_token.fetch_add(1, Relaxed),
            stream: Arc::new(stream),
            peer,
            buf: Vec::new(),
            started: None,
            counted: true,
            want: 0,
            reserved: 0,
            continued: false,
            secure,
            shared: self.clone(),
        };
        let token = conn.token;
        let stream = conn.stream.clone();
        let now = Instant::now();
        if let Ok(mut p) = self.parked.lock() {
            p.insert(
                token,
                Parked {
                    conn,
                    waiting: Waiting::Idle,
                    deadline: now + self.idle_timeout(),
                    since: now,
                    writing: None,
                },
            );
        }
        if epoll::add(
            &self.epoll,
            &*stream,
            epoll::EventData::new_u64(token),
            epoll::EventFlags::IN | epoll::EventFlags::ONESHOT | epoll::EventFlags::RDHUP,
        )
        .is_err()
        {
            let gone = self.parked.lock().ok().and_then(|mut p| p.remove(&token));
            drop(gone);
        }
    }

    /// Counts a new connection of `ip` in, closing the oldest idle connection (of that
    /// address when it is at its own cap) to make room; false when there is none to close.
    pub(crate) fn reserve(&self, ip: IpAddr) -> bool {
        for _ in 0..2 {
            let full_address = {
                let Ok(mut m) = self.per_address.lock() else {
                    return false;
                };
                let n = m.entry(ip).or_insert(0);
                let address_full = *n >= self.limits.max_per_address;
                if !address_full && self.open.load(Relaxed) < self.limits.max_connections {
                    *n += 1;
                    self.open.fetch_add(1, Relaxed);
                    return true;
                }
                if *n == 0 {
                    m.remove(&ip);
                }
                address_full
            };
            let made_room = if full_address {
                self.close_oldest_idle(Some(ip))
            } else {
                // The server is full: an idle connection goes first, else the oldest
                // connection of the address holding the most, whatever it is waiting for.
                self.close_oldest_idle(None) || self.close_from_largest_address()
            };
            if !made_room {
                return false;
            }
        }
        false
    }

    pub(crate) fn unreserve(&self, ip: IpAddr) {
        self.open.fetch_sub(1, Relaxed);
        if let Ok(mut m) = self.per_address.lock() {
            if let Some(n) = m.get_mut(&ip) {
                *n -= 1;
                if *n == 0 {
                    m.remove(&ip);
                }
            }
        }
    }

    /// Closes the connection that has idled longest (of `ip` only, if given).
    fn close_oldest_idle(&self, ip: Option<IpAddr>) -> bool {
        let victim = self.parked.lock().ok().and_then(|mut p| {
            let token = p
                .iter()
                .filter(|(_, v)| v.waiting == Waiting::Idle)
                .filter(|(_, v)| ip.is_none_or(|ip| canonical(v.conn.peer.ip()) == ip))
                .min_by_key(|(_, v)| v.since)
                .map(|(t, _)| *t)?;
            p.remove(&token)
        });
        victim.is_some()
    }

    fn close_from_largest_address(&self) -> bool {
        let largest = self
            .per_address
            .lock()
            .ok()
            .and_then(|m| m.iter().max_by_key(|(_, n)| **n).map(|(ip, _)| *ip));
        let Some(ip) = largest else {
            return false;
        };
        let victim = self.parked.lock().ok().and_then(|mut p| {
            let token = p
                .iter()
                .filter(|(_, v)| canonical(v.conn.peer.ip()) == ip)
                .min_by_key(|(_, v)| v.since)
                .map(|(t, _)| *t)?;
            p.remove(&token)
        });
        victim.is_some()
    }

    pub(crate) fn idle_timeout(&self) -> Duration {
        self.limits.read_timeout.unwrap_or(Duration::from_secs(15))
    }

    /// Puts a connection back in the set until more bytes arrive.
    fn park(&self, mut conn: Conn, waiting: Waiting) {
        if conn.buf.is_empty() {
            // An idle connection keeps no buffer.
            conn.buf = Vec::new();
        }
        let now = Instant::now();
        let deadline = match waiting {
            Waiting::Idle | Waiting::Write => now + self.idle_timeout(),
            // A body read ahead gets one more second per `MIN_BODY_RATE` bytes.
            Waiting::Request => {
                conn.started.unwrap_or(now)
                    + self.limits.head_timeout
                    + Duration::from_secs((conn.want / MIN_BODY_RATE as usize) as u64)
            }
        };
        let token = conn.token;
        let stream = conn.stream.clone();
        if let Ok(mut p) = self.parked.lock() {
            p.insert(
                token,
                Parked {
                    conn,
                    waiting,
                    deadline,
                    since: now,
                    writing: None,
                },
            );
        }
        if epoll::modify(
            &self.epoll,
            &*stream,
            epoll::EventData::new_u64(token),
            epoll::EventFlags::IN | epoll::EventFlags::ONESHOT | epoll::EventFlags::RDHUP,
        )
        .is_err()
        {
            let gone = self.parked.lock().ok().and_then(|mut p| p.remove(&token));
            drop(gone);
        }
    }

    /// Sends what the socket takes of an answer's rest without waiting; parks the rest until
    /// the client has room (closed after the write timeout without progress).
    fn write_more(&self, conn: Conn, mut rest: WriteRest) {
        let before = rest.done;
        while rest.sent < rest.bytes.len() {
            let flags = if rest.file.is_some() {
                SendFlags::MORE | SendFlags::NOSIGNAL
            } else {
                SendFlags::NOSIGNAL
            };
            match rustix::net::send(&*conn.stream, &rest.bytes[rest.sent..], flags) {
                Ok(0) => return,
                Ok(n) => {
                    rest.sent += n;
                    rest.done += n as u64;
                }
                Err(rustix::io::Errno::INTR) => {}
                Err(rustix::io::Errno::AGAIN) => {
                    let progressed = rest.done > before;
                    self.park_writing(conn, rest, progressed);
                    return;
                }
                Err(_) => return,
            }
        }
        while let Some((file, offset, left)) = rest.file.as_mut()
            && *left > 0
        {
            let chunk = (*left).min(1 << 30) as usize;
            match rustix::fs::sendfile(&*conn.stream, &*file, Some(offset), chunk) {
                Ok(0) => return,
                Ok(n) => {
                    *left -= n as u64;
                    rest.done += n as u64;
                }
                Err(rustix::io::Errno::INTR) => {}
                Err(rustix::io::Errno::AGAIN) => {
                    let progressed = rest.done > before;
                    self.park_writing(conn, rest, progressed);
                    return;
                }
                Err(_) => return,
            }
        }
        if rest.reuse {
            self.reuse(conn);
        }
    }

    /// Takes `bytes` of the write-behind budget; false when it is spent.
    pub(crate) fn reserve_write_behind(&self, bytes: usize) -> bool {
        self.write_behind
            .fetch_update(Relaxed, Relaxed, |n| {
                (n + bytes <= WRITE_BEHIND_BUDGET).then_some(n + bytes)
            })
            .is_ok()
    }

    /// Waits for room to write `rest`. The deadline moves on only when bytes went out
    /// (`progressed`), so a client that takes nothing is closed at the write timeout.
    pub(crate) fn park_writing(&self, conn: Conn, mut rest: WriteRest, progressed: bool) {
        let now = Instant::now();
        let token = conn.token;
        let stream = conn.stream.clone();
        let timeout = self.limits.write_timeout.unwrap_or(Duration::from_secs(15));
        let deadline = match rest.deadline {
            Some(deadline) if !progressed => deadline,
            _ => (now + timeout)
                .min(rest.since + timeout + Duration::from_secs(rest.done / MIN_BODY_RATE)),
        };
        rest.deadline = Some(deadline);
        if let Ok(mut p) = self.parked.lock() {
            p.insert(
                token,
                Parked {
                    conn,
                    waiting: Waiting::Write,
                    deadline,
                    since: now,
                    writing: Some(Box::new(rest)),
                },
            );
        }
        // Room to write only: a client that half-closed its side keeps "read hang-up"
        // ready for ever, which must not wake this connection again and again. Errors and
        // a full hang-up are reported anyway.
        if epoll::modify(
            &self.epoll,
            &*stream,
            epoll::EventData::new_u64(token),
            epoll::EventFlags::OUT | epoll::EventFlags::ONESHOT,
        )
        .is_err()
        {
            let gone = self.parked.lock().ok().and_then(|mut p| p.remove(&token));
            drop(gone);
        }
    }

    /// A connection whose request has been answered: back to waiting, or straight on to
    /// its next request when one is already buffered.
    pub(crate) fn reuse(&self, mut conn: Conn) {
        conn.started = None;
        if conn.buf.is_empty() && self.stopping.load(Relaxed) {
            return;
        }
        if conn.buf.is_empty() {
            self.park(conn, Waiting::Idle);
        } else {
            if let Ok(mut r) = self.ready.lock() {
                r.push_back(conn);
            }
            self.notify();
        }
    }

    fn sweep_if_due(&self) {
        let Ok(mut last) = self.last_sweep.try_lock() else {
            return;
        };
        let now = Instant::now();
        if now.duration_since(*last) < SWEEP_EVERY {
            return;
        }
        *last = now;
        drop(last);
        let expired: Vec<Parked> = match self.parked.lock() {
            Ok(mut p) => {
                let tokens: Vec<u64> = p
                    .iter()
                    .filter(|(_, v)| v.deadline <= now)
                    .map(|(t, _)| *t)
                    .collect();
                tokens.iter().filter_map(|t| p.remove(t)).collect()
            }
            Err(_) => Vec::new(),
        };
        for parked in expired {
            // Bytes that arrived while every worker was busy are a request, not idleness.
            if parked.waiting == Waiting::Idle && has_input(&parked.conn.stream) {
                if let Ok(mut r) = self.ready.lock() {
                    r.push_back(parked.conn);
                }
                self.notify();
                continue;
            }
            if parked.waiting == Waiting::Request {
                send_status(&parked.conn, 408, "the request did not arrive in time");
            }
        }
    }

    /// Reads what has arrived and parses the head; a complete request is returned, anything
    /// else is parked, answered with an error, or closed.
    fn advance(self: &Arc<Self>, mut conn: Conn) -> Option<Request> {
        let head_limit = self.head_limit();
        let mut closed = false;
        while conn.buf.len() < (head_limit + PREBUFFERED_BODY).max(conn.want) {
            // Read into this thread's scratch space; the connection keeps only what came.
            let result = SCRATCH.with_borrow_mut(|scratch| {
                let n = (&*conn.stream).read(&mut scratch[..])?;
                conn.buf.extend_from_slice(&scratch[..n]);
                Ok::<usize, io::Error>(n)
            });
            match result {
                Ok(0) => {
                    closed = true;
                    break;
                }
                Ok(n) if n < READ_CHUNK => break,
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return None,
            }
        }
        if conn.buf.is_empty() {
            if !closed {
                self.park(conn, Waiting::Idle);
            }
            return None;
        }
        conn.started.get_or_insert_with(Instant::now);
        match head::parse(&conn.buf, &self.limits) {
            Ok(None) if closed => None,
            Ok(None) if conn.buf.len() > head_limit => {
                send_status(&conn, 431, "the request head is too large");
                None
            }
            Ok(None) => {
                self.park(conn, Waiting::Request);
                None
            }
            Err(e) => {
                send_status(&conn, e.status, e.why);
                None
            }
            Ok(Some(head)) if head.len > head_limit => {
                send_status(&conn, 431, "the request head is too large");
                None
            }
            Ok(Some(mut head)) => {
                let body = &conn.buf[head.len..];
                let need = match head.framing {
                    Framing::Length(n) if n as usize <= READ_AHEAD_BODY && body.len() < n as usize => {
                        Some(n as usize)
                    }
                    Framing::Chunked
                        if body.len() <= PREBUFFERED_BODY
                            && chunked_end(body) == Ok(None) =>
                    {
                        Some(PREBUFFERED_BODY)
                    }
                    _ => None,
                };
                if let Some(need) = need
                    && (need <= PREBUFFERED_BODY || self.reserve_read_ahead(&mut conn, need))
                {
                    if head.expect_continue && !conn.continued {
                        let _ = (&*conn.stream).write(b"HTTP/1.1 100 Continue\r\n\r\n");
                        conn.continued = true;
                    }
                    if closed {
                        return None;
                    }
                    conn.want = head.len + need;
                    self.park(conn, Waiting::Request);
                    return None;
                }
                if conn.continued {
                    head.expect_continue = false;
                }
                conn.want = 0;
                conn.continued = false;
                self.read_ahead.fetch_sub(std::mem::take(&mut conn.reserved), Relaxed);
                Some(crate::exchange::build_request(self, conn, head))
            }
        }
    }

    /// Reserves room for reading a large body ahead; false when the budget is spent.
    fn reserve_read_ahead(&self, conn: &mut Conn, bytes: usize) -> bool {
        if conn.reserved >= bytes {
            return true;
        }
        let more = bytes - conn.reserved;
        let ok = self
            .read_ahead
            .fetch_update(Relaxed, Relaxed, |n| {
                (n + more <= READ_AHEAD_BUDGET).then_some(n + more)
            })
            .is_ok();
        if ok {
            conn.reserved = bytes;
        }
        ok
    }

    fn head_limit(&self) -> usize {
        self.limits.max_line_bytes * 2 + self.limits.max_headers * 512
    }
}

/// Answers with a short error and closes; unread input is discarded first, so the kernel
/// does not reset the connection before the client has read the answer.
fn send_status(conn: &Conn, status: u16, why: &str) {
    let reason = crate::StatusCode(status).default_reason_phrase();
    let body = format!("{status} {reason}: {why}\n");
    let message = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = (&*conn.stream).write(message.as_bytes());
}

/// Whether bytes (or an end) are waiting to be read, without waiting.
fn has_input(stream: &TcpStream) -> bool {
    let mut fds = [PollFd::new(stream, PollFlags::IN)];
    let zero = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    matches!(rustix::event::poll(&mut fds, Some(&zero)), Ok(n) if n > 0)
}

/// Reads and drops what has already arrived (at most 64 KiB), without waiting.
fn drain(stream: &TcpStream) {
    let mut scratch = [0u8; 4096];
    for _ in 0..16 {
        match (&*stream).read(&mut scratch) {
            Ok(n) if n > 0 => {}
            _ => break,
        }
    }
}

/// ENFILE, EMFILE, ENOMEM, ENOBUFS.
fn out_of_resources(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(23) | Some(24) | Some(12) | Some(105))
}

/// IPv4-mapped IPv6 addresses count as their IPv4 address; an IPv6 client counts by its /64,
/// since one host usually holds a whole /64.
pub(crate) fn canonical(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        v4 => v4,
    }
}
