//! The analytics page's daily chart as one inline `<svg>` string: pageviews as bars, visitors
//! as a line with dots, a y-axis of round numbers, a few date labels, a tooltip per day.
//!
//! Pure (no I/O) and CSP-safe: the dashboard forbids `style` attributes and `<style>`, so every
//! colour is an SVG presentation attribute (`fill=`, `stroke=`), which looks right without any
//! CSS; the dashboard's stylesheet may restyle through the classes `chart`, `grid`, `bar`,
//! `line`, `dot`, `axis-label`, `legend` (CSS beats presentation attributes).

use std::fmt::Write;

use super::html::esc;
use crate::store::stats::DayPoint;

// The viewBox; the SVG scales to its container's width (`width="100%"`, no fixed height).
const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 240.0;
// Room around the plot for the y labels (left), the legend (top) and the x labels (bottom).
const LEFT: f64 = 44.0;
const RIGHT: f64 = 8.0;
const TOP: f64 = 24.0;
const BOTTOM: f64 = 22.0;
/// More date labels than this would overlap at 90 days.
const MAX_X_LABELS: usize = 7;

// Without CSS: light bars under a dark line, both readable on white and on the grey grid.
const BAR_FILL: &str = "#93c5fd";
const LINE_STROKE: &str = "#1d4ed8";
const GRID_STROKE: &str = "#e5e7eb";
const TEXT_FILL: &str = "#6b7280";

