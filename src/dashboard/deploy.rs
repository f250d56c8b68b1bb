//! Deploying from the browser: the Hosting page's deploy card sends a picked folder's files
//! (or a zip) to `POST /sites/deploy` as `multipart/form-data`, the same form the API's
//! `/api/deploy` takes. The CSRF token comes in the `X-CSRF-Token` header and is checked before
//! a byte of the body is read; the answer is JSON for the page's script: what went live, or
//! `{"error": …}` with the refusal's status and words (a bad `_redirects` line, a taken
//! `CNAME`, a size limit).

use super::{Admin, Dashboard};
use crate::error::ApiError;
use crate::http::{Request, Response};

impl Dashboard {
    pub(super) fn deploy_upload(&self, req: &mut Request, admin: &Admin) -> Response {
        match self.receive_deploy(req, admin) {
            Ok(r) => r,
            Err(e) => {
                if e.status() == 500 {
                    eprintln!("dashboard: deploy: {e}");
                }
                e.to_json_response()
            }
        }
    }

    fn receive_deploy(&self, req: &mut Request, admin: &Admin) -> Result<Response, ApiError> {
        let token = req.header("x-csrf-token").map(str::to_string);
        self.svc.check_csrf(req, &admin.caller, token.as_deref())?;
        let mut conn = self.svc.conn()?;
        let answer = self.svc.deploy_upload(&mut conn, &admin.caller, req)?;
        Ok(Response::json(200, &answer))
    }
}
