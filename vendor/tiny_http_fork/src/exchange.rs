//! cc-server patch (PATCHES.md, 8 and 16): one request being answered on a connection from
//! `reactor` — its body readers (with one deadline for the whole body), the writer that
//! gathers the answer and sends it in large pieces (or leaves the rest to be written from the
//! set when the client stops reading), and the hand-back of the connection when both are done.

use std::io::{self, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, Timespec};
use rustix::net::SendFlags;

use crate::chunked::ChunkedDecoder;
use crate::head::{Framing, Head};
use crate::reactor::{
    Conn, MIN_BODY_RATE, Shared, WRITE_BEHIND_BUDGET, WRITE_BUFFER, WriteRest,
};

const WRITE_BEHIND_PER_ANSWER: usize = WRITE_BEHIND_BUDGET / 4;
use crate::request::Request;

/// Turns a parsed head on `conn` into the `Request` handed to a `recv()` caller.
pub(crate) fn build_request(shared: &Arc<Shared>, mut conn: Conn, head: Head) -> Request {
    conn.buf.drain(..head.len);
    let started = conn.started.unwrap_or_else(Instant::now);
    let read_timeout = shared.idle_timeout();
    let body = match head.framing {
        Framing::None => BodyLeft::Done,
        Framing::Length(n) => BodyLeft::Length(n),
        Framing::Chunked => BodyLeft::Chunked,
    };
    let peer = conn.peer;
    let secure = conn.secure;
    let raw_socket = conn.stream.clone();
    let exchange = Arc::new(Mutex::new(Exchange {
        conn: Some(conn),
        body,
        keep_alive: head.keep_alive && !head.upgrade,
        broken: false,
        upgraded: false,
        out: Vec::new(),
        write_started: None,
        written: 0,
        pending_file: None,
        behind: false,
        reserved: 0,
        write_timeout: shared.limits.write_timeout.unwrap_or(Duration::from_secs(15)),
        read_timeout,
        shared: shared.clone(),
    }));
    // The whole body has one deadline, which grows only with the bytes that arrive.
    let raw = RawBody {
        exchange: exchange.clone(),
        started,
        received: 0,
    };
    let reader: Box<dyn Read + Send> = match head.framing {
        Framing::None => Box::new(io::empty()),
        Framing::Length(_) => Box::new(LengthBody(raw)),
        Framing::Chunked => Box::new(ChunkedBody::new(raw)),
    };
    let keep_alive = head.keep_alive && !head.upgrade;
    let connection = match (keep_alive, head.version.1) {
        (false, _) => Some("close"),
        (true, 0) => Some("keep-alive"),
        (true, _) => None,
    };
    let send_file: crate::request::SendFile = {
        let exchange = exchange.clone();
        Box::new(move |file, offset, len| {
            let mut ex = exchange.lock().map_err(|_| io::Error::other("poisoned"))?;
            ex.send_file(file, offset, len)
        })
    };
    let on_upgrade = {
        let exchange = exchange.clone();
        Box::new(move || {
            let Ok(mut e) = exchange.lock() else {
                return Vec::new();
            };
            e.upgraded = true;
            // What the client sent after the head belongs to the new protocol.
            e.conn
                .as_mut()
                .map(|c| std::mem::take(&mut c.buf))
                .unwrap_or_default()
        })
    };
    crate::request::from_parts(
        head.method,
        head.target,
        head.version,
        head.headers,
        Some(peer),
        reader,
        Box::new(ResponseWriter { exchange }),
        head.content_length,
        head.expect_continue,
        Some(raw_socket),
        connection,
        on_upgrade,
        send_file,
    )
    .with_secure(secure)
}

/// What is left of a request body on the connection.
enum BodyLeft {
    Done,
    Length(u64),
    Chunked,
}

