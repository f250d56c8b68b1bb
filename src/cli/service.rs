//! `cc-server service …`: the systemd unit that runs this binary as a dedicated user with
//! systemd's sandboxing (`unit` prints it; `install` writes it, makes the user and the data
//! dir, and starts it; `uninstall` stops and removes it; `status` asks systemctl). Runs
//! `useradd`, `install` and `systemctl`; touches nothing else outside the unit file.

use std::path::{Path, PathBuf};
use std::process::Command as Process;

use super::Failure;
use super::args::ServiceAction;

const UNIT_PATH: &str = "/etc/systemd/system/cc-server.service";

#[derive(Debug)]
pub(crate) struct ServiceOptions {
    pub(crate) user: String,
    pub(crate) data_dir: PathBuf,
    pub(crate) domain: String,
    /// `None`: 4698, or 80 with `--https`.
    pub(crate) port: Option<u16>,
    /// `acme` or `internal`; `None` is off.
    pub(crate) https: Option<String>,
    pub(crate) https_port: u16,
    pub(crate) email: Option<String>,
}

impl ServiceOptions {
    pub(crate) fn port(&self) -> u16 {
        self.port
            .unwrap_or(if self.https.is_some() { 80 } else { 4698 })
    }

    /// Whether a port below 1024 is listened on.
    fn low_port(&self) -> bool {
        self.port() < 1024 || (self.https.is_some() && self.https_port < 1024)
    }
}

impl Default for ServiceOptions {
    fn default() -> Self {
        ServiceOptions {
            user: "cc".into(),
            data_dir: PathBuf::from("/var/lib/cc"),
            domain: "localhost".into(),
            port: None,
            https: None,
            https_port: 443,
            email: None,
        }
    }
}

/// Folders a data dir may not be: the system's own (the service would own them, and
/// `ReadWritePaths=` would open them to it).
const SYSTEM_DIRS: &[&str] = &[
    "/",
    "/bin",
    "/boot",
    "/dev",
    "/etc",
    "/home",
    "/lib",
    "/lib64",
    "/media",
    "/mnt",
    "/opt",
    "/proc",
    "/root",
    "/run",
    "/sbin",
    "/srv",
    "/sys",
    "/tmp",
    "/usr",
    "/usr/local",
    "/var",
    "/var/lib",
    "/var/log",
    "/var/tmp",
];

/// Plain path characters: a unit file gives meaning to spaces, quotes, `%`, `\` and line
/// breaks.
fn plain_path(text: &str) -> bool {
    !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-".contains(c))
}

/// A data dir the unit may name: absolute, plain characters only, no `..`, and not a
/// system folder.
pub(super) fn check_data_dir(dir: &Path) -> Result<(), String> {
    let text = dir.to_str().unwrap_or_default();
    if !dir.is_absolute() || !plain_path(text) {
        return Err(format!(
            "--data-dir must be an absolute path of letters, digits, '/', '.', '_' and '-' \
             (got {dir:?})"
        ));
    }
    if dir
        .components()
        .any(|c| matches!(c, std::path::Component::ParentDir))
    {
        return Err("--data-dir may not contain '..'".into());
    }
    let trimmed = text.trim_end_matches('/');
    if trimmed.is_empty() || SYSTEM_DIRS.contains(&trimmed) {
        return Err(format!(
            "--data-dir {text} is a system folder: give one of the service's own, such as /var/lib/cc"
        ));
    }
    Ok(())
}

/// The unit file for `exe` with these options.
pub(super) fn unit(exe: &Path, o: &ServiceOptions) -> String {
    let data = o.data_dir.display();
    // A port below 1024 needs the one capability; otherwise the service has none at all, and
    // runs in its own user namespace (which would hide that capability from the network).
    let privileges = if o.low_port() {
        "CapabilityBoundingSet=CAP_NET_BIND_SERVICE\nAmbientCapabilities=CAP_NET_BIND_SERVICE\n"
    } else {
        "CapabilityBoundingSet=\nPrivateUsers=yes\n"
    };
    format!(
        "# Written by `cc-server service install`; `cc-server service uninstall` removes it.
[Unit]
Description=cc-server, a personal cloud in one binary
After=network-online.target
Wants=network-online.target

[Service]
Type=notify
NotifyAccess=main
# The server says WATCHDOG=1 while its database answers; silent for 30 s, it is restarted.
WatchdogSec=30
User={user}
Group={user}
ExecStart={exe} serve
WorkingDirectory={data}
Environment=CC_DATA_DIR={data}
Environment=CC_DOMAIN={domain}
Environment=CC_PORT={port}
{https}# Friends' main.js may not fetch() your router, printer or other LAN services.
Environment=CC_FETCH_DENY_PRIVATE=1
# Secrets (CC_ADMIN_PASSWORD) only in this root-only file; the leading '-' makes it optional.
EnvironmentFile=-/etc/cc-server.env
Restart=on-failure
RestartSec=2
# SIGTERM goes to the server only: it finishes the requests in flight, writes the queued
# analytics and exits; its script workers end with it.
KillMode=mixed
TimeoutStopSec=30
UMask=0077
# Sandboxing: a read-only system except the data dir, nothing of other users, no devices,
# no kernel knobs, only the system calls and socket families a network service uses.
NoNewPrivileges=yes
ProtectSystem=strict
ReadWritePaths={data}
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=yes
DevicePolicy=closed
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
ProtectProc=invisible
ProcSubset=pid
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
RemoveIPC=yes
LockPersonality=yes
MemoryDenyWriteExecute=yes
RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX
SystemCallArchitectures=native
SystemCallFilter=@system-service
SystemCallFilter=~@privileged
SystemCallErrorNumber=EPERM
{privileges}
[Install]
WantedBy=multi-user.target
",
        user = o.user,
        exe = exe.display(),
        domain = o.domain,
        port = o.port(),
        https = match &o.https {
            None => String::new(),
            Some(mode) => format!(
                "Environment=CC_HTTPS={mode}\nEnvironment=CC_HTTPS_PORT={}\n{}",
                o.https_port,
                o.email
                    .as_ref()
                    .map(|e| format!("Environment=CC_ACME_EMAIL={e}\n"))
                    .unwrap_or_default()
            ),
        },
    )
}

