//! A headless Chromium for tests that need a real browser: a minimal W3C WebDriver client over
//! ureq (blocking, already a dependency) talking to a chromedriver that each `Browser` starts.
//!
//! Elements are addressed by CSS selector only; every call looks the element up again (waiting
//! up to `WAIT` for it), so a page that re-renders between two calls cannot leave a test holding
//! a stale element. Any WebDriver error panics with the command and chromedriver's message.

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// How long `find`, `wait_text` and the element commands wait for the page to catch up.
const WAIT: Duration = Duration::from_secs(5);
/// The key under which WebDriver returns an element reference (fixed by the W3C spec).
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A chromedriver + Chromium pair with one session; everything is stopped and the temporary
/// profile removed on drop, even when the test panics.
pub struct Browser {
    agent: ureq::Agent,
    /// `http://127.0.0.1:<port>/session/<id>`; empty until the session exists.
    session: String,
    driver: Child,
    profile: tempfile::TempDir,
}

/// An element `find` saw in the page. Only proof of presence for callers: the other methods
/// take the CSS selector again.
pub struct Element {
    id: String,
}

/// What chromedriver answered instead of a value: e.g. `no such element`, `javascript error`.
struct WebDriverError {
    error: String,
    message: String,
}

impl Browser {
    /// Starts chromedriver on a free port and opens a headless Chromium session.
    pub fn start() -> Browser {
        for bin in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                Path::new(bin).exists(),
                "{bin} is missing: the browser tests need headless Chromium and chromedriver; \
                 install the Debian packages with `sudo apt-get install chromium chromium-driver` \
                 (.ci/run does this)"
            );
        }
        let profile = tempfile::tempdir().unwrap();
        let agent: ureq::Agent = ureq::Agent::config_builder()
            // WebDriver errors come as 4xx/5xx with a JSON body that says what went wrong.
            .http_status_as_error(false)
            // chromedriver is on loopback: an HTTP(S)_PROXY from the environment must not apply.
            .proxy(None)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        let (driver, base) = spawn_driver(&agent);
        let mut browser = Browser {
            agent,
            session: String::new(),
            driver,
            profile,
        };

        let user_data_dir = browser.profile.path().join("profile");
        let args = [
            "--headless=new".to_string(),
            // Chromium will not run its sandbox as root (CI containers), and containers often
            // lack the user namespaces it needs.
            "--no-sandbox".to_string(),
            "--disable-gpu".to_string(),
            // Keep the run off the network: otherwise Chromium fetches component and
            // safe-browsing updates and talks to sync at start-up, which can stall it where the
            // network drops packets instead of refusing them.
            "--disable-quic".to_string(),
            "--no-first-run".to_string(),
            "--disable-background-networking".to_string(),
            "--disable-component-update".to_string(),
            "--disable-sync".to_string(),
            // Docker's /dev/shm is 64 MB: too small for Chromium's shared memory.
            "--disable-dev-shm-usage".to_string(),
            format!("--user-data-dir={}", user_data_dir.display()),
        ];
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": CHROMIUM, "args": args},
            // A confirm() nobody handles is dismissed and the next command fails with
            // "unexpected alert open": a test that forgets accept_alert() fails loudly.
            "unhandledPromptBehavior": "dismiss and notify",
            "timeouts": {"pageLoad": 30_000, "script": 10_000},
        }}});
        let created = browser
            .send("POST", &format!("{base}/session"), Some(caps))
            .unwrap_or_else(|e| panic!("WebDriver POST /session: {}: {}", e.error, e.message));
        browser.session = format!("{base}/session/{}", created["sessionId"].as_str().unwrap());

        // A headless page never has focus, so the browser refuses what needs a focused document
        // (navigator.clipboard: "Document is not focused") and focus events never fire. Emulate
        // the focused foreground tab a user would have; it lasts across navigations.
        browser.cdp(
            "Emulation.setFocusEmulationEnabled",
            json!({"enabled": true}),
        );
        browser
    }

    /// Sets the page's viewport to `width`×`height` CSS pixels (screenshots get this size).
    pub fn set_size(&self, width: u32, height: u32) {
        // Not POST /window/rect: a headless=new window keeps ~140 px of invisible browser UI
        // and at least 500 px of width, so a 390 px phone viewport cannot be had that way.
        self.cdp(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": false}),
        );
    }

    /// Opens `url` and returns once the page has loaded.
    pub fn goto(&self, url: &str) {
        self.cmd("POST", "/url", json!({"url": url}));
    }

    pub fn current_url(&self) -> String {
        self.get("/url").as_str().unwrap().to_string()
    }

    /// The first element matching `css`, waiting up to 5 s for it to appear.
    pub fn find(&self, css: &str) -> Element {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(e) = self.find_now(css) {
                return e;
            }
            if Instant::now() > deadline {
                panic!(
                    "no element matches `{css}` after {WAIT:?} on {}",
                    self.current_url()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Whether an element matches `css` right now (no waiting).
    pub fn exists(&self, css: &str) -> bool {
        self.find_now(css).is_some()
    }

    /// Waits up to 5 s until the text of `css` contains `needle`; returns the whole text.
    pub fn wait_text(&self, css: &str, needle: &str) -> String {
        let deadline = Instant::now() + WAIT;
        let mut last = None;
        loop {
            if let Some(e) = self.find_now(css) {
                match self.send("GET", &self.url(&format!("/element/{}/text", e.id)), None) {
                    Ok(Value::String(t)) if t.contains(needle) => return t,
                    Ok(v) => last = Some(v.to_string()),
                    // Replaced between the lookup and the read: look it up again.
                    Err(e) if e.error == "stale element reference" => {}
                    Err(e) => panic!(
                        "WebDriver GET element/text on `{css}`: {}: {}",
                        e.error, e.message
                    ),
                }
            }
            if Instant::now() > deadline {
                match last {
                    Some(t) => panic!("the text of `{css}` never contained {needle:?}: {t}"),
                    None => panic!("no element matches `{css}` after {WAIT:?}"),
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The rendered text of `css` (what a user sees, as `innerText`).
    pub fn text(&self, css: &str) -> String {
        let t = self.on_element(css, "GET", "text", None);
        t.as_str().unwrap().to_string()
    }

    /// The current `value` of a form field (what the user typed, not the HTML attribute).
    pub fn value(&self, css: &str) -> String {
        let v = self.on_element(css, "GET", "property/value", None);
        v.as_str().unwrap_or_default().to_string()
    }

    /// An HTML attribute of `css`, `None` when the element does not have it.
    pub fn attr(&self, css: &str, name: &str) -> Option<String> {
        let v = self.on_element(css, "GET", &format!("attribute/{name}"), None);
        v.as_str().map(str::to_string)
    }

    pub fn click(&self, css: &str) {
        self.on_element(css, "POST", "click", Some(json!({})));
    }

    /// Types `text` into the field as key presses (appended to what is there; see `clear`).
    pub fn type_into(&self, css: &str, text: &str) {
        self.on_element(css, "POST", "value", Some(json!({"text": text})));
    }

    /// Sets the files of the `<input type=file>` `css` to `paths`, as a user picking them
    /// would (chromedriver fires `input` and `change`). On a `webkitdirectory` input, one
    /// directory's path picks that folder: its files arrive with `webkitRelativePath`s.
    pub fn choose_files(&self, css: &str, paths: &[&Path]) {
        let text: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        self.on_element(css, "POST", "value", Some(json!({"text": text.join("\n")})));
    }

    pub fn clear(&self, css: &str) {
        self.on_element(css, "POST", "clear", Some(json!({})));
    }

    /// Runs `js` as a function body in the page (`arguments[i]` are `args`) and returns what it
    /// returns. A returned promise is awaited (W3C "execute script"), so
    /// `return fetch(...).then(r => r.status)` works without an async variant.
    pub fn execute(&self, js: &str, args: &[Value]) -> Value {
        self.cmd("POST", "/execute/sync", json!({"script": js, "args": args}))
    }

    /// Accepts the open alert/confirm/prompt dialog (waiting up to 5 s for one); returns its text.
    pub fn accept_alert(&self) -> String {
        self.answer_alert("accept")
    }

    /// Dismisses (cancels) the open dialog (waiting up to 5 s for one); returns its text.
    pub fn dismiss_alert(&self) -> String {
        self.answer_alert("dismiss")
    }

    /// Lets pages read and write the clipboard without a prompt (a headless browser cannot
    /// show one). Writing alone needs no grant, reading does.
    pub fn grant_clipboard(&self) {
        self.cdp(
            "Browser.grantPermissions",
            json!({"permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]}),
        );
    }

    /// The clipboard's text, as the page reads it (needs `grant_clipboard` first). Headless
    /// Chromium has its own clipboard: nothing leaks to or from the machine's.
    pub fn read_clipboard(&self) -> String {
        let v = self.execute("return navigator.clipboard.readText()", &[]);
        v.as_str().unwrap().to_string()
    }

    /// Saves the viewport as `<CARGO_MANIFEST_DIR>/target/screenshots/<name>.png`; returns the path.
    pub fn screenshot(&self, name: &str) -> PathBuf {
        let png = base64_decode(self.get("/screenshot").as_str().unwrap());
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        path
    }

    fn answer_alert(&self, how: &str) -> String {
        let deadline = Instant::now() + WAIT;
        let text = loop {
            match self.send("GET", &self.url("/alert/text"), None) {
                Ok(t) => break t.as_str().unwrap_or_default().to_string(),
                Err(e) if e.error == "no such alert" && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(e) => panic!("WebDriver GET /alert/text: {}: {}", e.error, e.message),
            }
        };
        self.cmd("POST", &format!("/alert/{how}"), json!({}));
        text
    }

    fn find_now(&self, css: &str) -> Option<Element> {
        let found = self.cmd(
            "POST",
            "/elements",
            json!({"using": "css selector", "value": css}),
        );
        let first = found.as_array().unwrap().first()?;
        Some(Element {
            id: first[ELEMENT_KEY].as_str().unwrap().to_string(),
        })
    }

    /// `method /element/<id>/<what>` on the element `css` matches. When the page replaced the
    /// element, or has not made it clickable yet, looks it up and tries again until `WAIT`.
    fn on_element(&self, css: &str, method: &str, what: &str, body: Option<Value>) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            let e = self.find(css);
            let url = self.url(&format!("/element/{}/{what}", e.id));
            match self.send(method, &url, body.clone()) {
                Ok(v) => return v,
                Err(err)
                    if matches!(
                        err.error.as_str(),
                        "stale element reference"
                            | "element not interactable"
                            | "element click intercepted"
                    ) && Instant::now() < deadline =>
                {
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(err) => panic!(
                    "WebDriver {method} element/{what} on `{css}`: {}: {}",
                    err.error, err.message
                ),
            }
        }
    }

    /// A Chrome DevTools Protocol command, through chromedriver's own endpoint for it.
    fn cdp(&self, cmd: &str, params: Value) -> Value {
        self.cmd(
            "POST",
            "/goog/cdp/execute",
            json!({"cmd": cmd, "params": params}),
        )
    }

    fn get(&self, path: &str) -> Value {
        self.send("GET", &self.url(path), None)
            .unwrap_or_else(|e| panic!("WebDriver GET {path}: {}: {}", e.error, e.message))
    }

    /// A session command that must succeed.
    fn cmd(&self, method: &str, path: &str, body: Value) -> Value {
        self.send(method, &self.url(path), Some(body.clone()))
            .unwrap_or_else(|e| {
                let mut sent = body.to_string();
                sent.truncate(300);
                panic!(
                    "WebDriver {method} {path} {sent}: {}: {}",
                    e.error, e.message
                )
            })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.session)
    }

    /// One WebDriver request: the response's `value`, or the error it reports.
    fn send(&self, method: &str, url: &str, body: Option<Value>) -> Result<Value, WebDriverError> {
        let response = match (method, body) {
            ("POST", Some(b)) => self
                .agent
                .post(url)
                .content_type("application/json")
                .send(b.to_string()),
            ("GET", None) => self.agent.get(url).call(),
            ("DELETE", None) => self.agent.delete(url).call(),
            (m, b) => unreachable!("{m} with body {b:?}"),
        };
        let text = response
            .and_then(|mut r| {
                // Screenshots are base64 PNGs: allow more than ureq's 10 MB default.
                r.body_mut().with_config().limit(64 << 20).read_to_string()
            })
            .map_err(|e| WebDriverError {
                error: "no answer from chromedriver".to_string(),
                message: e.to_string(),
            })?;
        let mut answer: Value = serde_json::from_str(&text).map_err(|_| WebDriverError {
            error: "not JSON".to_string(),
            message: text.clone(),
        })?;
        let value = answer["value"].take();
        match value["error"].as_str() {
            Some(error) => Err(WebDriverError {
                error: error.to_string(),
                // Without the "(Session info: chrome=…)" line chromedriver appends to each.
                message: value["message"]
                    .as_str()
                    .unwrap_or_default()
                    .lines()
                    .filter(|l| !l.trim_start().starts_with("(Session info:"))
                    .collect::<Vec<_>>()
                    .join("\n"),
            }),
            None => Ok(value),
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Closing the session makes chromedriver quit Chromium cleanly (it stops writing to the
        // profile before the profile is removed).
        if !self.session.is_empty() {
            let _ = self.send("DELETE", &self.session.clone(), None);
        }
        // chromedriver leads its own process group and Chromium's processes inherit it: one
        // SIGKILL to the group stops whatever is left, even if the session never existed.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.driver.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.driver.wait();
        // `profile` (the temp dir) is removed after this, when the field is dropped.
    }
}

/// Starts chromedriver on a free port and waits for `GET /status` to say it is ready.
fn spawn_driver(agent: &ureq::Agent) -> (Child, String) {
    // Another process may take the port between our probe and chromedriver's bind: try again.
    for _ in 0..3 {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("start {CHROMEDRIVER}: {e}"));
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = driver.try_wait() {
                break;
            }
            let ready = agent
                .get(format!("{base}/status"))
                .call()
                .ok()
                .and_then(|mut r| r.body_mut().read_to_string().ok())
                .and_then(|t| serde_json::from_str::<Value>(&t).ok())
                .is_some_and(|v| v["value"]["ready"] == true);
            if ready {
                return (driver, base);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = driver.kill();
        let _ = driver.wait();
    }
    panic!("{CHROMEDRIVER} did not become ready on a free port (tried 3 times)");
}

/// Standard base64 (as WebDriver sends screenshots) to bytes; no crate for 15 lines.
fn base64_decode(s: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len() / 4 * 3);
    let (mut acc, mut bits) = (0u32, 0);
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => continue, // '=' padding
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}
