//! `cc-server backup`: a copy of cc.db taken while the real server is under write load is a
//! sound database with what was written before it started, and the restore the README
//! describes brings it back; an existing file is never replaced without --force; a wrong data
//! dir is a clear error.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::harness::{COUNTER, Server, run_cli, run_cli_in};

/// Stores a 400 KB value per request, so the database spans many backup steps.
const PADDING: &str = r#"db.set("pad" + req.query.i, "x".repeat(400000));
res.send("ok");
"#;

fn visits(s: &Server) -> u64 {
    crate::harness::visits(s, "counter")
}

fn integrity(conn: &rusqlite::Connection) -> String {
    conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap()
}

fn stored_visits(conn: &rusqlite::Connection) -> u64 {
    let v: String = conn
        .query_row(
            "SELECT value FROM kv_store WHERE site_id = 'counter' AND key = 'visits'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    v.parse().unwrap()
}

fn counter_events(conn: &rusqlite::Connection) -> i64 {
    conn.query_row(
        "SELECT count(*) FROM events WHERE domain = 'counter'",
        [],
        |r| r.get(0),
    )
    .unwrap()
}

#[test]
fn a_backup_under_write_load_is_sound_and_restores() {
    let mut s = Server::start();
    s.write_file("counter", "main.js", COUNTER);
    s.write_file("pad", "main.js", PADDING);
    for i in 0..20 {
        let r = s.get("pad.localhost", &format!("/?i={i}"));
        assert_eq!(r.status, 200, "{}", r.text());
    }
    for expected in 1..=30 {
        assert_eq!(visits(&s), expected);
    }
    // Analytics are written in batches a few times a second: wait for these 30 visits.
    let deadline = Instant::now() + Duration::from_secs(10);
    while counter_events(&s.db()) < 30 {
        assert!(
            Instant::now() < deadline,
            "the 30 visits never reached events"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    let out = tempfile::tempdir().unwrap();
    let file = out.path().join("cc-backup.db");
    let data_dir = s.data_dir.to_str().unwrap().to_string();
    let stop = AtomicBool::new(false);
    let (served, failed) = (AtomicU64::new(0), AtomicU64::new(0));
    let (code, stdout, stderr) = std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                while !stop.load(Ordering::Relaxed) {
                    let r = s.get("counter.localhost", "/");
                    let tally = if r.status == 200 { &served } else { &failed };
                    tally.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        // Let the load get going, take the backup in the middle of it, then let it go on.
        while served.load(Ordering::Relaxed) < 20 {
            std::thread::sleep(Duration::from_millis(5));
        }
        let result = run_cli(&["backup", file.to_str().unwrap(), "--data-dir", &data_dir]);
        std::thread::sleep(Duration::from_millis(100));
        stop.store(true, Ordering::Relaxed);
        result
    });
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        failed.load(Ordering::Relaxed),
        0,
        "requests failed during the backup"
    );
    let kb = std::fs::metadata(&file).unwrap().len().div_ceil(1024);
    assert_eq!(
        stdout.trim(),
        format!("backed up cc.db ({kb} KB) to {}", file.display())
    );
    assert!(kb > 7_500, "the padding is missing: {kb} KB");
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert_eq!(
        std::fs::read_dir(out.path()).unwrap().count(),
        1,
        "leftovers"
    );

    let total = 30 + served.load(Ordering::Relaxed);
    assert_eq!(visits(&s), total + 1, "the server lost a write");
    let copy = rusqlite::Connection::open(&file).unwrap();
    assert_eq!(integrity(&copy), "ok");
    let in_copy = stored_visits(&copy);
    assert!(
        (30..=total).contains(&in_copy),
        "the copy has visits = {in_copy}, expected 30..={total}"
    );
    assert!(counter_events(&copy) >= 30);
    let pads: i64 = copy
        .query_row(
            "SELECT count(*) FROM kv_store WHERE site_id = 'pad'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(pads, 20);
    drop(copy);

    // The restore from the README: stop, copy over cc.db, drop -wal/-shm, start.
    assert!(s.stop().success());
    std::fs::copy(&file, s.data_dir.join("cc.db")).unwrap();
    for leftover in ["cc.db-wal", "cc.db-shm"] {
        let _ = std::fs::remove_file(s.data_dir.join(leftover));
    }
    let restored = Server::builder().data_dir(&s.data_dir).start();
    assert_eq!(visits(&restored), in_copy + 1);
    assert_eq!(integrity(&restored.db()), "ok");
}

#[test]
fn an_existing_file_is_replaced_only_with_force() {
    let s = Server::start();
    s.write_file("counter", "main.js", COUNTER);
    assert_eq!(visits(&s), 1);
    let out = tempfile::tempdir().unwrap();
    let file = out.path().join("b.db");
    std::fs::write(&file, "an older backup").unwrap();
    // CC_DATA_DIR is honoured like --data-dir, and a relative <file> is beside the cwd.
    let env = [("CC_DATA_DIR", s.data_dir.to_str().unwrap())];

    let (code, out_text, err) = run_cli_in(out.path(), &["backup", "b.db"], &env);
    assert_eq!(code, 1, "{out_text}");
    assert!(
        err.contains("already exists") && err.contains("--force"),
        "{err}"
    );
    assert_eq!(std::fs::read(&file).unwrap(), b"an older backup");

    let (code, out_text, err) = run_cli_in(out.path(), &["backup", "b.db", "--force"], &env);
    assert_eq!(code, 0, "{err}");
    assert!(out_text.starts_with("backed up cc.db ("), "{out_text}");
    assert!(out_text.trim_end().ends_with(" to b.db"), "{out_text}");
    let copy = rusqlite::Connection::open(&file).unwrap();
    assert_eq!(integrity(&copy), "ok");
    assert_eq!(stored_visits(&copy), 1);
    assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 1);

    // A folder, or a file in a folder that does not exist: named, even with --force.
    let (code, _, err) = run_cli_in(out.path(), &["backup", ".", "--force"], &env);
    assert_eq!(code, 1);
    assert!(err.contains("is a folder"), "{err}");
    let (code, _, err) = run_cli_in(out.path(), &["backup", "no/such/b.db"], &env);
    assert_eq!(code, 1);
    assert!(err.contains("the folder no/such does not exist"), "{err}");
}

#[test]
fn a_missing_data_dir_or_database_is_a_clear_error() {
    let temp = tempfile::tempdir().unwrap();
    let file = temp.path().join("b.db");
    let file = file.to_str().unwrap();
    let nowhere = temp.path().join("nowhere");
    let (code, _, err) = run_cli(&["backup", file, "--data-dir", nowhere.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(
        err.starts_with("cc-server: error: ") && err.contains("does not exist"),
        "{err}"
    );
    assert!(!nowhere.exists(), "backup must not create the data dir");

    let empty = temp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let (code, _, err) = run_cli(&["backup", file, "--data-dir", empty.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(err.contains("no database at"), "{err}");
    assert!(
        !empty.join("cc.db").exists(),
        "backup must not create cc.db"
    );
    assert!(!Path::new(file).exists());
}

#[test]
fn backup_help_and_usage_errors() {
    let (code, out, _) = run_cli(&["backup", "--help"]);
    assert_eq!(code, 0);
    for needle in [
        "cc-server backup <FILE>",
        "--force",
        "CC_DATA_DIR",
        "TO RESTORE",
    ] {
        assert!(out.contains(needle), "backup --help lacks {needle}:\n{out}");
    }
    let (_, out, _) = run_cli(&["--help"]);
    assert!(out.contains("backup <file>"), "{out}");
    for args in [
        &["backup"][..],
        &["backup", "a.db", "b.db"],
        &["backup", "--frob"],
    ] {
        let (code, out, err) = run_cli(args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(out.is_empty());
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    }
}

#[test]
fn the_server_keeps_the_newest_daily_backups() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let backups = data.join("backups");
    std::fs::create_dir_all(&backups).unwrap();
    for day in ["2020-01-01", "2020-01-02", "2020-01-03"] {
        std::fs::write(backups.join(format!("cc-{day}.db")), "old").unwrap();
    }
    std::fs::write(backups.join("my-own-copy.db"), "mine").unwrap();
    let s = Server::builder()
        .data_dir(&data)
        .arg("--backups")
        .arg("2")
        .start();
    s.write_file("counter", "main.js", COUNTER);
    assert_eq!(visits(&s), 1);
    let today = format!("cc-{}.db", today_utc());
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut names: Vec<String> = Vec::new();
    while Instant::now() < deadline {
        names = std::fs::read_dir(&backups)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| !n.ends_with(".tmp") && !n.contains(".backup-"))
            .collect();
        names.sort();
        if names.contains(&today) && names.len() == 3 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        names,
        [
            "cc-2020-01-03.db".to_string(),
            today.clone(),
            "my-own-copy.db".into()
        ],
        "the newest 2 daily copies, and nothing of the user's deleted"
    );
    let copy = rusqlite::Connection::open(backups.join(&today)).unwrap();
    assert_eq!(integrity(&copy), "ok");
    let mode = std::fs::metadata(backups.join(&today))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert!(s.log_contains("backups: wrote"));
}

/// Today's UTC date as the server names backups.
fn today_utc() -> String {
    let out = std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d"])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}