pub(super) fn run(action: ServiceAction, o: &ServiceOptions) -> Result<(), Failure> {
    let exe = std::env::current_exe()
        .map_err(|e| Failure::Run(format!("cannot tell where this binary is: {e}")))?;
    match action {
        ServiceAction::Unit => {
            print!("{}", unit(&exe, o));
            Ok(())
        }
        ServiceAction::Status => systemctl(&["status", "cc-server", "--no-pager"]).map(|_| ()),
        ServiceAction::Install => install(&exe, o),
        ServiceAction::Uninstall => uninstall(),
    }
}

fn install(exe: &Path, o: &ServiceOptions) -> Result<(), Failure> {
    need_root_and_systemd("install")?;
    // The unit's sandbox hides home folders and /tmp from the service: the binary must live
    // where the service can run it.
    if ["/home/", "/root/", "/tmp/", "/var/tmp/"]
        .iter()
        .any(|p| exe.starts_with(p))
    {
        return Err(Failure::Usage(format!(
            "{} is where the service cannot reach it; install it first: \
             sudo install -m 755 {} /usr/local/bin/cc-server, then run \
             sudo /usr/local/bin/cc-server service install",
            exe.display(),
            exe.display()
        )));
    }
    let user = o.user.as_str();
    if !succeeds(Process::new("id").args(["-u", user])) {
        step(&format!("making the system user '{user}'"));
        let made = Process::new("useradd")
            .args(["--system", "--user-group", "--home-dir"])
            .arg(&o.data_dir)
            .args(["--no-create-home", "--shell", "/usr/sbin/nologin", user])
            .status();
        if !made.is_ok_and(|s| s.success()) {
            return Err(Failure::Run(format!(
                "useradd could not make the user '{user}'"
            )));
        }
    }
    check_data_dir(&o.data_dir).map_err(Failure::Usage)?;
    if !plain_path(exe.to_str().unwrap_or_default()) {
        return Err(Failure::Usage(format!(
            "{} has characters a unit file would misread: install the binary as \
             /usr/local/bin/cc-server",
            exe.display()
        )));
    }
    if let Ok(meta) = std::fs::metadata(&o.data_dir) {
        use std::os::unix::fs::MetadataExt;
        let owner = Process::new("id")
            .args(["-u", user])
            .output()
            .ok()
            .and_then(|out| {
                String::from_utf8_lossy(&out.stdout)
                    .trim()
                    .parse::<u32>()
                    .ok()
            });
        let empty = std::fs::read_dir(&o.data_dir).is_ok_and(|mut d| d.next().is_none());
        if !empty && owner != Some(meta.uid()) {
            return Err(Failure::Usage(format!(
                "{} exists, is not empty and is not {user}'s: give the service a data dir of \
                 its own",
                o.data_dir.display()
            )));
        }
    }
    step(&format!(
        "making the data dir {} (owned by {user}, mode 700)",
        o.data_dir.display()
    ));
    let dir_made = Process::new("install")
        .args(["-d", "-o", user, "-g", user, "-m", "700"])
        .arg(&o.data_dir)
        .status();
    if !dir_made.is_ok_and(|s| s.success()) {
        return Err(Failure::Run(format!(
            "could not make {} for {user}",
            o.data_dir.display()
        )));
    }
    step(&format!("writing {UNIT_PATH}"));
    std::fs::write(UNIT_PATH, unit(exe, o))
        .map_err(|e| Failure::Run(format!("cannot write {UNIT_PATH}: {e}")))?;
    step("systemctl daemon-reload, enable --now cc-server");
    systemctl(&["daemon-reload"])?;
    systemctl(&["enable", "--now", "cc-server"])?;
    println!(
        "cc-server runs as a service on port {}{}. Check it with: cc-server service status\n\
         Its log: journalctl -u cc-server -f (the setup link for the admin password is there)\n\
         Commands on its data: sudo -u {user} cc-server keys create --name laptop --data-dir {}",
        o.port(),
        match &o.https {
            Some(_) => format!(" (HTTPS on {})", o.https_port),
            None => String::new(),
        },
        o.data_dir.display()
    );
    Ok(())
}

