//! cc-server patch: HTTPS (PATCHES.md, 22).
//!
//! A few relay threads own the TLS listener and every TLS connection. Each connection's
//! handshake runs here (rustls; the caller picks the configuration by the name the client
//! asks for, and may ask for time while it obtains a certificate); once it is done the
//! connection joins the reactor through a socket pair: what the client sends is decrypted into
//! the pair, what the reactor writes into it (heads, `sendfile` regions, WebSocket frames) is
//! encrypted to the client. Past the handshake a TLS connection is an ordinary connection of
//! the reactor — the same caps, deadlines, write-behind and upgrade — with `Request::secure()`
//! true. This module never parses HTTP and never blocks: every socket here is non-blocking and
//! waits in the relay thread's own epoll set.

use std::collections::HashMap;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustix::buffer::spare_capacity;
use rustix::event::{Timespec, epoll};
use rustls::ServerConnection;
use rustls::server::{Accepted, Acceptor};

use crate::reactor::{Shared, canonical};

/// What to do with a new TLS connection, given the name its client asked for.
pub enum TlsChoice {
    /// Go on with this configuration (its certificate resolver has the name's certificate).
    Ready(Arc<rustls::ServerConfig>),
    /// A certificate for the name is being obtained: ask again shortly.
    Wait,
    /// No certificate is given for this name: the handshake ends with `unrecognized_name`.
    Refuse,
}

/// Picks the configuration for a TLS connection from the server name its client indicated
/// (none when the client typed an IP address) and the local address it reached.
pub type TlsChooser = Arc<dyn Fn(Option<&str>, IpAddr) -> TlsChoice + Send + Sync>;

const LISTENER: u64 = u64::MAX;
const TICK: Duration = Duration::from_millis(100);
/// How long a client waits for a certificate being obtained before it is let go.
const WAIT_FOR_CERTIFICATE: Duration = Duration::from_secs(60);
/// A handshake must be done within this (or the head timeout, if shorter).
const HANDSHAKE_TIME: Duration = Duration::from_secs(10);
/// Decrypted bytes waiting for the reactor; past this the client is not read.
const HIGH_WATER: usize = 64 * 1024;
/// How long a client still sending is read (and dropped) after its answer, before closing.
const LINGER: Duration = Duration::from_secs(2);
/// Bytes read from a socket at once.
const CHUNK: usize = 64 * 1024;
/// A fatal `unrecognized_name` alert (TLS record: alert, TLS 1.2 framing, 2 bytes).
const UNRECOGNIZED_NAME: [u8; 7] = [0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x70];

/// Handshakes under way, over all relay threads. A handshake holds no slot of the reactor's
/// connection caps (it gets one when it is done): slow handshakes are capped here instead, per
/// address and in all, so that they can never shut plain HTTP or finished TLS clients out.
struct Handshakes {
    per_address: Mutex<HashMap<IpAddr, usize>>,
    max_total: usize,
    /// At once from one address (IPv6: a /64): as many as it may hold connections (a load
    /// tester or an office behind one NAT opens dozens at the same moment).
    max_per_address: usize,
}

impl Handshakes {
    /// Counts one in for `ip`; false when that address is at its cap.
    fn enter(&self, ip: IpAddr) -> bool {
        let Ok(mut m) = self.per_address.lock() else {
            return false;
        };
        let n = m.entry(ip).or_insert(0);
        if *n >= self.max_per_address {
            return false;
        }
        *n += 1;
        true
    }

    fn leave(&self, ip: IpAddr) {
        if let Ok(mut m) = self.per_address.lock()
            && let Some(n) = m.get_mut(&ip)
        {
            *n -= 1;
            if *n == 0 {
                m.remove(&ip);
            }
        }
    }

    /// How many handshakes `ip` has under way.
    fn of(&self, ip: IpAddr) -> usize {
        self.per_address
            .lock()
            .map_or(0, |m| m.get(&ip).copied().unwrap_or(0))
    }
}

