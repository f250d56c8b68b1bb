//! The Settings page: server-wide settings an admin looks up rather than changes (they are
//! flags of `cc-server serve`). Today its one section is HTTPS: how to turn it on, or the mode,
//! port, certificates and pending first issuances; with `--https internal`, the private CA's
//! fingerprint, its download link (`/ca.crt`) and how to install it on each system. Renders
//! only; never sees a private key (`CertRow` has no field for one).

use std::fmt::Write;

use crate::dashboard::html::esc;
use crate::store::tls::StoredCert;
use crate::tls::{Mode, issuer_label, utc};

/// A certificate as the page lists it: what `cc-server certs` prints, never its key.
pub struct CertRow {
    pub name: String,
    pub issuer: String,
    pub not_after: i64,
    pub renewed_at: i64,
    pub last_error: Option<String>,
    pub last_error_at: Option<i64>,
}

impl From<StoredCert> for CertRow {
    /// Keeps what the page shows; the chain and the private key are dropped here.
    fn from(c: StoredCert) -> CertRow {
        CertRow {
            name: c.name,
            issuer: c.issuer,
            not_after: c.not_after,
            renewed_at: c.renewed_at,
            last_error: c.last_error,
            last_error_at: c.last_error_at,
        }
    }
}

/// HTTPS as this server serves it (`--https internal|acme`).
pub struct HttpsView<'a> {
    pub mode: &'a Mode,
    pub port: u16,
    pub certs: &'a [CertRow],
    /// Names whose first certificate could not be obtained yet, with why.
    pub pending: &'a [(String, String)],
    /// The private CA's SHA-256 fingerprint (`internal` only).
    pub ca_fingerprint: Option<&'a str>,
    /// Where a device fetches the CA over plain HTTP (it cannot trust HTTPS yet).
    pub ca_url: &'a str,
    /// This dashboard over HTTPS.
    pub dashboard_url: &'a str,
    /// Unix seconds now: expired certificates are marked.
    pub now: i64,
}

/// The Settings page; `https` is `None` when the server serves plain HTTP only.
pub fn settings_page(https: Option<&HttpsView>) -> String {
    let mut out = String::from("<section id=\"https\"><h2>HTTPS</h2>");
    match https {
        None => out.push_str(
            "<p id=\"https-off\">HTTPS is off: this server answers plain HTTP only. To serve \
             HTTPS itself, restart it with <code>--https acme --email you@example.com</code> on \
             a public server (certificates from Let's Encrypt, which must reach it on port 80) \
             or with <code>--https internal</code> on a LAN (a private CA made here, which you \
             install on your devices from this page). Caddy or nginx in front stays an option \
             too: give cc-server <code>--trusted-proxy &lt;the proxy's IP&gt;</code> so that it \
             believes the proxy's <code>X-Forwarded-*</code> headers.</p>",
        ),
        Some(h) => https_on(&mut out, h),
    }
    out.push_str("</section>");
    out
}

fn https_on(out: &mut String, h: &HttpsView) {
    let mode = match h.mode {
        Mode::Internal => {
            "<code>internal</code>: a private CA on this server signs a certificate for each \
             name at its first HTTPS visit"
                .to_string()
        }
        Mode::Acme(acme) => format!(
            "<code>acme</code>: certificates from {}{}, renewed at two thirds of their lifetime",
            esc(&issuer_label(&acme.directory)),
            acme.email
                .as_deref()
                .map(|e| format!(" (account <code>{}</code>)", esc(e)))
                .unwrap_or_default()
        ),
    };
    let _ = write!(
        out,
        "<dl class=\"facts\"><dt>Mode</dt><dd id=\"https-mode\">{mode}</dd>\
         <dt>HTTPS port</dt><dd id=\"https-port\">{port}</dd>\
         <dt>Dashboard</dt><dd><a href=\"{url}\">{url}</a></dd></dl>",
        port = h.port,
        url = esc(h.dashboard_url),
    );
    certificates(out, h);
    if !h.pending.is_empty() {
        out.push_str(
            "<h3>Waiting for a first certificate</h3><p class=\"muted\">These names were asked \
             for over HTTPS but have no certificate yet; it is tried again later.</p>\
             <ul class=\"list\" id=\"pending\">",
        );
        for (name, error) in h.pending {
            let _ = write!(
                out,
                "<li><strong>{}</strong><span class=\"error-text\">{}</span></li>",
                esc(name),
                esc(error)
            );
        }
        out.push_str("</ul>");
    }
    if let Some(fingerprint) = h.ca_fingerprint {
        private_ca(out, fingerprint, h.ca_url);
    }
}

