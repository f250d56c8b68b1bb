//! # Simple usage
//!
//! ## Creating the server
//!
//! The easiest way to create a server is to call `Server::http()`.
//!
//! The `http()` function returns an `IoResult<Server>` which will return an error
//! in the case where the server creation fails (for example if the listening port is already
//! occupied).
//!
//! ```ignore
//! let server = tiny_http_fork::Server::http("0.0.0.0:0").unwrap();
//! ```
//!
//! A newly-created `Server` will immediately start listening for incoming connections and HTTP
//! requests.
//!
//! ## Receiving requests
//!
//! Calling `server.recv()` will block until the next request is available.
//! This function returns an `IoResult<Request>`, so you need to handle the possible errors.
//!
//! ```ignore
//! # let server = tiny_http_fork::Server::http("0.0.0.0:0").unwrap();
//!
//! loop {
//!     // blocks until the next request is received
//!     let request = match server.recv() {
//!         Ok(rq) => rq,
//!         Err(e) => { println!("error: {}", e); break }
//!     };
//!
//!     // do something with the request
//!     // ...
//! }
//! ```
//!
//! In a real-case scenario, you will probably want to spawn multiple worker tasks and call
//! `server.recv()` on all of them. Like this:
//!
//! ```ignore
//! # use std::sync::Arc;
//! # use std::thread;
//! # let server = tiny_http_fork::Server::http("0.0.0.0:0").unwrap();
//! let server = Arc::new(server);
//! let mut guards = Vec::with_capacity(4);
//!
//! for _ in (0 .. 4) {
//!     let server = server.clone();
//!
//!     let guard = thread::spawn(move || {
//!         loop {
//!             let rq = server.recv().unwrap();
//!
//!             // ...
//!         }
//!     });
//!
//!     guards.push(guard);
//! }
//! ```
//!
//! If you don't want to block, you can call `server.try_recv()` instead.
//!
//! ## Handling requests
//!
//! The `Request` object returned by `server.recv()` contains informations about the client's request.
//! The most useful methods are probably `request.method()` and `request.url()` which return
//! the requested method (`GET`, `POST`, etc.) and url.
//!
//! To handle a request, you need to create a `Response` object. See the docs of this object for
//! more infos. Here is an example of creating a `Response` from a file:
//!
//! ```ignore
//! # use std::fs::File;
//! # use std::path::Path;
//! let response = tiny_http_fork::Response::from_file(File::open(&Path::new("image.png")).unwrap());
//! ```
//!
//! All that remains to do is call `request.respond()`:
//!
//! ```ignore
//! # use std::fs::File;
//! # use std::path::Path;
//! # let server = tiny_http_fork::Server::http("0.0.0.0:0").unwrap();
//! # let request = server.recv().unwrap();
//! # let response = tiny_http_fork::Response::from_file(File::open(&Path::new("image.png")).unwrap());
//! let _ = request.respond(response);
//! ```
//#![forbid(unsafe_code)] // removed because an alarm code is required, will be returned  back when XIO-RS will be ready
#![deny(rust_2018_idioms)]
#![allow(clippy::match_like_matches_macro)]

mod chunked;
mod exchange;
mod client;
mod common;
mod head;
mod reactor;
mod connection;
mod log;
mod request;
mod response;
mod ssl;
// cc-server patch: HTTPS through a relay into the reactor (PATCHES.md, 22).
mod tls;
pub use tls::{TlsChoice, TlsChooser};
pub use rustls;
mod test;
pub mod util;
pub mod config;

#[cfg(any(
    feature = "ssl-openssl",
    feature = "ssl-rustls",
    feature = "ssl-native-tls"
))]
use zeroize::Zeroizing;



use std::error::Error;
use std::io;
use std::io::Error as IoError;
use std::io::ErrorKind as IoErrorKind;
use std::io::Result as IoResult;
use std::net::ToSocketAddrs;
#[cfg(unix)]
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::mpsc;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use client::ClientConnection;
use util::{MessagesQueue, MessageQueueSender};

pub use common::{HTTPVersion, Header, Headers, HeaderField, Method, StatusCode, HeaderFieldValue, HeaderError};
pub use connection::{ConfigListenAddr, ListenAddr, Listener};
pub use request::{ReadWrite, Request};
pub use exchange::never_wait_for_clients;
pub use response::{Response, ResponseBox};
pub use test::TestRequest;
pub use crate::config::{ ConnectionLimits, ServerConfig, SslConfig };

use crate::client::ReadError;
use crate::util::TaskPool;



#[cfg(not(any(
    feature = "ssl-openssl",
    feature = "ssl-rustls",
    feature = "ssl-native-tls"
)))]
type SslContext = ();
#[cfg(any(
    feature = "ssl-openssl",
    feature = "ssl-rustls",
    feature = "ssl-native-tls"
))]
type SslContext = ssl::SslContextImpl;

