//! The dashboard in headless Chromium: log in, create a key and copy it, revoke it, add an env
//! var, and screenshot every page at desktop and phone widths (target/screenshots/).

use crate::admin::PASSWORD;
use crate::browser::Browser;
use crate::harness::Server;

/// Screenshots of the current page at both widths, then back to desktop.
fn shoot(b: &Browser, name: &str) {
    b.set_size(390, 844);
    b.screenshot(&format!("dashboard-{name}-phone"));
    b.set_size(1280, 800);
    b.screenshot(&format!("dashboard-{name}-desktop"));
}

#[test]
fn the_dashboard_in_a_real_browser() {
    let s = Server::builder().env("CC_ADMIN_PASSWORD", PASSWORD).start();
    s.write_file("blog", "index.html", "<h1>blog</h1>");
    s.write_file(
        "app",
        "main.js",
        "console.log('hit', req.path); res.send(String(process.env.GREETING));",
    );
    s.get("blog.localhost", "/");
    s.get("app.localhost", "/hello");
    let base = format!("http://localhost:{}", s.port);
    let b = Browser::start();
    b.grant_clipboard();
    b.set_size(1280, 800);

    b.goto(&format!("{base}/"));
    b.find("input[name=password]");
    assert!(b.current_url().ends_with("/login"), "{}", b.current_url());
    shoot(&b, "login");
    b.type_into("input[name=password]", "wrong password");
    b.click("button[type=submit]");
    b.wait_text(".error", "Wrong password");
    b.type_into("input[name=password]", PASSWORD);
    b.click("button[type=submit]");
    b.wait_text("h1", "Analytics");
    shoot(&b, "analytics");

    // Deploy keys: create one for a chosen site, copy the token, see it once.
    b.click("nav a[href='/keys']");
    b.wait_text("h1", "Deploy keys");
    b.type_into("#key-name", "Friend Bob");
    b.click("input[name=access][value=sites]");
    b.click("input[name=site][value=blog]");
    b.click("input[name=read_stats]");
    b.click("form[action='/keys'] button[type=submit]");
    b.wait_text("#new-token h2", "Friend Bob");
    let token = b.value("#token");
    assert!(token.starts_with("cc_") && token.len() == 67, "{token}");
    b.click("[data-copy]");
    b.wait_text("[data-copy]", "Copied");
    assert_eq!(
        b.read_clipboard(),
        token,
        "the Copy button put the token on the clipboard"
    );
    shoot(&b, "key-created");
    let row = b.text("#keys tbody tr");
    assert!(
        row.contains("Friend Bob") && row.contains("deploy:blog") && row.contains("read:stats"),
        "{row}"
    );
    b.goto(&format!("{base}/keys"));
    b.find("#keys");
    assert!(!b.exists("#token"), "the token is shown only once");
    assert!(!b.text("main").contains(&token));

    // Revoke it, through the confirmation.
    b.click("#keys form button");
    assert!(b.accept_alert().contains("Revoke 'Friend Bob'"));
    b.wait_text(".notice", "revoked");
    assert!(b.text("#keys tbody tr").contains("revoked"));
    let zip = crate::harness::zip_of(&[("index.html", b"x")]);
    assert_eq!(s.deploy_raw(Some(&token), "blog", &zip).status, 401);
    shoot(&b, "keys");

    // Hosting and a site: add an env var, see it masked, reveal it, and main.js reads it.
    b.click("nav a[href='/sites']");
    b.wait_text("#sites", "app");
    // On a wide screen the sites list is a real table (the phone layout stacks its rows).
    let display = b.execute(
        "return getComputedStyle(document.querySelector('#sites')).display",
        &[],
    );
    assert_eq!(display, "table", "the sites table is laid out as {display}");
    shoot(&b, "hosting");
    b.click("#sites a[href='/sites/app']");
    b.wait_text("h1", "app");
    b.type_into("#env-key", "GREETING");
    b.type_into("#env-value", "hi from the dashboard");
    b.click("#env form.row button[type=submit]");
    b.wait_text(".notice", "Saved");
    assert_eq!(b.text("#env .secret"), "••••••••");
    b.click("#env [data-reveal]");
    assert_eq!(b.text("#env .secret"), "hi from the dashboard");
    assert_eq!(s.get("app.localhost", "/").text(), "hi from the dashboard");
    b.goto(&format!("{base}/sites/app"));
    b.wait_text("#logs", "hit /");
    shoot(&b, "site");

    b.click("nav a[href='/tracking']");
    b.wait_text("h1", "Tracking");
    b.type_into("input[name=domain]", "blog.example.com");
    b.click("form[action='/tracking'] button[type=submit]");
    b.wait_text("#domains", "blog.example.com");
    shoot(&b, "tracking");

    // A short link, clicked in the browser, counts.
    b.click("nav a[href='/links']");
    b.wait_text("h1", "Links");
    b.type_into("input[name=slug]", "blog");
    b.type_into(
        "form[action='/links'] input[name=target]",
        &format!("http://blog.localhost:{}/", s.port),
    );
    b.click("form[action='/links'] button[type=submit]");
    b.wait_text("#links", "/r/blog");
    b.goto(&format!("{base}/r/blog"));
    b.wait_text("h1", "blog");
    b.goto(&format!("{base}/links"));
    b.wait_text("#link-blog", "1");
    shoot(&b, "links");

    // A signed webhook endpoint: its secret is shown once.
    b.click("nav a[href='/webhooks']");
    b.wait_text("h1", "Webhooks");
    b.type_into("input[name=endpoint]", "github");
    b.click("form[action='/webhooks'] button[type=submit]");
    b.wait_text("#new-secret h2", "github");
    assert_eq!(b.value("#secret").len(), 64);
    shoot(&b, "webhooks");

    b.click("nav a[href='/audit']");
    b.wait_text("#audit", "key.revoke");
    assert!(b.text("#audit").contains("login.failed"));
    shoot(&b, "audit");

    // Log out: the pages are closed again.
    b.click(".logout button");
    b.wait_text(".notice", "logged out");
    b.goto(&format!("{base}/keys"));
    b.find("input[name=password]");
}
