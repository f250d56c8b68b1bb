//! The admin pages: deploy keys (a new token shown once), tracking domains and snippets,
//! short links, webhook endpoints with their recent payloads, and the audit log. Renders only;
//! never creates, checks or stores a key, link or endpoint.

use std::fmt::Write;

use crate::dashboard::html::{count, esc, post_form, time};
use crate::store::webhooks::{Endpoint, Payload};
use crate::store::{audit::AuditRow, keys::KeyRow, links::LinkRow};

/// The keys page; `new_token` is shown exactly once, right after creation.
pub fn keys_page(
    keys: &[KeyRow],
    site_names: &[String],
    csrf: &str,
    new_token: Option<(&str, &str)>,
) -> String {
    let mut out = String::new();
    if let Some((name, token)) = new_token {
        let _ = write!(
            out,
            "<div class=\"card token\" id=\"new-token\"><h2>Key “{}” created</h2>\
             <p>Copy the token now: it is shown <strong>only this once</strong>. Use it with \
             <code>cc-server deploy --token …</code>, the <code>CC_TOKEN</code> variable, or a \
             <code>~/.cc-token</code> file.</p>\
             <div class=\"row\"><input id=\"token\" readonly value=\"{}\" aria-label=\"New token\">\
             <button type=\"button\" class=\"primary\" data-copy=\"#token\">Copy</button></div></div>",
            esc(name),
            esc(token)
        );
    }

    let mut site_boxes = String::new();
    for s in site_names {
        let _ = write!(
            site_boxes,
            "<label class=\"check\"><input type=\"checkbox\" name=\"site\" value=\"{0}\"> {0}</label>",
            esc(s)
        );
    }
    out.push_str("<section><h2>Create a key</h2>");
    out.push_str(&post_form(
        "/keys",
        csrf,
        "stack",
        None,
        &format!(
            "<label for=\"key-name\">Name</label>\
             <input id=\"key-name\" name=\"name\" required maxlength=\"100\" placeholder=\"e.g. Bob's laptop\">\
             <fieldset><legend>May deploy</legend>\
             <label class=\"check\"><input type=\"radio\" name=\"access\" value=\"all\" checked> every site</label>\
             <label class=\"check\"><input type=\"radio\" name=\"access\" value=\"sites\"> only these sites:</label>\
             <div class=\"sites-choice\">{site_boxes}\
             <label>other site names <input name=\"other_sites\" placeholder=\"blog, shop\" autocomplete=\"off\"></label></div>\
             <label class=\"check\"><input type=\"radio\" name=\"access\" value=\"none\"> no site</label>\
             </fieldset>\
             <label class=\"check\"><input type=\"checkbox\" name=\"read_stats\" value=\"1\"> may read analytics (<code>read:stats</code>)</label>\
             <button type=\"submit\" class=\"primary\">Create key</button>"
        ),
    ));
    out.push_str("</section><section><h2>Keys</h2>");
    if keys.is_empty() {
        out.push_str("<p class=\"muted\">No keys yet.</p></section>");
        return out;
    }
    out.push_str("<div class=\"table-wrap\"><table id=\"keys\" class=\"stack\"><thead><tr><th>#</th><th>Name</th><th>Scopes</th><th>Created</th><th>Last used</th><th></th></tr></thead><tbody>");
    for k in keys {
        let scopes: String = k
            .scopes
            .iter()
            .map(|s| format!("<span class=\"tag\">{}</span>", esc(s)))
            .collect::<Vec<_>>()
            .join(" ");
        let action = if k.revoked {
            "<span class=\"muted\">revoked</span>".to_string()
        } else {
            post_form(
                &format!("/keys/{}/revoke", k.id),
                csrf,
                "inline",
                Some(&format!(
                    "Revoke '{}'? Deploys with it stop working at once.",
                    k.name
                )),
                "<button type=\"submit\" class=\"small danger\">Revoke</button>",
            )
        };
        let _ = write!(
            out,
            "<tr{cls}><td data-label=\"#\">{id}</td><td data-label=\"Name\">{name}</td><td data-label=\"Scopes\">{scopes}</td><td data-label=\"Created\">{created}</td><td data-label=\"Last used\">{used}</td><td class=\"actions\">{action}</td></tr>",
            cls = if k.revoked { " class=\"revoked\"" } else { "" },
            id = k.id,
            name = esc(&k.name),
            created = time(&k.created_at),
            used = k
                .last_used_at
                .as_deref()
                .map(time)
                .unwrap_or_else(|| "<span class=\"muted\">never</span>".into()),
        );
    }
    out.push_str("</tbody></table></div></section>");
    out
}