fn uninstall() -> Result<(), Failure> {
    need_root_and_systemd("uninstall")?;
    if !Path::new(UNIT_PATH).exists() {
        return Err(Failure::Run(format!(
            "{UNIT_PATH} does not exist: nothing to uninstall"
        )));
    }
    step("systemctl disable --now cc-server");
    systemctl(&["disable", "--now", "cc-server"])?;
    step(&format!("removing {UNIT_PATH}"));
    std::fs::remove_file(UNIT_PATH)
        .map_err(|e| Failure::Run(format!("cannot remove {UNIT_PATH}: {e}")))?;
    systemctl(&["daemon-reload"])?;
    println!(
        "The service is gone; its data dir and user stay (remove them by hand if you want: \
         sudo rm -r <data-dir>; sudo userdel <user>)."
    );
    Ok(())
}

fn need_root_and_systemd(what: &str) -> Result<(), Failure> {
    if !rustix::process::geteuid().is_root() {
        return Err(Failure::Usage(format!(
            "'service {what}' changes the system: run it with sudo"
        )));
    }
    if !Path::new("/run/systemd/system").is_dir() {
        return Err(Failure::Run(
            "systemd is not running on this machine; 'cc-server service unit' prints the unit \
             to use with another service manager"
                .into(),
        ));
    }
    Ok(())
}

fn systemctl(args: &[&str]) -> Result<std::process::ExitStatus, Failure> {
    let status = Process::new("systemctl")
        .args(args)
        .status()
        .map_err(|e| Failure::Run(format!("cannot run systemctl: {e}")))?;
    if status.success() || args.first() == Some(&"status") {
        Ok(status)
    } else {
        Err(Failure::Run(format!(
            "systemctl {} failed ({status})",
            args.join(" ")
        )))
    }
}

fn succeeds(command: &mut Process) -> bool {
    command
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn step(what: &str) {
    eprintln!("cc-server: {what}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_dirs_that_a_unit_would_misread_or_that_belong_to_the_system_are_refused() {
        for bad in [
            "/var/lib/cc\nExecStartPre=+/bin/sh",
            "/var/lib/c c",
            "/var/lib/%h",
            "/var/lib/\"cc\"",
            "relative/cc",
            "/var/lib/../etc",
            "/",
            "/var/lib",
            "/etc/",
        ] {
            assert!(
                check_data_dir(Path::new(bad)).is_err(),
                "{bad:?} was accepted"
            );
        }
        for good in ["/var/lib/cc", "/srv/cc-data", "/data/cc.d_1"] {
            assert!(
                check_data_dir(Path::new(good)).is_ok(),
                "{good:?} was refused"
            );
        }
    }

    #[test]
    fn the_unit_names_the_user_data_dir_and_port_and_adds_a_capability_only_below_1024() {
        let o = ServiceOptions::default();
        let text = unit(Path::new("/usr/local/bin/cc-server"), &o);
        for line in [
            "ExecStart=/usr/local/bin/cc-server serve",
            "User=cc",
            "ReadWritePaths=/var/lib/cc",
            "Environment=CC_PORT=4698",
            "Type=notify",
            "CapabilityBoundingSet=\n",
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
        assert!(!text.contains("AmbientCapabilities"));
        let low = unit(
            Path::new("/usr/local/bin/cc-server"),
            &ServiceOptions {
                port: Some(80),
                ..ServiceOptions::default()
            },
        );
        assert!(low.contains("AmbientCapabilities=CAP_NET_BIND_SERVICE"));
        assert!(!low.contains("PrivateUsers"));
    }

    #[test]
    fn with_https_the_unit_listens_on_80_and_443_and_may_bind_them() {
        let text = unit(
            Path::new("/usr/local/bin/cc-server"),
            &ServiceOptions {
                https: Some("acme".into()),
                email: Some("me@example.com".into()),
                ..ServiceOptions::default()
            },
        );
        for line in [
            "Environment=CC_PORT=80\n",
            "Environment=CC_HTTPS=acme\n",
            "Environment=CC_HTTPS_PORT=443\n",
            "Environment=CC_ACME_EMAIL=me@example.com\n",
            "AmbientCapabilities=CAP_NET_BIND_SERVICE\n",
        ] {
            assert!(text.contains(line), "{line}");
        }
        let high = unit(
            Path::new("/usr/local/bin/cc-server"),
            &ServiceOptions {
                https: Some("internal".into()),
                port: Some(8080),
                https_port: 8443,
                ..ServiceOptions::default()
            },
        );
        assert!(high.contains("CC_HTTPS=internal") && !high.contains("AmbientCapabilities"));
    }
}
