//! The hosting pages: the list of sites, and one site's page with its deployments, rollback,
//! env vars, recent script log, password, custom domains and teardown form (`publish` renders
//! the deploy card, password and domains). Renders only; never reads a site, the store or the
//! script pool.

use std::fmt::Write;

use super::publish::{domains_section, password_section};
use crate::dashboard::html::{bytes, count, esc, post_form, time};
use crate::js::pool::LogLine;
use crate::overview::{SiteDetail, SiteSummary, VISIT_DAYS};

pub fn sites_list(sites: &[SiteSummary], sites_dir: &str) -> String {
    if sites.is_empty() {
        return format!(
            "<div class=\"empty card\"><p>No sites yet.</p><p>Deploy one below, from any folder with \
             <code>cc-server deploy &lt;name&gt;</code>, or create a folder in <code>{}</code>.</p></div>",
            esc(sites_dir)
        );
    }
    let mut rows = String::new();
    for s in sites {
        let _ = write!(
            rows,
            "<tr><td data-label=\"Site\"><a href=\"/sites/{name}\"><strong>{name}</strong></a>{script}</td>\
             <td data-label=\"URL\"><a href=\"{url}\" rel=\"noopener\" target=\"_blank\">{url}</a></td>\
             <td data-label=\"Last deploy\">{last}</td><td class=\"num\" data-label=\"Files\">{files}</td><td class=\"num\" data-label=\"Size\">{size}</td>\
             <td class=\"num\" data-label=\"Visits\">{visits}</td><td class=\"num\" data-label=\"Live sockets\">{ws}</td></tr>",
            name = esc(&s.name),
            script = if s.has_script {
                " <span class=\"tag\">main.js</span>"
            } else {
                ""
            },
            url = esc(&s.url),
            last = last_deploy(s),
            files = count(s.files),
            size = bytes(s.bytes),
            visits = count(s.visits as u64),
            ws = count(s.ws_clients as u64),
        );
    }
    format!(
        "<div class=\"table-wrap\"><table id=\"sites\" class=\"stack\">
<thead><tr><th>Site</th><th>URL</th><th>Last deploy</th><th class=\"num\">Files</th>\
<th class=\"num\">Size</th><th class=\"num\">Visits ({VISIT_DAYS} d)</th><th class=\"num\">Live sockets</th></tr></thead>
<tbody>{rows}</tbody></table></div>"
    )
}

fn last_deploy(s: &SiteSummary) -> String {
    match (&s.last_deploy, &s.last_deploy_by) {
        (Some(at), Some(by)) if !by.is_empty() => {
            format!("{} <span class=\"muted\">by {}</span>", time(at), esc(by))
        }
        (Some(at), _) => time(at),
        _ => "<span class=\"muted\">never (folder)</span>".into(),
    }
}

