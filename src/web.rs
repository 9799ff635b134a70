//! The web service: the JSON API under `/api/v1` and the pages of the web interface. This
//! layer only translates HTTP into calls to the store, model and audit.

mod answers;
mod api;
mod body;
mod caller;
mod consent_pages;
mod consents;
mod documents;
mod error;
mod login;
pub mod openapi;
mod pages;

use std::sync::Arc;

use std::time::Instant;

use rocket::fairing::{AdHoc, Fairing, Info, Kind};
use rocket::http::{Header, Status};
use rocket::request::Request;
use rocket::{Build, Rocket, catch, catchers};

pub use body::{CONCURRENT_IMPORTS, ENTRY_LIMIT, REGISTER_LIMIT};
pub use caller::{CSRF_HEADER, SESSION_COOKIE, TOKEN_CACHE_TTL};
pub use error::{ApiError, FieldError};

use crate::audit::PolicyPack;
use crate::render::Templates;
use crate::service::Registre;
use crate::store::Store;

/// What every request shares.
pub struct App {
    /// The register service every request goes through.
    pub registre: Registre,
    pub templates: Arc<Templates>,
    pub token_cache: caller::TokenCache,
    /// Register imports running at once (see [`body::CONCURRENT_IMPORTS`]).
    pub imports: Arc<rocket::tokio::sync::Semaphore>,
    /// Address of the public pages, for the links printed on paper (relative links if unset).
    pub public_url: Option<String>,
    /// Document versions stored, PDF slots and cache.
    pub documents: documents::DocumentState,
    /// Posts of the public forms by address, in the last minute.
    pub public_posts: RateLimit,
}

/// Posts by client address over the last minute. Kept in each process: a person behind
/// several servers may post a little more often; the aim is to stop floods, not to count.
#[derive(Default)]
pub struct RateLimit(std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, Vec<Instant>>>);

impl RateLimit {
    /// Counts a post from `address`; false when it already posted `per_minute` times in the
    /// last minute. Posts without a known address are not limited here (the proxy does it).
    pub fn allow(&self, address: Option<std::net::IpAddr>, per_minute: usize) -> bool {
        let Some(address) = address else {
            return true;
        };
        let now = Instant::now();
        let window = std::time::Duration::from_secs(60);
        let mut posts = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if posts.len() > 10_000 {
            posts.retain(|_, times| times.iter().any(|t| now.duration_since(*t) < window));
        }
        let times = posts.entry(address).or_default();
        times.retain(|t| now.duration_since(*t) < window);
        if times.len() >= per_minute {
            return false;
        }
        times.push(now);
        true
    }
}

impl App {
    pub fn new(store: Store, pack: Arc<PolicyPack>, templates: Templates) -> Self {
        App {
            registre: Registre::new(store, pack),
            templates: Arc::new(templates),
            token_cache: caller::TokenCache::default(),
            imports: Arc::new(rocket::tokio::sync::Semaphore::new(
                body::CONCURRENT_IMPORTS,
            )),
            public_url: None,
            documents: documents::DocumentState::default(),
            public_posts: RateLimit::default(),
        }
    }

    /// Whether cookies must only travel over HTTPS: the public address is https (registre
    /// itself, or the TLS proxy in front of it).
    pub fn secure_cookies(&self) -> bool {
        self.public_url
            .as_deref()
            .is_some_and(|url| url.starts_with("https://"))
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
        .mount("/", consent_pages::routes())
        .register("/api", catchers![api_catcher])
        .register("/", catchers![pages::page_catcher])
        .attach(AccessLog)
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

/// One line per request on the `access` target: method, route, status and duration. Never
/// the query string, a header or a body: they may hold personal data or tokens.
struct AccessLog;

#[rocket::async_trait]
impl Fairing for AccessLog {
    fn info(&self) -> Info {
        Info {
            name: "access log",
            kind: Kind::Request | Kind::Response,
        }
    }

    async fn on_request(&self, req: &mut Request<'_>, _: &mut rocket::Data<'_>) {
        req.local_cache(Instant::now);
    }

    async fn on_response<'r>(&self, req: &'r Request<'_>, res: &mut rocket::Response<'r>) {
        let started = req.local_cache(Instant::now);
        let route = req
            .route()
            .map_or_else(|| "-".to_owned(), |r| r.uri.to_string());
        tracing::info!(
            target: "access",
            method = %req.method(),
            route = %route,
            status = res.status().code,
            ms = format_args!("{:.1}", started.elapsed().as_secs_f64() * 1000.0),
        );
    }
}

/// Errors Rocket answers before a route runs (no route, failed guard) in the API's shape.
#[catch(default)]
fn api_catcher(status: Status, req: &Request<'_>) -> ApiError {
    error::caught(req, status)
}
