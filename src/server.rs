//! The network side: the listening socket (TCP_NODELAY), tiny_http with connection limits, a
//! fixed pool of worker threads, a panic in a handler → 500 with the worker alive, one access
//! log line per request, and a graceful stop on SIGINT/SIGTERM. With `ws.rs`, the only module
//! that touches sockets.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use socket2::{Domain, Protocol, Socket, Type};

use crate::analytics;
use crate::app::App;
use crate::auth::{self, FirstStart, LoginLimiter};
use crate::backups::DailyBackups;
use crate::config::ServeConfig;
use crate::deploy::Sites;
use crate::http::{Body, FileRegion, Request, Response, Upgrade};
use crate::js::pool::ScriptPool;
use crate::log_writer;
use crate::ratelimit::RateLimiter;
use crate::services::{
    KEY_STATS_BURST, KEY_STATS_PER_MINUTE, PUBLIC_BURST, PUBLIC_PER_MINUTE, Services,
};
use crate::store;
use crate::systemd;
use crate::ws::Hub;

/// Why the server could not start.
#[derive(Debug)]
pub enum ServerError {
    DataDir(std::path::PathBuf, io::Error),
    Store(store::StoreError),
    Bind(SocketAddr, io::Error),
    Io(io::Error),
    /// The admin password could not be set up (e.g. CC_ADMIN_PASSWORD too short).
    Admin(String),
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerError::DataDir(p, e) => write!(f, "cannot use data dir {}: {e}", p.display()),
            ServerError::Store(e) => write!(f, "{e}"),
            ServerError::Bind(a, e) if e.kind() == io::ErrorKind::AddrInUse => write!(
                f,
                "cannot listen on {a}: the port is in use (another cc-server?); pick one with --port"
            ),
            ServerError::Bind(a, e) => write!(f, "cannot listen on {a}: {e}"),
            ServerError::Io(e) => write!(f, "{e}"),
            ServerError::Admin(m) => write!(f, "{m}"),
        }
    }
}

impl From<store::StoreError> for ServerError {
    fn from(e: store::StoreError) -> Self {
        ServerError::Store(e)
    }
}

