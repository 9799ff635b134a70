//! The web service: the JSON API under `/api/v1` and the pages of the web interface. This
//! layer only translates HTTP into calls to the store, model and audit.

mod api;
mod body;
mod caller;
mod documents;
mod error;
mod login;
pub mod openapi;
mod pages;

use std::sync::Arc;

use jiff::Timestamp;
use rocket::fairing::AdHoc;
use rocket::http::{Header, Status};
use rocket::request::Request;
use rocket::{Build, Rocket, catch, catchers};

pub use body::{ENTRY_LIMIT, REGISTER_LIMIT};
pub use caller::{CSRF_HEADER, SESSION_COOKIE};
pub use error::{ApiError, FieldError};

use crate::audit::PolicyPack;
use crate::auth::{Sessions, Throttle};
use crate::render::Templates;
use crate::store::{Event, Store};

/// What every request shares.
pub struct App {
    pub store: Store,
    pub pack: Arc<PolicyPack>,
    pub templates: Arc<Templates>,
    pub sessions: Sessions,
    pub throttle: Throttle,
    pub token_cache: caller::TokenCache,
    /// Password checks running at once (Argon2id is memory- and CPU-hard by design).
    pub password_checks: rocket::tokio::sync::Semaphore,
    /// Address of the public pages, for the links printed on paper (relative links if unset).
    pub public_url: Option<String>,
    /// Document versions stored, PDF slots and cache.
    pub documents: documents::DocumentState,
}

impl App {
    pub fn new(store: Store, pack: Arc<PolicyPack>, templates: Templates) -> Self {
        App {
            store,
            pack,
            templates: Arc::new(templates),
            sessions: Sessions::default(),
            throttle: Throttle::default(),
            token_cache: caller::TokenCache::default(),
            password_checks: rocket::tokio::sync::Semaphore::new(2),
            public_url: None,
            documents: documents::DocumentState::default(),
        }
    }

    /// Appends to the security log; a failure to log is reported, not fatal to the request.
    pub async fn log(
        &self,
        actor: &str,
        action: &str,
        target: Option<&str>,
        success: bool,
        address: Option<&str>,
    ) {
        let event = Event {
            at: Timestamp::now().to_string(),
            actor: actor.to_owned(),
            action: action.to_owned(),
            target: target.map(str::to_owned),
            success,
            address: address.map(str::to_owned),
        };
        if let Err(e) = self.store.log_event(&event).await {
            eprintln!("registre: journal de sécurité : {e}");
        }
    }
}

/// The Content-Security-Policy of every answer: registre's pages use no script and no
/// outside resource at all.
const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The service, ready to launch with `figment` (address, port, secret key, limits).
pub fn rocket(app: App, figment: rocket::figment::Figment) -> Rocket<Build> {
    rocket::custom(figment)
        .manage(app)
        .mount("/api/v1", api::routes())
        .mount("/", pages::routes())
        .mount("/", documents::public_routes())
        .register("/api", catchers![api_catcher])
        .register("/", catchers![pages::page_catcher])
        .attach(AdHoc::on_response("security headers", |_, response| {
            Box::pin(async move {
                response.set_header(Header::new("Content-Security-Policy", CSP));
                response.set_header(Header::new("Referrer-Policy", "no-referrer"));
                response.set_header(Header::new(
                    "Permissions-Policy",
                    "camera=(), microphone=(), geolocation=()",
                ));
            })
        }))
}

/// Errors Rocket answers before a route runs (no route, failed guard) in the API's shape.
#[catch(default)]
fn api_catcher(status: Status, req: &Request<'_>) -> ApiError {
    error::caught(req, status)
}
