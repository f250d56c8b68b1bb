//! Publishing from the dashboard in headless Chromium: deploy a folder through the Hosting
//! page's folder picker (a real `webkitdirectory` input, given a folder on disk), a zip through
//! its zip picker and by dropping one, a dropped folder, see a deploy's refusal on the page,
//! then protect the site and give it a custom domain from its page. Screenshots go to
//! target/screenshots/.

use std::path::Path;

use serde_json::{Value, json};

use crate::admin::PASSWORD;
use crate::browser::Browser;
use crate::harness::{Server, zip_of};

fn write(root: &Path, rel: &str, text: &str) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn shoot(b: &Browser, name: &str) {
    b.set_size(390, 844);
    b.screenshot(&format!("dashboard-{name}-phone"));
    b.set_size(1280, 800);
    b.screenshot(&format!("dashboard-{name}-desktop"));
}

/// `[hidden, value, max]` of the deploy card's progress bar.
fn progress(b: &Browser) -> Value {
    b.execute(
        "const p = document.getElementById('deploy-progress'); return [p.hidden, p.value, p.max];",
        &[],
    )
}

#[test]
fn a_folder_and_a_zip_are_deployed_from_the_hosting_page() {
    let s = Server::builder().env("CC_ADMIN_PASSWORD", PASSWORD).start();
    let base = format!("http://localhost:{}", s.port);
    let b = Browser::start();
    b.set_size(1280, 800);
    b.goto(&format!("{base}/login"));
    b.type_into("input[name=password]", PASSWORD);
    b.click("button[type=submit]");
    b.wait_text("h1", "Analytics");
    b.click("nav a[href='/sites']");
    b.wait_text("#deploy h2", "Deploy a site");
    b.wait_text("#sites-list", "No sites yet");

    // A folder as a user has it: the site's files, plus what must stay behind.
    let temp = tempfile::tempdir().unwrap();
    let folder = temp.path().join("My Site");
    write(&folder, "index.html", "<h1>picked folder</h1>");
    write(&folder, "assets/app.js", "console.log('picked')");
    write(&folder, ".env", "SECRET=1");
    write(&folder, ".git/config", "[core]");
    write(&folder, "node_modules/dep/index.js", "module.exports = 1");
    b.choose_files("#deploy-folder", &[&folder]);
    let picked = b.wait_text("#deploy-picked", "Folder “My Site”: 2 files");
    assert!(
        picked.contains("3 dot-files or node_modules/ left out"),
        "{picked}"
    );
    assert_eq!(b.value("#deploy-site"), "my-site", "named after the folder");
    assert_eq!(progress(&b)[0], true, "no progress bar before a deploy");
    shoot(&b, "deploy-picked");
    b.click("#deploy-button");
    let result = b.wait_text("#deploy-result", "Deployed 2 files");
    let url = format!("http://my-site.localhost:{}/", s.port);
    assert!(result.contains(&url), "{result}");
    assert_eq!(
        b.attr("#deploy-result a", "href").as_deref(),
        Some(url.as_str())
    );
    let p = progress(&b);
    assert_eq!(p[0], false, "{p}");
    assert!(
        p[1].as_f64().unwrap() > 0.0 && p[1] == p[2],
        "a full bar: {p}"
    );
    // The list above now shows the site, without a reload.
    b.wait_text("#sites-list #sites", "my-site");
    shoot(&b, "deploy-done");

    // Served at the paths inside the folder, without what stayed behind.
    assert_eq!(
        s.get("my-site.localhost", "/").text(),
        "<h1>picked folder</h1>"
    );
    let js = s.get("my-site.localhost", "/assets/app.js");
    assert_eq!(
        (js.status, js.text().as_str()),
        (200, "console.log('picked')")
    );
    assert_eq!(
        s.get("my-site.localhost", "/node_modules/dep/index.js")
            .status,
        404
    );
    assert!(!s.sites_dir().join("my-site/.env").exists());
    assert!(!s.sites_dir().join("my-site/.git").exists());
    assert!(!s.sites_dir().join("my-site/My Site").exists());
    b.click("#deploy-result a[href='/sites/my-site']");
    b.wait_text("h1", "my-site");
    b.wait_text("#deployments", "admin");

    // A zip through the zip picker, over the same site: the page asks first.
    b.goto(&format!("{base}/sites"));
    b.wait_text("#sites", "my-site");
    let zip_path = temp.path().join("release.zip");
    std::fs::write(
        &zip_path,
        zip_of(&[
            ("index.html", b"<h1>zipped</h1>"),
            ("assets/app.js", b"console.log('zipped')"),
        ]),
    )
    .unwrap();
    b.choose_files("#deploy-zip", &[&zip_path]);
    b.wait_text("#deploy-picked", "release.zip");
    assert_eq!(b.value("#deploy-site"), "release");
    b.clear("#deploy-site");
    b.type_into("#deploy-site", "my-site");
    b.click("#deploy-button");
    assert!(
        b.accept_alert()
            .contains("Replace the live site 'my-site'?")
    );
    b.wait_text("#deploy-result", "Deployed 2 files");
    assert_eq!(s.get("my-site.localhost", "/").text(), "<h1>zipped</h1>");
    assert_eq!(
        s.get("my-site.localhost", "/assets/app.js").text(),
        "console.log('zipped')"
    );
    // The browser opens the link it was given.
    b.goto(&url);
    b.wait_text("h1", "zipped");

    // A deploy the server refuses: its words on the page, the live site unchanged.
    b.goto(&format!("{base}/sites"));
    b.find("#deploy-form");
    let bad = temp.path().join("bad.zip");
    std::fs::write(
        &bad,
        zip_of(&[("index.html", b"new"), ("_redirects", b"/only-a-source\n")]),
    )
    .unwrap();
    b.choose_files("#deploy-zip", &[&bad]);
    b.wait_text("#deploy-picked", "bad.zip");
    b.clear("#deploy-site");
    b.type_into("#deploy-site", "other");
    b.click("#deploy-button");
    let refused = b.wait_text("#deploy-result.error", "_redirects line 1");
    assert!(!refused.contains("Deployed"), "{refused}");
    assert_eq!(progress(&b)[0], true, "the bar goes away on a refusal");
    assert!(!s.sites_dir().join("other").exists());
    shoot(&b, "deploy-refused");

    // A zip dropped on the card takes the same way (a synthetic drop: WebDriver cannot drag
    // files from the desktop).
    let dropped = zip_of(&[("index.html", b"<h1>dropped</h1>")]);
    b.execute(
        "const file = new File([new Uint8Array(arguments[0])], 'Dropped Site.zip', {type: 'application/zip'});
         const dt = new DataTransfer();
         dt.items.add(file);
         document.getElementById('deploy-drop').dispatchEvent(
           new DragEvent('drop', {dataTransfer: dt, bubbles: true, cancelable: true}));",
        &[json!(dropped)],
    );
    b.wait_text("#deploy-picked", "Dropped Site.zip");
    b.clear("#deploy-site");
    b.type_into("#deploy-site", "dropped");
    b.click("#deploy-button");
    b.wait_text("#deploy-result", "Deployed 1 file ");
    assert_eq!(s.get("dropped.localhost", "/").text(), "<h1>dropped</h1>");

    // A dropped folder is walked through the entries API (`webkitGetAsEntry`). A script cannot
    // make a real directory entry, so this drop carries stand-ins with the same methods; a
    // directory reader hands out one entry per call, as real ones hand out batches.
    b.clear("#deploy-site");
    b.execute(
        "const file = (name, text) => ({isFile: true, isDirectory: false, name,
           file: (ok) => setTimeout(() => ok(new File([text], name)), 0)});
         const dir = (name, kids) => ({isFile: false, isDirectory: true, name,
           createReader: () => { let i = 0;
             return {readEntries: (ok) => setTimeout(() => ok(kids.slice(i, ++i)), 0)}; }});
         const root = dir('Walked Folder', [
           file('index.html', '<h1>walked</h1>'),
           dir('assets', [file('app.js', 'console.log(1)'), dir('img', [file('a.svg', '<svg/>')])]),
           file('.DS_Store', 'x'),
           dir('node_modules', [file('dep.js', 'x')]),
         ]);
         const drop = new Event('drop', {bubbles: true, cancelable: true});
         Object.defineProperty(drop, 'dataTransfer',
           {value: {items: [{webkitGetAsEntry: () => root}], files: []}});
         document.getElementById('deploy-drop').dispatchEvent(drop);",
        &[],
    );
    let picked = b.wait_text("#deploy-picked", "Folder “Walked Folder”: 3 files");
    assert!(
        picked.contains("2 dot-files or node_modules/ left out"),
        "{picked}"
    );
    assert_eq!(b.value("#deploy-site"), "walked-folder");
    b.click("#deploy-button");
    b.wait_text("#deploy-result", "Deployed 3 files");
    assert_eq!(
        s.get("walked-folder.localhost", "/").text(),
        "<h1>walked</h1>"
    );
    assert_eq!(
        s.get("walked-folder.localhost", "/assets/img/a.svg").text(),
        "<svg/>"
    );
    assert!(!s.sites_dir().join("walked-folder/node_modules").exists());
}

