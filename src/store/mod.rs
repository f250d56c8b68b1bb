//! The SQLite store: opening `cc.db` (WAL, busy timeout, 0600), the embedded migrations, and —
//! in the submodules — every SQL statement cc-server runs. No other module writes SQL.

pub mod analytics;
pub mod audit;
pub mod auth;
pub mod backup;
pub mod hosting;
pub mod keys;
pub mod kv;
pub mod links;
pub mod settings;
pub mod sites;
pub mod stats;
pub mod tls;
pub mod tracking;
pub mod webhooks;

use std::fmt;
use std::fs::OpenOptions;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::time::Duration;

use rusqlite::Connection;

/// The migrations, in order. `PRAGMA user_version` counts how many have been applied.
const MIGRATIONS: &[(&str, &str)] = &[
    ("001_core", include_str!("migrations/001_core.sql")),
    ("002_paas", include_str!("migrations/002_paas.sql")),
    ("003_rollups", include_str!("migrations/003_rollups.sql")),
    (
        "004_dashboard",
        include_str!("migrations/004_dashboard.sql"),
    ),
    ("005_parity", include_str!("migrations/005_parity.sql")),
    ("006_hosting", include_str!("migrations/006_hosting.sql")),
    ("007_tls", include_str!("migrations/007_tls.sql")),
];

/// How long a writer waits for another connection's lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// SQLite's own busy timeout sleeps in steps of up to 100 ms, which showed as 200 ms tails on
/// script requests whenever two writers met. Write locks here are held for well under a
/// millisecond, so poll finely instead: 50 µs at first, then 250 µs, then 1 ms.
fn wait_for_lock(attempt: i32) -> bool {
    let pause = match attempt {
        0..20 => Duration::from_micros(50),
        20..200 => Duration::from_micros(250),
        _ => Duration::from_millis(1),
    };
    let waited_enough = Duration::from_micros(50) * 20
        + Duration::from_micros(250) * 180
        + Duration::from_millis(1) * (attempt.max(200) - 200) as u32;
    if waited_enough > BUSY_TIMEOUT {
        return false;
    }
    std::thread::sleep(pause);
    true
}

#[derive(Debug)]
pub enum StoreError {
    Sqlite(rusqlite::Error),
    Io(std::io::Error),
    /// The database was written by a newer cc-server (more migrations than this binary has).
    TooNew {
        found: u32,
        known: u32,
    },
    Migration {
        name: &'static str,
        source: rusqlite::Error,
    },
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Sqlite(e) => write!(f, "database: {e}"),
            StoreError::Io(e) => write!(f, "database file: {e}"),
            StoreError::TooNew { found, known } => write!(
                f,
                "cc.db has schema version {found} but this cc-server knows only {known}: \
                 upgrade cc-server, or restore a backup made by this version"
            ),
            StoreError::Migration { name, source } => {
                write!(
                    f,
                    "migration {name} failed (nothing of it was applied): {source}"
                )
            }
        }
    }
}

impl std::error::Error for StoreError {}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Sqlite(e)
    }
}

impl From<std::io::Error> for StoreError {
    fn from(e: std::io::Error) -> Self {
        StoreError::Io(e)
    }
}

/// True when the database answers a query (for `/health`).
pub fn answers(conn: &Connection) -> bool {
    conn.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))
        .is_ok()
}

/// Opens (creating it 0600 if needed) the database file and brings its schema up to date.
/// Every thread that needs the store opens its own connection with this.
pub fn open(path: &Path) -> Result<Connection, StoreError> {
    // Create the file ourselves so it is never world-readable, even for an instant; SQLite
    // gives the -wal and -shm files the same mode. Only when it is missing: closing any file
    // descriptor of cc.db drops every POSIX lock this process holds on it, including the
    // shared locks of its open connections — another process (`cc-server backup`, `keys`,
    // the sqlite3 shell) closing its connection would then take itself for the last one and
    // delete the -wal and -shm files under the running server, corrupting the database.
    if !path.exists() {
        OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(path)?;
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;

    let mut conn = Connection::open(path)?;
    configure(&mut conn)?;
    migrate(&conn)?;
    Ok(conn)
}

/// Connection settings: WAL so readers never block the writer, a busy timeout instead of
/// instant SQLITE_BUSY errors, NORMAL sync (durable at checkpoints, safe with WAL).
fn configure(conn: &mut Connection) -> Result<(), StoreError> {
    conn.busy_handler(Some(wait_for_lock))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    // Checkpoints (which fsync the database file) would otherwise run inside whichever commit
    // crosses the threshold — often a visitor's script request. The analytics writer runs
    // them in the background instead (`checkpoint`).
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(())
}

/// Frames in the WAL (4 KiB pages) past which a checkpoint also waits for readers to move off
/// it and truncates it. Under constant load a passive checkpoint never meets the moment when
/// no reader holds the log, so the log never starts again: it grew to 1 GB in 100 s of the
/// counter bench (and its index, mapped by every process, grew their RSS with it).
const WAL_RESTART_FRAMES: i64 = 4096;

/// Moves what the WAL holds into the database file without blocking readers or writers; when
/// the WAL has grown past `WAL_RESTART_FRAMES`, also empties it (new writes wait a moment for
/// the readers of the old log to finish).
pub fn checkpoint(conn: &Connection) -> rusqlite::Result<()> {
    let log_frames: i64 = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get(1))?;
    if log_frames > WAL_RESTART_FRAMES {
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    }
    Ok(())
}

/// Applies every migration not yet applied, each in its own transaction with its version bump.
pub fn migrate(conn: &Connection) -> Result<(), StoreError> {
    migrate_to(conn, MIGRATIONS.len())
}

