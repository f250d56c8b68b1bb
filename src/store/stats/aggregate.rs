//! One UTC day of raw `events` turned into its roll-up rows (totals, capped top paths and
//! referrer hosts), in one pass: the same rows whether a day is being rolled up or read live
//! as today. Reads `events` only; never writes, and never decides which days need it.

use std::collections::{HashMap, HashSet};

use rusqlite::{Connection, params};

use super::{ALL, TOP_PER_DAY, day_start};

/// Longest referrer host kept (a DNS name has at most 253 characters).
pub(super) const MAX_HOST: usize = 253;

/// `event_rollups.kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Kind {
    Total,
    Path,
    Referrer,
}

impl Kind {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Kind::Total => "total",
            Kind::Path => "path",
            Kind::Referrer => "referrer",
        }
    }
}

/// One `event_rollups` row without its day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct RollupRow {
    pub(super) kind: Kind,
    pub(super) source_type: String,
    pub(super) domain: String,
    pub(super) value: String,
    pub(super) pageviews: u64,
    pub(super) visitors: u64,
}

/// Strings seen while aggregating a day, as small numbers: keys stay `Copy` and each distinct
/// string is allocated once, however many events repeat it.
#[derive(Default)]
struct Interner {
    ids: HashMap<String, u32>,
    names: Vec<String>,
}

impl Interner {
    fn id(&mut self, s: &str) -> u32 {
        if let Some(&id) = self.ids.get(s) {
            return id;
        }
        let id = self.names.len() as u32;
        self.names.push(s.to_owned());
        self.ids.insert(s.to_owned(), id);
        id
    }
}

/// A roll-up row being counted: kind, then source, domain and value as interned ids.
type GroupKey = (Kind, u32, u32, u32);

#[derive(Default)]
struct Acc {
    pageviews: u64,
    visitors: HashSet<u32>,
}

/// A path or referrer host (interned id) with its counts, before the per-day cap.
struct Tally {
    value: u32,
    pageviews: u64,
    visitors: u64,
}

/// Every roll-up row of one UTC day, computed from `events` in one pass over the day's rows.
/// Used both to roll a day up and for today's live numbers, so the two always agree.
pub(super) fn aggregate_day(conn: &Connection, day: i64) -> rusqlite::Result<Vec<RollupRow>> {
    let mut strings = Interner::default();
    let mut hashes = Interner::default();
    // Referrer URL → host id, so each distinct URL is parsed once.
    let mut hosts: HashMap<String, Option<u32>> = HashMap::new();
    let mut groups: HashMap<GroupKey, Acc> = HashMap::new();
    let (all, empty) = (strings.id(ALL), strings.id(""));

    let mut stmt = conn.prepare_cached(
        "SELECT source_type, domain, path, referrer, visitor_hash FROM events
         WHERE created_at >= ?1 AND created_at < ?2",
    )?;
    let mut rows = stmt.query(params![day_start(day), day_start(day + 1)])?;
    while let Some(r) = rows.next()? {
        let source = r.get_ref(0)?.as_str()?;
        let domain = r.get_ref(1)?.as_str()?;
        let visitor = r.get_ref(4)?.as_str_or_null()?.map(|h| hashes.id(h));
        let (s, d) = (strings.id(source), strings.id(domain));
        let mut bump = |key| {
            let acc: &mut Acc = groups.entry(key).or_default();
            acc.pageviews += 1;
            if let Some(v) = visitor {
                acc.visitors.insert(v);
            }
        };
        bump((Kind::Total, all, all, empty));
        if domain != ALL {
            bump((Kind::Total, all, d, empty));
        }
        if source != ALL {
            bump((Kind::Total, s, all, empty));
        }
        if source == ALL || domain == ALL {
            continue;
        }
        bump((Kind::Total, s, d, empty));
        let path = strings.id(path_key(r.get_ref(2)?.as_str()?));
        bump((Kind::Path, s, d, path));
        if let Some(url) = r.get_ref(3)?.as_str_or_null()? {
            let host = match hosts.get(url) {
                Some(&h) => h,
                None => {
                    let h = referrer_host(url).map(|h| strings.id(&h));
                    hosts.insert(url.to_owned(), h);
                    h
                }
            };
            if let Some(host) = host {
                bump((Kind::Referrer, s, d, host));
            }
        }
    }

    let name = |id: u32| strings.names[id as usize].clone();
    let mut out = Vec::new();
    // Paths and referrers, per (kind, source, domain), before the cap.
    let mut ranked: HashMap<(Kind, u32, u32), Vec<Tally>> = HashMap::new();
    for ((kind, s, d, value), acc) in groups {
        let (pageviews, visitors) = (acc.pageviews, acc.visitors.len() as u64);
        if kind == Kind::Total {
            out.push(RollupRow {
                kind,
                source_type: name(s),
                domain: name(d),
                value: String::new(),
                pageviews,
                visitors,
            });
        } else {
            ranked.entry((kind, s, d)).or_default().push(Tally {
                value,
                pageviews,
                visitors,
            });
        }
    }
    for ((kind, s, d), mut tallies) in ranked {
        tallies.sort_by(|a, b| {
            (b.pageviews, b.visitors)
                .cmp(&(a.pageviews, a.visitors))
                .then_with(|| strings.names[a.value as usize].cmp(&strings.names[b.value as usize]))
        });
        tallies.truncate(TOP_PER_DAY);
        for t in tallies {
            out.push(RollupRow {
                kind,
                source_type: name(s),
                domain: name(d),
                value: name(t.value),
                pageviews: t.pageviews,
                visitors: t.visitors,
            });
        }
    }
    Ok(out)
}

/// The path as a top-list entry: without query string or fragment, which would split one page
/// into many rows (`?utm_source=…`, cache busters) and can carry tokens.
pub(super) fn path_key(path: &str) -> &str {
    let end = path.find(['?', '#']).unwrap_or(path.len());
    &path[..end]
}

/// The host of a referrer URL, lower case, without port, user info, trailing dot or `www.`;
/// `None` when there is none. Hosts rather than full URLs: full referrers carry search terms,
/// session and reset tokens, and are so varied that the per-day cap would cut most of them;
/// the host is what "where do visitors come from" asks. The referring page is not kept.
pub(super) fn referrer_host(referrer: &str) -> Option<String> {
    let r = referrer.trim();
    let rest = match r.find("://") {
        Some(i) => &r[i + 3..],
        None => r.strip_prefix("//").unwrap_or(r),
    };
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let host_port = authority.rsplit('@').next().unwrap_or(authority);
    let host = if host_port.starts_with('[') {
        // IPv6 literal: keep the brackets, drop the port after them.
        &host_port[..host_port.find(']').map_or(host_port.len(), |i| i + 1)]
    } else {
        host_port.split(':').next().unwrap_or(host_port)
    };
    let mut host = host.trim_end_matches('.').to_ascii_lowercase();
    if let Some(bare) = host.strip_prefix("www.")
        && !bare.is_empty()
    {
        host = bare.to_string();
    }
    if host.len() > MAX_HOST {
        let mut cut = MAX_HOST;
        while !host.is_char_boundary(cut) {
            cut -= 1;
        }
        host.truncate(cut);
    }
    (!host.is_empty()).then_some(host)
}
