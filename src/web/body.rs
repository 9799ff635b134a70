//! Request bodies: read within a size limit, parsed, then checked as register entries with the
//! same checks as a register file, each error named by its path in the body.

use rocket::data::{Data, FromData, Outcome, ToByteUnit};
use rocket::http::ContentType;
use rocket::request::Request;
use serde_json::{Value, json};

use super::error::{ApiError, FieldError, reject};
use crate::model::{
    self, Activity, InputError, Organisation, Outside, Register, Source, SourceFormat,
};
use crate::vocabulary::{Countries, Vocabulary};

/// Largest body of a single organisation or activity.
pub const ENTRY_LIMIT: u64 = 256 * 1024;
/// Largest whole-register import: the 28 000-activity synthetic register (700 communes) is
/// 40 MB of YAML, 58 MiB of JSON, and its import peaks under 1 GB. A larger register comes
/// in several files (each organisation replaces its own) or through `registre import`.
pub const REGISTER_LIMIT: u64 = 64 * 1024 * 1024;

/// A JSON body of at most [`ENTRY_LIMIT`] bytes.
pub struct JsonBody(pub Value);

/// A register file (YAML, or JSON when sent as `application/json`) of at most
/// [`REGISTER_LIMIT`] bytes.
pub struct RegisterText {
    pub text: String,
    pub format: SourceFormat,
    /// One of the few imports that may run at once, held until the body is dropped.
    _slot: rocket::tokio::sync::OwnedSemaphorePermit,
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
impl<'r> FromData<'r> for JsonBody {
    type Error = ApiError;

    async fn from_data(req: &'r Request<'_>, data: Data<'r>) -> Outcome<'r, Self, ApiError> {
        let result = async {
            let text = read_text(data, ENTRY_LIMIT).await?;
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
            Ok(RegisterText {
                text,
                format,
                _slot: slot,
            })
        }
        .await;
        outcome(req, result)
    }
}

/// The vocabulary and country lists entries are checked against.
pub struct Checker<'a> {
    pub vocabulary: &'a Vocabulary,
    pub countries: &'a Countries,
}

impl Checker<'_> {
    /// An organisation's own fields (activities are written one by one).
    pub fn organisation(&self, body: Value) -> Result<Organisation, ApiError> {
        if body.get("activities").is_some() {
            return Err(ApiError::invalid(
                "activities",
                "les activités s'écrivent une à une, par …/activities, ou avec l'import du registre",
            ));
        }
        let register = json!({ "format": model::FORMAT, "organisations": [body] });
        let mut register = self.check(register, "organisations[0]", &Outside::new())?;
        Ok(register.organisations.remove(0))
    }

    /// An activity of `organisation`, with `sources`: the stored organisations holding the
    /// activities it takes data from (so that its sources are checked to exist).
    pub fn activity(
        &self,
        organisation: &Organisation,
        body: Value,
        sources: &Register,
        outside: &Outside,
    ) -> Result<Activity, ApiError> {
        let mut organisations: Vec<Value> = Vec::new();
        let mut own = organisation.clone();
        own.activities = None;
        let mut own = serde_json::to_value(own).map_err(|e| ApiError::Internal(e.to_string()))?;
        let body_id = body.get("id").and_then(Value::as_str).map(str::to_owned);
        let mut own_activities = vec![body];
        for source_org in &sources.organisations {
            if source_org.id == organisation.id {
                // The other activities of the same organisation come after the new one, so
                // that its path stays `organisations[0].activities[0]`.
                own_activities.extend(
                    source_org
                        .activities()
                        .iter()
                        .filter(|a| Some(&a.id) != body_id.as_ref())
                        .map(|a| serde_json::to_value(a).unwrap_or(Value::Null)),
                );
            } else {
                organisations.push(serde_json::to_value(source_org).unwrap_or(Value::Null));
            }
        }
        own["activities"] = Value::Array(own_activities);
        organisations.insert(0, own);
        let register = json!({ "format": model::FORMAT, "organisations": organisations });
        let mut register = self.check(register, "organisations[0].activities[0]", outside)?;
        let mut own = register.organisations.remove(0);
        Ok(own.activities.take().unwrap_or_default().remove(0))
    }

    /// Checks a register built around the entry at `at`; keeps the errors of the entry, with
    /// paths relative to it.
    fn check(&self, register: Value, at: &str, outside: &Outside) -> Result<Register, ApiError> {
        model::load_value_within(register, self.vocabulary, self.countries, outside).map_err(|e| {
            let errors: Vec<FieldError> = e
                .errors
                .into_iter()
                .filter_map(|error| relative(error, at))
                .map(FieldError::from)
                .collect();
            if errors.is_empty() {
                ApiError::Internal("registre stocké incohérent".into())
            } else {
                ApiError::Invalid(errors)
            }
        })
    }
}

fn relative(mut error: InputError, at: &str) -> Option<InputError> {
    let rest = error.path.strip_prefix(at)?;
    error.path = match rest.strip_prefix('.') {
        Some(field) => field.to_owned(),
        None if rest.is_empty() || rest.starts_with('[') => rest.to_owned(),
        None => return None,
    };
    Some(error)
}

/// The activities a body names as sources, as (organisation, activity) pairs: read leniently,
/// since the body is checked afterwards.
pub fn named_sources(body: &Value, organisation: &str) -> Vec<(String, String)> {
    body.get("sources")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|s| serde_json::from_value::<Source>(s.clone()).ok())
        .filter_map(|s| match s {
            Source::Activity(a) => Some((
                a.organisation.unwrap_or_else(|| organisation.to_owned()),
                a.activity,
            )),
            _ => None,
        })
        .collect()
}
