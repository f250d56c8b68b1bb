//! Server settings, checked once: each comes from its flag, else its `CC_*` environment
//! variable, else the default. Nothing here opens files or sockets.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::deploy::DeployLimits;
use crate::js::pool::PoolConfig;
use crate::ws::WsLimits;

pub const DEFAULT_PORT: u16 = 4698;
pub const DEFAULT_BIND: &str = "0.0.0.0";
pub const DEFAULT_DOMAIN: &str = "localhost";

/// Everything `cc-server serve` needs, validated.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub bind: IpAddr,
    pub port: u16,
    /// Lower case, no port, no trailing dot: sites live at `<site>.<domain>`.
    pub domain: String,
    pub data_dir: PathBuf,
    /// Threads that read, handle and answer requests; connections wait in one epoll set.
    pub workers: usize,
    pub limits: Limits,
    pub deploy: DeployLimits,
    pub scripts: PoolConfig,
    pub websockets: WsLimits,
    /// A reverse proxy whose `X-Forwarded-Proto`/`X-Forwarded-For` headers are believed.
    pub trusted_proxy: Option<IpAddr>,
    /// Raw analytics events older than this many days are deleted (daily roll-ups stay);
    /// 0 keeps them forever.
    pub retention_days: u32,
    /// Daily copies of cc.db kept in `<data-dir>/backups/`; 0 turns them off.
    pub backups: u32,
    /// HTTPS served by cc-server itself (`--https`), on `https_port`.
    pub https: Option<crate::tls::Mode>,
    pub https_port: u16,
}

pub const DEFAULT_RETENTION_DAYS: u32 = 180;
pub const DEFAULT_BACKUPS: u32 = 5;

/// Limits that keep one client from holding the server (README "Limits" lists them).
#[derive(Debug, Clone)]
pub struct Limits {
    /// The longest a single read or write may stall; also the keep-alive idle timeout.
    pub io_timeout: Duration,
    /// The whole request head must arrive within this time.
    pub head_timeout: Duration,
    /// Longest request line or header line.
    pub max_header_line: usize,
    /// Most header lines per request.
    pub max_headers: usize,
    /// Connections open at once; at the cap the longest-idle one makes room.
    pub max_connections: usize,
    /// Connections one client address (IPv6: one /64) may hold.
    pub max_per_address: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            io_timeout: Duration::from_secs(15),
            head_timeout: Duration::from_secs(20),
            max_header_line: 8 * 1024,
            max_headers: 100,
            max_connections: 16_384,
            max_per_address: 256,
        }
    }
}

/// Raw values as given on the command line; `None` means "not given".
#[derive(Debug, Default, Clone)]
pub struct ServeFlags {
    pub port: Option<String>,
    pub bind: Option<String>,
    pub domain: Option<String>,
    pub data_dir: Option<String>,
    pub workers: Option<String>,
    pub max_connections: Option<String>,
    pub max_per_address: Option<String>,
    pub io_timeout: Option<String>,
    pub head_timeout: Option<String>,
    pub max_upload_mb: Option<String>,
    pub max_unpacked_mb: Option<String>,
    pub max_site_mb: Option<String>,
    pub max_files: Option<String>,
    pub js_workers: Option<String>,
    pub script_timeout_ms: Option<String>,
    pub script_memory_mb: Option<String>,
    pub max_keys: Option<String>,
    pub fetch_deny_private: bool,
    pub max_ws_per_site: Option<String>,
    pub max_ws_per_address: Option<String>,
    pub max_ws: Option<String>,
    pub trusted_proxy: Option<String>,
    pub retention_days: Option<String>,
    pub backups: Option<String>,
    pub https: Option<String>,
    pub https_port: Option<String>,
    pub email: Option<String>,
    pub acme_directory: Option<String>,
    pub acme_ca_root: Option<String>,
}