fn certificates(out: &mut String, h: &HttpsView) {
    out.push_str("<h3>Certificates</h3>");
    if h.certs.is_empty() {
        out.push_str(
            "<p class=\"muted\">None yet: each name gets its certificate at its first HTTPS \
             visit.</p>",
        );
        return;
    }
    out.push_str(
        "<div class=\"table-wrap\"><table id=\"certificates\" class=\"stack\"><thead><tr>\
         <th>Name</th><th>Issuer</th><th>Valid until</th><th>Obtained</th>\
         <th>Last renewal error</th></tr></thead><tbody>",
    );
    for c in h.certs {
        let expired = c.not_after <= h.now;
        let error = match (&c.last_error, c.last_error_at) {
            (Some(e), Some(at)) => {
                format!(
                    "<span>{} <span class=\"muted\">({} UTC)</span></span>",
                    esc(e),
                    utc(at)
                )
            }
            (Some(e), None) => format!("<span>{}</span>", esc(e)),
            (None, _) => "—".to_string(),
        };
        let _ = write!(
            out,
            "<tr{cls}><td data-label=\"Name\"><strong>{name}</strong></td>\
             <td data-label=\"Issuer\">{issuer}</td>\
             <td data-label=\"Valid until\">{until} UTC{expired}</td>\
             <td data-label=\"Obtained\">{obtained} UTC</td>\
             <td data-label=\"Last renewal error\" class=\"url\">{error}</td></tr>",
            cls = if expired || c.last_error.is_some() {
                " class=\"warn\""
            } else {
                ""
            },
            name = esc(&c.name),
            issuer = esc(&issuer_label(&c.issuer)),
            until = utc(c.not_after),
            expired = if expired { " (expired)" } else { "" },
            obtained = utc(c.renewed_at),
        );
    }
    out.push_str("</tbody></table></div>");
}

/// How to trust the private CA, per system: (summary, HTML). The file is `cc-server-ca.crt`.
const INSTALL: &[(&str, &str)] = &[
    (
        "Android",
        "<p>Download the file, then Settings → Security (&amp; privacy) → More security settings \
         → Encryption &amp; credentials → Install a certificate → <em>CA certificate</em>, and \
         pick it (or search Settings for “CA certificate”). Browsers trust it; many apps trust \
         only the built-in authorities.</p>",
    ),
    (
        "iPhone and iPad",
        "<p>Open the download link in Safari and allow the profile. Then Settings → General → VPN \
         &amp; Device Management → the profile → <em>Install</em>; then Settings → General → \
         About → Certificate Trust Settings → turn on full trust for it.</p>",
    ),
    (
        "macOS",
        "<p>Open the file: Keychain Access adds it. Double-click the certificate → Trust → \
         <em>When using this certificate: Always Trust</em>. Or in a terminal:</p>\
         <pre class=\"code\">sudo security add-trusted-cert -d -r trustRoot -k /Library/Keychains/System.keychain cc-server-ca.crt</pre>",
    ),
    (
        "Windows",
        "<p>Open the file → Install Certificate → <em>Place all certificates in the following \
         store</em> → Trusted Root Certification Authorities. Or, as administrator:</p>\
         <pre class=\"code\">certutil -addstore -f Root cc-server-ca.crt</pre>",
    ),
    (
        "Linux",
        "<p>Debian, Ubuntu, Raspberry Pi OS:</p>\
         <pre class=\"code\">sudo cp cc-server-ca.crt /usr/local/share/ca-certificates/\nsudo update-ca-certificates</pre>\
         <p>Fedora:</p><pre class=\"code\">sudo trust anchor --store cc-server-ca.crt</pre>\
         <p>Chrome and Chromium keep their own store (<code>libnss3-tools</code>):</p>\
         <pre class=\"code\">certutil -d sql:$HOME/.pki/nssdb -A -t C,, -n cc-server -i cc-server-ca.crt</pre>",
    ),
    (
        "Firefox",
        "<p>Firefox has its own store: Settings → Privacy &amp; Security → Certificates → View \
         Certificates → Authorities → Import, and tick <em>Trust this CA to identify \
         websites</em>. On Windows, macOS and Android it can use the system's store instead: \
         <code>security.enterprise_roots.enabled</code> in <code>about:config</code> (on by \
         default since Firefox 120).</p>",
    ),
];

