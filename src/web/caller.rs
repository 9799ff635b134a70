//! Who is calling: an API token (`Authorization: Bearer rgt_…`) or a browser session, and what
//! they may do. Every route asks here for role *and* organisation.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rocket::http::Method;
use rocket::request::{FromRequest, Outcome, Request};

use super::App;
use super::error::{ApiError, reject};
pub use crate::auth::Need;
use crate::auth::{Actor, token_hash};

/// The session cookie (private: encrypted and signed with the service's key).
pub const SESSION_COOKIE: &str = "registre_session";
/// The header carrying the CSRF token on state-changing requests of a browser session.
pub const CSRF_HEADER: &str = "X-CSRF-Token";

/// An authenticated caller of a request: who acts (see [`Actor`] for what they may do), and
/// how they proved it.
#[derive(Debug, Clone)]
pub struct Caller {
    pub actor: Actor,
    /// The session's CSRF token, for browser sessions.
    pub csrf: Option<String>,
}

impl std::ops::Deref for Caller {
    type Target = Actor;

    fn deref(&self) -> &Actor {
        &self.actor
    }
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for Caller {
    type Error = ApiError;

    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, ApiError> {
        let Some(app) = req.rocket().state::<App>() else {
            return Outcome::Error(reject(req, ApiError::Internal("état absent".into())));
        };
        match identify(app, req).await {
            Ok(Some(caller)) => Outcome::Success(caller),
            Ok(None) => Outcome::Error(reject(req, ApiError::Unauthenticated)),
            Err(e) => Outcome::Error(reject(req, e)),
        }
    }
}

async fn identify(app: &App, req: &Request<'_>) -> Result<Option<Caller>, ApiError> {
    let accounts = &app.registre.accounts;
    if let Some(header) = req.headers().get_one("Authorization") {
        let Some(token) = header.strip_prefix("Bearer ") else {
            return Ok(None);
        };
        let token = token.trim();
        let hash = token_hash(token);
        if let Some(caller) = app.token_cache.get(&hash) {
            return Ok(Some(caller));
        }
        let Some(actor) = accounts.token_actor(token).await? else {
            return Ok(None);
        };
        let caller = Caller { actor, csrf: None };
        app.token_cache.put(hash, caller.clone());
        return Ok(Some(caller));
    }
    let Some(session_id) = req
        .cookies()
        .get_private(SESSION_COOKIE)
        .map(|c| c.value().to_owned())
    else {
        return Ok(None);
    };
    let Some((actor, session)) = accounts.session(&session_id).await? else {
        return Ok(None);
    };
    // Requests that change something must prove they come from registre's own pages.
    let safe = matches!(req.method(), Method::Get | Method::Head | Method::Options);
    if !safe {
        let sent = req.headers().get_one(CSRF_HEADER).unwrap_or_default();
        if !session.csrf_matches(sent) {
            return Err(ApiError::Forbidden(
                "jeton CSRF absent ou invalide (en-tête X-CSRF-Token)".into(),
            ));
        }
    }
    Ok(Some(Caller {
        actor,
        csrf: Some(session.csrf),
    }))
}

/// How long a checked API token is trusted without asking the database again. Revocations and
/// disabled accounts take effect at once on this server (the cache is emptied) and within
/// this delay on the other servers of a shared database.
pub const TOKEN_CACHE_TTL: Duration = Duration::from_secs(5);

/// Most tokens remembered at once.
const TOKEN_CACHE_ENTRIES: usize = 10_000;

/// Recently checked API tokens, by hash: reading one activity then costs one query, not two.
#[derive(Default)]
pub struct TokenCache(Mutex<HashMap<String, (Instant, Caller)>>);

impl TokenCache {
    fn get(&self, hash: &str) -> Option<Caller> {
        let cache = self.0.lock().unwrap_or_else(|e| e.into_inner());
        cache
            .get(hash)
            .filter(|(at, _)| at.elapsed() < TOKEN_CACHE_TTL)
            .map(|(_, caller)| caller.clone())
    }

    fn put(&self, hash: String, caller: Caller) {
        let mut cache = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= TOKEN_CACHE_ENTRIES {
            cache.retain(|_, (at, _)| at.elapsed() < TOKEN_CACHE_TTL);
            if cache.len() >= TOKEN_CACHE_ENTRIES {
                cache.clear();
            }
        }
        cache.insert(hash, (Instant::now(), caller));
    }

    /// Forgets every token: after a revocation or an account change.
    pub fn clear(&self) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

/// The organisation a route is about: the segment after `organisations/`.
fn routed_organisation<'r>(req: &'r Request<'_>) -> Option<&'r str> {
    match req.routed_segment(0) {
        Some("organisations") => req.routed_segment(1),
        _ => None,
    }
}

/// A caller allowed `need` on the route's organisation; 404 when they may not see it.
async fn allowed(req: &Request<'_>, need: Need) -> Outcome<Caller, ApiError> {
    let caller = match req.guard::<Caller>().await {
        Outcome::Success(caller) => caller,
        Outcome::Error(e) => return Outcome::Error(e),
        Outcome::Forward(s) => return Outcome::Forward(s),
    };
    let Some(org) = routed_organisation(req) else {
        return Outcome::Error(reject(
            req,
            ApiError::Internal("route sans organisme".into()),
        ));
    };
    match caller.require(need, org) {
        Ok(()) => Outcome::Success(caller),
        Err(denied) => Outcome::Error(reject(req, denied.into())),
    }
}

/// Request guards named after what they allow on the organisation of the route, so that a
/// handler's signature says who may call it.
macro_rules! organisation_guard {
    ($(#[$doc:meta])* $name:ident, $need:expr) => {
        $(#[$doc])*
        pub struct $name(pub Caller);

        impl std::ops::Deref for $name {
            type Target = Caller;

            fn deref(&self) -> &Caller {
                &self.0
            }
        }

        #[rocket::async_trait]
        impl<'r> FromRequest<'r> for $name {
            type Error = ApiError;

            async fn from_request(req: &'r Request<'_>) -> Outcome<Self, ApiError> {
                allowed(req, $need).await.map($name)
            }
        }
    };
}

organisation_guard!(
    /// May read the route's organisation's register (every role on it).
    Reader,
    Need::Read
);
organisation_guard!(
    /// May audit the route's organisation: findings, history, past registers.
    Auditor,
    Need::Audit
);
organisation_guard!(
    /// May record consents and withdrawals for the route's organisation, and list who
    /// consented (its agents, its DPO, an administrator).
    Recorder,
    Need::RecordConsent
);
organisation_guard!(
    /// May change the route's organisation's register (its DPO, an administrator).
    Editor,
    Need::Edit
);

/// An administrator.
pub struct Admin(pub Caller);

impl std::ops::Deref for Admin {
    type Target = Caller;

    fn deref(&self) -> &Caller {
        &self.0
    }
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for Admin {
    type Error = ApiError;

    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, ApiError> {
        let caller = match req.guard::<Caller>().await {
            Outcome::Success(caller) => caller,
            Outcome::Error(e) => return Outcome::Error(e),
            Outcome::Forward(s) => return Outcome::Forward(s),
        };
        match caller.require_admin() {
            Ok(()) => Outcome::Success(Admin(caller)),
            Err(denied) => Outcome::Error(reject(req, denied.into())),
        }
    }
}
