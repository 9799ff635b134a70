//! The consent API under `/api/v1/organisations/{org}/consents`: « may this be done for this
//! person, now? » one by one or in batches, a person's history, the ledger's verification
//! and its signed tree head. Each route calls one function of the service.

use jiff::Timestamp;
use rocket::serde::json::Json;
use rocket::{State, get, post};
use serde::{Deserialize, Serialize};

use super::App;
use super::body::JsonBody;
use super::caller::{Auditor, Reader};
use super::error::{ApiError, ApiResult};
use crate::consent::Check;
use crate::service::{History, SignedHead, Verification};

/// A batch body: 10 000 subject ids fit.
pub const BATCH_LIMIT: u64 = 1024 * 1024;

fn required<'a>(name: &str, value: Option<&'a str>) -> Result<&'a str, ApiError> {
    value
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| ApiError::bad_parameter(name, "paramètre obligatoire"))
}

#[get("/organisations/<org>/consents/check?<activity>&<subject>&<choice>")]
pub async fn check(
    app: &State<App>,
    caller: Reader,
    org: &str,
    activity: Option<&str>,
    subject: Option<&str>,
    choice: Option<&str>,
) -> ApiResult<Json<Check>> {
    let (activity, subject, choice) = (
        required("activity", activity)?,
        required("subject", subject)?,
        required("choice", choice)?,
    );
    let check = app
        .registre
        .check_consent(&caller, org, activity, subject, choice, Timestamp::now())
        .await?;
    Ok(Json(check))
}

/// A batch check: one activity and choice, many subjects.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchCheck {
    pub activity: String,
    pub choice: String,
    pub subjects: Vec<String>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct SubjectCheck {
    pub subject: String,
    #[serde(flatten)]
    pub check: Check,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct BatchAnswer {
    pub checks: Vec<SubjectCheck>,
}

#[post("/organisations/<org>/consents/check", data = "<body>")]
pub async fn check_batch(
    app: &State<App>,
    caller: Reader,
    org: &str,
    body: Result<JsonBody<{ BATCH_LIMIT }>, ApiError>,
) -> ApiResult<Json<BatchAnswer>> {
    let batch: BatchCheck = serde_json::from_value(body?.0)
        .map_err(|e| ApiError::bad_parameter("body", format!("demande illisible : {e}")))?;
    let checks = app
        .registre
        .check_consents(
            &caller,
            org,
            &batch.activity,
            &batch.subjects,
            &batch.choice,
            Timestamp::now(),
        )
        .await?;
    Ok(Json(BatchAnswer {
        checks: checks
            .into_iter()
            .map(|(subject, check)| SubjectCheck { subject, check })
            .collect(),
    }))
}

#[get("/organisations/<org>/consents/subjects/<subject>")]
pub async fn history(
    app: &State<App>,
    caller: Reader,
    org: &str,
    subject: &str,
) -> ApiResult<Json<History>> {
    Ok(Json(
        app.registre.consent_history(&caller, org, subject).await?,
    ))
}

#[get("/organisations/<org>/consents/verify")]
pub async fn verify(app: &State<App>, caller: Auditor, org: &str) -> ApiResult<Json<Verification>> {
    Ok(Json(
        app.registre
            .verify_consents(&caller, org, &[], Timestamp::now())
            .await?,
    ))
}

#[post("/organisations/<org>/consents/head")]
pub async fn head(app: &State<App>, caller: Reader, org: &str) -> ApiResult<Json<SignedHead>> {
    Ok(Json(
        app.registre
            .sign_tree_head(&caller, org, Timestamp::now())
            .await?,
    ))
}
