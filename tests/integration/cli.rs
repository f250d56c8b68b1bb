//! The command line: help, version, usage errors, the listening line.

use crate::harness::{Server, run_cli};

#[test]
fn help_and_version_exit_zero() {
    let (code, out, _) = run_cli(&["--help"]);
    assert_eq!(code, 0);
    assert!(out.contains("cc-server [serve]"), "{out}");
    let (code, out, _) = run_cli(&["serve", "--help"]);
    assert_eq!(code, 0);
    for flag in [
        "--port",
        "--bind",
        "--domain",
        "--data-dir",
        "CC_PORT",
        "CC_DATA_DIR",
    ] {
        assert!(out.contains(flag), "serve --help lacks {flag}");
    }
    let (code, out, _) = run_cli(&["--version"]);
    assert_eq!(code, 0);
    assert_eq!(
        out.trim(),
        format!("cc-server {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn usage_errors_are_one_line_and_exit_2() {
    for args in [
        &["--bogus"][..],
        &["serve", "--port"],
        &["serve", "--port", "99999"],
        &["serve", "--bind", "nowhere"],
        &["serve", "--domain", "bad domain"],
        &["serve", "--workers", "0"],
        &["launch-rockets"],
    ] {
        let (code, out, err) = run_cli(args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(out.is_empty(), "{args:?} printed to stdout: {out}");
        assert_eq!(
            err.trim_end().lines().count(),
            1,
            "{args:?}: not one line: {err}"
        );
        assert!(err.starts_with("cc-server: "), "{err}");
    }
}

#[test]
fn env_values_are_checked_too() {
    let out = std::process::Command::new(crate::harness::BIN)
        .env("CC_PORT", "not-a-port")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("CC_PORT"));
}

#[test]
fn port_zero_announces_the_real_port_and_it_answers() {
    let server = Server::start();
    assert_ne!(server.port, 0);
    assert_eq!(server.get("localhost", "/login").status, 200);
}

#[test]
fn a_port_in_use_is_a_clear_error() {
    let first = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let (code, _, err) = run_cli(&[
        "serve",
        "--bind",
        "127.0.0.1",
        "--port",
        &first.port.to_string(),
        "--data-dir",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("in use"), "{err}");
}

#[test]
fn keys_are_created_listed_and_revoked_on_the_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("data");
    let d = d.to_str().unwrap();
    let (code, out, err) = run_cli(&[
        "keys",
        "create",
        "--name",
        "Friend Bob",
        "--scope",
        "deploy:blog",
        "--scope",
        "read:stats",
        "--data-dir",
        d,
    ]);
    assert_eq!(code, 0, "{err}");
    let token = out.lines().last().unwrap();
    assert!(token.starts_with("cc_") && token.len() == 67, "{out}");

    let (code, out, _) = run_cli(&["keys", "list", "--data-dir", d]);
    assert_eq!(code, 0);
    assert!(
        out.contains("Friend Bob")
            && out.contains("deploy:blog,read:stats")
            && out.contains("active"),
        "{out}"
    );
    assert!(!out.contains(&token[3..]), "list must never show the token");

    assert_eq!(run_cli(&["keys", "revoke", "1", "--data-dir", d]).0, 0);
    let (_, out, _) = run_cli(&["keys", "list", "--data-dir", d]);
    assert!(out.contains("revoked"), "{out}");
    let (code, _, err) = run_cli(&["keys", "revoke", "1", "--data-dir", d]);
    assert_eq!(code, 1);
    assert!(err.contains("no active key with id 1"), "{err}");

    let (code, _, err) = run_cli(&[
        "keys",
        "create",
        "--name",
        "x",
        "--scope",
        "deploy:../etc",
        "--data-dir",
        d,
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("not a scope"), "{err}");
    let (code, _, _) = run_cli(&["keys", "create", "--data-dir", d]);
    assert_eq!(code, 2);
}