fn migrate_to(conn: &Connection, target: usize) -> Result<(), StoreError> {
    let known = MIGRATIONS.len() as u32;
    let current: u32 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if current > known {
        return Err(StoreError::TooNew {
            found: current,
            known,
        });
    }
    for (index, (name, sql)) in MIGRATIONS
        .iter()
        .enumerate()
        .take(target)
        .skip(current as usize)
    {
        let version = index + 1;
        let apply = || -> rusqlite::Result<()> {
            // IMMEDIATE: two processes starting at once cannot both apply the same migration.
            conn.execute_batch("BEGIN IMMEDIATE")?;
            let again: u32 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
            if again as usize >= version {
                return conn.execute_batch("COMMIT");
            }
            let result = conn
                .execute_batch(sql)
                .and_then(|()| conn.pragma_update(None, "user_version", version as u32))
                .and_then(|()| conn.execute_batch("COMMIT"));
            if result.is_err() {
                let _ = conn.execute_batch("ROLLBACK");
            }
            result
        };
        apply().map_err(|source| StoreError::Migration { name, source })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checkpoint_empties_a_wal_that_has_grown_large() {
        let dir = tempfile::tempdir().unwrap();
        let conn = open(&dir.path().join("cc.db")).unwrap();
        let wal = dir.path().join("cc.db-wal");
        let blob = vec![7u8; 1 << 20];
        for i in 0..20 {
            conn.execute(
                "INSERT INTO settings (key, value) VALUES (?1, ?2)",
                rusqlite::params![format!("k{i}"), blob],
            )
            .unwrap();
        }
        assert!(std::fs::metadata(&wal).unwrap().len() > 16 << 20);
        checkpoint(&conn).unwrap();
        assert_eq!(
            std::fs::metadata(&wal).unwrap().len(),
            0,
            "the WAL was left at its size"
        );
        // A small WAL is only checkpointed, not emptied (no wait for readers).
        conn.execute(
            "INSERT INTO settings (key, value) VALUES ('small', 'x')",
            [],
        )
        .unwrap();
        checkpoint(&conn).unwrap();
        assert!(std::fs::metadata(&wal).unwrap().len() > 0);
    }

    /// `(type, name, table, normalised sql)` of every schema object, sorted.
    fn schema_of(conn: &Connection) -> Vec<(String, String, String, String)> {
        let mut stmt = conn
            .prepare(
                "SELECT type, name, tbl_name, coalesce(sql, '') FROM sqlite_master
                 WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name",
            )
            .unwrap();
        stmt.query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                normalise_sql(&r.get::<_, String>(3)?),
            ))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect()
    }

    /// Drops `--` comments and collapses whitespace, so layout differences do not matter.
    fn normalise_sql(sql: &str) -> String {
        sql.lines()
            .map(|l| l.split("--").next().unwrap_or(""))
            .collect::<Vec<_>>()
            .join(" ")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .replace("( ", "(")
            .replace(" )", ")")
            .replace(" ,", ",")
    }

    #[test]
    fn migrations_yield_exactly_schema_sql() {
        let migrated = Connection::open_in_memory().unwrap();
        migrate(&migrated).unwrap();
        let documented = Connection::open_in_memory().unwrap();
        documented
            .execute_batch(include_str!("../../schema.sql"))
            .unwrap();
        let (a, b) = (schema_of(&migrated), schema_of(&documented));
        assert!(a.len() >= 8, "expected the full schema, got {a:?}");
        assert_eq!(a, b, "schema.sql differs from what the migrations build");
    }

    #[test]
    fn an_old_database_is_upgraded_and_a_second_start_changes_nothing() {
        let conn = Connection::open_in_memory().unwrap();
        migrate_to(&conn, 1).unwrap();
        conn.execute(
            "INSERT INTO events (created_at, source_type, domain, path) VALUES ('2026-01-01 00:00:00', 'hosting', 'blog', '/')",
            [],
        )
        .unwrap();
        let version = |c: &Connection| -> u32 {
            c.pragma_query_value(None, "user_version", |r| r.get(0))
                .unwrap()
        };
        assert_eq!(version(&conn), 1);
        assert!(!schema_of(&conn).iter().any(|o| o.1 == "api_keys"));

        migrate(&conn).unwrap();
        assert_eq!(version(&conn), MIGRATIONS.len() as u32);
        let after_first = schema_of(&conn);
        assert!(after_first.iter().any(|o| o.1 == "api_keys"));

        migrate(&conn).unwrap();
        assert_eq!(schema_of(&conn), after_first);
        let events: i64 = conn
            .query_row("SELECT count(*) FROM events", [], |r| r.get(0))
            .unwrap();
        assert_eq!(events, 1, "an upgrade keeps existing rows");
    }

    #[test]
    fn a_newer_database_is_refused() {
        let conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
        assert!(matches!(
            migrate(&conn),
            Err(StoreError::TooNew { found: 99, .. })
        ));
    }

    #[test]
    fn a_failing_migration_leaves_nothing_behind() {
        let conn = Connection::open_in_memory().unwrap();
        migrate_to(&conn, 1).unwrap();
        // Sabotage 002: a table it creates already exists, so its batch fails midway.
        conn.execute_batch("CREATE TABLE env_vars (x)").unwrap();
        assert!(matches!(
            migrate(&conn),
            Err(StoreError::Migration {
                name: "002_paas",
                ..
            })
        ));
        let version: u32 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, 1);
        assert!(!schema_of(&conn).iter().any(|o| o.1 == "api_keys"));
    }

    #[test]
    fn open_sets_wal_and_private_permissions() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cc.db");
        let conn = open(&path).unwrap();
        let mode: String = conn
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        let perms = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(perms, 0o600);
    }
}
