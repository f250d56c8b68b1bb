//! Starting the real binary on port 0 with a temp data dir, a raw HTTP/1.1 client that sends
//! exactly the bytes a test wants (hostile paths must not be "fixed" by a client library), a
//! WebSocket client, and the fixtures several test files share (the counter script, deploying
//! an example).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use tungstenite::client::IntoClientRequest;

pub const BIN: &str = env!("CARGO_BIN_EXE_cc-server");

/// A running cc-server; killed on drop, even when the test panics.
pub struct Server {
    child: Option<Child>,
    pub port: u16,
    /// The HTTPS port, when started with `--https`.
    pub https_port: Option<u16>,
    pub data_dir: PathBuf,
    _temp: Option<tempfile::TempDir>,
    stderr: std::sync::Mutex<mpsc::Receiver<String>>,
    seen: std::sync::Mutex<Vec<String>>,
}

pub struct Builder {
    data_dir: Option<PathBuf>,
    args: Vec<String>,
    env: Vec<(String, String)>,
}

impl Builder {
    /// Reuse an existing data dir (e.g. to restart on the same database).
    pub fn data_dir(mut self, dir: &Path) -> Self {
        self.data_dir = Some(dir.to_path_buf());
        self
    }

    pub fn arg(mut self, a: &str) -> Self {
        self.args.push(a.to_string());
        self
    }

    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.env.push((k.to_string(), v.to_string()));
        self
    }

    pub fn start(self) -> Server {
        let (temp, data_dir) = match self.data_dir {
            Some(d) => (None, d),
            None => {
                let t = tempfile::tempdir().unwrap();
                let d = t.path().join("data");
                (Some(t), d)
            }
        };
        let mut cmd = Command::new(BIN);
        cmd.args(["serve", "--port", "0", "--bind", "127.0.0.1", "--data-dir"])
            .arg(&data_dir)
            .args(&self.args)
            .env_remove("CC_PORT")
            .env_remove("CC_DOMAIN")
            .env_remove("CC_BIND")
            .env_remove("CC_DATA_DIR")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start cc-server");

        // Read the announced port from stdout; give up after a generous deadline.
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let stderr = child.stderr.take().unwrap();
        let (etx, erx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = etx.send(line);
            }
        });
        let line = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(l) => l,
            Err(_) => {
                let _ = child.kill();
                let log: Vec<String> = erx.try_iter().collect();
                panic!(
                    "cc-server did not announce its port; stderr:\n{}",
                    log.join("\n")
                );
            }
        };
        let port = line
            .strip_prefix("listening on http://127.0.0.1:")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line: {line:?}"));
        // With --https the HTTPS port is announced on the next line.
        let https = self
            .args
            .windows(2)
            .any(|w| w[0] == "--https" && w[1] != "off");
        let https_port = https.then(|| {
            let line = rx
                .recv_timeout(Duration::from_secs(30))
                .expect("cc-server did not announce its HTTPS port");
            line.strip_prefix("listening on https://127.0.0.1:")
                .and_then(|p| p.parse().ok())
                .unwrap_or_else(|| panic!("unexpected second line: {line:?}"))
        });
        Server {
            child: Some(child),
            port,
            https_port,
            data_dir,
            _temp: temp,
            stderr: std::sync::Mutex::new(erx),
            seen: std::sync::Mutex::new(Vec::new()),
        }
    }
}

impl Server {
    pub fn builder() -> Builder {
        Builder {
            data_dir: None,
            args: Vec::new(),
            env: Vec::new(),
        }
    }

    pub fn start() -> Server {
        Server::builder().start()
    }

    pub fn sites_dir(&self) -> PathBuf {
        self.data_dir.join("sites")
    }

    /// Writes `path` (relative to the site folder) with `content`, creating folders.
    pub fn write_file(&self, site: &str, path: &str, content: impl AsRef<[u8]>) {
        let p = self.sites_dir().join(site).join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }

    /// GET `path` on `host` with a fresh connection.
    pub fn get(&self, host: &str, path: &str) -> HttpResponse {
        self.request("GET", host, path, &[])
    }