/// Starts `threads` relay threads serving `listener` with TLS into `shared`'s reactor.
pub(crate) fn start(
    shared: Arc<Shared>,
    listener: TcpListener,
    threads: usize,
    choose: TlsChooser,
) -> io::Result<()> {
    listener.set_nonblocking(true)?;
    let listener = Arc::new(listener);
    let handshakes = Arc::new(Handshakes {
        per_address: Mutex::new(HashMap::new()),
        max_total: (shared.limits.max_connections / 4).max(64),
        // Never the whole of it: one address must leave room for the others.
        max_per_address: shared.limits.max_per_address.min(
            ((shared.limits.max_connections / 4).max(64) / 4).max(16),
        ),
    });
    for n in 0..threads.max(1) {
        let epoll = epoll::create(epoll::CreateFlags::CLOEXEC)?;
        // Every relay waits on the listener; EXCLUSIVE wakes one of them per connection.
        epoll::add(
            &epoll,
            &*listener,
            epoll::EventData::new_u64(LISTENER),
            epoll::EventFlags::IN | epoll::EventFlags::EXCLUSIVE,
        )?;
        let relay = Relay {
            shared: shared.clone(),
            handshakes: handshakes.clone(),
            relays: threads.max(1),
            listener: Some(listener.clone()),
            epoll,
            choose: choose.clone(),
            tunnels: HashMap::new(),
            next_id: 0,
            scratch: vec![0; CHUNK],
        };
        std::thread::Builder::new()
            .name(format!("tls-relay-{n}"))
            .spawn(move || relay.run())?;
    }
    Ok(())
}

enum Phase {
    /// Reading the ClientHello.
    Hello(Box<Acceptor>),
    /// The ClientHello is in; the caller asked for time to get a certificate.
    Choosing(Box<Accepted>, Instant),
    Open(Box<ServerConnection>),
    Gone,
}

/// One TLS connection: the client's socket, its TLS state and, once the handshake is done,
/// the relay's end of the socket pair whose other end the reactor serves.
struct Tunnel {
    /// Its tokens in the epoll set: `id << 1` for the client's socket, `| 1` for `inner`.
    id: u64,
    tcp: TcpStream,
    peer: SocketAddr,
    local: IpAddr,
    phase: Phase,
    inner: Option<UnixStream>,
    /// Decrypted bytes not yet taken by the reactor, from `to_inner_sent` on.
    to_inner: Vec<u8>,
    to_inner_sent: usize,
    /// The client has sent its last byte (or its close_notify).
    client_done: bool,
    /// `inner`'s write side was shut after `client_done`.
    inner_shut: bool,
    /// The reactor closed its end: the client gets a close_notify and the connection ends.
    reactor_done: bool,
    /// `inner` is in the epoll set (it leaves it when the reactor hangs up).
    inner_watched: bool,
    /// The reactor stopped taking the client's bytes: they are read and dropped.
    input_refused: bool,
    /// The answer is complete and the client's bytes are being dropped until this time.
    lingering: Option<Instant>,
    /// Still in its handshake: counted in `Handshakes`, not yet in the reactor's caps.
    handshaking: bool,
    accepted: Instant,
    /// The handshake must be done by then.
    handshake_deadline: Option<Instant>,
    /// Since when encrypted bytes have been waiting for the client to make room.
    stalled: Option<Instant>,
    interest: (epoll::EventFlags, epoll::EventFlags),
}

struct Relay {
    shared: Arc<Shared>,
    handshakes: Arc<Handshakes>,
    /// How many relays share `handshakes`.
    relays: usize,
    listener: Option<Arc<TcpListener>>,
    epoll: OwnedFd,
    choose: TlsChooser,
    tunnels: HashMap<u64, Tunnel>,
    next_id: u64,
    scratch: Vec<u8>,
}

