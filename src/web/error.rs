//! Errors of the JSON API: a status and a JSON body that names each field at fault, in French.

use std::io::Cursor;

use rocket::http::{ContentType, Header, Status};
use rocket::request::Request;
use rocket::response::{self, Responder, Response};
use serde::Serialize;
use serde_json::json;

use crate::model::InputError;
use crate::store::StoreError;

/// One field at fault: its path in the request body (`purposes[1]`; empty for the whole body).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    pub message: String,
}

impl From<InputError> for FieldError {
    fn from(e: InputError) -> Self {
        FieldError {
            path: e.path,
            line: e.line,
            message: e.message,
        }
    }
}

/// The result of an API route.
pub type ApiResult<T> = Result<T, ApiError>;

/// Why a request failed.
#[derive(Debug, Clone)]
pub enum ApiError {
    /// 400: the body is not JSON (or YAML) at all.
    Unreadable(FieldError),
    /// 400: a query parameter that means nothing (`?format=docx`, `?page=-1`).
    BadParameter(FieldError),
    /// 401: no valid credentials.
    Unauthenticated,
    /// 403: known to the caller, but not theirs to do.
    Forbidden(String),
    /// 404: unknown, or not visible to the caller (the two are not told apart).
    NotFound(String),
    /// 409: the register's current state forbids it.
    Conflict(String),
    /// 413: the body exceeds the route's limit.
    TooLarge(u64),
    /// 422: well-formed, but not a valid register entry.
    Invalid(Vec<FieldError>),
    /// 429: too many failed sign-ins; retry after this many seconds.
    Throttled(u64),
    /// 500: a fault of the service, never of the input.
    Internal(String),
    /// 503: too busy right now; retry after this many seconds.
    Busy(u64),
}

impl ApiError {
    pub fn status(&self) -> Status {
        match self {
            ApiError::Unreadable(_) | ApiError::BadParameter(_) => Status::BadRequest,
            ApiError::Unauthenticated => Status::Unauthorized,
            ApiError::Forbidden(_) => Status::Forbidden,
            ApiError::NotFound(_) => Status::NotFound,
            ApiError::Conflict(_) => Status::Conflict,
            ApiError::TooLarge(_) => Status::PayloadTooLarge,
            ApiError::Invalid(_) => Status::UnprocessableEntity,
            ApiError::Throttled(_) => Status::TooManyRequests,
            ApiError::Internal(_) => Status::InternalServerError,
            ApiError::Busy(_) => Status::ServiceUnavailable,
        }
    }

    /// A 400 for one query parameter.
    pub fn bad_parameter(name: &str, message: impl Into<String>) -> Self {
        ApiError::BadParameter(FieldError {
            path: name.to_owned(),
            line: None,
            message: message.into(),
        })
    }

    /// A 422 for one field.
    pub fn invalid(path: &str, message: impl Into<String>) -> Self {
        ApiError::Invalid(vec![FieldError {
            path: path.to_owned(),
            line: None,
            message: message.into(),
        }])
    }

    fn body(&self) -> serde_json::Value {
        let (code, message, errors): (&str, String, Vec<FieldError>) = match self {
            ApiError::Unreadable(e) => (
                "unreadable",
                "corps de requête illisible".into(),
                vec![e.clone()],
            ),
            ApiError::BadParameter(e) => (
                "bad_parameter",
                "paramètre de requête invalide".into(),
                vec![e.clone()],
            ),
            ApiError::Unauthenticated => (
                "unauthenticated",
                "authentification requise : jeton d'API (Authorization: Bearer …) ou session"
                    .into(),
                Vec::new(),
            ),
            ApiError::Forbidden(m) => ("forbidden", m.clone(), Vec::new()),
            ApiError::NotFound(m) => ("not_found", m.clone(), Vec::new()),
            ApiError::Conflict(m) => ("conflict", m.clone(), Vec::new()),
            ApiError::TooLarge(limit) => (
                "too_large",
                format!("corps de requête trop volumineux (limite : {limit} octets)"),
                vec![FieldError {
                    path: String::new(),
                    line: None,
                    message: format!("dépasse la limite de {limit} octets"),
                }],
            ),
            ApiError::Invalid(errors) => {
                let n = errors.len();
                (
                    "invalid",
                    format!("{n} erreur{} de validation", if n > 1 { "s" } else { "" }),
                    errors.clone(),
                )
            }
            ApiError::Throttled(seconds) => (
                "throttled",
                format!("trop d'échecs de connexion : réessayez dans {seconds} s"),
                Vec::new(),
            ),
            ApiError::Internal(_) => (
                "internal",
                "erreur interne du service ; elle est journalisée".into(),
                Vec::new(),
            ),
            ApiError::Busy(seconds) => (
                "busy",
                format!("service momentanément surchargé : réessayez dans {seconds} s"),
                Vec::new(),
            ),
        };
        let mut body = json!({ "error": code, "message": message });
        if !errors.is_empty() {
            body["errors"] = json!(errors);
        }
        body
    }
}