pub fn tracking_page(domains: &[String], snippet_src: &str, csrf: &str) -> String {
    let mut out = format!(
        "<p>Count pageviews of sites hosted elsewhere: allow their domain here, then add this \
         line to their pages. It sends the page's address and referrer, sets no cookie, and \
         respects Do Not Track.</p>\
         <pre class=\"code\" id=\"snippet\">&lt;script defer src=\"{}\"&gt;&lt;/script&gt;</pre>",
        esc(snippet_src)
    );
    let base = snippet_src.trim_end_matches("/t.js");
    let _ = write!(
        out,
        "<p>For e-mails and pages that cannot run scripts, a tracking pixel counts an open \
         (any domain name, no allow-list; <code>tags</code> are optional):</p>\
         <pre class=\"code\" id=\"pixel\">&lt;img src=\"{}/pixel.gif?domain=newsletter.example.com&amp;path=/2026-11&amp;tags=campaign:launch\" width=\"1\" height=\"1\" alt=\"\"&gt;</pre>",
        esc(base)
    );
    out.push_str("<section><h2>Allowed domains</h2>");
    if domains.is_empty() {
        out.push_str("<p class=\"muted\">None yet: events from any domain are refused.</p>");
    } else {
        out.push_str("<ul class=\"list\" id=\"domains\">");
        for d in domains {
            let _ = write!(
                out,
                "<li><span>{}</span>{}</li>",
                esc(d),
                post_form(
                    "/tracking/delete",
                    csrf,
                    "inline",
                    Some(&format!("Stop counting {d}?")),
                    &format!(
                        "<input type=\"hidden\" name=\"domain\" value=\"{}\"><button type=\"submit\" class=\"small danger\">Remove</button>",
                        esc(d)
                    )
                )
            );
        }
        out.push_str("</ul>");
    }
    out.push_str(&post_form(
        "/tracking",
        csrf,
        "row",
        None,
        "<label>Domain <input name=\"domain\" required placeholder=\"blog.example.com\" autocomplete=\"off\"></label><button type=\"submit\" class=\"primary\">Allow domain</button>",
    ));
    out.push_str("</section>");
    out
}

/// The short links page; `base` is the short URL without its slug (`http://host/r/`).
pub fn links_page(links: &[LinkRow], base: &str, csrf: &str) -> String {
    let mut out = format!(
        "<p>Share <code>{}&lt;slug&gt;</code>: it sends the visitor on to the target and counts \
         the click, which appears in Analytics under the source “Short links”.</p>",
        esc(base)
    );
    out.push_str("<section><h2>Create a link</h2>");
    out.push_str(&post_form(
        "/links",
        csrf,
        "row",
        None,
        &format!(
            "<label>Slug <input name=\"slug\" required maxlength=\"{}\" pattern=\"[A-Za-z0-9_\\-]+\" \
             autocomplete=\"off\" placeholder=\"launch\"></label>\
             <label>Target URL <input name=\"target\" type=\"url\" required maxlength=\"{}\" \
             autocomplete=\"off\" placeholder=\"https://example.com/a/long/page\"></label>\
             <button type=\"submit\" class=\"primary\">Create link</button>",
            crate::public::links::MAX_SLUG,
            crate::public::links::MAX_TARGET
        ),
    ));
    out.push_str("</section><section><h2>Links</h2>");
    if links.is_empty() {
        out.push_str("<p class=\"muted\">No short links yet.</p></section>");
        return out;
    }
    out.push_str("<div class=\"table-wrap\"><table id=\"links\"><thead><tr><th>Short URL</th><th>Target</th><th class=\"num\">Clicks</th><th>Created</th><th></th></tr></thead><tbody>");
    for l in links {
        let short = format!("{base}{}", l.slug);
        let edit = post_form(
            &format!("/links/{}", l.slug),
            csrf,
            "row",
            None,
            &format!(
                "<label>New target <input name=\"target\" type=\"url\" required maxlength=\"{}\" value=\"{}\" autocomplete=\"off\"></label>\
                 <button type=\"submit\" class=\"small\">Save</button>",
                crate::public::links::MAX_TARGET,
                esc(&l.target)
            ),
        );
        let delete = post_form(
            &format!("/links/{}/delete", l.slug),
            csrf,
            "inline",
            Some(&format!(
                "Delete the short link '{}'? Its address stops working.",
                l.slug
            )),
            "<button type=\"submit\" class=\"small danger\">Delete</button>",
        );
        let _ = write!(
            out,
            "<tr id=\"link-{slug}\"><td><a href=\"{short}\" rel=\"noopener\" target=\"_blank\"><code>{short}</code></a></td>\
             <td class=\"url\"><a href=\"{target}\" rel=\"noopener\" target=\"_blank\">{target}</a></td>\
             <td class=\"num\">{clicks}</td><td>{created}</td>\
             <td class=\"actions\"><details class=\"edit\"><summary>Edit</summary>{edit}</details> {delete}</td></tr>",
            slug = esc(&l.slug),
            short = esc(&short),
            target = esc(&l.target),
            clicks = count(l.clicks.max(0) as u64),
            created = time(&l.created_at),
        );
    }
    out.push_str("</tbody></table></div></section>");
    out
}

