//! The Analytics page: the filter menus, the totals, the daily chart and the top lists of one
//! `Summary`. Renders only; never computes a number (`store::stats` does).

use std::fmt::Write;

use crate::dashboard::html::{count, esc, url_encode};
use crate::store::stats::{Filter, Summary};

/// What the analytics page shows besides the summary: the filter and its menus.
pub struct AnalyticsView<'a> {
    pub filter: &'a Filter,
    pub summary: &'a Summary,
    pub domains: &'a [String],
    pub sources: &'a [String],
}

pub fn analytics_page(v: &AnalyticsView) -> String {
    let f = v.filter;
    let s = v.summary;
    let option = |value: &str, label: &str, selected: bool| {
        format!(
            "<option value=\"{}\"{}>{}</option>",
            esc(value),
            if selected { " selected" } else { "" },
            esc(label)
        )
    };
    let mut days = String::new();
    for (d, label) in [
        (7, "Last 7 days"),
        (30, "Last 30 days"),
        (90, "Last 90 days"),
    ] {
        days.push_str(&option(&d.to_string(), label, f.days == d));
    }
    if ![7, 30, 90].contains(&f.days) {
        days.push_str(&option(
            &f.days.to_string(),
            &format!("Last {} days", f.days),
            true,
        ));
    }
    let mut sites = option("", "All sites and domains", f.domain.is_none());
    for d in v.domains {
        sites.push_str(&option(d, d, f.domain.as_deref() == Some(d)));
    }
    let mut sources = option("", "All sources", f.source_type.is_none());
    let mut known: Vec<&str> = vec!["hosting", "web"];
    known.extend(
        v.sources
            .iter()
            .map(String::as_str)
            .filter(|s| !["hosting", "web"].contains(s)),
    );
    for src in known {
        let label = match src {
            "hosting" => "Sites hosted here",
            "web" => "Tracked elsewhere (t.js)",
            "pixel" => "Tracking pixel",
            "redirect" => "Short links",
            "webhook" => "Webhooks",
            other => other,
        };
        sources.push_str(&option(src, label, f.source_type.as_deref() == Some(src)));
    }
    let busiest = s
        .per_day
        .iter()
        .max_by_key(|d| d.pageviews)
        .filter(|d| d.pageviews > 0)
        .map(|d| {
            format!(
                "{} <small class=\"muted\">{}</small>",
                count(d.pageviews),
                esc(&d.day)
            )
        })
        .unwrap_or_else(|| "—".into());
    let mut out = format!(
        "<form method=\"get\" action=\"/analytics\" class=\"filters\">\
         <label>Period <select name=\"days\">{days}</select></label>\
         <label>Site <select name=\"site\">{sites}</select></label>\
         <label>Source <select name=\"source\">{sources}</select></label>\
         <noscript><button type=\"submit\">Show</button></noscript></form>\
         <div class=\"cards\">\
         <div class=\"stat\"><span>Pageviews</span><strong id=\"pageviews\">{pv}</strong></div>\
         <div class=\"stat\"><span>Visitors</span><strong id=\"visitors\">{vis}</strong></div>\
         <div class=\"stat\"><span>Busiest day</span><strong>{busiest}</strong></div>\
         </div>\
         <section id=\"chart\"><h2>Per day</h2>{chart}\
         <p class=\"muted small\">Visitors are unique per day: the visitor hash changes daily, so no one is followed across days.</p></section>",
        pv = count(s.pageviews),
        vis = count(s.visitors),
        chart = crate::dashboard::chart::daily_chart(&s.per_day),
    );
    out.push_str("<div class=\"grid2\">");
    let link = |site: &str| {
        format!(
            "/analytics?days={}&site={}{}",
            f.days,
            url_encode(site),
            f.source_type
                .as_deref()
                .map(|s| format!("&source={}", url_encode(s)))
                .unwrap_or_default()
        )
    };
    let sites_rows: Vec<(String, u64, u64)> = s
        .top_sites
        .iter()
        .map(|c| {
            (
                format!("<a href=\"{}\">{}</a>", esc(&link(&c.label)), esc(&c.label)),
                c.pageviews,
                c.visitors,
            )
        })
        .collect();
    out.push_str(&top_table("top-sites", "Top sites", "Site", &sites_rows));
    let path_rows: Vec<(String, u64, u64)> = s
        .top_paths
        .iter()
        .map(|p| {
            let label = if f.domain.is_some() {
                format!("<code>{}</code>", esc(&p.path))
            } else {
                format!(
                    "<span class=\"muted\">{}</span><code>{}</code>",
                    esc(&p.domain),
                    esc(&p.path)
                )
            };
            (label, p.pageviews, p.visitors)
        })
        .collect();
    out.push_str(&top_table("top-paths", "Top pages", "Page", &path_rows));
    let ref_rows: Vec<(String, u64, u64)> = s
        .top_referrers
        .iter()
        .map(|c| (esc(&c.label), c.pageviews, c.visitors))
        .collect();
    out.push_str(&top_table(
        "top-referrers",
        "Top referrers",
        "From",
        &ref_rows,
    ));
    out.push_str("</div>");
    out
}

/// A ranked table whose rows carry a bar as wide as their share of the first row.
fn top_table(id: &str, title: &str, what: &str, rows: &[(String, u64, u64)]) -> String {
    let mut out = format!("<section id=\"{id}\"><h2>{title}</h2>");
    if rows.is_empty() {
        out.push_str("<p class=\"muted\">Nothing in this period.</p></section>");
        return out;
    }
    let max = rows.iter().map(|r| r.1).max().unwrap_or(1).max(1);
    let _ = write!(
        out,
        "<div class=\"table-wrap\"><table><thead><tr><th>{what}</th><th class=\"num\">Views</th><th class=\"num\">Visitors</th></tr></thead><tbody>"
    );
    for (label, views, visitors) in rows {
        // A width class in 5 % steps: the CSP allows no inline style attributes.
        let share = (views * 20).div_ceil(max).min(20) * 5;
        let _ = write!(
            out,
            "<tr><td class=\"bar-cell\"><i class=\"fill w{share}\"></i><span>{label}</span></td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            count(*views),
            count(*visitors)
        );
    }
    out.push_str("</tbody></table></div></section>");
    out
}
