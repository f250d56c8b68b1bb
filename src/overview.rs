//! Read-only views shared by the dashboard pages and the JSON API: every site with its size,
//! last deploy, visits and live WebSocket clients; one site's deployments, env vars, log,
//! password users and custom domains; and the analytics summary.

use std::collections::HashMap;

use rusqlite::Connection;
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::js::pool::LogLine;
use crate::services::Services;
use crate::store::stats::{Filter, Summary};
use crate::store::{self, sites::DeploymentRow};

/// Visits are counted over this many days on the Hosting pages.
pub const VISIT_DAYS: u32 = 30;

pub struct SiteSummary {
    pub name: String,
    pub url: String,
    pub files: u64,
    pub bytes: u64,
    pub last_deploy: Option<String>,
    pub last_deploy_by: Option<String>,
    pub visits: i64,
    pub ws_clients: usize,
    pub has_script: bool,
}

impl SiteSummary {
    pub fn to_json(&self) -> Value {
        json!({
            "name": self.name,
            "url": self.url,
            "files": self.files,
            "bytes": self.bytes,
            "last_deploy": self.last_deploy,
            "last_deploy_by": self.last_deploy_by,
            "visits_30d": self.visits,
            "ws_clients": self.ws_clients,
            "main_js": self.has_script,
        })
    }
}

pub struct SiteDetail {
    pub summary: SiteSummary,
    pub deployments: Vec<DeploymentRow>,
    pub env: Vec<(String, String)>,
    pub logs: Vec<LogLine>,
    /// True when a previous deployment is kept, so a rollback can happen.
    pub can_roll_back: bool,
    pub disk: DiskUse,
    /// The Basic-auth user names of a protected site (none: the site is public). Never hashes.
    pub users: Vec<String>,
    /// The custom host names the site answers for (`www.example.com`).
    pub domains: Vec<String>,
    /// Its main.js's cron triggers, once the scheduler has read them.
    pub cron: Option<crate::js::cron::CronStatus>,
}

/// What a site holds on disk against its quota: the live files, the previous deployment kept
/// for rollback, and its `db` data. A deploy must keep the new files, the live ones and the
/// `db` within `quota`.
pub struct DiskUse {
    pub live: u64,
    pub previous: u64,
    pub db: u64,
    pub quota: u64,
}

impl DiskUse {
    pub fn total(&self) -> u64 {
        self.live + self.previous + self.db
    }
}

impl SiteDetail {
    pub fn to_json(&self) -> Value {
        let mut v = self.summary.to_json();
        v["can_roll_back"] = json!(self.can_roll_back);
        v["disk"] = json!({
            "live_bytes": self.disk.live,
            "previous_bytes": self.disk.previous,
            "db_bytes": self.disk.db,
            "total_bytes": self.disk.total(),
            "quota_bytes": self.disk.quota,
        });
        v["deployments"] = self
            .deployments
            .iter()
            .map(|d| {
                json!({ "id": d.id, "bytes": d.size_bytes, "files": d.file_count,
                        "deployed_by": d.deployed_by, "created_at": d.created_at })
            })
            .collect();
        v["env"] = self
            .env
            .iter()
            .map(|(k, val)| json!({ "key": k, "value": val }))
            .collect();
        v["logs"] = self
            .logs
            .iter()
            .map(|l| json!({ "time": l.unix_time, "level": l.level, "message": l.message }))
            .collect();
        v["protected"] = json!(!self.users.is_empty());
        v["users"] = json!(self.users);
        v["domains"] = json!(self.domains);
        v
    }
}

/// Pageviews per site (or of one site) over the last `VISIT_DAYS` days, from the daily roll-ups plus today's
/// raw events (a scan of raw events took 200-300 ms over 1 M events).
fn hosting_visits(conn: &Connection, site: Option<&str>) -> Result<HashMap<String, i64>, ApiError> {
    let filter = Filter {
        days: VISIT_DAYS,
        domain: site.map(str::to_string),
        source_type: Some("hosting".into()),
    };
    Ok(stats(conn, &filter)?
        .all_sites
        .into_iter()
        .map(|c| (c.label, c.pageviews as i64))
        .collect())
}

