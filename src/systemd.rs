//! Talking to systemd when it runs the server as a `Type=notify` service (`cc-server service
//! install` writes such a unit): `READY=1` once it listens, `WATCHDOG=1` while its database
//! answers (systemd restarts a server that stops saying so), `STOPPING=1` when a graceful stop
//! begins. Without `$NOTIFY_SOCKET` every call does nothing. The protocol is one datagram per
//! message on a Unix socket — too small for a crate.

use std::os::unix::net::UnixDatagram;
use std::time::Duration;

/// Sends one state line (`READY=1`, …) to systemd, if it asked for them.
pub fn notify(state: &str) {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let Ok(socket) = UnixDatagram::unbound() else {
        return;
    };
    let path = path.to_string_lossy().into_owned();
    let _ = match path.strip_prefix('@') {
        // An abstract socket name (no file).
        Some(name) => {
            use std::os::linux::net::SocketAddrExt;
            std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())
                .and_then(|addr| socket.send_to_addr(state.as_bytes(), &addr))
        }
        None => socket.send_to(state.as_bytes(), &path),
    };
}

/// How often systemd wants to hear `WATCHDOG=1` (`WatchdogSec=`), if it does and the setting
/// is meant for this process.
pub fn watchdog_interval() -> Option<Duration> {
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
    if let Ok(pid) = std::env::var("WATCHDOG_PID")
        && pid.parse::<u32>().ok()? != std::process::id()
    {
        return None;
    }
    (usec > 0).then(|| Duration::from_micros(usec))
}

/// Says `WATCHDOG=1` at half the interval systemd asked for, each time `healthy()` holds, on a
/// thread of its own for the life of the process.
pub fn keep_watchdog_fed(healthy: impl Fn() -> bool + Send + 'static) {
    let Some(interval) = watchdog_interval() else {
        return;
    };
    let _ = std::thread::Builder::new()
        .name("sd-watchdog".into())
        .spawn(move || {
            loop {
                if healthy() {
                    notify("WATCHDOG=1");
                }
                std::thread::sleep(interval / 2);
            }
        });
}