    pub fn request(
        &self,
        method: &str,
        host: &str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> HttpResponse {
        let mut raw = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
        for (k, v) in headers {
            raw.push_str(&format!("{k}: {v}\r\n"));
        }
        raw.push_str("\r\n");
        self.raw(raw.as_bytes())
    }

    /// A request with a body (Content-Length is added).
    pub fn send(
        &self,
        method: &str,
        host: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> HttpResponse {
        let mut raw = format!(
            "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Length: {}\r\n",
            body.len()
        );
        for (k, v) in headers {
            raw.push_str(&format!("{k}: {v}\r\n"));
        }
        raw.push_str("\r\n");
        let mut bytes = raw.into_bytes();
        bytes.extend_from_slice(body);
        self.raw(&bytes)
    }

    /// Sends raw bytes on a new connection and parses the (single) response.
    pub fn raw(&self, bytes: &[u8]) -> HttpResponse {
        let mut s = self.connect();
        s.write_all(bytes).unwrap();
        let mut buf = Vec::new();
        let _ = s.read_to_end(&mut buf);
        HttpResponse::parse(&buf)
    }

    pub fn connect(&self) -> TcpStream {
        let s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        s
    }

    /// Sends SIGTERM and waits for the process to exit.
    pub fn stop(&mut self) -> ExitStatus {
        self.signal("-TERM")
    }

    /// Sends a signal (`-TERM`, `-INT`) and waits for the process to exit.
    pub fn signal(&mut self, which: &str) -> ExitStatus {
        let mut child = self.child.take().expect("already stopped");
        Command::new("kill")
            .args([which, &child.id().to_string()])
            .status()
            .unwrap();
        child.wait().unwrap()
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// The server's child processes (script workers): `(pid, state letter)`.
    pub fn children(&self) -> Vec<(u32, char)> {
        let me = self.child.as_ref().expect("running").id();
        let mut out = Vec::new();
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            // pid (comm) state ppid …: comm may hold spaces, so split after the last ')'.
            let Some((head, rest)) = stat.rsplit_once(')') else {
                continue;
            };
            let fields: Vec<&str> = rest.split_whitespace().collect();
            if fields.get(1).and_then(|p| p.parse::<u32>().ok()) == Some(me) {
                let pid = head
                    .split_whitespace()
                    .next()
                    .and_then(|p| p.parse().ok())
                    .unwrap_or(0);
                out.push((pid, fields[0].chars().next().unwrap_or('?')));
            }
        }
        out
    }

    /// kill -9: no graceful shutdown at all.
    pub fn kill(&mut self) {
        let mut child = self.child.take().expect("already stopped");
        child.kill().unwrap();
        child.wait().unwrap();
    }

    /// Everything the server has logged so far. Once the server has exited, this waits (up to
    /// five seconds) for the reader thread to reach the end of its stderr: the process can be
    /// gone while its last lines still sit in the pipe.
    pub fn log(&self) -> Vec<String> {
        let mut seen = self.seen.lock().unwrap();
        let stderr = self.stderr.lock().unwrap();
        if self.child.is_some() {
            seen.extend(stderr.try_iter());
        } else {
            let until = std::time::Instant::now() + Duration::from_secs(5);
            while let Ok(line) =
                stderr.recv_timeout(until.saturating_duration_since(std::time::Instant::now()))
            {
                seen.push(line);
            }
        }
        seen.clone()
    }

    pub fn log_contains(&self, needle: &str) -> bool {
        self.log().iter().any(|l| l.contains(needle))
    }

    /// The single number a query answers (`SELECT count(*) …`).
    pub fn count(&self, sql: &str) -> i64 {
        self.db().query_row(sql, [], |r| r.get(0)).unwrap()
    }

    /// Every row of a query, each as a tuple of the caller's choosing.
    pub fn rows<T>(&self, sql: &str) -> Vec<T>
    where
        T: for<'a> TryFrom<&'a rusqlite::Row<'a>, Error = rusqlite::Error>,
    {
        let db = self.db();
        let mut st = db.prepare(sql).unwrap();
        st.query_map([], |r| T::try_from(r))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    pub fn db(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(self.data_dir.join("cc.db")).unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn parse(buf: &[u8]) -> HttpResponse {
        let split = buf
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or_else(|| panic!("no response head in {:?}", String::from_utf8_lossy(buf)));
        let head = String::from_utf8_lossy(&buf[..split]).to_string();
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap();
        let status = status_line.split(' ').nth(1).unwrap().parse().unwrap();
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        HttpResponse {
            status,
            headers,
            body: buf[split + 4..].to_vec(),
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).to_string()
    }
}

/// Copies a folder tree (e.g. an example into a site folder or a scratch copy).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Runs the binary with `args` to completion: (exit code, stdout, stderr).
pub fn run_cli(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .env_remove("CC_PORT")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

/// Reads one response (head + Content-Length body) from a keep-alive connection.
pub fn read_response(s: &mut TcpStream) -> std::io::Result<HttpResponse> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        if s.read(&mut byte)? == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "closed",
            ));
        }
        buf.push(byte[0]);
    }
    let head = HttpResponse::parse(&buf);
    let len: usize = head
        .header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    s.read_exact(&mut body)?;
    Ok(HttpResponse { body, ..head })
}