/// A setting that could not be accepted; the message names the flag or variable and the fix.
#[derive(Debug, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl ServeConfig {
    /// Resolves flags over the environment (`env` looks a variable up) over defaults.
    pub fn resolve(
        flags: &ServeFlags,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<ServeConfig, ConfigError> {
        let pick = |flag: &Option<String>, var: &str| -> Option<(String, String)> {
            match flag {
                Some(v) => Some((v.clone(), format!("--{}", flag_name(var)))),
                None => env(var)
                    .filter(|v| !v.is_empty())
                    .map(|v| (v, var.to_string())),
            }
        };

        let port_of = |v: String, src: String| {
            v.parse::<u16>().map_err(|_| {
                ConfigError(format!(
                    "{src}: '{v}' is not a port (0-65535; 0 picks a free one)"
                ))
            })
        };
        let https = resolve_https(flags, &pick)?;
        // With HTTPS, plain HTTP (redirects, ACME challenges) takes port 80 and HTTPS 443.
        let port = match pick(&flags.port, "CC_PORT") {
            Some((v, src)) => port_of(v, src)?,
            None if https.is_some() => 80,
            None => DEFAULT_PORT,
        };
        let https_port = match pick(&flags.https_port, "CC_HTTPS_PORT") {
            Some((v, src)) => port_of(v, src)?,
            None => 443,
        };
        let bind = match pick(&flags.bind, "CC_BIND") {
            Some((v, src)) => v.parse::<IpAddr>().map_err(|_| {
                ConfigError(format!(
                    "{src}: '{v}' is not an IP address (e.g. 0.0.0.0, 127.0.0.1, ::)"
                ))
            })?,
            None => DEFAULT_BIND.parse().expect("default bind address"),
        };
        let domain = match pick(&flags.domain, "CC_DOMAIN") {
            Some((v, src)) => crate::names::parse_config_domain(&v).ok_or_else(|| {
                ConfigError(format!(
                    "{src}: '{v}' is not a domain name (e.g. localhost, cc.lan, example.com)"
                ))
            })?,
            None => DEFAULT_DOMAIN.to_string(),
        };
        let data_dir = resolve_data_dir(flags.data_dir.clone(), &env)?;
        let workers = match pick(&flags.workers, "CC_WORKERS") {
            Some((v, src)) => parse_count(&v, &src, 1, 1024)?,
            None => default_workers(),
        };
        let mut limits = Limits::default();
        if let Some((v, src)) = pick(&flags.max_connections, "CC_MAX_CONNECTIONS") {
            limits.max_connections = parse_count(&v, &src, 1, 1_000_000)?;
        }
        if let Some((v, src)) = pick(&flags.max_per_address, "CC_MAX_PER_ADDRESS") {
            limits.max_per_address = parse_count(&v, &src, 1, 1_000_000)?;
        }
        if let Some((v, src)) = pick(&flags.io_timeout, "CC_IO_TIMEOUT") {
            limits.io_timeout = Duration::from_secs(parse_count(&v, &src, 1, 3600)? as u64);
        }
        if let Some((v, src)) = pick(&flags.head_timeout, "CC_HEAD_TIMEOUT") {
            limits.head_timeout = Duration::from_secs(parse_count(&v, &src, 1, 3600)? as u64);
        }
        let mut deploy = DeployLimits::default();
        const MIB: u64 = 1024 * 1024;
        if let Some((v, src)) = pick(&flags.max_upload_mb, "CC_MAX_UPLOAD_MB") {
            deploy.max_upload = parse_count(&v, &src, 1, 1_000_000)? as u64 * MIB;
        }
        if let Some((v, src)) = pick(&flags.max_unpacked_mb, "CC_MAX_UNPACKED_MB") {
            deploy.max_unpacked = parse_count(&v, &src, 1, 10_000_000)? as u64 * MIB;
        }
        if let Some((v, src)) = pick(&flags.max_site_mb, "CC_MAX_SITE_MB") {
            deploy.max_site = parse_count(&v, &src, 1, 100_000_000)? as u64 * MIB;
        }
        if let Some((v, src)) = pick(&flags.max_files, "CC_MAX_FILES") {
            deploy.max_files = parse_count(&v, &src, 1, 10_000_000)? as u64;
        }
        let mut scripts = PoolConfig::new(data_dir.clone());
        if let Some((v, src)) = pick(&flags.js_workers, "CC_JS_WORKERS") {
            scripts.workers = parse_count(&v, &src, 1, 256)?;
        }
        if let Some((v, src)) = pick(&flags.script_timeout_ms, "CC_SCRIPT_TIMEOUT_MS") {
            scripts.timeout = Duration::from_millis(parse_count(&v, &src, 1, 600_000)? as u64);
        }
        if let Some((v, src)) = pick(&flags.script_memory_mb, "CC_SCRIPT_MEMORY_MB") {
            scripts.memory_mb = parse_count(&v, &src, 64, 1_000_000)? as u64;
        }
        if let Some((v, src)) = pick(&flags.max_keys, "CC_MAX_KEYS") {
            scripts.max_keys = parse_count(&v, &src, 1, 100_000_000)? as u64;
        }
        scripts.fetch_deny_private = flags.fetch_deny_private
            || env("CC_FETCH_DENY_PRIVATE")
                .is_some_and(|v| v == "1" || v.eq_ignore_ascii_case("true"));
        let mut websockets = WsLimits::default();
        if let Some((v, src)) = pick(&flags.max_ws_per_site, "CC_MAX_WS_PER_SITE") {
            websockets.per_site = parse_count(&v, &src, 1, 1_000_000)?;
        }
        if let Some((v, src)) = pick(&flags.max_ws_per_address, "CC_MAX_WS_PER_ADDRESS") {
            websockets.per_address = parse_count(&v, &src, 1, 1_000_000)?;
        }
        if let Some((v, src)) = pick(&flags.max_ws, "CC_MAX_WS") {
            websockets.total = parse_count(&v, &src, 1, 1_000_000)?;
        }
        let trusted_proxy = match pick(&flags.trusted_proxy, "CC_TRUSTED_PROXY") {
            None => None,
            Some((v, src)) => Some(v.trim().parse::<IpAddr>().map_err(|_| {
                ConfigError(format!(
                    "{src}: '{v}' is not an IP address: give the address your reverse proxy connects from, e.g. 127.0.0.1"
                ))
            })?),
        };
        let retention_days = match pick(&flags.retention_days, "CC_RETENTION_DAYS") {
            None => DEFAULT_RETENTION_DAYS,
            Some((v, src)) => parse_count(&v, &src, 0, 100_000)? as u32,
        };
        let backups = match pick(&flags.backups, "CC_BACKUPS") {
            None => DEFAULT_BACKUPS,
            Some((v, src)) => parse_count(&v, &src, 0, 3650)? as u32,
        };
        Ok(ServeConfig {
            https,
            https_port,
            trusted_proxy,
            retention_days,
            backups,
            bind,
            port,
            domain,
            data_dir,
            workers,
            limits,
            deploy,
            scripts,
            websockets,
        })
    }

    pub fn sites_dir(&self) -> PathBuf {
        self.data_dir.join("sites")
    }

    pub fn db_path(&self) -> PathBuf {
        self.data_dir.join("cc.db")
    }
}

