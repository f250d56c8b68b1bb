//! The data dir and cc.db through the real binary: layout, permissions, restarts.

use std::os::unix::fs::PermissionsExt;

use crate::harness::Server;

fn mode(p: &std::path::Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn an_existing_open_data_dir_is_made_private() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    let s = Server::builder().data_dir(&data).start();
    assert_eq!(mode(&s.data_dir), 0o700);
}

#[test]
fn a_fresh_data_dir_is_private_and_has_every_table() {
    let s = Server::start();
    assert_eq!(mode(&s.data_dir), 0o700);
    assert_eq!(mode(&s.data_dir.join("cc.db")), 0o600);
    assert!(s.sites_dir().is_dir());
    let db = s.db();
    let journal: String = db
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(journal, "wal");
    let mut stmt = db
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
        .unwrap();
    let tables: Vec<String> = stmt
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    for t in [
        "events",
        "event_rollups",
        "admin",
        "sessions",
        "settings",
        "api_keys",
        "kv_store",
        "deployments",
        "env_vars",
    ] {
        assert!(
            tables.iter().any(|x| x == t),
            "missing table {t} in {tables:?}"
        );
    }
}

#[test]
fn restarting_keeps_data_and_changes_no_schema() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let schema = |s: &Server| -> (Vec<String>, i64) {
        let db = s.db();
        let mut stmt = db
            .prepare("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name")
            .unwrap();
        let sql = stmt
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let version = db
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        (sql, version)
    };

    let mut first = Server::builder().data_dir(&data).start();
    first.write_file("blog", "index.html", "x");
    first.get("blog.localhost", "/");
    assert!(first.stop().success());
    let before = schema(&first);
    drop(first);

    let mut second = Server::builder().data_dir(&data).start();
    assert_eq!(schema(&second), before);
    assert_eq!(second.get("blog.localhost", "/").text(), "x");
    assert!(second.stop().success());
    let events: i64 = second.count("SELECT count(*) FROM events");
    assert_eq!(events, 2);
}

#[test]
fn an_old_database_is_upgraded_on_start() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    {
        // A cc.db from before 002_paas: only the core migration applied.
        let db = rusqlite::Connection::open(data.join("cc.db")).unwrap();
        let core = include_str!("../../src/store/migrations/001_core.sql");
        db.execute_batch(core).unwrap();
        db.execute_batch("PRAGMA user_version = 1; INSERT INTO settings VALUES ('kept', 'yes');")
            .unwrap();
    }
    let s = Server::builder().data_dir(&data).start();
    let db = s.db();
    let version: i64 = db
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    let migrations =
        std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/src/store/migrations"))
            .unwrap()
            .count();
    assert_eq!(version, migrations as i64, "every migration applied");
    let kept: String = db
        .query_row("SELECT value FROM settings WHERE key = 'kept'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(kept, "yes");
    db.query_row("SELECT count(*) FROM api_keys", [], |r| r.get::<_, i64>(0))
        .unwrap();
    db.query_row("SELECT count(*) FROM event_rollups", [], |r| {
        r.get::<_, i64>(0)
    })
    .unwrap();
}

#[test]
fn a_database_from_a_newer_version_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    rusqlite::Connection::open(data.join("cc.db"))
        .unwrap()
        .execute_batch("PRAGMA user_version = 999")
        .unwrap();
    let (code, _, err) =
        crate::harness::run_cli(&["serve", "--port", "0", "--data-dir", data.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(err.contains("upgrade cc-server"), "{err}");
}

/// Regression: every connection the server opened used to open and close a plain file
/// descriptor on cc.db first, which dropped all of the server's POSIX locks on it. The next
/// process to close a connection then took itself for the last user and deleted the running
/// server's -wal and -shm files: writes went to unlinked files and pages then read a
/// "malformed" database. Debian's `sqlite3` shell (which the README suggests for a look at
/// `events`) and Python's sqlite3 module did this; they share the system's libsqlite3.
#[test]
fn another_process_closing_cc_db_leaves_the_running_servers_wal_alone() {
    let s = crate::admin::server();
    let admin = crate::admin::login(&s);
    assert_eq!(
        admin.post("/tracking", &[("domain", "a.example")]).status,
        303
    );
    let wal = s.data_dir.join("cc.db-wal");
    let shm = s.data_dir.join("cc.db-shm");
    assert!(wal.exists() && shm.exists());
    let db = s.data_dir.join("cc.db");
    for _ in 0..3 {
        let out = std::process::Command::new("python3")
            .arg("-c")
            .arg(
                "import sqlite3, sys\n\
                 c = sqlite3.connect(sys.argv[1])\n\
                 print(c.execute('SELECT count(*) FROM tracked_domains').fetchone()[0])\n\
                 c.close()",
            )
            .arg(&db)
            .output()
            .expect("python3 (with its sqlite3 module) runs this test");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "1",
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            wal.exists() && shm.exists(),
            "another process's connection deleted the server's WAL files"
        );
        assert_eq!(admin.get("/tracking").status, 200);
    }
    assert_eq!(
        admin.post("/tracking", &[("domain", "b.example")]).status,
        303
    );
    assert!(admin.get("/tracking").text().contains("b.example"));
    let check: String = s
        .db()
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
}

#[test]
fn health_says_whether_the_database_answers() {
    let s = Server::start();
    let r = s.get("localhost", "/health");
    assert_eq!(r.status, 200, "{}", r.text());
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["ok"], true);
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
    assert!(v["uptime_s"].as_u64().is_some(), "{v}");
    // A site's /health is the site's own page, not the server's.
    s.write_file("blog", "health", "the blog's page");
    assert_eq!(s.get("blog.localhost", "/health").text(), "the blog's page");

    // The database file replaced by something SQLite cannot open: 503, and back when it is.
    let db = s.data_dir.join("cc.db");
    let aside = s.data_dir.join("cc.db.aside");
    std::fs::rename(&db, &aside).unwrap();
    std::fs::create_dir(&db).unwrap();
    let r = s.get("localhost", "/health");
    assert_eq!(r.status, 503, "{}", r.text());
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&r.body).unwrap()["ok"],
        false
    );
    std::fs::remove_dir(&db).unwrap();
    std::fs::rename(&aside, &db).unwrap();
    assert_eq!(s.get("localhost", "/health").status, 200);
}