fn private_ca(out: &mut String, fingerprint: &str, ca_url: &str) {
    let _ = write!(
        out,
        "<h3>Private CA</h3>\
         <p>Browsers trust this server's HTTPS once its CA is installed on the device. Check \
         that the fingerprint the device shows is this one:</p>\
         <p><code id=\"ca-fingerprint\" class=\"fingerprint\">{fp}</code></p>\
         <p class=\"row\"><a class=\"button\" id=\"ca-download\" href=\"/ca.crt\">Download the CA certificate</a>\
         <span class=\"muted\">On a phone, open <code class=\"fingerprint\">{url}</code> \
         (plain HTTP, no login). <code>cc-server ca</code> prints it on the server.</span></p>",
        fp = esc(fingerprint),
        url = esc(ca_url),
    );
    for (system, how) in INSTALL {
        let _ = write!(
            out,
            "<details class=\"howto\"><summary>{system}</summary>{how}</details>"
        );
    }
    out.push_str(
        "<p class=\"muted small\">Only install a CA you made yourself: whoever holds its key \
         (it lives in this server's <code>cc.db</code>) can impersonate any website to that \
         device.</p>",
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert(name: &str, error: Option<&str>) -> StoredCert {
        StoredCert {
            name: name.into(),
            issuer: crate::tls::INTERNAL.into(),
            chain_pem: "CHAIN".into(),
            key_pem: "-----BEGIN PRIVATE KEY-----SECRET".into(),
            not_before: 0,
            not_after: 86_400 * 400,
            renewed_at: 86_400,
            last_error: error.map(str::to_string),
            last_error_at: error.map(|_| 86_400 * 2),
        }
    }

    #[test]
    fn off_says_how_to_turn_it_on() {
        let html = settings_page(None);
        assert!(html.contains("--https acme --email you@example.com"));
        assert!(html.contains("--https internal") && html.contains("--trusted-proxy"));
    }

    #[test]
    fn internal_lists_certificates_the_ca_and_never_a_key() {
        let certs: Vec<CertRow> = vec![
            cert("<b>a.localhost</b>", None).into(),
            cert("b.localhost", Some("<script>x</script>")).into(),
        ];
        let pending = vec![("c.localhost".to_string(), "no <luck>".to_string())];
        let html = settings_page(Some(&HttpsView {
            mode: &Mode::Internal,
            port: 8443,
            certs: &certs,
            pending: &pending,
            ca_fingerprint: Some("AB:CD"),
            ca_url: "http://cc.lan:4698/ca.crt",
            dashboard_url: "https://cc.lan:8443/",
            now: 86_400 * 3,
        }));
        assert!(!html.contains("SECRET") && !html.contains("CHAIN"));
        assert!(!html.contains("<script>") && !html.contains("<b>a") && !html.contains("<luck>"));
        assert!(html.contains("&lt;b&gt;a.localhost"));
        assert!(html.contains("1971-02-05 00:00 UTC"), "{html}");
        assert!(html.contains("private CA") && html.contains("—"));
        assert!(html.contains("&lt;script&gt;x&lt;/script&gt; <span class=\"muted\">(1970-01-03"));
        assert!(html.contains(">AB:CD<") && html.contains("href=\"/ca.crt\""));
        assert!(
            html.contains("VPN &amp; Device Management") && html.contains("update-ca-certificates")
        );
        assert!(html.contains("8443") && html.contains("c.localhost"));
    }

    #[test]
    fn acme_names_the_ca_and_has_no_install_steps() {
        let mode = Mode::Acme(crate::tls::AcmeSettings {
            directory: crate::tls::LETS_ENCRYPT.into(),
            email: Some("me@example.com".into()),
            ca_root: None,
        });
        let html = settings_page(Some(&HttpsView {
            mode: &mode,
            port: 443,
            certs: &[],
            pending: &[],
            ca_fingerprint: None,
            ca_url: "",
            dashboard_url: "https://cc.example.com/",
            now: 0,
        }));
        assert!(html.contains("Let&#39;s Encrypt") && html.contains("me@example.com"));
        assert!(!html.contains("/ca.crt") && !html.contains("<details"));
    }
}