/// A request being answered: the connection, how much of its body is still unread, and the
/// response bytes not yet written. When the request's reader and writer are both gone, the
/// connection is reused or closed.
struct Exchange {
    conn: Option<Conn>,
    body: BodyLeft,
    keep_alive: bool,
    /// The body could not be read to its end or a write failed: the connection closes
    /// after this answer.
    broken: bool,
    upgraded: bool,
    out: Vec<u8>,
    /// When the answer's first bytes were written, and how many have been written since:
    /// the write deadline grows only with the bytes the client takes.
    write_started: Option<Instant>,
    written: u64,
    /// A file answer the socket could not take at once: finished from the set.
    pending_file: Option<(std::sync::Arc<std::fs::File>, u64, u64)>,
    /// The client stopped taking bytes: the rest of the answer gathers in `out` (within
    /// `WRITE_BEHIND_BUDGET`) and is written from the set once the handler is done.
    behind: bool,
    /// Bytes of `WRITE_BEHIND_BUDGET` that `out` holds.
    reserved: usize,
    write_timeout: Duration,
    read_timeout: Duration,
    shared: Arc<Shared>,
}

impl Exchange {
    fn flush_out(&mut self) -> io::Result<()> {
        self.flush_out_then(false)
    }

    /// Writes `out`; with `more`, tells the kernel more bytes follow at once (`MSG_MORE`),
    /// so a head and the file after it leave in full segments, not a small one first. When
    /// the client stops taking bytes, the rest stays in `out` to be written from the set
    /// (see `behind`); only past the write-behind budget does this thread wait for room.
    fn flush_out_then(&mut self, more: bool) -> io::Result<()> {
        self.write_out(more, true)
    }

    /// The write loop of `flush_out_then`; `may_defer` false always waits for room.
    fn write_out(&mut self, more: bool, may_defer: bool) -> io::Result<()> {
        if self.behind {
            return Ok(());
        }
        let Some(conn) = self.conn.as_ref() else {
            return Err(ErrorKind::NotConnected.into());
        };
        let stream = conn.stream.clone();
        let started = *self.write_started.get_or_insert_with(Instant::now);
        let mut written = 0;
        let result = loop {
            if written == self.out.len() {
                break Ok(());
            }
            let flags = if more {
                SendFlags::MORE | SendFlags::NOSIGNAL
            } else {
                SendFlags::NOSIGNAL
            };
            match rustix::net::send(&*stream, &self.out[written..], flags).map_err(io::Error::from)
            {
                Ok(0) => break Err(ErrorKind::WriteZero.into()),
                Ok(n) => {
                    written += n;
                    self.written += n as u64;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    let left = self.out.len() - written;
                    if may_defer && self.reserve_behind(left) {
                        self.behind = true;
                        self.reserved += left;
                        self.out.drain(..written);
                        return Ok(());
                    }
                    if !self.wait_for_room(&stream, started) {
                        break Err(ErrorKind::TimedOut.into());
                    }
                }
                Err(e) => break Err(e),
            }
        };
        self.out.clear();
        if result.is_err() {
            self.broken = true;
        }
        result
    }

    /// Takes `bytes` more of the write-behind budget for this answer: at most a quarter of
    /// it per answer, so one client cannot take it all.
    fn reserve_behind(&mut self, bytes: usize) -> bool {
        self.reserved + bytes <= WRITE_BEHIND_PER_ANSWER && self.shared.reserve_write_behind(bytes)
    }

    /// Adds answer bytes for a client that is behind; false when the budget is spent.
    fn gather_behind(&mut self, buf: &[u8]) -> bool {
        if !self.reserve_behind(buf.len()) {
            return false;
        }
        self.reserved += buf.len();
        self.out.extend_from_slice(buf);
        true
    }

