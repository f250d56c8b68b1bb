//! A real browser against the real server: the static-site example renders and links work at
//! desktop and phone widths, and every helper of the WebDriver client does what it says.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use serde_json::json;

use crate::browser::Browser;
use crate::harness::{Server, copy_dir};

#[test]
fn the_static_site_example_in_a_real_browser() {
    let s = Server::builder().start();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/static-site");
    copy_dir(&example, &s.sites_dir().join("static"));
    let b = Browser::start();
    // Chromium resolves *.localhost to loopback by itself: no /etc/hosts entry, no DNS.
    let home = format!("http://static.localhost:{}/", s.port);

    b.set_size(1280, 800);
    b.goto(&home);
    assert_eq!(b.execute("return document.title", &[]), "My cc-server site");
    b.wait_text("h1", "Hello from cc-server");
    // The stylesheet arrived and applies (an unstyled page would still have the text).
    assert_eq!(
        b.execute(
            "return getComputedStyle(document.body).backgroundColor",
            &[]
        ),
        "rgb(246, 247, 249)"
    );
    b.screenshot("static-site-home-desktop");

    b.click("a[href='/about/']");
    b.wait_text("h1", "About");
    assert_eq!(b.current_url(), format!("{home}about/"));

    b.goto(&format!("{home}nowhere"));
    b.wait_text("h1", "404 — nothing here");
    b.screenshot("static-site-404-desktop");

    b.set_size(390, 844);
    b.goto(&home);
    b.wait_text("h1", "Hello from cc-server");
    // On a phone the page fits the width: nothing to scroll sideways.
    assert_eq!(
        b.execute(
            "return [innerWidth, document.documentElement.scrollWidth]",
            &[]
        ),
        json!([390, 390])
    );
    b.screenshot("static-site-home-phone");

    // The clipboard round trip that copy buttons will rely on.
    b.grant_clipboard();
    b.execute(
        "return navigator.clipboard.writeText(arguments[0])",
        &[json!("hello")],
    );
    assert_eq!(b.read_clipboard(), "hello");
}

#[test]
fn the_webdriver_helpers_work() {
    let s = Server::start();
    s.write_file(
        "form",
        "index.html",
        r#"<!doctype html><title>Form</title>
<input id="name" value="old" data-kind="text">
<button id="del" onclick="out.textContent = confirm('Delete it?') ? 'deleted' : 'kept'">Delete</button>
<button id="show" onclick="setTimeout(() => out.insertAdjacentHTML('afterend', '<b id=late>arrived</b>'), 300)">Show</button>
<p id="out"></p>"#,
    );
    let b = Browser::start();
    b.goto(&format!("http://form.localhost:{}/", s.port));

    assert_eq!(b.value("#name"), "old");
    b.clear("#name");
    b.type_into("#name", "Ada");
    assert_eq!(b.value("#name"), "Ada");
    assert_eq!(b.attr("#name", "data-kind").as_deref(), Some("text"));
    assert_eq!(b.attr("#name", "title"), None);

    b.click("#del");
    assert_eq!(b.accept_alert(), "Delete it?");
    assert_eq!(b.wait_text("#out", "deleted"), "deleted");
    b.click("#del");
    b.dismiss_alert();
    assert_eq!(b.text("#out"), "kept");

    // find waits for an element the page adds later.
    assert!(!b.exists("#late"));
    b.click("#show");
    b.find("#late");
    assert_eq!(b.text("#late"), "arrived");

    // A WebDriver error names the command and says what went wrong.
    let err = catch_unwind(AssertUnwindSafe(|| {
        b.execute("throw new Error('boom')", &[]);
    }))
    .unwrap_err();
    let msg = err.downcast_ref::<String>().unwrap();
    assert!(
        msg.contains("/execute/sync") && msg.contains("boom"),
        "{msg}"
    );
}