/// One endpoint on the Webhooks page, with what it received lately.
pub struct HookView {
    pub endpoint: Endpoint,
    pub url: String,
    pub recent: Vec<Payload>,
}

/// Longest part of a payload shown on the page (the API gives it whole).
const PAYLOAD_PREVIEW: usize = 2_000;

/// The Webhooks page; `new_secret` (endpoint, secret) is shown exactly once, after creation.
pub fn webhooks_page(hooks: &[HookView], csrf: &str, new_secret: Option<(&str, &str)>) -> String {
    let mut out = String::new();
    if let Some((endpoint, secret)) = new_secret {
        let _ = write!(
            out,
            "<div class=\"card token\" id=\"new-secret\"><h2>Endpoint “{}” created</h2>\
             <p>Copy its secret now: it is shown <strong>only this once</strong>. Senders sign \
             each body with it (HMAC-SHA256, hex) in <code>X-Signature-256: sha256=…</code>; \
             GitHub does this when you paste the secret into its webhook form.</p>\
             <div class=\"row\"><input id=\"secret\" readonly value=\"{}\" aria-label=\"New secret\">\
             <button type=\"button\" class=\"primary\" data-copy=\"#secret\">Copy</button></div></div>",
            esc(endpoint),
            esc(secret)
        );
    }
    out.push_str(
        "<p>Receive webhooks from other services (GitHub, Stripe, a cron job, …): each \
         <code>POST</code> to an endpoint's URL is stored with its body and appears below and in \
         Analytics under the source “Webhooks”. Bodies may be up to 64 KB of text.</p>",
    );
    out.push_str("<section><h2>Create an endpoint</h2>");
    out.push_str(&post_form(
        "/webhooks",
        csrf,
        "row",
        None,
        "<label>Name <input name=\"endpoint\" required maxlength=\"64\" pattern=\"[A-Za-z0-9_\\-]+\" placeholder=\"github\" autocomplete=\"off\"></label>\
         <label class=\"check\"><input type=\"checkbox\" name=\"signed\" value=\"1\" checked> require a signature</label>\
         <button type=\"submit\" class=\"primary\">Create endpoint</button>",
    ));
    out.push_str("</section>");
    if hooks.is_empty() {
        out.push_str(
            "<p class=\"muted\">No endpoints yet: requests to any webhook URL get 404.</p>",
        );
        return out;
    }
    out.push_str("<section><h2>Endpoints</h2><div class=\"table-wrap\"><table id=\"webhooks\"><thead><tr><th>Name</th><th>URL</th><th>Signature</th><th class=\"num\">Received</th><th>Created</th><th></th></tr></thead><tbody>");
    for h in hooks {
        let e = &h.endpoint;
        let _ = write!(
            out,
            "<tr><td><a href=\"#hook-{name}\"><strong>{name}</strong></a></td><td><code>{url}</code></td>\
             <td>{signed}</td><td class=\"num\">{events}</td><td>{created}</td><td class=\"actions\">{delete}</td></tr>",
            name = esc(&e.endpoint),
            url = esc(&h.url),
            signed = if e.signed {
                "<span class=\"tag\">required</span>"
            } else {
                "<span class=\"muted\">none</span>"
            },
            events = count(e.events.max(0) as u64),
            created = time(&e.created_at),
            delete = post_form(
                &format!("/webhooks/{}/delete", e.endpoint),
                csrf,
                "inline",
                Some(&format!(
                    "Delete the endpoint '{}'? Senders get 404 from now on; what it received stays in Analytics.",
                    e.endpoint
                )),
                "<button type=\"submit\" class=\"small danger\">Delete</button>",
            ),
        );
    }
    out.push_str("</tbody></table></div></section>");
    for h in hooks {
        let name = esc(&h.endpoint.endpoint);
        let _ = write!(
            out,
            "<section id=\"hook-{name}\"><h2>Recent payloads: {name}</h2>"
        );
        if h.recent.is_empty() {
            out.push_str("<p class=\"muted\">Nothing received yet.</p></section>");
            continue;
        }
        out.push_str("<div class=\"table-wrap\"><table class=\"payloads\"><thead><tr><th>When</th><th>Event</th><th>Body</th></tr></thead><tbody>");
        for p in &h.recent {
            let _ = write!(
                out,
                "<tr><td>{}</td><td><span class=\"tag\">{}</span></td><td><pre class=\"log\">{}</pre></td></tr>",
                time(&p.created_at),
                esc(&p.event_type),
                preview(&p.payload)
            );
        }
        out.push_str("</tbody></table></div></section>");
    }
    out
}

