//! The consent API under `/api/v1/organisations/{org}/consents`: « may this be done for this
//! person, now? » one by one or in batches; paper consents and withdrawals recorded by the
//! agents, with the scanned form; a person's history and proof bundle, receipts; counts by
//! state and the list of people a use is allowed for; the ledger's verification and its
//! signed tree head. Each route calls one function of the service.

use base64::Engine as _;
use jiff::Timestamp;
use rocket::http::{ContentType, Header};
use rocket::request::Request;
use rocket::response::{self, Responder, Response};
use rocket::serde::json::Json;
use rocket::{State, get, post};
use serde::{Deserialize, Serialize};

use super::App;
use super::api::WithStatus;
use super::body::JsonBody;
use super::caller::{Auditor, Reader, Recorder};
use super::error::{ApiError, ApiResult};
use crate::consent::{Channel, Check, Event, Evidence};
use crate::service::{
    Act, ActivityCounts, Allowed, History, ProofBundle, Recording, SignedHead, Verification,
};

/// A batch body: 10 000 subject ids fit.
pub const BATCH_LIMIT: u64 = 1024 * 1024;
/// A recording body: a scanned form of 10 MB is 13.4 MB in base64.
pub const RECORD_LIMIT: u64 = 14 * 1024 * 1024;

/// A body read as `T`, or a 400 naming what is wrong in it.
fn parsed<T: serde::de::DeserializeOwned, const LIMIT: u64>(
    body: Result<JsonBody<LIMIT>, ApiError>,
) -> Result<T, ApiError> {
    serde_json::from_value(body?.0)
        .map_err(|e| ApiError::bad_parameter("body", format!("demande illisible : {e}")))
}

/// `json` (the default) or the other format a route offers.
fn wants(format: Option<&str>, other: &str) -> Result<bool, ApiError> {
    match format {
        None | Some("json") => Ok(false),
        Some(f) if f == other => Ok(true),
        Some(f) => Err(ApiError::bad_parameter(
            "format",
            format!("format inconnu `{f}` : json ou {other}"),
        )),
    }
}

fn required<'a>(name: &str, value: Option<&'a str>) -> Result<&'a str, ApiError> {
    value
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| ApiError::bad_parameter(name, "paramètre obligatoire"))
}

/// A JSON answer, or a file (PDF, CSV, a scan) with its media type and name.
pub enum Download<T> {
    Json(Json<T>),
    File {
        bytes: Vec<u8>,
        media_type: String,
        name: String,
    },
}

impl<T> Download<T> {
    fn file(bytes: Vec<u8>, media_type: &str, name: String) -> Self {
        Download::File {
            bytes,
            media_type: media_type.to_owned(),
            name,
        }
    }
}

impl<'r, T: Serialize> Responder<'r, 'static> for Download<T> {
    fn respond_to(self, req: &'r Request<'_>) -> response::Result<'static> {
        match self {
            Download::Json(json) => json.respond_to(req),
            Download::File {
                bytes,
                media_type,
                name,
            } => Response::build()
                .header(ContentType::parse_flexible(&media_type).unwrap_or(ContentType::Binary))
                .header(Header::new(
                    "Content-Disposition",
                    format!("attachment; filename=\"{name}\""),
                ))
                .sized_body(bytes.len(), std::io::Cursor::new(bytes))
                .ok(),
        }
    }
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
    let batch: BatchCheck = parsed(body)?;
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