/// One site's page; `port` is the port this server answers on (for the custom domains' links).
pub fn site_page(d: &SiteDetail, csrf: &str, port: u16) -> String {
    let s = &d.summary;
    let name = esc(&s.name);
    let mut out = format!(
        "<p class=\"lead\"><a href=\"{url}\" rel=\"noopener\" target=\"_blank\">{url}</a></p>
<div class=\"cards\">
<div class=\"stat\"><span>Files</span><strong>{files}</strong></div>
<div class=\"stat\"><span>Size</span><strong>{size}</strong></div>
<div class=\"stat\"><span>Visits ({VISIT_DAYS} d)</span><strong>{visits}</strong></div>
<div class=\"stat\"><span>Live sockets</span><strong>{ws}</strong></div>
<div class=\"stat\" id=\"disk\"><span>Disk (quota {quota})</span><strong>{disk}</strong>\
<small class=\"muted\">{live} live + {previous} kept for rollback + {db} in db</small></div>
</div>",
        url = esc(&s.url),
        files = count(s.files),
        size = bytes(s.bytes),
        visits = count(s.visits as u64),
        ws = count(s.ws_clients as u64),
        quota = bytes(d.disk.quota),
        disk = bytes(d.disk.total()),
        live = bytes(d.disk.live),
        previous = bytes(d.disk.previous),
        db = bytes(d.disk.db),
    );

    // Deployments, newest first, with the rollback action on top.
    out.push_str("<section id=\"deployments\"><h2>Deployments</h2>");
    if d.can_roll_back {
        out.push_str(&post_form(
            &format!("/sites/{}/rollback", s.name),
            csrf,
            "inline",
            Some(&format!(
                "Roll '{}' back to its previous deployment? (Rolling back twice returns to this one.)",
                s.name
            )),
            "<button type=\"submit\">Roll back to the previous deployment</button>",
        ));
    } else {
        out.push_str("<p class=\"muted\">No previous deployment is kept, so there is nothing to roll back to.</p>");
    }
    if d.deployments.is_empty() {
        out.push_str(
            "<p class=\"muted\">No deployments recorded: this site is a folder on the server.</p>",
        );
    } else {
        out.push_str("<div class=\"table-wrap\"><table><thead><tr><th>#</th><th>When</th><th>By</th><th class=\"num\">Files</th><th class=\"num\">Size</th></tr></thead><tbody>");
        for dep in &d.deployments {
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                dep.id,
                time(&dep.created_at),
                esc(&dep.deployed_by),
                count(dep.file_count.max(0) as u64),
                bytes(dep.size_bytes.max(0) as u64)
            );
        }
        out.push_str("</tbody></table></div>");
    }
    out.push_str("</section>");

    // Environment variables: values masked until revealed.
    out.push_str("<section id=\"env\"><h2>Environment variables</h2><p class=\"muted\">main.js reads these as <code>process.env.NAME</code>; a change applies to the next request.</p>");
    if !d.env.is_empty() {
        out.push_str("<div class=\"table-wrap\"><table><thead><tr><th>Name</th><th>Value</th><th></th></tr></thead><tbody>");
        for (k, v) in &d.env {
            let _ = write!(
                out,
                "<tr><td><code>{k}</code></td>\
                 <td><code class=\"secret\" data-value=\"{v}\">••••••••</code> \
                 <button type=\"button\" class=\"small\" data-reveal>Reveal</button></td>\
                 <td class=\"actions\"><button type=\"button\" class=\"small\" data-edit-key=\"{k}\" data-edit-value=\"{v}\">Edit</button> {del}</td></tr>",
                k = esc(k),
                v = esc(v),
                del = post_form(
                    &format!("/sites/{}/env/delete", s.name),
                    csrf,
                    "inline",
                    Some(&format!("Delete {k}?")),
                    &format!(
                        "<input type=\"hidden\" name=\"key\" value=\"{}\"><button type=\"submit\" class=\"small danger\">Delete</button>",
                        esc(k)
                    ),
                ),
            );
        }
        out.push_str("</tbody></table></div>");
    }
    out.push_str(&post_form(
        &format!("/sites/{}/env", s.name),
        csrf,
        "row",
        None,
        "<label>Name <input name=\"key\" id=\"env-key\" required pattern=\"[A-Za-z_][A-Za-z0-9_]*\" maxlength=\"128\" autocomplete=\"off\" placeholder=\"API_KEY\"></label>\
         <label>Value <input name=\"value\" id=\"env-value\" autocomplete=\"off\" maxlength=\"32768\"></label>\
         <button type=\"submit\" class=\"primary\">Save variable</button>",
    ));
    out.push_str("</section>");

    out.push_str("<section id=\"logs\"><h2>Recent script log</h2>");
    out.push_str(&log_lines(&d.logs, s.has_script));
    if let Some(cron) = &d.cron {
        out.push_str(&cron_status(cron));
    }
    out.push_str("</section>");

    out.push_str(&password_section(d, csrf));
    out.push_str(&domains_section(d, csrf, port));

    // Teardown, behind typing the name.
    let _ = write!(
        out,
        "<section id=\"danger\" class=\"danger-zone\"><h2>Tear down</h2><p>Removes the site's files and its previous deployment. Its <code>db</code> data and env vars go too, unless you keep them.</p>{}</section>",
        post_form(
            &format!("/sites/{}/teardown", s.name),
            csrf,
            "row",
            Some(&format!(
                "Really remove '{}'? This cannot be undone.",
                s.name
            )),
            &format!(
                "<label>Type <strong>{name}</strong> to confirm <input name=\"confirm\" autocomplete=\"off\" required></label>\
                 <label class=\"check\"><input type=\"checkbox\" name=\"keep_data\" value=\"1\"> keep db data and env vars</label>\
                 <button type=\"submit\" class=\"danger\">Tear down {name}</button>"
            ),
        )
    );
    out
}

fn log_lines(logs: &[LogLine], has_script: bool) -> String {
    if logs.is_empty() {
        return if has_script {
            "<p class=\"muted\">Nothing logged since the server started.</p>".into()
        } else {
            "<p class=\"muted\">This site has no main.js.</p>".into()
        };
    }
    let mut out = String::from("<pre class=\"log\">");
    for l in logs {
        let when = chrono_less(l.unix_time);
        let _ = writeln!(
            out,
            "<span class=\"muted\">{when}</span> <span class=\"level {lvl}\">{lvl}</span> {}",
            esc(&l.message),
            lvl = esc(&l.level)
        );
    }
    out.push_str("</pre>");
    out
}

/// A module main.js's triggers: each expression, the last run and how it ended, the next.
fn cron_status(c: &crate::js::cron::CronStatus) -> String {
    let when = |t: i64| {
        let day = crate::calendar::format_day(t.div_euclid(86_400));
        format!("{day} {} UTC", chrono_less(t))
    };
    let last = match &c.last_run {
        Some((at, outcome)) if outcome == "ok" => format!("{} — ok", when(*at)),
        Some((at, outcome)) => format!(
            "{} — <span class=\"level error\">{}</span>",
            when(*at),
            esc(outcome)
        ),
        None => "not yet".into(),
    };
    let expressions: Vec<String> = c
        .expressions
        .iter()
        .map(|e| format!("<code>{}</code>", esc(e)))
        .collect();
    format!(
        "<section id=\"cron\"><h2>Scheduled runs</h2><p class=\"muted\">main.js's <code>scheduled()</code> runs at {} (UTC).</p>\
         <p>Last run: {last}{running}</p><p>Next run: {next}</p></section>",
        expressions.join(", "),
        running = if c.running { " (running now)" } else { "" },
        next = c.next_run.map_or("—".into(), when),
    )
}

/// `HH:MM:SS` UTC of a Unix time, without a date library.
fn chrono_less(unix: i64) -> String {
    let s = unix.rem_euclid(86_400);
    format!("{:02}:{:02}:{:02}", s / 3600, s % 3600 / 60, s % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_times_are_utc_clock_times() {
        assert_eq!(chrono_less(3_661), "01:01:01");
    }
}