#[test]
fn a_site_is_protected_and_given_a_domain_from_its_page_in_a_browser() {
    let s = Server::builder().env("CC_ADMIN_PASSWORD", PASSWORD).start();
    s.write_file("vault", "index.html", "<h1>vault</h1>");
    s.write_file("other", "index.html", "<h1>other</h1>");
    let base = format!("http://localhost:{}", s.port);
    let b = Browser::start();
    b.set_size(1280, 800);
    b.goto(&format!("{base}/login"));
    b.type_into("input[name=password]", PASSWORD);
    b.click("button[type=submit]");
    b.wait_text("h1", "Analytics");

    b.goto(&format!("{base}/sites/vault"));
    b.wait_text("#site-access", "public");
    b.type_into("#site-password input[name=user]", "ann");
    b.type_into("#site-password input[name=password]", "correct horse");
    b.click("#site-password button[type=submit]");
    b.wait_text(".notice", "Saved");
    b.wait_text("#site-access", "protected");
    assert_eq!(b.text("#site-users"), "ann");
    assert_eq!(s.get("vault.localhost", "/").status, 401);

    b.type_into("#site-domains input[name=host]", "vault.example.com");
    b.click("#site-domains form.row button[type=submit]");
    b.wait_text("#domain-list", "vault.example.com");
    assert_eq!(
        b.attr("#domain-list a", "href"),
        Some(format!("http://vault.example.com:{}/", s.port))
    );
    shoot(&b, "site-publishing");

    // Taken: the other site's page shows why.
    b.goto(&format!("{base}/sites/other"));
    b.type_into("#site-domains input[name=host]", "vault.example.com");
    b.click("#site-domains form.row button[type=submit]");
    b.wait_text(".error", "belongs to the site 'vault'");

    b.goto(&format!("{base}/sites/vault"));
    b.click("#site-password form.inline button");
    assert!(b.accept_alert().contains("Make 'vault' public?"));
    b.wait_text(".notice", "public again");
    assert_eq!(s.get("vault.localhost", "/").status, 200);
    b.click("#domain-list button");
    assert!(b.accept_alert().contains("vault.example.com"));
    b.wait_text(".notice", "domain was removed");
    assert!(!b.exists("#domain-list"));
}