/// Runs the server until SIGINT or SIGTERM, then stops gracefully.
pub fn run(config: ServeConfig) -> Result<(), ServerError> {
    let open_files = raise_open_file_limit();
    prepare_data_dir(&config.data_dir)?;
    // Open once here so a broken or too-new database stops the start with a clear message.
    let mut conn = store::open(&config.db_path())?;
    let env_password = std::env::var("CC_ADMIN_PASSWORD").ok();
    let first_start =
        auth::first_start(&mut conn, env_password.as_deref()).map_err(ServerError::Admin)?;
    drop(conn);
    let sites = Sites::open(&config.data_dir, config.deploy.clone())
        .map_err(|e| ServerError::DataDir(config.data_dir.clone(), e))?;

    let addr = SocketAddr::new(config.bind, config.port);
    let listener = bind(addr).map_err(|e| ServerError::Bind(addr, e))?;
    let local = listener.local_addr().map_err(ServerError::Io)?;
    let https = match &config.https {
        None => None,
        Some(mode) => {
            let addr = SocketAddr::new(config.bind, config.https_port);
            let tls_listener = bind(addr).map_err(|e| ServerError::Bind(addr, e))?;
            let tls_local = tls_listener.local_addr().map_err(ServerError::Io)?;
            let https = crate::tls::Https::start(mode.clone(), config.db_path())
                .map_err(|e| ServerError::Io(io::Error::other(format!("HTTPS: {e}"))))?;
            Some((https, tls_listener, tls_local))
        }
    };

    let (recorder, writer) = analytics::start(&config.db_path(), config.retention_days)?;
    let mut script_config = config.scripts.clone();
    script_config.server_port = local.port();
    // Runners hand script answers to connections: one waiting on a client that does not read
    // would hold up every site's scripts, so past the write-behind budget such a client is
    // cut off instead.
    script_config.runner_start = Some(tiny_http::never_wait_for_clients);
    let scripts = ScriptPool::start(script_config).map_err(ServerError::Io)?;
    let hub = Hub::start(
        config.websockets.clone(),
        crate::app::on_ws_message(scripts.clone(), config.sites_dir()),
        {
            let scripts = scripts.clone();
            Box::new(move |site: &str, line: &str| scripts.site_log(site, line))
        },
    )
    .map_err(ServerError::Io)?;
    scripts.set_hub(hub.clone());
    let cron = crate::js::cron::Scheduler::start(&scripts, config.sites_dir());
    let services = Arc::new(Services {
        db_path: config.db_path(),
        sites,
        scripts: scripts.clone(),
        hub,
        recorder,
        domain: config.domain.clone(),
        port: local.port(),
        trusted_proxy: config.trusted_proxy,
        limiter: LoginLimiter::default(),
        public_limiter: RateLimiter::new(PUBLIC_PER_MINUTE, PUBLIC_BURST),
        analytics_limiter: RateLimiter::new(KEY_STATS_PER_MINUTE, KEY_STATS_BURST),
        started: std::time::Instant::now(),
        protection: Default::default(),
        domains: Default::default(),
        pretty_urls: Default::default(),
        cron,
        uploads: crate::deploy::upload::UploadSlots::for_workers(config.workers),
        https: https.as_ref().map(|(h, _, _)| h.clone()),
        https_port: https.as_ref().map_or(0, |(_, _, l)| l.port()),
    });
    let app = Arc::new(App::new(&config, services.clone()));
    // A second handle on the listening socket: shutting it down is how accepting stops.
    let stopper = Socket::from(listener.try_clone().map_err(ServerError::Io)?);
    // A connection: its socket and a file or WebSocket handle; over TLS, the relay's socket
    // pair besides, and handshakes under way (up to a quarter as many, one each): 5, rounded up.
    let each = if https.is_some() { 5 } else { 2 };
    let max_connections = connections_that_fit(config.limits.max_connections, open_files, each);
    if max_connections < config.limits.max_connections {
        eprintln!(
            "cc-server: the open-file limit ({}) fits {max_connections} connections: \
             --max-connections lowered from {} (raise the limit: LimitNOFILE= in a systemd \
             unit, ulimit -n in a shell)",
            open_files.unwrap_or_default(),
            config.limits.max_connections
        );
    }
    let server = Arc::new(start_http(listener, local, &config, max_connections)?);
    let mut tls_stopper = None;
    if let Some((https, tls_listener, _)) = &https {
        // Weak: the app holds the certificates, which must not keep the app alive.
        let app = Arc::downgrade(&app);
        https.set_serves(Box::new(move |name| app.upgrade()?.serves_name(name)));
        tls_stopper = Some(Socket::from(
            tls_listener.try_clone().map_err(ServerError::Io)?,
        ));
        let chooser: tiny_http::TlsChooser = {
            let https = https.clone();
            Arc::new(move |name, local| match https.choose(name, local) {
                crate::tls::Choice::Ready(config) => tiny_http::TlsChoice::Ready(config),
                crate::tls::Choice::Wait => tiny_http::TlsChoice::Wait,
                crate::tls::Choice::Refuse => tiny_http::TlsChoice::Refuse,
            })
        };
        // The TLS work (handshakes, encryption) gets a relay thread per core.
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        server
            .serve_tls(
                tls_listener.try_clone().map_err(ServerError::Io)?,
                threads,
                chooser,
            )
            .map_err(ServerError::Io)?;
    }

    // Register before announcing, so a signal sent right after the line is never missed.
    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
    ])
    .map_err(ServerError::Io)?;

    println!("listening on http://{local}");
    if let Some((_, _, tls_local)) = &https {
        println!("listening on https://{tls_local}");
    }
    let _ = io::stdout().flush();
    eprintln!(
        "cc-server {}: sites from {} at http://<site>.{}:{}/, {} workers",
        env!("CARGO_PKG_VERSION"),
        config.sites_dir().display(),
        config.domain,
        local.port(),
        config.workers
    );

    match first_start {
        FirstStart::Ready => {}
        FirstStart::PasswordFromEnv => {
            eprintln!("cc-server: the admin password was set from CC_ADMIN_PASSWORD")
        }
        FirstStart::SetupToken(token) => {
            let host = match config.domain.as_str() {
                "localhost" => "localhost".to_string(),
                d => d.to_string(),
            };
            eprintln!(
                "cc-server: no admin password yet. Choose one at http://{host}:{}/setup?token={token} \
                 (this link works once; or run 'cc-server passwd')",
                local.port()
            );
        }
    }

    let backups = DailyBackups::start(&config.data_dir, config.backups);

    // Under systemd (Type=notify): started, and alive for as long as the database answers.
    systemd::notify("READY=1");
    {
        let services = services.clone();
        systemd::keep_watchdog_fed(move || services.conn().is_ok_and(|c| store::answers(&c)));
    }

    let workers: Vec<_> = (0..config.workers)
        .map(|i| {
            let (server, app) = (server.clone(), app.clone());
            std::thread::Builder::new()
                .name(format!("worker-{i}"))
                .spawn(move || worker_loop(&server, &app))
                .map_err(ServerError::Io)
        })
        .collect::<Result<_, _>>()?;

    let signal = signals.forever().next();
    systemd::notify("STOPPING=1");
    // Through the batched log: a stalled stderr must not stop the stop.
    log_writer::line(&format!(
        "cc-server: {} received, finishing in-flight requests\n",
        if signal == Some(signal_hook::consts::SIGINT) {
            "SIGINT"
        } else {
            "SIGTERM"
        }
    ));
    // On Linux, shutdown() of a listening socket makes accept() fail with EINVAL, which stops
    // tiny_http accepting: no new connections from here on.
    let _ = stopper.shutdown(std::net::Shutdown::Both);
    if let Some(tls) = &tls_stopper {
        let _ = tls.shutdown(std::net::Shutdown::Both);
    }
    // One stop per worker; requests already read (pipelined ones included) are served first,
    // and each worker finishes the request it is answering.
    for _ in &workers {
        let _ = server.unblock();
    }
    for w in workers {
        let _ = w.join();
    }
    // Runs handed to the script pool finish and are answered too.
    scripts.wait_idle(std::time::Duration::from_secs(10));
    writer.finish(&services.recorder);
    if let Some(b) = backups {
        b.finish();
    }
    let (runs, exchanges, micros) = scripts.stats();
    if runs > 0 {
        log_writer::line(&format!(
            "cc-server: main.js ran {runs} times in {exchanges} exchanges with script workers, \
             {micros} µs each on average inside its worker\n"
        ));
    }
    log_writer::line("cc-server: stopped\n");
    log_writer::flush();
    Ok(())
}