impl Server {
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Creates a deploy key with the real CLI on this server's data dir; returns the token.
    pub fn create_key(&self, name: &str, scopes: &[&str]) -> String {
        let mut args = vec!["keys", "create", "--name", name];
        for s in scopes {
            args.extend(["--scope", s]);
        }
        let data_dir = self.data_dir.to_str().unwrap().to_string();
        args.extend(["--data-dir", &data_dir]);
        let (code, out, err) = run_cli(&args);
        assert_eq!(code, 0, "keys create failed: {err}");
        out.lines().last().unwrap().trim().to_string()
    }

    /// POSTs a deploy form (site_name first, then the zip) with a raw connection.
    pub fn deploy_raw(&self, token: Option<&str>, site: &str, zip: &[u8]) -> HttpResponse {
        let boundary = "XtestBoundaryX";
        let mut body = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"site_name\"\r\n\r\n{site}\r\n\
             --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"s.zip\"\r\n\
             Content-Type: application/zip\r\n\r\n"
        )
        .into_bytes();
        body.extend_from_slice(zip);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let mut head = format!(
            "POST /api/deploy HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\
             Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {}\r\n",
            body.len()
        );
        if let Some(t) = token {
            head.push_str(&format!("Authorization: Bearer {t}\r\n"));
        }
        head.push_str("\r\n");
        let mut s = self.connect();
        s.write_all(head.as_bytes()).unwrap();
        // The server may answer (and close) before the whole body is sent.
        let _ = s.write_all(&body);
        let mut buf = Vec::new();
        let _ = s.read_to_end(&mut buf);
        HttpResponse::parse(&buf)
    }
}

/// Runs the binary with `args`, extra environment, and a working directory.
pub fn run_cli_in(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .current_dir(dir)
        .env_remove("CC_TOKEN")
        .env_remove("CC_SERVER")
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

/// A zip built in memory: `(name, content)` files, deflated.
pub fn zip_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default();
    for (name, content) in files {
        w.start_file(*name, opts).unwrap();
        w.write_all(content).unwrap();
    }
    w.finish().unwrap().into_inner()
}

/// The README's counter: one `db` read and write per request.
pub const COUNTER: &str = r#"let count = db.get("visits") || 0;
count++;
db.set("visits", count);
res.json({ visits: count });
"#;

/// Asks a counter site for its count (which also adds one).
pub fn visits(s: &Server, site: &str) -> u64 {
    let r = s.get(&format!("{site}.localhost"), "/");
    assert_eq!(r.status, 200, "{}", r.text());
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    v["visits"].as_u64().unwrap()
}

/// A WebSocket client of the real server.
pub type Ws = tungstenite::WebSocket<TcpStream>;

/// Opens `ws://<site>.localhost:<port>/ws` and checks the 101.
pub fn connect(s: &Server, site: &str) -> Ws {
    let stream = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let request = format!("ws://{site}.localhost:{}/ws", s.port)
        .into_client_request()
        .unwrap();
    let (ws, response) = tungstenite::client(request, stream).expect("handshake");
    assert_eq!(response.status().as_u16(), 101);
    ws
}

/// Deploys the three examples with the real CLI: `static-site` as `hello`, `counter-app-js`
/// as `counter`, `chat-app` as `chat`.
pub fn deploy_examples(s: &Server, token: &str) {
    deploy_example(s, token, "static-site", "hello");
    deploy_example(s, token, "counter-app-js", "counter");
    deploy_example(s, token, "chat-app", "chat");
}

/// Deploys `examples/<name>` as `site` with the real CLI.
pub fn deploy_example(s: &Server, token: &str, name: &str, site: &str) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name);
    let (code, out, err) = run_cli_in(
        &dir,
        &["deploy", site, "--server", &s.url(), "--token", token],
        &[],
    );
    assert_eq!(code, 0, "{name}: {err}");
    assert!(out.contains("Deployment successful"), "{out}");
}

/// A connection from another loopback address (127.0.0.2 reaches the server on 127.0.0.1).
pub fn connect_from(s: &Server, source: &str) -> TcpStream {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    let from: std::net::SocketAddr = format!("{source}:0").parse().unwrap();
    socket.bind(&from.into()).unwrap();
    let to: std::net::SocketAddr = format!("127.0.0.1:{}", s.port).parse().unwrap();
    socket.connect(&to.into()).unwrap();
    let stream: TcpStream = socket.into();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
}

/// CPU seconds process `pid` has used (user + system), from /proc.
pub fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / 100.0
}
