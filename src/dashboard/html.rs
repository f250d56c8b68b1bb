//! HTML building blocks for the dashboard: escaping, the page layout (head, navigation,
//! notices), and small formatters. Pages are plain strings; every value from outside goes
//! through `esc`.

use std::fmt::Write;

/// Escapes text for HTML element content and double-quoted attributes.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Percent-encodes a query-string value.
pub fn url_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// The navigation entries: (path, label).
const NAV: &[(&str, &str)] = &[
    ("/analytics", "Analytics"),
    ("/sites", "Hosting"),
    ("/keys", "Deploy keys"),
    ("/tracking", "Tracking"),
    ("/links", "Links"),
    ("/webhooks", "Webhooks"),
    ("/audit", "Audit log"),
    ("/settings", "Settings"),
];

/// What a signed-in page needs besides its body.
pub struct Chrome<'a> {
    pub title: &'a str,
    /// The navigation entry to highlight.
    pub active: &'a str,
    pub csrf: &'a str,
    pub notice: Option<&'a str>,
    pub error: Option<&'a str>,
}

/// A page for the signed-in admin: header, navigation, logout, notices, then `body`.
pub fn page(c: &Chrome, body: &str) -> String {
    let mut nav = String::new();
    for (path, label) in NAV {
        let current = if *path == c.active {
            " aria-current=\"page\""
        } else {
            ""
        };
        let _ = write!(nav, "<a href=\"{path}\"{current}>{label}</a>");
    }
    let notices = notices(c.notice, c.error);
    format!(
        "{head}<body>
<header class=\"top\">
  <a class=\"brand\" href=\"/analytics\"><span class=\"logo\" aria-hidden=\"true\">◆</span> Command Center</a>
  <nav>{nav}</nav>
  <form method=\"post\" action=\"/logout\" class=\"logout\">
    <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">
    <button type=\"submit\" class=\"link\">Log out</button>
  </form>
</header>
<main>
<h1>{title}</h1>
{notices}{body}
</main>
</body></html>",
        head = head(c.title),
        csrf = esc(c.csrf),
        title = esc(c.title),
    )
}

/// A page without navigation (login, setup, errors before login).
pub fn bare_page(title: &str, notice: Option<&str>, error: Option<&str>, body: &str) -> String {
    format!(
        "{head}<body class=\"bare\">
<main class=\"narrow\">
<p class=\"brand big\"><span class=\"logo\" aria-hidden=\"true\">◆</span> Command Center</p>
<div class=\"card\">
<h1>{title}</h1>
{notices}{body}
</div>
</main>
</body></html>",
        head = head(title),
        title = esc(title),
        notices = notices(notice, error),
    )
}

fn head(title: &str) -> String {
    format!(
        "<!doctype html>
<html lang=\"en\"><head>
<meta charset=\"utf-8\">
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">
<title>{} · Command Center</title>
<link rel=\"stylesheet\" href=\"/assets/app.css\">
<link rel=\"icon\" href=\"/assets/icon.svg\" type=\"image/svg+xml\">
<script src=\"/assets/app.js\" defer></script>
</head>",
        esc(title)
    )
}

fn notices(notice: Option<&str>, error: Option<&str>) -> String {
    let mut out = String::new();
    if let Some(n) = notice {
        let _ = writeln!(out, "<p class=\"notice\" role=\"status\">{}</p>", esc(n));
    }
    if let Some(e) = error {
        let _ = writeln!(out, "<p class=\"error\" role=\"alert\">{}</p>", esc(e));
    }
    out
}

/// A POST form with the CSRF field; `inner` holds its inputs and button.
pub fn post_form(
    action: &str,
    csrf: &str,
    class: &str,
    confirm: Option<&str>,
    inner: &str,
) -> String {
    let confirm = confirm
        .map(|m| format!(" data-confirm=\"{}\"", esc(m)))
        .unwrap_or_default();
    format!(
        "<form method=\"post\" action=\"{}\" class=\"{class}\"{confirm}><input type=\"hidden\" name=\"csrf\" value=\"{}\">{inner}</form>",
        esc(action),
        esc(csrf)
    )
}

/// `1234567` → `1.2 MB`.
pub fn bytes(n: u64) -> String {
    const UNITS: &[&str] = &["B", "KB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1000.0 && unit < UNITS.len() - 1 {
        v /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// `1234567` → `1 234 567` (thin spaces keep columns readable on a phone).
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push('\u{202f}');
        }
        out.push(ch);
    }
    out
}

/// A stored UTC timestamp as shown: `2026-11-27 08:15` with a full `<time>` attribute.
pub fn time(ts: &str) -> String {
    let short: String = ts.chars().take(16).collect();
    format!(
        "<time datetime=\"{}Z\" title=\"{} UTC\">{}</time>",
        esc(&ts.replace(' ', "T")),
        esc(ts),
        esc(&short)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_and_formatting() {
        assert_eq!(
            esc("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(url_encode("a b/ü"), "a%20b%2F%C3%BC");
        assert_eq!(bytes(999), "999 B");
        assert_eq!(bytes(1_234_567), "1.2 MB");
        assert_eq!(count(1_234_567), "1\u{202f}234\u{202f}567");
        assert_eq!(count(12), "12");
        assert!(time("2026-11-27 08:15:02").contains(">2026-11-27 08:15<"));
    }
}