#[derive(Debug)]
pub struct SslContextWrap(Option<SslContext>);


impl SslContextWrap
{
    pub 
    fn build_ssl_capabilities(ssl_config: Option<SslConfig>) 
        -> Result<Self, Box<dyn Error + Send + Sync>>
    {
        // building the SSL capabilities
        let ssl: Option<SslContext> = 
            {
                match ssl_config 
                {
                    #[cfg(any(
                        feature = "ssl-openssl",
                        feature = "ssl-rustls",
                        feature = "ssl-native-tls"
                    ))]
                    Some(config) => 
                        Some(
                            SslContext::from_pem(config.certificate,
                            Zeroizing::new(config.private_key))?
                        ),
                    #[cfg(not(any(
                        feature = "ssl-openssl",
                        feature = "ssl-rustls",
                        feature = "ssl-native-tls"
                    )))]
                    Some(_) => 
                        return Err(
                            "Building a server with SSL requires enabling the `ssl` feature in tiny-http"
                                .into(),
                        ),
                    None => 
                        None,
                }
            };

        return Ok(Self(ssl));
    }
}

/// The main class of this library.
///
/// Destroying this object will immediately close the listening socket and the reading
///  part of all the client's connections. Requests that have already been returned by
///  the `recv()` function will not close and the responses will be transferred to the client.
pub struct Server 
{
    // cc-server patch: connections wait in an epoll set, not in threads (reactor.rs)
    reactor: reactor::Reactor,

    // result of TcpListener::local_addr()
    listening_addr: Option<ListenAddr>,
}

impl std::fmt::Debug for Server
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result
    {
        write!(f, "Server({:?})", self.listening_addr)
    }
}

#[derive(Debug)]
pub enum Message 
{
    ReaderError(ReadError),
    ErrorIo(IoError),
    NewRequest(Request),
}

impl From<ReadError> for Message 
{
    fn from(e: ReadError) -> Message 
    {
        Message::ReaderError(e)
    }
}

impl From<IoError> for Message 
{
    fn from(e: IoError) -> Message 
    {
        Message::ErrorIo(e)
    }
}

impl From<Request> for Message 
{
    fn from(rq: Request) -> Message 
    {
        Message::NewRequest(rq)
    }
}

// this trait is to make sure that Server implements Share and Send
#[doc(hidden)]
trait MustBeShareDummy: Sync + Send {}
#[doc(hidden)]
impl MustBeShareDummy for Server {}

#[derive(Debug)]
pub struct IncomingRequests<'a> 
{
    server: &'a Server,
}


impl Server 
{
    /// Shortcut for a simple server on a specific address.
    #[inline]
    pub 
    fn http<A>(addr: A) -> Result<Server, Box<dyn Error + Send + Sync + 'static>>
    where
        A: ToSocketAddrs,
    {
        Server::new(
            ServerConfig 
            {
                addr: 
                    ConfigListenAddr::from_socket_addrs(addr)?,
                ssl: 
                    None,
                min_threads: 
                    None,
                max_threads: 
                    None,
                limits:
                    config::ConnectionLimits::default(),
            }
        )
    }

