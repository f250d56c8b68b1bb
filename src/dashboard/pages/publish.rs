//! What the Hosting pages show of publishing besides the files: the "Deploy a site" card
//! (a folder or a zip from the browser, sent by `app.js`), and a site's Password and Custom
//! domains sections. Renders only.

use std::fmt::Write;

use crate::auth::MIN_PASSWORD_LEN;
use crate::dashboard::html::{esc, post_form};
use crate::overview::SiteDetail;
use crate::protect::MAX_USER;

/// The browser deploy: `app.js` sends the picked folder's files (or the zip) to
/// `POST /sites/deploy` with the CSRF token in a header. `sites` fills the name suggestions
/// (deploying to an existing name replaces that site, the old files kept for rollback).
/// `max_upload` (bytes) lets the script refuse a folder that is too large before sending it.
pub fn deploy_card(sites: &[String], csrf: &str, max_upload: u64) -> String {
    let mut names = String::new();
    for s in sites {
        let _ = write!(names, "<option value=\"{}\">", esc(s));
    }
    format!(
        "<section id=\"deploy\"><h2>Deploy a site</h2>
<form id=\"deploy-form\" class=\"deploy\" data-csrf=\"{csrf}\" data-max-upload=\"{max_upload}\">
<div class=\"row\"><label>Site name <input id=\"deploy-site\" name=\"site_name\" required maxlength=\"63\" \
pattern=\"[a-z0-9]([a-z0-9\\-]*[a-z0-9])?\" list=\"deploy-names\" autocomplete=\"off\" autocapitalize=\"off\" \
spellcheck=\"false\" placeholder=\"my-site\"></label></div>
<datalist id=\"deploy-names\">{names}</datalist>
<div class=\"drop\" id=\"deploy-drop\">
<p>Drop a folder or a <code>.zip</code> here, or choose one:</p>
<div class=\"pickers\">
<label class=\"button\">Choose a folder<input type=\"file\" id=\"deploy-folder\" webkitdirectory multiple></label>
<label class=\"button\">Choose a .zip<input type=\"file\" id=\"deploy-zip\" accept=\".zip,application/zip\"></label>
</div>
<p id=\"deploy-picked\" class=\"muted\">Nothing chosen yet.</p>
</div>
<p class=\"muted small\">The folder's own files become the site (its <code>index.html</code> is the \
front page). Dot-files (<code>.git</code>, <code>.env</code>, …) and <code>node_modules/</code> are left \
out. Up to {mib} MiB a deploy. Deploying to an existing name replaces that site; its previous files \
are kept for a rollback.</p>
<div class=\"row\"><button type=\"submit\" class=\"primary\" id=\"deploy-button\">Deploy</button>\
<progress id=\"deploy-progress\" max=\"100\" value=\"0\" hidden></progress></div>
<p id=\"deploy-result\" role=\"status\" aria-live=\"polite\"></p>
<noscript><p class=\"error\">Deploying from the browser needs JavaScript; \
<code>cc-server deploy &lt;name&gt;</code> works from any folder.</p></noscript>
</form></section>",
        csrf = esc(csrf),
        mib = max_upload / (1024 * 1024),
    )
}

/// Whether the site asks for a password, its users, and the forms that change them.
pub fn password_section(d: &SiteDetail, csrf: &str) -> String {
    let site = &d.summary.name;
    let mut out = String::from("<section id=\"site-password\"><h2>Password</h2>");
    if d.users.is_empty() {
        out.push_str(
            "<p id=\"site-access\"><span class=\"tag\">public</span> Anyone with the link can open this site.</p>",
        );
    } else {
        out.push_str(
            "<p id=\"site-access\"><span class=\"tag lock\">protected</span> Visitors sign in \
             (HTTP Basic auth) as one of these users:</p><ul class=\"list\" id=\"site-users\">",
        );
        for u in &d.users {
            let _ = write!(out, "<li><code>{}</code></li>", esc(u));
        }
        out.push_str("</ul>");
    }
    out.push_str(&post_form(
        &format!("/sites/{site}/protect"),
        csrf,
        "row",
        None,
        &format!(
            "<label>User <input name=\"user\" required maxlength=\"{MAX_USER}\" autocomplete=\"off\" \
             autocapitalize=\"off\" spellcheck=\"false\" placeholder=\"friend\"></label>\
             <label>Password <input name=\"password\" type=\"password\" required minlength=\"{MIN_PASSWORD_LEN}\" \
             autocomplete=\"new-password\"></label>\
             <button type=\"submit\" class=\"primary\">{}</button>",
            if d.users.is_empty() {
                "Protect with this user"
            } else {
                "Add user or set password"
            }
        ),
    ));
    if !d.users.is_empty() {
        out.push_str("<p>");
        out.push_str(&post_form(
            &format!("/sites/{site}/unprotect"),
            csrf,
            "inline",
            Some(&format!(
                "Make '{site}' public? Every user is removed: anyone with the link can open it."
            )),
            "<button type=\"submit\" class=\"danger\">Make public</button>",
        ));
        out.push_str("</p>");
    }
    out.push_str(
        "<p class=\"muted small\">A deployed <code>AUTH</code> file (<code>user:password</code> lines) \
         does the same, as does <code>cc-server protect &lt;site&gt; --user NAME</code> on the server. \
         A deploy replaces the users its <code>AUTH</code> file set; the ones added here stay.</p></section>",
    );
    out
}

/// The site's custom domains, each linked and removable, and the form to add one. `port` is
/// the port this server answers on (left out of the links when it is 80).
pub fn domains_section(d: &SiteDetail, csrf: &str, port: u16) -> String {
    let site = &d.summary.name;
    let mut out = String::from("<section id=\"site-domains\"><h2>Custom domains</h2>");
    if d.domains.is_empty() {
        out.push_str("<p class=\"muted\">None: the site answers only at its own address.</p>");
    } else {
        let port = if port == 80 {
            String::new()
        } else {
            format!(":{port}")
        };
        out.push_str("<ul class=\"list\" id=\"domain-list\">");
        for host in &d.domains {
            let h = esc(host);
            let _ = write!(
                out,
                "<li><a href=\"http://{h}{port}/\" rel=\"noopener\" target=\"_blank\">{h}</a>{}</li>",
                post_form(
                    &format!("/sites/{site}/domains/delete"),
                    csrf,
                    "inline",
                    Some(&format!("Stop serving '{site}' at {host}?")),
                    &format!(
                        "<input type=\"hidden\" name=\"host\" value=\"{h}\">\
                         <button type=\"submit\" class=\"small danger\">Remove</button>"
                    ),
                ),
            );
        }
        out.push_str("</ul>");
    }
    out.push_str(&post_form(
        &format!("/sites/{site}/domains"),
        csrf,
        "row",
        None,
        "<label>Host name <input name=\"host\" required maxlength=\"253\" autocomplete=\"off\" \
         autocapitalize=\"off\" spellcheck=\"false\" placeholder=\"www.example.com\"></label>\
         <button type=\"submit\" class=\"primary\">Add domain</button>",
    ));
    out.push_str(
        "<p class=\"muted small\">Point the name's DNS at this server (an <code>A</code>/<code>AAAA</code> \
         record, or a <code>CNAME</code> to this server's name), then add it here. A <code>CNAME</code> \
         file in a deploy does the same.</p></section>",
    );
    out
}