/// A consent received by an agent: on paper at the counter, by mail, e-mail or telephone.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PaperConsent {
    pub activity: String,
    /// The choices accepted (ids of the consent form); the others are declined.
    #[serde(default)]
    pub choices: Vec<String>,
    /// A person already recorded (a renewal); a new person otherwise.
    pub subject: Option<String>,
    /// Who a new person is, kept apart from the events.
    pub name: Option<String>,
    pub email: Option<String>,
    pub child: Option<String>,
    /// `guichet`, `courrier`, `email` or `telephone`.
    pub channel: Channel,
    /// The date written on the signed form (YYYY-MM-DD).
    pub signed_on: Option<String>,
    #[serde(default)]
    pub minor: bool,
    /// For a minor: how many holders of parental authority signed.
    #[serde(default)]
    pub holders: usize,
    #[serde(default)]
    pub child_signs: bool,
    /// Answers the form again for `subject` (renewal).
    #[serde(default)]
    pub renew: bool,
    /// The scanned signed form (PDF, JPEG or PNG, 10 MB at most), in base64: kept, and its
    /// SHA-256 put in the event.
    pub scan: Option<String>,
    /// Or only the SHA-256 of the scan, when the file is kept elsewhere.
    pub scan_sha256: Option<String>,
    /// Records once however many times it is sent.
    pub idempotency_key: Option<String>,
}

/// A withdrawal received by an agent.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PaperWithdrawal {
    pub activity: String,
    pub subject: String,
    /// The choices withdrawn.
    pub choices: Vec<String>,
    pub channel: Channel,
    /// The person is a minor: one holder of parental authority withdraws.
    #[serde(default)]
    pub minor: bool,
}

fn agent_channel(channel: Channel) -> Result<Channel, ApiError> {
    if channel == Channel::EnLigne {
        return Err(ApiError::invalid(
            "channel",
            "un agent enregistre ce qu'il a reçu : guichet, courrier, email ou telephone ; le formulaire en ligne est rempli par la personne elle-même",
        ));
    }
    Ok(channel)
}

impl PaperConsent {
    fn recording(self) -> Result<Recording, ApiError> {
        let channel = agent_channel(self.channel)?;
        if self
            .email
            .as_deref()
            .is_some_and(|e| !validator::ValidateEmail::validate_email(&e))
        {
            return Err(ApiError::invalid(
                "email",
                "n'a pas la forme d'une adresse (exemple : prenom.nom@exemple.fr)",
            ));
        }
        let scan = match &self.scan {
            Some(text) => Some(
                base64::engine::general_purpose::STANDARD
                    .decode(text.trim())
                    .map_err(|e| ApiError::invalid("scan", format!("base64 illisible : {e}")))?,
            ),
            None => None,
        };
        if scan.is_some() && self.scan_sha256.is_some() {
            return Err(ApiError::invalid(
                "scan_sha256",
                "donnez le fichier (scan) ou son empreinte, pas les deux",
            ));
        }
        let identity = (self.subject.is_none()).then(
            || serde_json::json!({ "name": self.name, "email": self.email, "child": self.child }),
        );
        Ok(Recording {
            activity: self.activity,
            act: if self.renew { Act::Renew } else { Act::Answer },
            choices: self.choices,
            subject: self.subject,
            identity,
            channel,
            evidence: self.scan_sha256.map(|sha256| Evidence {
                sha256,
                media_type: None,
            }),
            scan,
            signed_on: self.signed_on,
            minor: self.minor,
            holders: self.holders,
            child_signs: self.child_signs,
            key: self.idempotency_key,
        })
    }
}

#[post("/organisations/<org>/consents", data = "<body>")]
pub async fn record(
    app: &State<App>,
    caller: Recorder,
    org: &str,
    body: Result<JsonBody<{ RECORD_LIMIT }>, ApiError>,
) -> ApiResult<WithStatus<Event>> {
    let recording = parsed::<PaperConsent, RECORD_LIMIT>(body)?.recording()?;
    let event = app
        .registre
        .record_consent(Some(&caller), org, recording, Timestamp::now())
        .await?;
    Ok(WithStatus::created(event))
}

