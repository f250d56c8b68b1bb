//! The whole request handler: routes on Host, answers from the dashboard or a site, and records
//! a visit for every site request. Knows nothing of sockets.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::analytics::{self, Recorder, Visit};
use crate::api::Api;
use crate::config::ServeConfig;
use crate::http::{Request, Response};
use crate::js::pool::ScriptPool;
use crate::router::{self, Route};
use crate::{dashboard, site};

pub struct App {
    domain: String,
    sites_dir: PathBuf,
    api: Api,
    scripts: Arc<ScriptPool>,
    pub recorder: Recorder,
}

impl App {
    pub fn new(
        config: &ServeConfig,
        api: Api,
        scripts: Arc<ScriptPool>,
        recorder: Recorder,
    ) -> App {
        App {
            domain: config.domain.clone(),
            sites_dir: config.sites_dir(),
            api,
            scripts,
            recorder,
        }
    }

    pub fn handle(&self, req: &mut Request) -> Response {
        match router::route(req.header("host"), &self.domain) {
            Route::Dashboard if is_api(req.raw_path()) => self.api.handle(req),
            Route::Dashboard => dashboard::handle(req),
            Route::Site(name) if site::exists(&self.sites_dir, &name) => {
                let response = site::handle(&self.sites_dir, &name, req, self.scripts.as_ref());
                self.recorder.record(Visit {
                    unix_time: analytics::now_unix(),
                    path: req.raw_path().to_string(),
                    status: response.status,
                    referrer: req.header("referer").map(str::to_string),
                    user_agent: req.header("user-agent").map(str::to_string),
                    ip: req.remote_ip,
                    site: name,
                });
                response
            }
            // Unknown names are not recorded: random subdomains must not fill `events`.
            Route::Site(_) | Route::Unknown => site::site_not_found(),
        }
    }
}

fn is_api(path: &str) -> bool {
    path.starts_with("/api/")
}

impl site::Scripts for ScriptPool {
    fn run(&self, site: &str, root: &Path, req: &mut Request) -> Response {
        ScriptPool::run(self, site, root, req)
    }
}
