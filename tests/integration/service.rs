//! Running as a systemd service: the unit `cc-server service unit` prints passes
//! `systemd-analyze verify` and a sandboxing check, and the server speaks sd_notify (READY,
//! WATCHDOG, STOPPING) to the socket systemd would give it.

use std::os::unix::net::UnixDatagram;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::harness::{Server, run_cli};

fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn the_printed_unit_verifies_and_is_sandboxed() {
    let (code, unit, err) = run_cli(&["service", "unit", "--user", "cc", "--domain", "cc.lan"]);
    assert_eq!(code, 0, "{err}");
    for line in [
        "Type=notify",
        "WatchdogSec=30",
        "ProtectSystem=strict",
        "ReadWritePaths=/var/lib/cc",
    ] {
        assert!(unit.contains(line), "{line} missing:\n{unit}");
    }
    if !have("systemd-analyze") {
        eprintln!("skipped: systemd-analyze is not installed here");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cc-server.service");
    std::fs::write(&path, &unit).unwrap();
    let verify = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "systemd-analyze verify: {}",
        String::from_utf8_lossy(&verify.stderr)
    );
    let security = Command::new("systemd-analyze")
        .args(["security", "--offline=true"])
        .arg(&path)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&security.stdout);
    let score: f64 = report
        .lines()
        .find_map(|l| l.split("cc-server.service: ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level in:\n{report}"));
    eprintln!("systemd-analyze security: exposure {score}");
    assert!(
        score <= 2.0,
        "exposure {score} (1.4 when written)\n{report}"
    );
}

#[test]
fn service_install_explains_what_it_needs() {
    let (code, _, err) = run_cli(&["service", "unit", "--user", "Root!"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("is not a user name"), "{err}");
    let (code, _, err) = run_cli(&["service", "unit", "--data-dir", "relative/dir"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("absolute"), "{err}");
    // Nothing that a unit file would read as more than a path, and no system folder.
    for dir in [
        "/var/lib/cc\nExecStartPre=+/bin/sh -c id",
        "/var/lib/c c",
        "/var/lib/%h",
        "/var/lib",
        "/",
    ] {
        let (code, out, err) = run_cli(&["service", "unit", "--data-dir", dir]);
        assert_eq!(code, 2, "{dir:?}: {err}");
        assert!(out.is_empty(), "{dir:?} printed a unit:\n{out}");
    }
    let (code, _, err) = run_cli(&["service", "unit", "--user", "root"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("sandbox"), "{err}");
    if std::path::Path::new("/run/systemd/system").is_dir() {
        eprintln!(
            "skipped the install check: this machine runs systemd, and a test installs nothing"
        );
        return;
    }
    let (code, _, err) = run_cli(&["service", "install"]);
    assert_ne!(code, 0);
    assert!(
        err.contains("systemd is not running") || err.contains("run it with sudo"),
        "{err}"
    );
}

#[test]
fn the_server_tells_systemd_it_is_ready_alive_and_stopping() {
    let dir = tempfile::tempdir().unwrap();
    let socket_path = dir.path().join("notify");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut s = Server::builder()
        .env("NOTIFY_SOCKET", socket_path.to_str().unwrap())
        .env("WATCHDOG_USEC", "400000")
        .start();
    let mut heard = Vec::new();
    let mut buf = [0u8; 256];
    let until = Instant::now() + Duration::from_secs(10);
    while Instant::now() < until && heard.iter().filter(|m| *m == "WATCHDOG=1").count() < 2 {
        let n = socket.recv(&mut buf).expect("the server said nothing");
        heard.push(String::from_utf8_lossy(&buf[..n]).to_string());
    }
    assert_eq!(
        heard.first().map(String::as_str),
        Some("READY=1"),
        "{heard:?}"
    );
    assert!(
        heard.iter().filter(|m| *m == "WATCHDOG=1").count() >= 2,
        "{heard:?}"
    );
    assert!(s.stop().success());
    let mut last = String::new();
    while let Ok(n) = socket.recv(&mut buf) {
        last = String::from_utf8_lossy(&buf[..n]).to_string();
        if last == "STOPPING=1" {
            break;
        }
    }
    assert_eq!(last, "STOPPING=1");
}
