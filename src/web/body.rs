//! Request bodies: read within a size limit and parsed; the service layer checks them as
//! register entries.

use rocket::data::{Data, FromData, Outcome, ToByteUnit};
use rocket::http::ContentType;
use rocket::request::Request;
use serde_json::Value;

use super::error::{ApiError, FieldError, reject};
use crate::model::{self, SourceFormat};

/// Largest body of a single organisation or activity.
pub const ENTRY_LIMIT: u64 = 256 * 1024;
/// Largest whole-register import: the 28 000-activity synthetic register (700 communes) is
/// 40 MB of YAML, 58 MiB of JSON, and its import peaks under 1 GB. A larger register comes
/// in several files (each organisation replaces its own) or through `registre import`.
pub const REGISTER_LIMIT: u64 = 64 * 1024 * 1024;

/// A JSON body of at most [`ENTRY_LIMIT`] bytes.
pub struct JsonBody<const LIMIT: u64 = ENTRY_LIMIT>(pub Value);

/// A register file (YAML, or JSON when sent as `application/json`) of at most
/// [`REGISTER_LIMIT`] bytes.
pub struct RegisterText {
    pub text: String,
    pub format: SourceFormat,
    /// The import's place among those that may run at once: held until it is written.
    pub slot: rocket::tokio::sync::OwnedSemaphorePermit,
}

/// Imports read, checked and written at once: the largest takes most of a gigabyte, so
/// imports wait their turn (503 with `Retry-After`) rather than add up.
pub const CONCURRENT_IMPORTS: usize = 1;

async fn read_text<'r>(data: Data<'r>, limit: u64) -> Result<String, ApiError> {
    let capped = data
        .open(limit.bytes())
        .into_string()
        .await
        .map_err(|e| ApiError::Unreadable(whole(format!("corps illisible : {e}"))))?;
    if !capped.is_complete() {
        return Err(ApiError::TooLarge(limit));
    }
    Ok(capped.into_inner())
}

fn whole(message: String) -> FieldError {
    FieldError {
        path: String::new(),
        line: None,
        message,
    }
}

fn outcome<'r, T>(req: &'r Request<'_>, result: Result<T, ApiError>) -> Outcome<'r, T, ApiError> {
    match result {
        Ok(v) => Outcome::Success(v),
        Err(e) => Outcome::Error(reject(req, e)),
    }
}

#[rocket::async_trait]
impl<'r, const LIMIT: u64> FromData<'r> for JsonBody<LIMIT> {
    type Error = ApiError;

    async fn from_data(req: &'r Request<'_>, data: Data<'r>) -> Outcome<'r, Self, ApiError> {
        let result = async {
            let text = read_text(data, LIMIT).await?;
            let value: Value = serde_json::from_str(&text).map_err(|e| {
                ApiError::Unreadable(FieldError {
                    path: String::new(),
                    line: Some(e.line()),
                    message: format!("JSON illisible : {e}"),
                })
            })?;
            let problems = model::hygiene::json_problems(&text, &value);
            if problems.is_empty() {
                Ok(JsonBody(value))
            } else {
                Err(ApiError::Invalid(
                    problems.into_iter().map(Into::into).collect(),
                ))
            }
        }
        .await;
        outcome(req, result)
    }
}

#[rocket::async_trait]
impl<'r> FromData<'r> for RegisterText {
    type Error = ApiError;

    async fn from_data(req: &'r Request<'_>, data: Data<'r>) -> Outcome<'r, Self, ApiError> {
        let format = if req.content_type() == Some(&ContentType::JSON) {
            SourceFormat::Json
        } else {
            SourceFormat::Yaml
        };
        let result = async {
            let app = req
                .rocket()
                .state::<super::App>()
                .ok_or_else(|| ApiError::Internal("état absent".into()))?;
            // Taken before the body is read: past the limit, nothing is read at all.
            let slot = app
                .imports
                .clone()
                .try_acquire_owned()
                .map_err(|_| ApiError::Busy(5))?;
            let text = read_text(data, REGISTER_LIMIT).await?;
            Ok(RegisterText { text, format, slot })
        }
        .await;
        outcome(req, result)
    }
}