    /// Stops gathering: the bytes gathered are written by this thread after all.
    fn catch_up(&mut self) -> io::Result<()> {
        self.behind = false;
        self.shared
            .write_behind
            .fetch_sub(std::mem::take(&mut self.reserved), Relaxed);
        self.write_out(false, false)
    }
}
thread_local! {
    /// Set on threads that must never wait for a client (see `never_wait_for_clients`).
    static NEVER_WAIT: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Makes the calling thread never wait for a slow client: past the write-behind budget, an
/// answer it writes ends the connection instead (for threads whose waiting would hold up
/// other clients' work, like the ones that hand out script answers).
pub fn never_wait_for_clients() {
    NEVER_WAIT.with(|w| w.set(true));
}

impl Exchange {
    /// A slow reader: waits for room, never longer than the write timeout at a time, and
    /// for the whole answer no longer than the write timeout plus one second per
    /// `MIN_BODY_RATE` bytes taken.
    fn wait_for_room(&self, stream: &TcpStream, started: Instant) -> bool {
        if NEVER_WAIT.with(|w| w.get()) {
            return false;
        }
        let total =
            started + self.write_timeout + Duration::from_secs(self.written / MIN_BODY_RATE);
        let until = (Instant::now() + self.write_timeout).min(total);
        wait_for(stream, PollFlags::OUT, until)
    }

    /// `len` bytes of `file` from `offset`, copied by the kernel (sendfile), after what is
    /// gathered in `out`. What the socket cannot take at once is finished from the set once
    /// this exchange ends: a slow reader holds no thread.
    fn send_file(&mut self, file: std::sync::Arc<std::fs::File>, mut offset: u64, len: u64) -> io::Result<()> {
        self.flush_out_then(len > 0)?;
        if self.behind {
            // The head is still waiting: the file follows it from the set.
            self.pending_file = Some((file, offset, len));
            return Ok(());
        }
        let Some(stream) = self.conn.as_ref().map(|c| c.stream.clone()) else {
            return Err(ErrorKind::NotConnected.into());
        };
        let mut left = len;
        while left > 0 {
            let chunk = left.min(1 << 30) as usize;
            match rustix::fs::sendfile(&*stream, &file, Some(&mut offset), chunk) {
                Ok(0) => {
                    self.broken = true;
                    return Err(io::Error::new(ErrorKind::UnexpectedEof, "the file shrank"));
                }
                Ok(n) => {
                    left -= n as u64;
                    self.written += n as u64;
                }
                Err(rustix::io::Errno::INTR) => {}
                Err(rustix::io::Errno::AGAIN) => {
                    self.pending_file = Some((file, offset, left));
                    return Ok(());
                }
                Err(e) => {
                    self.broken = true;
                    return Err(e.into());
                }
            }
        }
        Ok(())
    }
}

impl Drop for Exchange {
    fn drop(&mut self) {
        if !self.out.is_empty() && !self.behind {
            let _ = self.flush_out();
        }
        let reserved = std::mem::take(&mut self.reserved);
        let Some(mut conn) = self.conn.take() else {
            self.shared.write_behind.fetch_sub(reserved, Relaxed);
            return;
        };
        // A body the handler did not read is skipped when it is already here; otherwise the
        // connection closes. Its bytes are never parsed as a request.
        let reuse = !(self.upgraded || !self.keep_alive || self.broken)
            && match self.body {
                BodyLeft::Done => true,
                BodyLeft::Length(n) if n as usize <= conn.buf.len() => {
                    conn.buf.drain(..n as usize);
                    true
                }
                _ => false,
            };
        let bytes = std::mem::take(&mut self.out);
        let file = self.pending_file.take();
        if !bytes.is_empty() || file.is_some() {
            self.shared.park_writing(
                conn,
                WriteRest {
                    bytes,
                    sent: 0,
                    file,
                    reuse,
                    reserved,
                    since: self.write_started.unwrap_or_else(Instant::now),
                    done: self.written,
                    deadline: None,
                    shared: self.shared.clone(),
                },
                true,
            );
        } else {
            self.shared.write_behind.fetch_sub(reserved, Relaxed);
            if reuse {
                self.shared.reuse(conn);
            }
        }
    }
}

/// Reads body bytes: first what the connection has buffered, then the socket. The body's
/// deadline is the read timeout after its first byte plus one second per `MIN_BODY_RATE`
/// bytes received, so a trickle cannot stretch it; no wait is longer than the read timeout.
struct RawBody {
    exchange: Arc<Mutex<Exchange>>,
    started: Instant,
    received: u64,
}

impl RawBody {
    fn deadline(&self, read_timeout: Duration) -> Instant {
        self.started + read_timeout + Duration::from_secs(self.received / MIN_BODY_RATE)
    }
}

impl Read for RawBody {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut ex = self.exchange.lock().map_err(|_| io::Error::other("poisoned"))?;
        let read_timeout = ex.read_timeout;
        let Some(conn) = ex.conn.as_mut() else {
            return Ok(0);
        };
        if !conn.buf.is_empty() {
            let n = buf.len().min(conn.buf.len());
            buf[..n].copy_from_slice(&conn.buf[..n]);
            conn.buf.drain(..n);
            self.received += n as u64;
            return Ok(n);
        }
        loop {
            match (&*conn.stream).read(buf) {
                Ok(0) if !buf.is_empty() => {
                    ex.broken = true;
                    return Err(ErrorKind::UnexpectedEof.into());
                }
                Ok(n) => {
                    self.received += n as u64;
                    return Ok(n);
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    let until = (Instant::now() + read_timeout).min(self.deadline(read_timeout));
                    if !wait_for(&conn.stream, PollFlags::IN, until) {
                        ex.broken = true;
                        return Err(io::Error::new(
                            ErrorKind::TimedOut,
                            "the request body did not arrive in time",
                        ));
                    }
                }
                Err(e) => {
                    ex.broken = true;
                    return Err(e);
                }
            }
        }
    }
}

