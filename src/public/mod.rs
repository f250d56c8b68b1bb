//! The public endpoints: what anyone may call without a login, each limited per client
//! address (`Services::check_public_rate`) and each recording what it saw through the
//! analytics writer — pageviews and events from sites hosted elsewhere (`/t.js`,
//! `/api/event`, `/track`), the tracking pixel (`/pixel.gif`), short links (`/r/<slug>`) and
//! webhook endpoints (`/webhook/<name>`). The admin's pages for them live in `dashboard/`,
//! their audited changes in `actions`, their SQL in `store/`.

pub mod links;
pub mod pixel;
pub mod tracking;
pub mod webhooks;