/// `--data-dir` > `CC_DATA_DIR` > `~/.config/cc` (also for `keys`, which work on it directly).
/// `--https acme|internal|off` and the ACME settings that go with `acme`.
fn resolve_https(
    flags: &ServeFlags,
    pick: &impl Fn(&Option<String>, &str) -> Option<(String, String)>,
) -> Result<Option<crate::tls::Mode>, ConfigError> {
    use crate::tls::{AcmeSettings, LETS_ENCRYPT, LETS_ENCRYPT_STAGING, Mode};
    let acme_only = [
        (&flags.email, "CC_ACME_EMAIL"),
        (&flags.acme_directory, "CC_ACME_DIRECTORY"),
        (&flags.acme_ca_root, "CC_ACME_CA_ROOT"),
    ];
    let mode = pick(&flags.https, "CC_HTTPS");
    let is_acme = mode.as_ref().is_some_and(|(v, _)| v == "acme");
    if !is_acme && let Some((_, src)) = acme_only.iter().find_map(|(f, var)| pick(f, var)) {
        return Err(ConfigError(format!("{src} is for --https acme")));
    }
    match mode {
        None => Ok(None),
        Some((v, _)) if v == "off" => Ok(None),
        Some((v, _)) if v == "internal" => Ok(Some(Mode::Internal)),
        Some((v, _)) if v == "acme" => {
            let directory = match pick(&flags.acme_directory, "CC_ACME_DIRECTORY") {
                None => LETS_ENCRYPT.to_string(),
                Some((v, _)) if v == "staging" => LETS_ENCRYPT_STAGING.to_string(),
                Some((v, _)) if v.starts_with("https://") => v,
                Some((v, src)) => {
                    return Err(ConfigError(format!(
                        "{src}: '{v}' is not an https:// URL of an ACME directory (or 'staging')"
                    )));
                }
            };
            let email = match pick(&flags.email, "CC_ACME_EMAIL") {
                Some((v, src)) if !v.contains('@') || v.contains(char::is_whitespace) => {
                    return Err(ConfigError(format!(
                        "{src}: '{v}' is not an e-mail address"
                    )));
                }
                other => other.map(|(v, _)| v),
            };
            let ca_root = match pick(&flags.acme_ca_root, "CC_ACME_CA_ROOT") {
                None => None,
                Some((v, src)) => Some(
                    std::fs::read(&v)
                        .map_err(|e| ConfigError(format!("{src}: cannot read '{v}': {e}")))?,
                ),
            };
            Ok(Some(Mode::Acme(AcmeSettings {
                directory,
                email,
                ca_root,
            })))
        }
        Some((v, src)) => Err(ConfigError(format!(
            "{src}: '{v}' is not an HTTPS mode: acme (certificates from Let's Encrypt), internal (a private CA) or off"
        ))),
    }
}