impl Relay {
    fn run(mut self) {
        let mut events = Vec::with_capacity(32);
        let mut last_sweep = Instant::now();
        let timeout = Timespec::try_from(TICK).expect("a small duration");
        loop {
            events.clear();
            match epoll::wait(&self.epoll, spare_capacity(&mut events), Some(&timeout)) {
                Ok(_) => {}
                Err(rustix::io::Errno::INTR) => continue,
                Err(_) => return,
            }
            for event in events.drain(..) {
                match event.data.u64() {
                    LISTENER => self.accept_all(),
                    token => {
                        let id = token >> 1;
                        let flags = event.flags;
                        let hung_up = flags
                            .intersects(epoll::EventFlags::HUP | epoll::EventFlags::ERR)
                            || (flags.contains(epoll::EventFlags::RDHUP)
                                && self.tunnels.get(&id).is_some_and(|t| {
                                    matches!(t.phase, Phase::Choosing(..))
                                }));
                        if hung_up && !self.hang_up(id, token & 1 == 1) {
                            continue;
                        }
                        // The client sent bytes and nothing waited for it to make room: the
                        // reactor's end has nothing new (it would wake us itself), so it is
                        // not read in vain.
                        let client_input = token & 1 == 0
                            && !flags.contains(epoll::EventFlags::OUT);
                        self.pump(id, !client_input);
                    }
                }
            }
            if last_sweep.elapsed() >= TICK {
                last_sweep = Instant::now();
                self.sweep();
            }
        }
    }

