//! WebSocket broadcast per site: the handshake check, and the hub — one thread
//! that polls every connected client's socket (non-blocking, so 1 000 idle clients cost no
//! threads), writes broadcasts, answers pings, drops clients that do not read, and hands each
//! text message a client sends to a separate thread (its script may take time). Each client is
//! read at a bounded rate and each site has a bounded number of messages waiting for their
//! handler: a flood waits in its sender's socket and slows nobody else.

use std::collections::{HashMap, VecDeque};
use std::io::{self, Read, Write};
use std::net::{IpAddr, TcpStream};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, poll};
use tungstenite::protocol::{Role, WebSocket, WebSocketConfig};
use tungstenite::{Error as WsError, Message};

use crate::http::Request;

/// Largest message a client may send (and a script may broadcast).
pub const MAX_MESSAGE: usize = 64 * 1024;
/// Messages waiting for one client; a client that falls this far behind is dropped.
const MAX_QUEUED: usize = 1024;
/// Bytes tungstenite may buffer for a client whose socket is full.
const MAX_WRITE_BUFFER: usize = 4 * 1024 * 1024;
/// Messages (of any kind) the hub reads from one client per second, and in one burst: past
/// them the client's frames wait in its own socket, so a flood slows its sender only.
const READS_PER_SECOND: f64 = 50.0;
const READ_BURST: f64 = 100.0;
/// Messages of one site waiting for their handler or in it: past this, that site's clients
/// are not read until its handler catches up (other sites go on). Half of the site's script
/// queue (128), so its visitors' HTTP requests always find room there.
const SITE_IN_FLIGHT: usize = 64;
/// The same, for one client: a client whose messages fill this waits alone, and the site's
/// other clients are still read.
const CLIENT_IN_FLIGHT: usize = 8;
/// Bytes of messages waiting for a handler, all sites together.
const IN_FLIGHT_BYTES: usize = 16 * 1024 * 1024;
/// How soon the poll loop looks again at clients held back by the limits above.
const THROTTLED_RECHECK: Duration = Duration::from_millis(20);
const PING_EVERY: Duration = Duration::from_secs(30);
const IDLE_CLOSE: Duration = Duration::from_secs(120);

/// The address a client counts against: IPv4 as it is, IPv6 by its /64 (one subscriber).
fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
        v4 => v4,
    }
}

/// Limits on connected clients.
#[derive(Debug, Clone)]
pub struct WsLimits {
    pub per_site: usize,
    /// Clients of one site from one address (an IPv6 /64 counts as one): well under
    /// `per_site`, so one address cannot take every place of a site.
    pub per_address: usize,
    pub total: usize,
}

impl Default for WsLimits {
    fn default() -> Self {
        WsLimits {
            per_site: 256,
            per_address: 32,
            total: 4096,
        }
    }
}

/// Checks a WebSocket opening handshake; `Ok(accept key)` or the reason it is not one.
pub fn check_handshake(req: &Request) -> Result<String, &'static str> {
    let has = |name: &str, token: &str| {
        req.header(name)
            .is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    };
    if req.method != "GET" {
        return Err("a WebSocket opens with GET");
    }
    if !has("upgrade", "websocket") || !has("connection", "upgrade") {
        return Err("missing 'Upgrade: websocket' and 'Connection: Upgrade'");
    }
    if req.header("sec-websocket-version").map(str::trim) != Some("13") {
        return Err("only WebSocket version 13 is supported");
    }
    let key = req
        .header("sec-websocket-key")
        .map(str::trim)
        .unwrap_or_default();
    let valid_key = key.len() == 24
        && key.ends_with("==")
        && key[..22]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/');
    if !valid_key {
        return Err("missing or malformed Sec-WebSocket-Key");
    }
    Ok(tungstenite::handshake::derive_accept_key(key.as_bytes()))
}

/// True when a request asks to upgrade to a WebSocket (well-formed or not).
pub fn wants_upgrade(req: &Request) -> bool {
    req.header("upgrade")
        .is_some_and(|v| v.to_ascii_lowercase().contains("websocket"))
}