pub fn resolve_data_dir(
    flag: Option<String>,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<PathBuf, ConfigError> {
    match flag.or_else(|| env("CC_DATA_DIR").filter(|v| !v.is_empty())) {
        Some(v) => Ok(PathBuf::from(v)),
        None => default_data_dir(env).ok_or_else(|| {
            ConfigError("HOME is not set: give --data-dir or CC_DATA_DIR".to_string())
        }),
    }
}

fn flag_name(var: &str) -> String {
    if var == "CC_ACME_EMAIL" {
        // `--email`: the variable names what the address is for.
        return "email".into();
    }
    var.trim_start_matches("CC_")
        .to_ascii_lowercase()
        .replace('_', "-")
}

fn parse_count(v: &str, src: &str, min: usize, max: usize) -> Result<usize, ConfigError> {
    v.parse::<usize>()
        .ok()
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(|| ConfigError(format!("{src}: '{v}' must be a number from {min} to {max}")))
}

/// Two workers per core, at least 4: workers mostly wait on disk and SQLite, not the CPU.
fn default_workers() -> usize {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    (cores * 2).max(4)
}

fn default_data_dir(env: &impl Fn(&str) -> Option<String>) -> Option<PathBuf> {
    env("HOME")
        .filter(|h| !h.is_empty())
        .map(|h| PathBuf::from(h).join(".config").join("cc"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn defaults_then_env_then_flags() {
        let c =
            ServeConfig::resolve(&ServeFlags::default(), env_of(&[("HOME", "/home/pi")])).unwrap();
        assert_eq!(c.port, 4698);
        assert_eq!(c.bind.to_string(), "0.0.0.0");
        assert_eq!(c.domain, "localhost");
        assert_eq!(c.data_dir, PathBuf::from("/home/pi/.config/cc"));

        let env = env_of(&[
            ("HOME", "/h"),
            ("CC_PORT", "8080"),
            ("CC_DOMAIN", "CC.Lan."),
        ]);
        let c = ServeConfig::resolve(&ServeFlags::default(), &env).unwrap();
        assert_eq!((c.port, c.domain.as_str()), (8080, "cc.lan"));

        let flags = ServeFlags {
            port: Some("0".into()),
            ..Default::default()
        };
        assert_eq!(ServeConfig::resolve(&flags, &env).unwrap().port, 0);
    }

    #[test]
    fn bad_values_name_their_source() {
        let env = env_of(&[("HOME", "/h"), ("CC_PORT", "http")]);
        let err = ServeConfig::resolve(&ServeFlags::default(), env).unwrap_err();
        assert!(err.0.starts_with("CC_PORT: 'http'"), "{}", err.0);

        let flags = ServeFlags {
            bind: Some("everywhere".into()),
            ..Default::default()
        };
        let err = ServeConfig::resolve(&flags, env_of(&[("HOME", "/h")])).unwrap_err();
        assert!(err.0.starts_with("--bind: 'everywhere'"), "{}", err.0);

        let err = ServeConfig::resolve(&ServeFlags::default(), env_of(&[])).unwrap_err();
        assert!(err.0.contains("--data-dir"), "{}", err.0);
    }

    #[test]
    fn https_modes_move_the_default_ports_and_check_their_settings() {
        use crate::tls::{LETS_ENCRYPT, LETS_ENCRYPT_STAGING, Mode};
        let home = env_of(&[("HOME", "/h")]);
        let off = ServeConfig::resolve(&ServeFlags::default(), &home).unwrap();
        assert_eq!((off.https.is_none(), off.port), (true, DEFAULT_PORT));

        let acme = ServeFlags {
            https: Some("acme".into()),
            email: Some("me@example.com".into()),
            ..Default::default()
        };
        let c = ServeConfig::resolve(&acme, &home).unwrap();
        assert_eq!((c.port, c.https_port), (80, 443));
        match c.https {
            Some(Mode::Acme(a)) => {
                assert_eq!(a.directory, LETS_ENCRYPT);
                assert_eq!(a.email.as_deref(), Some("me@example.com"));
            }
            other => panic!("{other:?}"),
        }
        let env = env_of(&[
            ("HOME", "/h"),
            ("CC_HTTPS", "acme"),
            ("CC_ACME_DIRECTORY", "staging"),
        ]);
        match ServeConfig::resolve(&ServeFlags::default(), env)
            .unwrap()
            .https
        {
            Some(Mode::Acme(a)) => assert_eq!(a.directory, LETS_ENCRYPT_STAGING),
            other => panic!("{other:?}"),
        }

        let internal = ServeFlags {
            https: Some("internal".into()),
            port: Some("8080".into()),
            https_port: Some("0".into()),
            ..Default::default()
        };
        let c = ServeConfig::resolve(&internal, &home).unwrap();
        assert_eq!(
            (c.https, c.port, c.https_port),
            (Some(Mode::Internal), 8080, 0)
        );

        for (flags, says) in [
            (
                ServeFlags {
                    https: Some("on".into()),
                    ..Default::default()
                },
                "--https: 'on' is not an HTTPS mode",
            ),
            (
                ServeFlags {
                    https: Some("internal".into()),
                    email: Some("a@b".into()),
                    ..Default::default()
                },
                "--email is for --https acme",
            ),
            (
                ServeFlags {
                    email: Some("a@b".into()),
                    ..Default::default()
                },
                "--email is for --https acme",
            ),
            (
                ServeFlags {
                    https: Some("acme".into()),
                    email: Some("nobody".into()),
                    ..Default::default()
                },
                "--email: 'nobody' is not an e-mail address",
            ),
            (
                ServeFlags {
                    https: Some("acme".into()),
                    acme_directory: Some("http://ca/dir".into()),
                    ..Default::default()
                },
                "--acme-directory: 'http://ca/dir' is not an https:// URL",
            ),
            (
                ServeFlags {
                    https: Some("acme".into()),
                    acme_ca_root: Some("/no/such.pem".into()),
                    ..Default::default()
                },
                "--acme-ca-root: cannot read '/no/such.pem'",
            ),
        ] {
            let err = ServeConfig::resolve(&flags, &home).unwrap_err();
            assert!(err.0.starts_with(says), "{}", err.0);
        }
    }
}