/// A payload for the page: escaped, cut to `PAYLOAD_PREVIEW` characters with a note saying so.
fn preview(payload: &str) -> String {
    if payload.is_empty() {
        return "<span class=\"muted\">(empty body)</span>".into();
    }
    match payload.char_indices().nth(PAYLOAD_PREVIEW) {
        None => esc(payload),
        Some((cut, _)) => format!(
            "{}<span class=\"muted\">… ({} bytes in all)</span>",
            esc(&payload[..cut]),
            payload.len()
        ),
    }
}

pub fn audit_page(rows: &[AuditRow]) -> String {
    if rows.is_empty() {
        return "<p class=\"muted\">Nothing recorded yet.</p>".into();
    }
    let mut out = String::from(
        "<div class=\"table-wrap\"><table id=\"audit\" class=\"stack\"><thead><tr><th>When</th><th>Who</th><th>What</th><th>On</th><th>From</th></tr></thead><tbody>",
    );
    for r in rows {
        let _ = write!(
            out,
            "<tr{cls}><td data-label=\"When\">{}</td><td data-label=\"Who\">{}</td><td data-label=\"What\">{}</td><td data-label=\"On\">{}</td><td class=\"muted\" data-label=\"From\">{}</td></tr>",
            time(&r.created_at),
            esc(&r.actor),
            esc(&r.action),
            esc(r.target.as_deref().unwrap_or("")),
            esc(r.ip.as_deref().unwrap_or("")),
            cls = if r.action.ends_with(".failed") {
                " class=\"warn\""
            } else {
                ""
            },
        );
    }
    out.push_str("</tbody></table></div>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_text_is_escaped() {
        let keys = vec![KeyRow {
            id: 1,
            name: "<img src=x onerror=alert(1)>".into(),
            scopes: vec!["deploy:*".into()],
            created_at: "2026-11-27 08:00:00".into(),
            last_used_at: None,
            revoked: false,
        }];
        let html = keys_page(&keys, &[], "c", Some(("<b>", "cc_\"tok")));
        assert!(!html.contains("<img"));
        assert!(!html.contains("<b>"));
        assert!(html.contains("cc_&quot;tok"));

        let links = vec![LinkRow {
            slug: "x".into(),
            target: "https://e.example/?a=\"><script>alert(1)</script>".into(),
            clicks: 3,
            created_at: "2026-11-27 08:00:00".into(),
            updated_at: "2026-11-27 08:00:00".into(),
        }];
        let html = links_page(&links, "http://localhost:4698/r/", "c");
        assert!(!html.contains("<script>"));
        assert!(html.contains("http://localhost:4698/r/x"));
        assert!(html.contains("rel=\"noopener\""));
    }

    #[test]
    fn payloads_are_escaped_and_cut() {
        assert_eq!(preview("<script>"), "&lt;script&gt;");
        let long = "é".repeat(2_500);
        let shown = preview(&long);
        assert!(shown.starts_with(&"é".repeat(2_000)) && !shown.contains(&"é".repeat(2_001)));
        assert!(shown.contains("5000 bytes in all"));
        let hooks = [HookView {
            endpoint: Endpoint {
                endpoint: "gh".into(),
                signed: true,
                created_at: "2026-01-01 00:00:00".into(),
                events: 1,
            },
            url: "http://localhost/webhook/gh".into(),
            recent: vec![Payload {
                created_at: "2026-01-01 00:00:01".into(),
                event_type: "push".into(),
                payload: "<img src=x onerror=alert(1)>".into(),
            }],
        }];
        let html = webhooks_page(&hooks, "c", Some(("gh", "s\"ecret")));
        assert!(!html.contains("<img"));
        assert!(html.contains("s&quot;ecret") && html.contains("/webhooks/gh/delete"));
    }
}