/// What the hub does with a text message from a client: `(hub, site, text, client id,
/// address, handled)`; `handled` is called once the message has been handled (its handler
/// ran, or it was relayed or dropped), which frees its place in the bounds below.
pub type OnMessage = Box<dyn Fn(&Hub, &Event, Handled) + Send + Sync>;
/// Called once when a message's handling has ended.
pub type Handled = Box<dyn FnOnce() + Send>;

/// What happened on a client's connection, for the site's `socket.on` handlers.
pub struct Event {
    /// "open", "message" or "close".
    pub kind: &'static str,
    pub site: String,
    /// The message's text ("" for open and close).
    pub text: String,
    /// The client's id and address.
    pub id: u64,
    pub ip: IpAddr,
}

/// One event of a client, on its way to `OnMessage`.
struct Incoming {
    event: Event,
    /// The client's events waiting or being handled.
    client_in_flight: Arc<AtomicUsize>,
}
impl Incoming {
    /// An event of client `c`, counted as in flight until it has been handled.
    fn of(hub: &Hub, c: &Client, kind: &'static str, text: String) -> Incoming {
        hub.queued(&c.site, text.len());
        c.in_flight.fetch_add(1, Ordering::Relaxed);
        Incoming {
            event: Event {
                kind,
                site: c.site.clone(),
                text,
                id: c.id,
                ip: c.ip,
            },
            client_in_flight: c.in_flight.clone(),
        }
    }
}

/// Where the hub writes a site's log lines (clients opening and closing).
pub type OnLog = Box<dyn Fn(&str, &str) + Send + Sync>;

struct Client {
    /// tiny_http's side of the upgraded connection: dropping it shuts the socket down.
    _upgraded: Box<dyn Send>,
    id: u64,
    site: String,
    ip: IpAddr,
    ws: WebSocket<TcpStream>,
    /// Frames that came with the handshake wait in `ws`'s buffer: read them without
    /// waiting for the socket.
    unread: bool,
    queue: VecDeque<Arc<str>>,
    last_heard: Instant,
    last_ping: Instant,
    /// Reads this client may still make now (refilled at `READS_PER_SECOND`).
    tokens: f64,
    /// Its messages waiting for their handler or in it (`CLIENT_IN_FLIGHT`).
    in_flight: Arc<AtomicUsize>,
    refilled: Instant,
}

impl Client {
    fn refill(&mut self, now: Instant) {
        let earned = now.duration_since(self.refilled).as_secs_f64() * READS_PER_SECOND;
        self.tokens = (self.tokens + earned).min(READ_BURST);
        self.refilled = now;
    }
}

/// Work for the poll loop, sent by other threads.
enum Command {
    Join(Box<Client>),
    Broadcast(String, Vec<Arc<str>>),
}

pub struct Hub {
    limits: WsLimits,
    on_log: OnLog,
    commands: Mutex<Sender<Command>>,
    wake: Mutex<UnixStream>,
    counts: Mutex<HashMap<String, usize>>,
    /// Clients per (site, address key).
    by_address: Mutex<HashMap<(String, IpAddr), usize>>,
    total: AtomicUsize,
    next_id: AtomicU64,
    /// Messages read but not yet handled, per site, and their bytes for all sites.
    in_flight: Mutex<HashMap<String, usize>>,
    in_flight_bytes: AtomicUsize,
}