/// Each connection holds two descriptors (tiny_http's and the handle kept for upgrades), and a
/// WebSocket client stays connected: the usual soft limit of 1 024 would cap the server near
/// 500 clients. Raise the soft limit to the hard one, as nginx does.
/// Returns the soft limit it ends with (`None`: unlimited).
fn raise_open_file_limit() -> Option<u64> {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    if let Some(max) = limit.maximum {
        let _ = setrlimit(
            Resource::Nofile,
            rustix::process::Rlimit {
                current: Some(max),
                maximum: Some(max),
            },
        );
    }
    getrlimit(Resource::Nofile).current
}

/// Descriptors kept for everything but client connections: files kept open by the static
/// cache (256), cc.db and its WAL for each thread that uses it, pipes to script workers, a
/// deploy's files, the log.
const RESERVED_FILES: u64 = 512;

/// `--max-connections`, lowered so that that many connections (`each` descriptors apiece) and
/// `RESERVED_FILES` fit in the open-file limit: past it, `accept` or opening a file would fail
/// (a large file answered 404, `/health` 503) instead of a connection waiting its turn.
fn connections_that_fit(wanted: usize, open_files: Option<u64>, each: u64) -> usize {
    match open_files {
        Some(limit) => wanted.min((limit.saturating_sub(RESERVED_FILES) / each).max(16) as usize),
        None => wanted,
    }
}