/// A `Content-Length` body: exactly that many bytes.
struct LengthBody(RawBody);

impl Read for LengthBody {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = match self.0.exchange.lock() {
            Ok(ex) => match ex.body {
                BodyLeft::Length(n) => n,
                _ => 0,
            },
            Err(_) => 0,
        };
        if left == 0 || buf.is_empty() {
            return Ok(0);
        }
        let want = buf.len().min(left.min(usize::MAX as u64) as usize);
        let n = self.0.read(&mut buf[..want])?;
        if let Ok(mut ex) = self.0.exchange.lock() {
            let left = left - n as u64;
            ex.body = if left == 0 {
                BodyLeft::Done
            } else {
                BodyLeft::Length(left)
            };
        }
        Ok(n)
    }
}

/// A chunked body; when it ends, what was read past it goes back to the connection for
/// the next request.
struct ChunkedBody {
    decoder: ChunkedDecoder<RawBody>,
}

impl ChunkedBody {
    fn new(raw: RawBody) -> ChunkedBody {
        ChunkedBody {
            decoder: ChunkedDecoder::new(raw),
        }
    }
}

impl Read for ChunkedBody {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let result = self.decoder.read(buf);
        let ended = self.decoder.is_done();
        let rest = if ended { self.decoder.take_rest() } else { Vec::new() };
        if let Ok(mut ex) = self.decoder.source().exchange.lock() {
            if result.is_err() {
                ex.broken = true;
            } else if ended && !matches!(ex.body, BodyLeft::Done) {
                ex.body = BodyLeft::Done;
                if let Some(conn) = ex.conn.as_mut() {
                    conn.buf.splice(0..0, rest);
                }
            }
        }
        result
    }
}

/// Gathers response bytes and writes them in large pieces.
struct ResponseWriter {
    exchange: Arc<Mutex<Exchange>>,
}

impl Write for ResponseWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut ex = self.exchange.lock().map_err(|_| io::Error::other("poisoned"))?;
        if ex.behind {
            if !ex.gather_behind(buf) {
                // Past the budget: this thread waits for the client after all.
                ex.catch_up()?;
                ex.out.extend_from_slice(buf);
            }
            return Ok(buf.len());
        }
        ex.out.extend_from_slice(buf);
        if ex.out.len() >= WRITE_BUFFER {
            ex.flush_out()?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        let mut ex = self.exchange.lock().map_err(|_| io::Error::other("poisoned"))?;
        if ex.out.is_empty() {
            return Ok(());
        }
        ex.flush_out()
    }
}

/// Waits until the socket is ready for `flags` or `until` passes; false on time-out.
fn wait_for(stream: &TcpStream, flags: PollFlags, until: Instant) -> bool {
    loop {
        let now = Instant::now();
        if now >= until {
            return false;
        }
        let left = Timespec::try_from(until - now).unwrap_or(Timespec {
            tv_sec: 1,
            tv_nsec: 0,
        });
        let mut fds = [PollFd::new(stream, flags)];
        match rustix::event::poll(&mut fds, Some(&left)) {
            Ok(0) => return false,
            Ok(_) => return true,
            Err(rustix::io::Errno::INTR) => {}
            Err(_) => return false,
        }
    }
}