impl Hub {
    /// Starts the poll loop and the message thread.
    pub fn start(limits: WsLimits, on_message: OnMessage, on_log: OnLog) -> io::Result<Arc<Hub>> {
        let (wake_tx, wake_rx) = UnixStream::pair()?;
        wake_tx.set_nonblocking(true)?;
        wake_rx.set_nonblocking(true)?;
        let (commands_tx, commands_rx) = channel();
        let hub = Arc::new(Hub {
            limits,
            on_log,
            commands: Mutex::new(commands_tx),
            wake: Mutex::new(wake_tx),
            counts: Mutex::new(HashMap::new()),
            by_address: Mutex::new(HashMap::new()),
            total: AtomicUsize::new(0),
            next_id: AtomicU64::new(1),
            in_flight: Mutex::new(HashMap::new()),
            in_flight_bytes: AtomicUsize::new(0),
        });
        let (messages_tx, messages_rx) = channel::<Incoming>();
        let weak = Arc::downgrade(&hub);
        std::thread::Builder::new()
            .name("ws-messages".into())
            .spawn(move || {
                for m in messages_rx {
                    let Some(hub) = weak.upgrade() else { return };
                    // Its places are freed when it has been handled, not when it is queued for
                    // the handler: a flood waits at the hub, not in the site's script queue.
                    let (site, bytes) = (m.event.site.clone(), m.event.text.len());
                    let back = weak.clone();
                    let client = m.client_in_flight;
                    let handled: Handled = Box::new(move || {
                        client.fetch_sub(1, Ordering::Relaxed);
                        // Clients held back by the bounds are looked at again within
                        // `THROTTLED_RECHECK`.
                        if let Some(hub) = back.upgrade() {
                            hub.handled(&site, bytes);
                        }
                    });
                    on_message(&hub, &m.event, handled);
                }
            })?;
        let weak = Arc::downgrade(&hub);
        std::thread::Builder::new()
            .name("ws-poll".into())
            .spawn(move || poll_loop(weak, commands_rx, wake_rx, messages_tx))?;
        Ok(hub)
    }

    /// Connected clients of a site.
    pub fn clients(&self, site: &str) -> usize {
        self.counts
            .lock()
            .map_or(0, |c| c.get(site).copied().unwrap_or(0))
    }

    /// Connected clients, all sites; and messages read but not yet handled (`/metrics`).
    pub fn load(&self) -> (usize, usize) {
        let in_flight = self.in_flight.lock().map_or(0, |f| f.values().sum());
        (self.total.load(Ordering::Relaxed), in_flight)
    }

    /// Room for one more client of `site` from `ip`? Checked before the 101 is sent.
    pub fn has_room(&self, site: &str, ip: IpAddr) -> bool {
        let from_address = self.by_address.lock().map_or(0, |m| {
            m.get(&(site.to_string(), address_key(ip)))
                .copied()
                .unwrap_or(0)
        });
        self.total.load(Ordering::Relaxed) < self.limits.total
            && self.clients(site) < self.limits.per_site
            && from_address < self.limits.per_address
    }

    /// Takes over an upgraded connection; `early` holds the bytes the client sent right after
    /// its handshake (frames that did not wait for the 101).
    pub fn join(
        &self,
        site: &str,
        stream: TcpStream,
        early: Vec<u8>,
        ip: IpAddr,
        upgraded: Box<dyn Send>,
    ) -> io::Result<()> {
        stream.set_nonblocking(true)?;
        let config = WebSocketConfig::default()
            .max_message_size(Some(MAX_MESSAGE))
            .max_frame_size(Some(MAX_MESSAGE))
            .max_write_buffer_size(MAX_WRITE_BUFFER);
        let client = Client {
            _upgraded: upgraded,
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            site: site.to_string(),
            ip,
            unread: !early.is_empty(),
            ws: WebSocket::from_partially_read(stream, early, Role::Server, Some(config)),
            queue: VecDeque::new(),
            last_heard: Instant::now(),
            last_ping: Instant::now(),
            tokens: READ_BURST,
            in_flight: Arc::new(AtomicUsize::new(0)),
            refilled: Instant::now(),
        };
        self.count(site, ip, 1);
        (self.on_log)(site, &format!("websocket {} opened from {ip}", client.id));
        self.send(Command::Join(Box::new(client)));
        Ok(())
    }

    /// Queues `messages` for every client of `site`.
    pub fn broadcast(&self, site: &str, messages: Vec<String>) {
        if messages.is_empty() || self.clients(site) == 0 {
            return;
        }
        let messages = messages.into_iter().map(Arc::from).collect();
        self.send(Command::Broadcast(site.to_string(), messages));
    }

    fn send(&self, command: Command) {
        if let Ok(tx) = self.commands.lock() {
            let _ = tx.send(command);
        }
        if let Ok(mut w) = self.wake.lock() {
            let _ = w.write(&[1]);
        }
    }

    /// True when a message of `site` may be read now: its site's handler queue and all
    /// sites' queued bytes are under their bounds.
    fn has_room_for_message(&self, site: &str) -> bool {
        self.in_flight_bytes.load(Ordering::Relaxed) < IN_FLIGHT_BYTES
            && self
                .in_flight
                .lock()
                .is_ok_and(|f| f.get(site).copied().unwrap_or(0) < SITE_IN_FLIGHT)
    }