/// Creates `<data-dir>` (0700: it holds secrets) and `<data-dir>/sites`.
fn prepare_data_dir(dir: &Path) -> Result<(), ServerError> {
    let err = |e| ServerError::DataDir(dir.to_path_buf(), e);
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(err)?;
    // A data dir made by hand (or by an older version) is made private too.
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(err)?;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(dir.join("sites"))
        .map_err(err)
}

/// A listening socket with TCP_NODELAY: tiny_http writes head and body separately, and without
/// it Nagle's algorithm meets delayed ACKs (40 ms per keep-alive request). Accepted sockets
/// inherit the option on Linux.
fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_tcp_nodelay(true)?;
    if addr.is_ipv6() {
        // `--bind ::` should also take IPv4 clients, as most servers do.
        let _ = socket.set_only_v6(false);
    }
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

fn start_http(
    listener: TcpListener,
    local: SocketAddr,
    config: &ServeConfig,
    max_connections: usize,
) -> Result<tiny_http::Server, ServerError> {
    let l = &config.limits;
    let limits = tiny_http::ConnectionLimits {
        read_timeout: Some(l.io_timeout),
        write_timeout: Some(l.io_timeout),
        head_timeout: l.head_timeout,
        max_line_bytes: l.max_header_line,
        max_headers: l.max_headers,
        max_connections,
        max_per_address: l.max_per_address,
    };
    let tiny_config = tiny_http::ServerConfig {
        addr: tiny_http::ConfigListenAddr::IP(vec![local]),
        ssl: None,
        min_threads: None,
        max_threads: None,
        limits,
    };
    tiny_http::Server::from_listener(listener, tiny_http::ListenAddr::IP(local), tiny_config)
        .map_err(|e| ServerError::Io(io::Error::other(e.to_string())))
}

fn worker_loop(server: &tiny_http::Server, app: &App) {
    loop {
        match server.recv() {
            Ok(Ok(rq)) => serve_one(app, rq),
            // A malformed request: tiny_http has already answered it (400/408/431).
            Ok(Err(_)) => {}
            // `unblock()` at shutdown.
            Err(_) => return,
        }
    }
}

/// Reads the body only when a handler asks, so a request answered without reading its body
/// (e.g. 404) never triggers `100 Continue`.
struct LazyBody<'a>(&'a mut tiny_http::Request);

impl Read for LazyBody<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.as_reader().read(buf)
    }
}

fn serve_one(app: &App, mut rq: tiny_http::Request) {
    let started = Instant::now();
    let remote_ip = rq
        .remote_addr()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |a| a.ip());
    let method = rq.method().as_str().to_string();
    let url = rq.url().to_string();
    let headers: Vec<(String, String)> = rq
        .headers()
        .iter()
        .map(|h| {
            (
                h.field.as_str().as_str().to_ascii_lowercase(),
                h.value.as_str().to_string(),
            )
        })
        .collect();

    let (mut response, log_prefix) = {
        let mut req = Request {
            method,
            url,
            headers,
            remote_ip,
            secure: rq.secure(),
            body: Box::new(LazyBody(&mut rq)),
        };
        let response = answer(|| app.handle(&mut req));
        let prefix = format!(
            "{} {} {}",
            req.method,
            req.header("host").unwrap_or("-"),
            req.raw_path()
        );
        (response, prefix)
    };

    if let Some(Upgrade::WebSocket { site, ip }) = response.upgrade.take() {
        // Hand the connection over: tiny_http writes the 101, the hub takes the socket.
        let raw = rq.raw_socket();
        let joined = match (
            raw,
            rq.upgrade_keeping_bytes("websocket", to_tiny(response)),
        ) {
            (Some(Ok(stream)), Ok((upgraded, early))) => {
                app.svc
                    .hub
                    .join(&site, stream, early, ip, Box::new(upgraded))
            }
            _ => Err(io::Error::other("the connection could not be taken over")),
        };
        let outcome = joined.err().map(|e| format!(" ({e})")).unwrap_or_default();
        log_writer::line(&format!(
            "{log_prefix} 101 0B {:.2}ms{outcome}\n",
            started.elapsed().as_secs_f64() * 1000.0
        ));
        return;
    }
    match response.deferred.take() {
        // A main.js run: whoever ends it writes the answer; this worker moves on.
        Some(later) => later.start(move |response| respond(rq, response, &log_prefix, started)),
        None => respond(rq, response, &log_prefix, started),
    }
}