/// The chart for `points` (oldest first, as `store::stats::summary` returns them).
pub fn daily_chart(points: &[DayPoint]) -> String {
    let (Some(first), Some(last)) = (points.first(), points.last()) else {
        let message = "No data for this period";
        return format!(
            r#"<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" role="img" aria-label="{message}"><title>{message}</title><text class="axis-label" x="{x}" y="{y}" text-anchor="middle" font-family="sans-serif" font-size="13" fill="{TEXT_FILL}">{message}</text></svg>"#,
            x = WIDTH / 2.0,
            y = HEIGHT / 2.0,
        );
    };

    let total_pageviews = points
        .iter()
        .map(|p| p.pageviews)
        .fold(0, u64::saturating_add);
    let total_visitors = points
        .iter()
        .map(|p| p.visitors)
        .fold(0, u64::saturating_add);
    let range = if points.len() == 1 {
        first.day.clone()
    } else {
        format!("{} to {}", first.day, last.day)
    };
    let summary = esc(&format!(
        "Pageviews and visitors per day, {range}: {}, {}",
        counted(total_pageviews, "pageview"),
        counted(total_visitors, "visitor"),
    ));

    let max = points
        .iter()
        .map(|p| p.pageviews.max(p.visitors))
        .max()
        .unwrap_or(0);
    let (step, steps) = nice_axis(max);
    let top_value = (step * u128::from(steps)) as f64;
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let y_of = |v: f64| TOP + plot_h * (1.0 - v / top_value);
    let slot = plot_w / points.len() as f64;
    // A lone day as one wide block would read as a box, not a bar.
    let bar_w = (slot * 0.7).clamp(0.5, 40.0);
    let center = |i: usize| LEFT + slot * (i as f64 + 0.5);

    let mut svg = String::with_capacity(400 + points.len() * 220);
    // Writing to a String cannot fail: the `let _ =` below only silence the unused Result.
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" role="img" aria-label="{summary}" font-family="sans-serif" font-size="11"><title>{summary}</title>"#
    );

    svg.push_str(r#"<g class="grid">"#);
    for k in 0..=steps {
        let value = step * u128::from(k);
        let y = y_of(value as f64);
        let _ = write!(
            svg,
            r#"<line x1="{LEFT}" y1="{y:.1}" x2="{x2}" y2="{y:.1}" stroke="{GRID_STROKE}" stroke-width="1"/><text class="axis-label" x="{lx}" y="{y:.1}" dy="0.35em" text-anchor="end" fill="{TEXT_FILL}">{label}</text>"#,
            x2 = WIDTH - RIGHT,
            lx = LEFT - 6.0,
            label = compact(value),
        );
    }
    svg.push_str("</g>");

    svg.push_str(r#"<g class="bars">"#);
    for (i, p) in points.iter().enumerate() {
        let y = y_of(p.pageviews as f64);
        let _ = write!(
            svg,
            r#"<rect class="bar" x="{x:.1}" y="{y:.1}" width="{bar_w:.1}" height="{h:.1}" fill="{BAR_FILL}"><title>{tip}</title></rect>"#,
            x = center(i) - bar_w / 2.0,
            h = (TOP + plot_h - y).max(0.0),
            tip = esc(&format!(
                "{}: {}, {}",
                p.day,
                counted(p.pageviews, "pageview"),
                counted(p.visitors, "visitor")
            )),
        );
    }
    svg.push_str("</g>");

    // The line and dots let the pointer through to the bars, whose tooltips say it all.
    let dot_r = (slot * 0.25).clamp(1.0, 3.0);
    svg.push_str(r#"<g class="visitors" pointer-events="none">"#);
    if points.len() > 1 {
        let coords: Vec<String> = points
            .iter()
            .enumerate()
            .map(|(i, p)| format!("{:.1},{:.1}", center(i), y_of(p.visitors as f64)))
            .collect();
        let _ = write!(
            svg,
            r#"<polyline class="line" points="{}" fill="none" stroke="{LINE_STROKE}" stroke-width="2" stroke-linejoin="round" stroke-linecap="round"/>"#,
            coords.join(" ")
        );
    }
    for (i, p) in points.iter().enumerate() {
        let _ = write!(
            svg,
            r#"<circle class="dot" cx="{:.1}" cy="{:.1}" r="{dot_r:.1}" fill="{LINE_STROKE}"/>"#,
            center(i),
            y_of(p.visitors as f64),
        );
    }
    svg.push_str("</g>");

    let every = points.len().div_ceil(MAX_X_LABELS);
    svg.push_str(r#"<g class="x-labels">"#);
    for (i, p) in points.iter().enumerate().step_by(every) {
        let _ = write!(
            svg,
            r#"<text class="axis-label" x="{:.1}" y="{:.1}" text-anchor="middle" fill="{TEXT_FILL}">{}</text>"#,
            center(i),
            HEIGHT - 6.0,
            esc(&short_date(&p.day)),
        );
    }
    svg.push_str("</g>");

    let lx = WIDTH - RIGHT - 150.0;
    let _ = write!(
        svg,
        r#"<g class="legend"><rect x="{lx}" y="6" width="10" height="10" fill="{BAR_FILL}"/><text class="axis-label" x="{t1}" y="15" fill="{TEXT_FILL}">pageviews</text><circle cx="{c2}" cy="11" r="4" fill="{LINE_STROKE}"/><text class="axis-label" x="{t2}" y="15" fill="{TEXT_FILL}">visitors</text></g>"#,
        t1 = lx + 14.0,
        c2 = lx + 90.0,
        t2 = lx + 98.0,
    );
    svg.push_str("</svg>");
    svg
}

/// The y-axis: a step of 1, 2, 2.5 or 5 times a power of ten and how many steps reach `max`,
/// at most four (so 3–5 lines counting the baseline, except for tiny maxima).
fn nice_axis(max: u64) -> (u128, u32) {
    let max = u128::from(max.max(1));
    let mut magnitude: u128 = 1;
    loop {
        let quarter = (magnitude >= 10).then_some(magnitude * 5 / 2);
        for step in [
            Some(magnitude),
            Some(magnitude * 2),
            quarter,
            Some(magnitude * 5),
        ]
        .into_iter()
        .flatten()
        {
            let steps = max.div_ceil(step);
            if steps <= 4 {
                return (step, steps as u32);
            }
        }
        magnitude *= 10;
    }
}

/// An axis label: 950, 1.5k, 25k, 2M, … (axis values are round, one decimal is enough).
fn compact(v: u128) -> String {
    const UNITS: [(u128, &str); 6] = [
        (1_000_000_000_000_000_000, "E"),
        (1_000_000_000_000_000, "P"),
        (1_000_000_000_000, "T"),
        (1_000_000_000, "G"),
        (1_000_000, "M"),
        (1_000, "k"),
    ];
    for (unit, suffix) in UNITS {
        if v >= unit {
            let tenths = v * 10 / unit;
            return if tenths.is_multiple_of(10) {
                format!("{}{suffix}", tenths / 10)
            } else {
                format!("{}.{}{suffix}", tenths / 10, tenths % 10)
            };
        }
    }
    v.to_string()
}

/// "1 pageview", "1,234 pageviews".
fn counted(n: u64, noun: &str) -> String {
    let digits = n.to_string();
    let mut grouped = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    let plural = if n == 1 { "" } else { "s" };
    format!("{grouped} {noun}{plural}")
}

/// 'YYYY-MM-DD' → 'Nov 27'; anything else is shown as it is.
fn short_date(day: &str) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = day.get(5..7).and_then(|m| m.parse::<usize>().ok());
    let date = day.get(8..10).and_then(|d| d.parse::<u32>().ok());
    match (month, date) {
        (Some(m @ 1..=12), Some(d)) if day.len() == 10 => format!("{} {d}", MONTHS[m - 1]),
        _ => day.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(day: &str, pageviews: u64, visitors: u64) -> DayPoint {
        DayPoint {
            day: day.to_string(),
            pageviews,
            visitors,
        }
    }

    /// `n` consecutive days of November and December 2026 with `f(i)` as the numbers.
    fn days(n: usize, f: impl Fn(usize) -> (u64, u64)) -> Vec<DayPoint> {
        (0..n)
            .map(|i| {
                let (month, day) = if i < 30 { (11, i + 1) } else { (12, i - 29) };
                let (pv, v) = f(i);
                point(&format!("2026-{month:02}-{day:02}"), pv, v)
            })
            .collect()
    }

    /// A small XML check: tags nest and close, attribute values are quoted, `&` only starts
    /// an entity, no text contains `<`. Returns the element names in document order.
    fn elements(svg: &str) -> Vec<String> {
        let mut stack: Vec<String> = Vec::new();
        let mut names = Vec::new();
        let mut rest = svg;
        while let Some(open) = rest.find('<') {
            check_text(&rest[..open]);
            let close = rest[open..].find('>').expect("unclosed tag") + open;
            let tag = &rest[open + 1..close];
            rest = &rest[close + 1..];
            if let Some(name) = tag.strip_prefix('/') {
                assert_eq!(stack.pop().as_deref(), Some(name), "mismatched </{name}>");
                continue;
            }
            let self_closing = tag.ends_with('/');
            let tag = tag.trim_end_matches('/');
            let (name, attrs) = tag.split_once(' ').unwrap_or((tag, ""));
            assert!(name.chars().all(|c| c.is_ascii_alphanumeric()), "{name}");
            check_attrs(attrs);
            names.push(name.to_string());
            if !self_closing {
                stack.push(name.to_string());
            }
        }
        check_text(rest);
        assert!(stack.is_empty(), "unclosed {stack:?}");
        names
    }

    fn check_attrs(mut attrs: &str) {
        while !attrs.trim().is_empty() {
            let eq = attrs.find("=\"").expect("attribute without a quoted value");
            let name = attrs[..eq].trim();
            assert!(
                name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'),
                "{name}"
            );
            assert_ne!(
                name, "style",
                "the dashboard's CSP forbids style attributes"
            );
            let value_end = attrs[eq + 2..].find('"').expect("unterminated value") + eq + 2;
            check_text(&attrs[eq + 2..value_end]);
            attrs = &attrs[value_end + 1..];
        }
    }

    fn check_text(text: &str) {
        assert!(!text.contains('<') && !text.contains('>'), "{text}");
        for (i, _) in text.match_indices('&') {
            let entity = &text[i..text[i..].find(';').map_or(text.len(), |e| i + e + 1)];
            assert!(
                ["&amp;", "&lt;", "&gt;", "&quot;", "&#39;"].contains(&entity),
                "bare & in {text}"
            );
        }
    }

    fn count(names: &[String], name: &str) -> usize {
        names.iter().filter(|n| *n == name).count()
    }

    fn assert_sane(svg: &str) -> Vec<String> {
        assert!(svg.starts_with("<svg ") && svg.ends_with("</svg>"));
        for needle in ["NaN", "inf", "style", "<script"] {
            assert!(!svg.contains(needle), "{needle} in {svg}");
        }
        assert!(svg.contains(r#"width="100%""#) && svg.contains(r#"role="img""#));
        assert!(svg.contains("viewBox=\"0 0 720 240\""));
        elements(svg)
    }

    #[test]
    fn no_days_is_a_message_not_an_empty_box() {
        let svg = daily_chart(&[]);
        let names = assert_sane(&svg);
        assert_eq!(count(&names, "rect"), 0);
        assert!(svg.contains("aria-label=\"No data for this period\""));
        assert!(svg.contains("<title>No data for this period</title>"));
    }

    #[test]
    fn a_week_has_a_bar_a_dot_and_a_tooltip_per_day() {
        let points = days(7, |i| (10 + i as u64, 3));
        let svg = daily_chart(&points);
        let names = assert_sane(&svg);
        assert_eq!(svg.matches(r#"<rect class="bar""#).count(), 7);
        assert_eq!(svg.matches(r#"<circle class="dot""#).count(), 7);
        assert_eq!(count(&names, "polyline"), 1);
        // One title for the chart, one per bar.
        assert_eq!(count(&names, "title"), 8);
        assert!(svg.contains("<title>2026-11-03: 12 pageviews, 3 visitors</title>"));
        assert!(svg.contains(
            r#"aria-label="Pageviews and visitors per day, 2026-11-01 to 2026-11-07: 91 pageviews, 21 visitors""#
        ));
        assert!(svg.contains(">Nov 1<") && svg.contains(">Nov 7<"));
        // Max 16: steps of 5 up to 20, so 0, 5, 10, 15, 20.
        for label in [">0<", ">5<", ">10<", ">15<", ">20<"] {
            assert!(svg.contains(label), "{label}");
        }
        assert_eq!(svg.matches(r#"<line "#).count(), 5);
        // Presentation attributes keep it readable without the dashboard's CSS.
        assert!(svg.contains(&format!(r#"fill="{BAR_FILL}""#)));
        assert!(svg.contains(&format!(r#"stroke="{LINE_STROKE}""#)));
    }

    #[test]
    fn all_zero_data_draws_flat_bars_on_a_valid_axis() {
        let svg = daily_chart(&days(30, |_| (0, 0)));
        assert_sane(&svg);
        assert_eq!(svg.matches(r#"height="0.0""#).count(), 30);
        assert!(svg.contains("0 pageviews, 0 visitors"));
    }

    #[test]
    fn one_day_has_no_line_but_a_dot() {
        let svg = daily_chart(&[point("2026-11-27", 1, 1)]);
        let names = assert_sane(&svg);
        assert_eq!(svg.matches(r#"<rect class="bar""#).count(), 1);
        assert_eq!(count(&names, "polyline"), 0);
        assert_eq!(svg.matches(r#"<circle class="dot""#).count(), 1);
        assert!(svg.contains("<title>2026-11-27: 1 pageview, 1 visitor</title>"));
        assert!(svg.contains(">Nov 27<"));
    }

    #[test]
    fn ninety_days_have_few_date_labels() {
        let svg = daily_chart(&days(90, |i| ((i * 37 % 101) as u64, (i % 13) as u64)));
        assert_sane(&svg);
        assert_eq!(svg.matches(r#"<rect class="bar""#).count(), 90);
        let labels = svg.split(r#"<g class="x-labels">"#).nth(1).unwrap();
        let dates = labels[..labels.find("</g>").unwrap()]
            .matches("<text ")
            .count();
        assert!((3..=MAX_X_LABELS).contains(&dates), "{dates} date labels");
        assert!(svg.contains(">Dec 29<") || svg.contains(">Dec 23<"));
    }

    #[test]
    fn huge_numbers_stay_finite_and_compact() {
        let svg = daily_chart(&[
            point("2026-11-27", u64::MAX, u64::MAX / 2),
            point("2026-11-28", 3, 1),
        ]);
        assert_sane(&svg);
        assert!(svg.contains("18,446,744,073,709,551,615 pageviews"));
        assert!(svg.contains(">5E<") || svg.contains(">20E<"), "{svg}");
        let millions = daily_chart(&[point("2026-11-27", 1_234_567, 4)]);
        assert!(millions.contains(">500k<") && millions.contains(">1.5M<"));
    }

    #[test]
    fn text_from_the_data_is_escaped() {
        let svg = daily_chart(&[point("<script>&\"'", 1, 1), point("2026-11-28", 2, 2)]);
        assert_sane(&svg);
        assert!(svg.contains("&lt;script&gt;&amp;&quot;&#39;"));
    }

    #[test]
    fn axis_steps_are_round() {
        assert_eq!(nice_axis(0), (1, 1));
        assert_eq!(nice_axis(3), (1, 3));
        assert_eq!(nice_axis(7), (2, 4));
        assert_eq!(nice_axis(9), (5, 2));
        assert_eq!(nice_axis(16), (5, 4));
        assert_eq!(nice_axis(100), (25, 4));
        assert_eq!(nice_axis(120), (50, 3));
        assert_eq!(nice_axis(1_234_567), (500_000, 3));
        assert_eq!(nice_axis(u64::MAX).1, 4);
        assert_eq!(compact(0), "0");
        assert_eq!(compact(2_500), "2.5k");
        assert_eq!(compact(25_000_000), "25M");
        assert_eq!(short_date("2026-01-05"), "Jan 5");
        assert_eq!(short_date("2026-13-05"), "2026-13-05");
    }
}