    fn queued(&self, site: &str, bytes: usize) {
        adjust(&self.in_flight, site.to_string(), 1);
        self.in_flight_bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    fn handled(&self, site: &str, bytes: usize) {
        adjust(&self.in_flight, site.to_string(), -1);
        self.in_flight_bytes.fetch_sub(bytes, Ordering::Relaxed);
    }

    /// True when `c` may have a message read now (its own rate and bound, its site's bounds).
    fn may_read(&self, c: &mut Client, now: Instant) -> bool {
        c.refill(now);
        c.tokens >= 1.0
            && c.in_flight.load(Ordering::Relaxed) < CLIENT_IN_FLIGHT
            && self.has_room_for_message(&c.site)
    }

    fn count(&self, site: &str, ip: IpAddr, delta: isize) {
        adjust(&self.counts, site.to_string(), delta);
        adjust(&self.by_address, (site.to_string(), address_key(ip)), delta);
        if delta > 0 {
            self.total.fetch_add(1, Ordering::Relaxed);
        } else {
            self.total.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// Adds `delta` to the count of `key`, dropping keys that reach zero (so the maps hold only
/// sites and addresses that have clients or messages).
fn adjust<K: std::hash::Hash + Eq>(counts: &Mutex<HashMap<K, usize>>, key: K, delta: isize) {
    use std::collections::hash_map::Entry;
    let Ok(mut counts) = counts.lock() else {
        return;
    };
    match counts.entry(key) {
        Entry::Occupied(mut count) => match count.get().saturating_add_signed(delta) {
            0 => {
                count.remove();
            }
            n => *count.get_mut() = n,
        },
        Entry::Vacant(slot) if delta > 0 => {
            slot.insert(delta as usize);
        }
        Entry::Vacant(_) => {}
    }
}

fn poll_loop(
    hub_ref: std::sync::Weak<Hub>,
    commands: Receiver<Command>,
    mut wake: UnixStream,
    messages: Sender<Incoming>,
) {
    let mut clients: Vec<Client> = Vec::new();
    loop {
        let Some(hub) = hub_ref.upgrade() else { return };
        // Which sockets to watch, then wait (at most a second, for pings and idle checks;
        // a moment when a client is held back, to read it again once it may).
        let revents: Vec<PollFlags> = {
            let now = Instant::now();
            let mut throttled = false;
            let mut fds = Vec::with_capacity(clients.len() + 1);
            fds.push(PollFd::new(&wake, PollFlags::IN));
            for c in clients.iter_mut() {
                let mut flags = PollFlags::empty();
                if hub.may_read(c, now) {
                    flags |= PollFlags::IN;
                } else {
                    throttled = true;
                }
                if !c.queue.is_empty() {
                    flags |= PollFlags::OUT;
                }
                fds.push(PollFd::new(c.ws.get_ref(), flags));
            }
            let wait = if throttled {
                THROTTLED_RECHECK
            } else {
                Duration::from_secs(1)
            };
            let timeout = rustix::event::Timespec {
                tv_sec: wait.as_secs() as i64,
                tv_nsec: i64::from(wait.subsec_nanos()),
            };
            drop(hub);
            if poll(&mut fds, Some(&timeout)).is_err() {
                std::thread::sleep(Duration::from_millis(10));
            }
            fds.iter().map(|f| f.revents()).collect()
        };
        let Some(hub) = hub_ref.upgrade() else { return };
        if revents[0].contains(PollFlags::IN) {
            let mut buf = [0u8; 256];
            while matches!(wake.read(&mut buf), Ok(n) if n > 0) {}
        }
        while let Ok(command) = commands.try_recv() {
            match command {
                Command::Join(c) => {
                    let _ = messages.send(Incoming::of(&hub, &c, "open", String::new()));
                    clients.push(*c);
                }
                Command::Broadcast(site, msgs) => {
                    for c in clients.iter_mut().filter(|c| c.site == site) {
                        c.queue.extend(msgs.iter().cloned());
                    }
                }
            }
        }
        let now = Instant::now();
        let mut gone = Vec::new();
        for (i, c) in clients.iter_mut().enumerate() {
            let ready = revents.get(i + 1).copied().unwrap_or(PollFlags::empty());
            if let Err(why) = service(&hub, c, ready, now, &messages) {
                gone.push((i, why));
            }
        }
        for (i, why) in gone.into_iter().rev() {
            let c = clients.swap_remove(i);
            hub.count(&c.site, c.ip, -1);
            let _ = messages.send(Incoming::of(&hub, &c, "close", String::new()));
            (hub.on_log)(&c.site, &format!("websocket {} closed ({why})", c.id));
        }
    }
}

/// Reads what a client sent, writes what is queued for it, keeps it alive; `Err` when the
/// client is done (closed, broken, too slow, too quiet).
fn service(
    hub: &Hub,
    c: &mut Client,
    ready: PollFlags,
    now: Instant,
    messages: &Sender<Incoming>,
) -> Result<(), &'static str> {
    if c.queue.len() > MAX_QUEUED {
        let _ = c.ws.close(None);
        return Err("too slow: it did not read its messages");
    }
    if std::mem::take(&mut c.unread)
        || ready.intersects(PollFlags::IN | PollFlags::ERR | PollFlags::HUP)
    {
        loop {
            if !hub.may_read(c, now) {
                if ready.intersects(PollFlags::ERR | PollFlags::HUP) {
                    // Gone with messages still unread: they were its burst, not ours to keep.
                    return Err("closed by the client");
                }
                // Frames may wait in tungstenite's buffer: look again without the socket.
                c.unread = true;
                break;
            }
            c.tokens -= 1.0;
            match c.ws.read() {
                Ok(Message::Text(text)) => {
                    c.last_heard = now;
                    let _ =
                        messages.send(Incoming::of(hub, c, "message", text.as_str().to_string()));
                }
                Ok(Message::Close(_)) => return Err("closed by the client"),
                Ok(_) => c.last_heard = now, // ping, pong, binary: signs of life
                Err(WsError::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                    c.tokens += 1.0; // nothing was there to read
                    break;
                }
                Err(WsError::Capacity(_)) => {
                    let _ = c.ws.close(Some(tungstenite::protocol::CloseFrame {
                        code: tungstenite::protocol::frame::coding::CloseCode::Size,
                        reason: "message too big (64 KiB at most)".into(),
                    }));
                    let _ = c.ws.flush();
                    return Err("sent a message over 64 KiB");
                }
                Err(_) => return Err("connection lost"),
            }
        }
    }
    while let Some(m) = c.queue.pop_front() {
        match c.ws.write(Message::text(&*m)) {
            Ok(()) => {}
            // The socket is full for now; the message sits in tungstenite's buffer.
            Err(WsError::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(WsError::WriteBufferFull(_)) => {
                return Err("too slow: it did not read its messages");
            }
            Err(_) => return Err("connection lost"),
        }
    }
    if now.duration_since(c.last_ping) > PING_EVERY {
        c.last_ping = now;
        let _ = c.ws.write(Message::Ping(Vec::new().into()));
    }
    if now.duration_since(c.last_heard) > IDLE_CLOSE {
        let _ = c.ws.close(None);
        return Err("idle");
    }
    match c.ws.flush() {
        Ok(()) => Ok(()),
        Err(WsError::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
        Err(_) => Err("connection lost"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handshakes() {
        let ok = [
            ("Upgrade", "websocket"),
            ("Connection", "keep-alive, Upgrade"),
            ("Sec-WebSocket-Version", "13"),
            ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ];
        let req = Request::fake("GET", "/ws", &ok);
        // RFC 6455's own example.
        assert_eq!(
            check_handshake(&req).unwrap(),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
        let mut no_key = ok.to_vec();
        no_key.pop();
        assert!(check_handshake(&Request::fake("GET", "/ws", &no_key)).is_err());
        let mut v8 = ok.to_vec();
        v8[2] = ("Sec-WebSocket-Version", "8");
        assert!(check_handshake(&Request::fake("GET", "/ws", &v8)).is_err());
        assert!(check_handshake(&Request::fake("POST", "/ws", &ok)).is_err());
    }
}