/// Every site folder, by name.
pub fn sites(svc: &Services, conn: &Connection) -> Result<Vec<SiteSummary>, ApiError> {
    let visits = hosting_visits(conn, None)?;
    svc.sites
        .names()
        .into_iter()
        .map(|name| summary(svc, conn, name, &visits))
        .collect()
}

fn summary(
    svc: &Services,
    conn: &Connection,
    name: String,
    visits: &HashMap<String, i64>,
) -> Result<SiteSummary, ApiError> {
    let size = svc.sites.measure(&name);
    let last = store::sites::last_deployment(conn, &name)?;
    Ok(SiteSummary {
        url: svc.site_url(&name),
        files: size.files,
        bytes: size.bytes,
        last_deploy: last.as_ref().map(|(at, _)| at.clone()),
        last_deploy_by: last.map(|(_, by)| by),
        visits: visits.get(&name).copied().unwrap_or(0),
        ws_clients: svc.hub.clients(&name),
        has_script: svc.sites.live_dir(&name).join("main.js").is_file(),
        name,
    })
}

/// One site; 404 when its folder does not exist.
pub fn site(svc: &Services, conn: &Connection, name: &str) -> Result<SiteDetail, ApiError> {
    if !svc.sites.live_dir(name).is_dir() {
        return Err(ApiError::NotFound(format!("there is no site '{name}'")));
    }
    let visits = hosting_visits(conn, Some(name))?;
    let summary = summary(svc, conn, name.to_string(), &visits)?;
    let disk = DiskUse {
        live: summary.bytes,
        previous: svc.sites.previous_bytes(name),
        db: store::kv::bytes(conn, name)?,
        quota: svc.sites.quota(),
    };
    Ok(SiteDetail {
        summary,
        disk,
        deployments: store::sites::deployments(conn, name, 50)?,
        env: store::kv::env_vars(conn, name)?,
        logs: svc.scripts.logs(name),
        can_roll_back: svc.sites.has_previous(name),
        users: store::hosting::site_users(conn, name)?
            .into_iter()
            .map(|(user, _)| user)
            .collect(),
        domains: store::hosting::domains(conn)?
            .into_iter()
            .filter(|(_, site)| site == name)
            .map(|(host, _)| host)
            .collect(),
        cron: svc.cron.status(name),
    })
}

/// The analytics filter from a query string: `days` (7, 30, 90, …), `site`, `source`.
pub fn stats_filter(pairs: &[(String, String)]) -> Filter {
    let get = |k: &str| {
        pairs
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.trim().to_string())
            .filter(|v| !v.is_empty() && v != "*")
    };
    Filter {
        days: get("days")
            .and_then(|d| d.parse().ok())
            .unwrap_or(30)
            .clamp(1, store::stats::MAX_DAYS),
        domain: get("site"),
        source_type: get("source"),
    }
}

/// Rolls up any finished day not yet rolled up, then summarises.
pub fn stats(conn: &Connection, filter: &Filter) -> Result<Summary, ApiError> {
    let today = crate::calendar::today_utc();
    store::stats::rollup_pending(conn, &today)?;
    Ok(store::stats::summary(conn, filter, &today)?)
}

pub fn stats_json(filter: &Filter, s: &Summary) -> Value {
    json!({
        "days": filter.days,
        "site": filter.domain,
        "source": filter.source_type,
        "pageviews": s.pageviews,
        "visitors": s.visitors,
        "per_day": s.per_day.iter().map(|d| json!({ "day": d.day, "pageviews": d.pageviews, "visitors": d.visitors })).collect::<Vec<_>>(),
        "top_sites": s.top_sites.iter().map(|c| json!({ "site": c.label, "pageviews": c.pageviews, "visitors": c.visitors })).collect::<Vec<_>>(),
        "top_paths": s.top_paths.iter().map(|p| json!({ "site": p.domain, "path": p.path, "pageviews": p.pageviews, "visitors": p.visitors })).collect::<Vec<_>>(),
        "top_referrers": s.top_referrers.iter().map(|c| json!({ "referrer": c.label, "pageviews": c.pageviews, "visitors": c.visitors })).collect::<Vec<_>>(),
    })
}
