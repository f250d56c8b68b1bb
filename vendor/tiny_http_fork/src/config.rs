
use std::{fs::File, io::{self, Read}, net::ToSocketAddrs, path::Path, time::Duration};

use crate::connection::ConfigListenAddr;

/// Represents the parameters required to create a server.
#[derive(Debug, Clone)]
pub struct ServerConfig 
{
    /// The addresses to try to listen to.
    pub addr: ConfigListenAddr,

    /// If `Some`, then the server will use SSL to encode the communications.
    pub ssl: Option<SslConfig>,

    /// Minimum threads which always runs.
    pub min_threads: Option<usize>,

    /// Maximum threads which can be allocated.
    pub max_threads: Option<usize>,
    /// cc-server patch: limits applied to every accepted connection.
    pub limits: ConnectionLimits,
}

/// cc-server patch: per-connection limits, so that a slow, idle or oversized client costs a
/// bounded amount of time and memory and never holds a thread forever.
#[derive(Debug, Clone)]
pub struct ConnectionLimits
{
    /// SO_RCVTIMEO of accepted sockets: the longest a single read may stall. It is also the
    /// idle timeout of a keep-alive connection waiting for its next request.
    pub read_timeout: Option<Duration>,
    /// SO_SNDTIMEO of accepted sockets: the longest a single write may stall.
    pub write_timeout: Option<Duration>,
    /// The whole request head (request line and headers) must arrive within this time.
    pub head_timeout: Duration,
    /// Longest request line or header line, in bytes (431 beyond).
    pub max_line_bytes: usize,
    /// Most header lines in one request (431 beyond).
    pub max_headers: usize,
    /// Connections open at once. At the cap the connection idle longest is closed to make
    /// room; when none is idle, the newcomer is closed right after accept.
    pub max_connections: usize,
    /// cc-server patch: connections one client address may hold (IPv6 by /64); past it,
    /// that address's own idle connections make room, never another address's.
    pub max_per_address: usize,
}

impl Default for ConnectionLimits
{
    fn default() -> Self
    {
        ConnectionLimits
        {
            read_timeout: Some(Duration::from_secs(15)),
            write_timeout: Some(Duration::from_secs(15)),
            head_timeout: Duration::from_secs(20),
            max_line_bytes: 8 * 1024,
            max_headers: 100,
            max_connections: 1024,
            max_per_address: 256,
        }
    }
}

impl ServerConfig
{
    pub 
    fn new_http<A>(addr: A) -> io::Result<ServerConfig>
    where
        A: ToSocketAddrs,
    {
        Ok(
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
                    ConnectionLimits::default(),
            }
        )
    }

    pub 
    fn set_min_threads(mut self, cnt: usize) -> Self
    {
        self.min_threads = Some(cnt);

        return self;
    }

    pub 
    fn set_max_threads(mut self, cnt: usize) -> Self
    {
        self.max_threads = Some(cnt);

        return self;
    }

    pub 
    fn set_ssl(mut self, ssl: SslConfig) -> Self
    {
        self.ssl = Some(ssl);

        return self;
    }
}

/// Configuration of the server for SSL.
#[derive(Debug, Clone)]
pub struct SslConfig 
{
    /// Contains the public certificate to send to clients.
    pub certificate: Vec<u8>,
    /// Contains the ultra-secret private key used to decode communications.
    pub private_key: Vec<u8>,
}

impl SslConfig
{
    pub 
    fn load_file(path: &Path) -> io::Result<Vec<u8>>
    {
        let mut cert_f = 
            File::options()
                .read(true)
                .create(false)
                .open(path)?;

        let file_size = cert_f.metadata()?.len();

        let mut file_buf = Vec::with_capacity(file_size as usize);
        cert_f.read_to_end(&mut file_buf)?;

        return Ok(file_buf);
    }

    pub 
    fn load_from_fs<P: AsRef<Path>>(cert_path: P, key_path: P) -> io::Result<Self>
    {
        
        let ret = 
            Self
            {
                certificate: 
                    Self::load_file(cert_path.as_ref())?,
                private_key: 
                    Self::load_file(key_path.as_ref())?,
            };

        return Ok(ret);
    }

    pub 
    fn load_from_mem<CERT, KEY>(cert: CERT, key: KEY) -> Self
    where
        CERT: AsRef<[u8]> + Into<Vec<u8>>,
        KEY: AsRef<[u8]> + Into<Vec<u8>>
    {
        Self
        {
            certificate: 
                cert.into(),
            private_key: 
                key.into()
        }
    }
}