#[post("/organisations/<org>/consents/withdrawals", data = "<body>")]
pub async fn withdraw(
    app: &State<App>,
    caller: Recorder,
    org: &str,
    body: Result<JsonBody, ApiError>,
) -> ApiResult<WithStatus<Event>> {
    let paper: PaperWithdrawal = parsed(body)?;
    let channel = agent_channel(paper.channel)?;
    let recording = Recording::withdrawal(
        &paper.activity,
        paper.choices,
        &paper.subject,
        channel,
        paper.minor,
    );
    let event = app
        .registre
        .record_consent(Some(&caller), org, recording, Timestamp::now())
        .await?;
    Ok(WithStatus::created(event))
}

#[get("/organisations/<org>/consents/activities/<activity>/counts")]
pub async fn counts(
    app: &State<App>,
    caller: Reader,
    org: &str,
    activity: &str,
) -> ApiResult<Json<ActivityCounts>> {
    Ok(Json(
        app.registre
            .consent_counts(&caller, org, activity, Timestamp::now())
            .await?,
    ))
}

/// The people a use is allowed for, as JSON or as CSV for a mailing tool.
#[get("/organisations/<org>/consents/activities/<activity>/allowed?<choice>&<format>")]
pub async fn allowed(
    app: &State<App>,
    caller: Recorder,
    org: &str,
    activity: &str,
    choice: Option<&str>,
    format: Option<&str>,
) -> ApiResult<Download<Vec<Allowed>>> {
    let choice = required("choice", choice)?;
    let csv = wants(format, "csv")?;
    let people = app
        .registre
        .allowed_subjects(&caller, org, activity, choice, Timestamp::now())
        .await?;
    if !csv {
        return Ok(Download::Json(Json(people)));
    }
    let bytes =
        crate::service::allowed_csv(&people).map_err(|e| ApiError::Internal(e.to_string()))?;
    let name = format!("{activity}-autorises.csv");
    Ok(Download::file(bytes, "text/csv; charset=utf-8", name))
}

#[get("/organisations/<org>/consents/subjects/<subject>/proof?<format>")]
pub async fn proof(
    app: &State<App>,
    caller: Reader,
    org: &str,
    subject: &str,
    format: Option<&str>,
) -> ApiResult<Download<ProofBundle>> {
    let now = Timestamp::now();
    if wants(format, "pdf")? {
        let bytes = app
            .registre
            .proof_bundle_pdf(&caller, org, subject, now)
            .await?;
        let name = format!("preuve-{subject}.pdf");
        return Ok(Download::file(bytes, "application/pdf", name));
    }
    Ok(Download::Json(Json(
        app.registre
            .proof_bundle(&caller, org, subject, now)
            .await?,
    )))
}

#[get("/organisations/<org>/consents/events/<seq>/receipt?<format>")]
pub async fn receipt(
    app: &State<App>,
    caller: Reader,
    org: &str,
    seq: u64,
    format: Option<&str>,
) -> ApiResult<Download<serde_json::Value>> {
    let now = Timestamp::now();
    if wants(format, "pdf")? {
        let bytes = app
            .registre
            .consent_receipt_pdf(Some(&caller), org, seq, None, now)
            .await?;
        let name = format!("recu-{seq}.pdf");
        return Ok(Download::file(bytes, "application/pdf", name));
    }
    Ok(Download::Json(Json(
        app.registre
            .consent_receipt(Some(&caller), org, seq, None, now)
            .await?,
    )))
}

/// A scanned paper form, by the SHA-256 its event gives.
#[get("/organisations/<org>/consents/scans/<sha256>")]
pub async fn scan(
    app: &State<App>,
    caller: Reader,
    org: &str,
    sha256: &str,
) -> ApiResult<Download<()>> {
    let scan = app.registre.consent_scan(&caller, org, sha256).await?;
    let extension = match scan.media_type.as_str() {
        "application/pdf" => "pdf",
        "image/png" => "png",
        _ => "jpg",
    };
    let name = format!("formulaire-{}.{extension}", &scan.sha256[..12]);
    Ok(Download::file(scan.bytes, &scan.media_type, name))
}