    /// Shortcut for an HTTPS server on a specific address.
    #[cfg(any(
        feature = "ssl-openssl",
        feature = "ssl-rustls",
        feature = "ssl-native-tls"
    ))]
    #[inline]
    pub fn https<A>(
        addr: A,
        config: SslConfig,
    ) -> Result<Server, Box<dyn Error + Send + Sync + 'static>>
    where
        A: ToSocketAddrs,
    {
        Server::new(
            ServerConfig 
            {
                addr: 
                    ConfigListenAddr::from_socket_addrs(addr)?,
                ssl: 
                    Some(config),
                min_threads: 
                    None,
                max_threads: 
                    None,
                limits:
                    config::ConnectionLimits::default(),
            }
        )
    }

    #[cfg(unix)]
    #[inline]
    /// Shortcut for a UNIX socket server at a specific path
    pub 
    fn http_unix<P: AsRef<Path>>(path: P) -> Result<Server, Box<dyn Error + Send + Sync + 'static>> 
    {
        Server::new(
            ServerConfig 
            {
                addr: 
                    ConfigListenAddr::unix_from_path(path.as_ref()),
                ssl: 
                    None,
                min_threads: 
                    None,
                max_threads: 
                    None,
                limits:
                    config::ConnectionLimits::default(),
            }
        )
    }

    /// Builds a new server that listens on the specified address.
    pub 
    fn new(config: ServerConfig) -> Result<Server, Box<dyn Error + Send + Sync + 'static>> 
    {
        let (listener, la) = config.addr.bind()?;
        Self::from_listener(listener, la, config)
    }

    

    /// Builds a new server using the specified TCP listener.
    ///
    /// cc-server patch: requests are read by the threads that call `recv()`, from one epoll
    /// set of connections (reactor.rs); no thread is spent per connection. TCP only.
    pub 
    fn from_listener<L: Into<Listener>>(listener: L, local_addr: ListenAddr, config: ServerConfig) 
        -> Result<Server, Box<dyn Error + Send + Sync + 'static>> 
    {
        let listener = match listener.into()
        {
            Listener::Tcp(tcp) => tcp,
            #[cfg(unix)]
            Listener::Unix(_) => return Err("this build serves TCP listeners only".into()),
        };
        if config.ssl.is_some()
        {
            return Err("this build has no TLS".into());
        }
        let reactor = reactor::Reactor::new(listener, config.limits.clone())?;
        Ok(Server { reactor, listening_addr: Some(local_addr) })
    }

    /// cc-server patch: serves HTTPS on `listener` too, with `threads` relay threads doing the
    /// TLS work (`tls.rs`); `choose` picks each connection's configuration by server name.
    /// Its requests come from `recv()` like any other, with `Request::secure()` true.
    pub
    fn serve_tls(&self, listener: std::net::TcpListener, threads: usize, choose: TlsChooser)
        -> IoResult<()>
    {
        tls::start(self.reactor.shared.clone(), listener, threads, choose)
    }

    /// Returns an iterator for all the incoming requests.
    ///
    /// The iterator will return `None` if the server socket is shutdown.
    #[inline]
    pub 
    fn incoming_requests(&self) -> IncomingRequests<'_> 
    {
        IncomingRequests { server: self }
    }

    /// Returns the address the server is listening to.
    #[inline]
    pub 
    fn server_addr(&self) -> &ListenAddr 
    {
        self.listening_addr.as_ref().unwrap()
    }

    /// Returns the number of clients currently connected to the server.
    pub 
    fn num_connections(&self) -> usize 
    {
        self.reactor.open_connections()
    }

    /// Blocks until an HTTP request has been submitted and returns it.
    ///
    /// cc-server patch: malformed requests are answered (400, 408, 431, 505) and closed by
    /// the connection layer itself, so the inner result is always `Ok`.
    pub 
    fn recv(&self) -> IoResult<Result<Request, ReadError>> 
    {
        match self.reactor.next(None)?
        {
            Some(rq) => Ok(Ok(rq)),
            None => Err(IoError::new(IoErrorKind::Other, "thread unblocked")),
        }
    }

    /// Same as `recv()` but doesn't block longer than timeout
    pub 
    fn recv_timeout(&self, timeout: Duration) -> IoResult<Result<Option<Request>, ReadError>> 
    {
        Ok(Ok(self.reactor.next(Some(std::time::Instant::now() + timeout))?))
    }

    /// Same as `recv()` but doesn't block.
    pub 
    fn try_recv(&self) -> IoResult<Option<Request>> 
    {
        self.reactor.next(Some(std::time::Instant::now()))
    }

    /// Unblock thread stuck in recv() or incoming_requests().
    /// If there are several such threads, only one is unblocked.
    /// This method allows graceful shutdown of server.
    pub 
    fn unblock(&self) -> IoResult<()>
    {
        self.reactor.unblock();
        Ok(())
    }
}

/// cc-server patch: accept() errors that say nothing about the listener itself. Anything else
/// (EINVAL after `shutdown()` on the listening socket, EBADF) ends the accept loop.
fn is_transient_accept_error(e: &IoError) -> bool
{
    matches!(
        e.kind(),
        IoErrorKind::ConnectionAborted
            | IoErrorKind::ConnectionReset
            | IoErrorKind::Interrupted
            | IoErrorKind::WouldBlock
            | IoErrorKind::TimedOut
    ) || matches!(e.raw_os_error(), Some(23) | Some(24) | Some(12) | Some(105)) // ENFILE EMFILE ENOMEM ENOBUFS
}

/// cc-server patch: counts a connection as open until its task ends.
struct OpenConnection(Arc<AtomicUsize>);

impl OpenConnection
{
    fn new(counter: Arc<AtomicUsize>) -> Self
    {
        counter.fetch_add(1, Relaxed);
        OpenConnection(counter)
    }
}

impl Drop for OpenConnection
{
    fn drop(&mut self)
    {
        self.0.fetch_sub(1, Relaxed);
    }
}

impl Iterator for IncomingRequests<'_> 
{
    type Item = Result<Request, ReadError>;
    
    fn next(&mut self) -> Option<Self::Item> 
    {
        self.server.recv().ok()
    }
}