/// Writes the answer and its access log line.
fn respond(rq: tiny_http::Request, response: Response, log_prefix: &str, started: Instant) {
    let status = response.status;
    let bytes = if rq.method() == &tiny_http::Method::Head {
        0
    } else {
        response.body.len()
    };
    let result = rq.respond(to_tiny(response));
    let outcome = if result.is_err() {
        " (client gone)"
    } else {
        ""
    };
    log_writer::line(&format!(
        "{log_prefix} {status} {bytes}B {:.2}ms{outcome}\n",
        started.elapsed().as_secs_f64() * 1000.0
    ));
}

/// Runs a handler; a panic becomes a 500 (the panic message goes to the log through the
/// default hook) and the worker thread carries on with the next request.
fn answer(handler: impl FnOnce() -> Response) -> Response {
    catch_unwind(AssertUnwindSafe(handler))
        .unwrap_or_else(|_| Response::text(500, "500 Internal Server Error"))
}

/// Files from this size on go out by sendfile.
const SENDFILE_FROM: u64 = 32 * 1024;

fn to_tiny(response: Response) -> tiny_http::Response<Box<dyn Read + Send>> {
    let mut headers = tiny_http::Headers::with_capacity(response.headers.len() + 1);
    headers.push(header("Server", "cc-server"));
    for (name, value) in &response.headers {
        headers.push(header(name, value));
    }
    let mut sent_by_kernel = None;
    let (reader, len): (Box<dyn Read + Send>, u64) = match response.body {
        Body::Empty => (Box::new(io::empty()), 0),
        Body::Bytes(b) => {
            let n = b.len() as u64;
            (Box::new(io::Cursor::new(b)), n)
        }
        Body::Shared(b) => {
            let n = b.len() as u64;
            (Box::new(io::Cursor::new(b)), n)
        }
        Body::File { file, offset, len } => {
            // A large file is copied to the socket by the kernel (sendfile); a small one
            // leaves with its head in one write. The reader is the fallback either way.
            if len >= SENDFILE_FROM {
                sent_by_kernel = Some((file.clone(), offset, len));
            }
            (Box::new(FileRegion { file, offset, len }), len)
        }
    };
    let response = tiny_http::Response::new(
        tiny_http::StatusCode(response.status),
        headers,
        reader,
        Some(len as usize),
        None,
    )
    // Always send Content-Length, never chunked: clients and caches like knowing the size.
    .with_chunked_threshold(usize::MAX);
    match sent_by_kernel {
        Some((file, offset, len)) => response.with_file(file, offset, len),
        None => response,
    }
}

/// Our header names and values are ASCII by construction; a non-ASCII value (e.g. from a file
/// name) is replaced rather than dropping the response.
fn header(name: &str, value: &str) -> tiny_http::Header {
    tiny_http::Header::from_str(name, value)
        .or_else(|_| tiny_http::Header::from_str(name, value.replace(|c: char| !c.is_ascii(), "?")))
        .unwrap_or_else(|_| tiny_http::Header::from_str("X-Invalid-Header", "1").expect("ascii"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panicking_handler_answers_500_and_the_thread_lives_on() {
        let worker = std::thread::spawn(|| {
            let first = answer(|| panic!("handler bug"));
            let second = answer(|| Response::text(200, "fine"));
            (first.status, second.status)
        });
        assert_eq!(worker.join().unwrap(), (500, 200));
    }
}