impl From<crate::service::Error> for ApiError {
    fn from(e: crate::service::Error) -> Self {
        use crate::service::Error;
        match e {
            Error::Unreadable(e) => ApiError::Unreadable(e.into()),
            Error::Invalid(errors) => {
                ApiError::Invalid(errors.into_iter().map(Into::into).collect())
            }
            Error::NotFound(m) => ApiError::NotFound(m),
            Error::Forbidden(m) => ApiError::Forbidden(m),
            Error::Conflict(m) => ApiError::Conflict(m),
            Error::Store(e) => e.into(),
            Error::Unauthenticated => ApiError::Unauthenticated,
            Error::Throttled(seconds) => ApiError::Throttled(seconds),
            Error::Internal(m) => ApiError::Internal(m),
        }
    }
}

impl From<crate::auth::Denied> for ApiError {
    fn from(e: crate::auth::Denied) -> Self {
        crate::service::Error::from(e).into()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(m) => ApiError::NotFound(m),
            StoreError::Conflict(m) => ApiError::Conflict(m),
            // The caller's layer names the dependents it may show (see `api::in_use`).
            in_use @ StoreError::InUse { .. } => ApiError::Conflict(format!(
                "{in_use} ; ces activités doivent d'abord cesser d'en dépendre"
            )),
            StoreError::Busy(_) | StoreError::Retryable(_) => ApiError::Busy(1),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl<'r> Responder<'r, 'static> for ApiError {
    fn respond_to(self, request: &'r Request<'_>) -> response::Result<'static> {
        if let ApiError::Internal(message) = &self {
            // The detail goes to the log, not to the client.
            tracing::error!(
                method = %request.method(),
                path = %request.uri().path(),
                "{message}"
            );
        }
        let body = self.body().to_string();
        let mut response = Response::build();
        response
            .status(self.status())
            .header(ContentType::JSON)
            .sized_body(body.len(), Cursor::new(body));
        match self {
            ApiError::Unauthenticated => {
                response.header(Header::new("WWW-Authenticate", "Bearer realm=\"registre\""));
            }
            ApiError::Throttled(seconds) | ApiError::Busy(seconds) => {
                response.header(Header::new("Retry-After", seconds.to_string()));
            }
            _ => {}
        }
        response.ok()
    }
}

/// The error of a guard that failed, kept for the catcher: Rocket 0.5 passes catchers only
/// the status.
pub struct Rejected(pub Option<ApiError>);

/// The failure of a guard: `error` is kept for the API catcher to answer with.
pub fn reject(req: &Request<'_>, error: ApiError) -> (Status, ApiError) {
    req.local_cache(|| Rejected(Some(error.clone())));
    (error.status(), error)
}

/// What a catcher answers: the guard's own error when there was one.
pub fn caught(req: &Request<'_>, status: Status) -> ApiError {
    if let Some(error) = &req.local_cache(|| Rejected(None)).0 {
        return error.clone();
    }
    match status.code {
        401 => ApiError::Unauthenticated,
        403 => ApiError::Forbidden("accès refusé".into()),
        404 => ApiError::NotFound("adresse inconnue".into()),
        413 => ApiError::TooLarge(crate::web::ENTRY_LIMIT),
        400 | 422 => ApiError::Unreadable(FieldError {
            path: String::new(),
            line: None,
            message: format!("requête invalide ({status})"),
        }),
        _ => ApiError::Internal(format!("statut {status}")),
    }
}