    fn accept_all(&mut self) {
        let Some(listener) = self.listener.clone() else {
            return;
        };
        for _ in 0..64 {
            match listener.accept() {
                Ok((tcp, peer)) => self.admit(tcp, peer),
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::ConnectionAborted
                            | ErrorKind::ConnectionReset
                            | ErrorKind::Interrupted
                    ) => {}
                Err(e) if matches!(e.raw_os_error(), Some(23 | 24 | 12 | 105)) => {
                    // Out of descriptors or memory: the reactor's sweep makes room.
                    std::thread::sleep(Duration::from_millis(5));
                    return;
                }
                Err(_) => {
                    // EINVAL after shutdown(): the server is stopping; accept no more.
                    let _ = epoll::delete(&self.epoll, &*listener);
                    self.listener = None;
                    return;
                }
            }
        }
    }

    fn admit(&mut self, tcp: TcpStream, peer: SocketAddr) {
        let ip = canonical(peer.ip());
        if !self.handshakes.enter(ip) {
            // That address has as many handshakes under way as it may.
            return;
        }
        // Each relay holds its share of the handshakes, so it can always make room itself.
        let share = (self.handshakes.max_total / self.relays).max(16);
        if self.tunnels.values().filter(|t| t.handshaking).count() >= share {
            self.close_a_handshake();
        }
        let local = tcp.local_addr().map(|a| a.ip().to_canonical());
        let (Ok(local), Ok(())) = (local, tcp.set_nonblocking(true)) else {
            self.handshakes.leave(ip);
            return;
        };
        let id = self.next_id;
        self.next_id += 1;
        let interest = epoll::EventFlags::IN;
        if epoll::add(&self.epoll, &tcp, epoll::EventData::new_u64(id << 1), interest).is_err() {
            self.handshakes.leave(ip);
            return;
        }
        let now = Instant::now();
        let tunnel = Tunnel {
            id,
            tcp,
            peer,
            local,
            phase: Phase::Hello(Box::default()),
            inner: None,
            to_inner: Vec::new(),
            to_inner_sent: 0,
            client_done: false,
            inner_shut: false,
            reactor_done: false,
            inner_watched: false,
            input_refused: false,
            lingering: None,
            handshaking: true,
            accepted: now,
            handshake_deadline: Some(now + self.handshake_time()),
            stalled: None,
            interest: (interest, epoll::EventFlags::empty()),
        };
        self.tunnels.insert(id, tunnel);
    }

    /// A socket of tunnel `id` hung up (epoll reports that whatever it waits for, so it must
    /// not stay in the set as it is). The client's: the tunnel ends, nothing can reach it any
    /// more. The reactor's end: it leaves the set, and what is left in it is read as the
    /// client makes room. False when the tunnel is gone.
    fn hang_up(&mut self, id: u64, inner: bool) -> bool {
        let Some(t) = self.tunnels.get_mut(&id) else {
            return false;
        };
        if !inner {
            if let Some(t) = self.tunnels.remove(&id) {
                self.close(t);
            }
            return false;
        }
        if let Some(socket) = &t.inner
            && t.inner_watched
        {
            let _ = epoll::delete(&self.epoll, socket);
            t.inner_watched = false;
        }
        true
    }

    /// Moves one tunnel along as far as its sockets allow, then updates what it waits for.
    fn pump(&mut self, id: u64, read_reactor: bool) {
        let Some(mut t) = self.tunnels.remove(&id) else {
            return;
        };
        let alive = self.step(&mut t, read_reactor).unwrap_or(false);
        if alive && self.rearm(id, &mut t) {
            self.tunnels.insert(id, t);
        } else {
            self.close(t);
        }
    }

    fn step(&mut self, t: &mut Tunnel, read_reactor: bool) -> io::Result<bool> {
        if let Phase::Hello(acceptor) = &mut t.phase {
            loop {
                match acceptor.read_tls(&mut t.tcp) {
                    Ok(0) => return Ok(false),
                    Ok(_) => {}
                    Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(true),
                    Err(e) => return Err(e),
                }
                match acceptor.accept() {
                    Ok(None) => {}
                    Ok(Some(accepted)) => {
                        t.phase = Phase::Choosing(Box::new(accepted), Instant::now());
                        break;
                    }
                    Err((_, mut alert)) => {
                        let _ = alert.write_all(&mut t.tcp);
                        return Ok(false);
                    }
                }
            }
        }
        if let Phase::Choosing(..) = t.phase {
            let Phase::Choosing(accepted, since) = std::mem::replace(&mut t.phase, Phase::Gone)
            else {
                unreachable!()
            };
            let name = accepted.client_hello().server_name().map(str::to_owned);
            match (self.choose)(name.as_deref(), t.local) {
                TlsChoice::Ready(config) => match accepted.into_connection(config) {
                    Ok(mut conn) => {
                        // The relay reads the reactor's bytes only while nothing waits for
                        // the client, at most a scratch buffer at a time: that is the bound,
                        // and rustls must take all of what was read.
                        conn.set_buffer_limit(None);
                        t.phase = Phase::Open(Box::new(conn));
                        // The time spent waiting for a certificate was not the client's.
                        t.handshake_deadline =
                            t.handshake_deadline.map(|d| d + since.elapsed());
                    }
                    Err((_, mut alert)) => {
                        let _ = alert.write_all(&mut t.tcp);
                        return Ok(false);
                    }
                },
                TlsChoice::Wait if since.elapsed() < WAIT_FOR_CERTIFICATE => {
                    t.phase = Phase::Choosing(accepted, since);
                    return Ok(true);
                }
                TlsChoice::Wait | TlsChoice::Refuse => {
                    let _ = (&t.tcp).write(&UNRECOGNIZED_NAME);
                    return Ok(false);
                }
            }
        }
        let Phase::Open(conn) = &mut t.phase else {
            return Ok(false);
        };
        let conn: &mut ServerConnection = conn;

        // The client's bytes, decrypted, for the reactor: at most `HIGH_WATER` waiting.
        while !t.client_done && t.to_inner.len() - t.to_inner_sent < HIGH_WATER {
            let room = (HIGH_WATER - (t.to_inner.len() - t.to_inner_sent)).min(CHUNK);
            let n = match (&t.tcp).read(&mut self.scratch[..room]) {
                Ok(0) => {
                    t.client_done = true;
                    0
                }
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            let mut rest = &self.scratch[..n];
            while !rest.is_empty() && !t.client_done {
                // After a close_notify rustls takes nothing more: the rest is dropped.
                if conn.read_tls(&mut rest)? == 0 {
                    t.client_done = true;
                    break;
                }
                if let Err(e) = conn.process_new_packets() {
                    // The alert rustls queued tells the client why.
                    let _ = conn.write_tls(&mut t.tcp);
                    return Err(io::Error::new(ErrorKind::InvalidData, e));
                }
                match conn.reader().read_to_end(&mut t.to_inner) {
                    Ok(_) => t.client_done = true,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                    Err(e) if e.kind() == ErrorKind::UnexpectedEof => t.client_done = true,
                    Err(e) => return Err(e),
                }
            }
            if n < room {
                break;
            }
        }

        if t.inner.is_none() && !conn.is_handshaking() {
            // The handshake is done: the connection joins the reactor, within its caps (the
            // reactor makes room by closing an idle connection, else it refuses this one).
            t.handshaking = false;
            let ip = canonical(t.peer.ip());
            self.handshakes.leave(ip);
            // Everything that can fail comes before the slot is taken: a slot is given back
            // only by the reactor's connection.
            let (ours, theirs) = UnixStream::pair()?;
            ours.set_nonblocking(true)?;
            epoll::add(
                &self.epoll,
                &ours,
                epoll::EventData::new_u64(t.id << 1 | 1),
                epoll::EventFlags::empty(),
            )?;
            if !self.shared.reserve(ip) {
                let _ = epoll::delete(&self.epoll, &ours);
                return Ok(false);
            }
            t.interest.1 = epoll::EventFlags::empty();
            // The reactor's connections are TCP streams; a Unix stream takes the same calls
            // (read, write, shutdown, sendfile), and its peer address is the client's.
            let theirs = TcpStream::from(OwnedFd::from(theirs));
            self.shared.admit_reserved(theirs, t.peer, true);
            t.handshake_deadline = None;
            t.inner = Some(ours);
            t.inner_watched = true;
        }

        if let Some(inner) = &t.inner {
            // Decrypted bytes → the reactor.
            while t.to_inner_sent < t.to_inner.len() {
                match (&*inner).write(&t.to_inner[t.to_inner_sent..]) {
                    Ok(n) => t.to_inner_sent += n,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(_) => {
                        // The reactor takes no more (it answered early, e.g. a 401 to an
                        // upload, and closed): the client's bytes are dropped from now on,
                        // and its answer is still read to the end and sent.
                        t.input_refused = true;
                        break;
                    }
                }
            }
            if t.input_refused {
                t.to_inner_sent = t.to_inner.len();
            }
            if t.to_inner_sent == t.to_inner.len() {
                // An idle connection keeps no big buffer.
                if t.to_inner.capacity() > 16 * 1024 {
                    t.to_inner = Vec::new();
                }
                t.to_inner.clear();
                t.to_inner_sent = 0;
                if t.client_done && !t.inner_shut {
                    let _ = inner.shutdown(Shutdown::Write);
                    t.inner_shut = true;
                }
            }
        }
        let mut progressed = false;
        loop {
            // The reactor's bytes → encrypted, while the client keeps up.
            let mut took = false;
            while let Some(inner) = &t.inner
                && (read_reactor || !t.inner_watched)
                && !t.reactor_done
                && !conn.wants_write()
            {
                match (&*inner).read(&mut self.scratch) {
                    Ok(0) => t.reactor_done = true,
                    Ok(n) => {
                        conn.writer().write_all(&self.scratch[..n])?;
                        took = true;
                        if n < self.scratch.len() {
                            break;
                        }
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(_) => t.reactor_done = true,
                }
                if t.reactor_done {
                    conn.send_close_notify();
                }
            }

            // Encrypted bytes → the client.
            let mut progressed_now = false;
            while conn.wants_write() {
                match conn.write_tls(&mut t.tcp) {
                    Ok(_) => {
                        progressed = true;
                        progressed_now = true;
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            // Out of the set (hung up: it reads as data, then its end, never "would block"),
            // the reactor's end is read for as long as the client takes what it gives — also
            // right after a flush that made room, or nothing would ever read it again.
            let moved = took || progressed_now;
            if t.inner_watched || conn.wants_write() || t.reactor_done || !moved {
                break;
            }
        }
        t.stalled = match (conn.wants_write(), t.stalled) {
            (false, _) => None,
            (true, Some(since)) if !progressed => Some(since),
            (true, _) => Some(Instant::now()),
        };
        if t.reactor_done && !conn.wants_write() {
            if t.client_done {
                return Ok(false);
            }
            // The answer is out but the client is still sending (an upload refused early):
            // closing now would make the kernel reset the connection, which can destroy the
            // answer on its way. Say we are done and read (dropping it) what still comes, for
            // a moment — a lingering close, as nginx does.
            if t.lingering.is_none() {
                t.input_refused = true;
                let _ = t.tcp.shutdown(Shutdown::Write);
                t.lingering = Some(Instant::now() + LINGER);
            }
            return Ok(true);
        }
        if t.client_done && t.inner.is_none() {
            return Ok(false);
        }
        Ok(true)
    }

    /// Sets what the tunnel's two sockets wait for; false if the set refuses.
    fn rearm(&self, id: u64, t: &mut Tunnel) -> bool {
        use epoll::EventFlags as F;
        let (open, wants_write) = match &t.phase {
            Phase::Hello(_) => (false, false),
            Phase::Open(conn) => (true, conn.wants_write()),
            _ => (false, false),
        };
        let mut tcp = F::empty();
        if matches!(t.phase, Phase::Choosing(..)) {
            // Not read while waiting for a certificate, but a client that gives up is noticed.
            tcp |= F::RDHUP;
        }
        if matches!(t.phase, Phase::Hello(_))
            || (open && !t.client_done && t.to_inner.len() - t.to_inner_sent < HIGH_WATER)
        {
            tcp |= F::IN;
        }
        if wants_write {
            tcp |= F::OUT;
        }
        let mut inner = F::empty();
        if !t.reactor_done && !wants_write {
            inner |= F::IN;
        }
        if t.to_inner_sent < t.to_inner.len() {
            inner |= F::OUT;
        }
        if tcp != t.interest.0 {
            if epoll::modify(&self.epoll, &t.tcp, epoll::EventData::new_u64(id << 1), tcp).is_err() {
                return false;
            }
            t.interest.0 = tcp;
        }
        if let Some(socket) = &t.inner
            && t.inner_watched
            && inner != t.interest.1
        {
            if epoll::modify(&self.epoll, socket, epoll::EventData::new_u64(id << 1 | 1), inner)
                .is_err()
            {
                return false;
            }
            t.interest.1 = inner;
        }
        true
    }

    fn handshake_time(&self) -> Duration {
        self.shared.limits.head_timeout.min(HANDSHAKE_TIME)
    }

    /// Makes room for a handshake: closes one of this relay's, from the address with the most
    /// under way (a flood's, not a lone slow client's), its oldest first.
    fn close_a_handshake(&mut self) {
        let handshakes = &self.handshakes;
        let victim = self
            .tunnels
            .iter()
            .filter(|(_, t)| t.handshaking)
            .max_by_key(|(_, t)| {
                (
                    handshakes.of(canonical(t.peer.ip())),
                    std::cmp::Reverse(t.accepted),
                )
            })
            .map(|(id, _)| *id);
        if let Some(t) = victim.and_then(|id| self.tunnels.remove(&id)) {
            self.close(t);
        }
    }

    /// Gives tunnels waiting for a certificate another go, and closes those past a deadline.
    fn sweep(&mut self) {
        let now = Instant::now();
        let write_timeout = self.shared.limits.write_timeout.unwrap_or(Duration::from_secs(15));
        let mut due = Vec::new();
        let mut late = Vec::new();
        for (id, t) in &self.tunnels {
            if matches!(t.phase, Phase::Choosing(..)) {
                due.push(*id);
            } else if t.handshake_deadline.is_some_and(|d| now >= d)
                || t.lingering.is_some_and(|d| now >= d)
                || t.stalled.is_some_and(|s| now.duration_since(s) >= write_timeout)
            {
                late.push(*id);
            }
        }
        for id in due {
            self.pump(id, true);
        }
        for id in late {
            if let Some(t) = self.tunnels.remove(&id) {
                self.close(t);
            }
        }
    }

    fn close(&mut self, t: Tunnel) {
        let _ = epoll::delete(&self.epoll, &t.tcp);
        if let Some(inner) = &t.inner {
            let _ = epoll::delete(&self.epoll, inner);
        }
        if t.handshaking {
            self.handshakes.leave(canonical(t.peer.ip()));
        }
        // Dropping the sockets closes them; the reactor sees its end close.
    }
}
