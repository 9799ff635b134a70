//! Citizen documents over HTTP: the public pages (no sign-in) under `/o/{org}`, and the same
//! documents for agents under `/api/v1`. Each file served carries its version and hash, and
//! each version is stored the first time it is shown.

use std::collections::HashSet;
use std::sync::Mutex;

use jiff::Timestamp;
use rocket::http::{ContentType, Header, Status};
use rocket::request::Request;
use rocket::response::{self, Responder, Response};
use rocket::{State, get};
use serde::Serialize;

use super::App;
use super::caller::{Caller, Need};
use super::error::{ApiError, ApiResult};
use crate::digest::sha256_hex;
use crate::model::Organisation;
use crate::notice::{self, Context, Format, NoticeError, Render, Version};
use crate::render::Style;

/// Which document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Notice,
    ConsentForm,
    PrivacyPage,
    PublicRegister,
}

impl Kind {
    fn id(self) -> &'static str {
        match self {
            // The mention says part of the notice: it is one version of it.
            Kind::Notice => "notice",
            Kind::ConsentForm => "consent-form",
            Kind::PrivacyPage => "privacy-page",
            Kind::PublicRegister => "public-register",
        }
    }

    fn template(self) -> &'static str {
        match self {
            Kind::Notice => "notice/notice",
            Kind::ConsentForm => "notice/consent-form",
            Kind::PrivacyPage => "notice/privacy",
            Kind::PublicRegister => "notice/register",
        }
    }
}

/// The `format` of an API request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, rocket::FromFormField)]
pub enum QueryFormat {
    Json,
    Html,
    Pdf,
    Text,
    Mention,
}

impl From<QueryFormat> for Format {
    fn from(format: QueryFormat) -> Self {
        match format {
            QueryFormat::Json => Format::Json,
            QueryFormat::Html => Format::Html,
            QueryFormat::Pdf => Format::Pdf,
            QueryFormat::Text => Format::Text,
            QueryFormat::Mention => Format::Mention,
        }
    }
}

/// The versions this process has already stored, so that a page read a thousand times is
/// written once.
#[derive(Default)]
pub struct Recorded(Mutex<HashSet<(String, &'static str)>>);

/// A document file, with its version in the headers.
pub struct Served {
    bytes: Vec<u8>,
    content_type: ContentType,
    version: Version,
    sha256: String,
}

impl<'r> Responder<'r, 'static> for Served {
    fn respond_to(self, _: &'r Request<'_>) -> response::Result<'static> {
        Response::build()
            .header(self.content_type)
            .header(Header::new("X-Document-Version", self.version.id))
            .header(Header::new("ETag", format!("\"{}\"", self.sha256)))
            .header(Header::new("Cache-Control", "no-cache"))
            .sized_body(self.bytes.len(), std::io::Cursor::new(self.bytes))
            .ok()
    }
}

/// Why a document cannot be served.
enum Problem {
    /// Unknown organisation or activity, or not published.
    NotFound(String),
    /// The activity has no such document (a processor's notice, a form without consent).
    NoDocument(NoticeError),
    Internal(String),
}

impl From<crate::store::StoreError> for Problem {
    fn from(e: crate::store::StoreError) -> Self {
        Problem::Internal(e.to_string())
    }
}

impl From<crate::render::RenderError> for Problem {
    fn from(e: crate::render::RenderError) -> Self {
        Problem::Internal(e.to_string())
    }
}

impl From<Problem> for ApiError {
    fn from(problem: Problem) -> Self {
        match problem {
            Problem::NotFound(m) => ApiError::NotFound(m),
            Problem::NoDocument(e) => ApiError::Conflict(e.to_string()),
            Problem::Internal(m) => ApiError::Internal(m),
        }
    }
}

impl From<Problem> for Status {
    fn from(problem: Problem) -> Self {
        match problem {
            Problem::NotFound(_) | Problem::NoDocument(_) => Status::NotFound,
            Problem::Internal(message) => {
                eprintln!("registre: {message}");
                Status::InternalServerError
            }
        }
    }
}

/// A document asked for.
struct Wanted<'a> {
    kind: Kind,
    org: &'a str,
    activity: Option<&'a str>,
    format: Format,
    /// Serve only what the register flags as public (pages without sign-in).
    public: bool,
    /// Page of a long list (organisation pages), from 1.
    page: usize,
}

impl<'a> Wanted<'a> {
    fn public(kind: Kind, org: &'a str, activity: Option<&'a str>, format: Format) -> Self {
        Wanted {
            kind,
            org,
            activity,
            format,
            public: true,
            page: 1,
        }
    }
}

/// Renders a document, and stores its version.
async fn serve(app: &App, wanted: Wanted<'_>) -> Result<Served, Problem> {
    let Wanted {
        kind,
        org,
        activity,
        format,
        public,
        page: page_number,
    } = wanted;
    let register = app.store.organisation_with_sources(org).await?;
    let organisation = register
        .organisations
        .iter()
        .find(|o| o.id == org)
        .ok_or_else(|| Problem::NotFound(format!("organisme `{org}` introuvable")))?;
    let context = Context {
        vocabulary: &app.pack.vocabulary,
        countries: &app.pack.countries,
        register: &register,
        public_url: app.public_url.as_deref(),
    };
    let rendered = match kind {
        Kind::Notice | Kind::ConsentForm => {
            let id = activity.unwrap_or_default();
            let found = organisation
                .activities()
                .iter()
                .find(|a| a.id == id && (!public || a.public == Some(true)))
                .ok_or_else(|| {
                    Problem::NotFound(format!("activité `{id}` introuvable dans `{org}`"))
                })?;
            if kind == Kind::Notice {
                let notice =
                    notice::notice(&context, organisation, found).map_err(Problem::NoDocument)?;
                let (notice, bytes) = off_thread(app, notice, format).await?;
                Rendered::of(&notice, &notice.version, bytes)?
            } else {
                let form = notice::consent_form(&context, organisation, found)
                    .map_err(Problem::NoDocument)?;
                let (form, bytes) = off_thread(app, form, format).await?;
                Rendered::of(&form, &form.version, bytes)?
            }
        }
        Kind::PrivacyPage => page(
            app,
            kind,
            format,
            page_number,
            &notice::privacy_page(&context, organisation),
        )?,
        Kind::PublicRegister => page(
            app,
            kind,
            format,
            page_number,
            &notice::public_register(&context, organisation),
        )?,
    };
    record(app, kind, organisation, activity, format, &rendered).await;
    let content_type = match format {
        Format::Json => ContentType::JSON,
        Format::Html => ContentType::HTML,
        Format::Pdf => ContentType::PDF,
        Format::MentionHtml => ContentType::HTML,
        Format::Text | Format::Mention => ContentType::Plain,
    };
    Ok(Served {
        sha256: sha256_hex(&rendered.bytes),
        bytes: rendered.bytes,
        content_type,
        version: rendered.version,
    })
}

/// Renders on a blocking thread: a PDF is milliseconds of CPU that must not hold up the
/// workers serving other requests.
async fn off_thread<T: Render + Send + 'static>(
    app: &App,
    model: T,
    format: Format,
) -> Result<(T, Vec<u8>), Problem> {
    let templates = app.templates.clone();
    let (model, bytes) = rocket::tokio::task::spawn_blocking(move || {
        let bytes = model.render(&templates, format, Style::Linked);
        (model, bytes)
    })
    .await
    .map_err(|e| Problem::Internal(e.to_string()))?;
    Ok((model, bytes?))
}

/// A rendering and what it was made from.
struct Rendered {
    bytes: Vec<u8>,
    version: Version,
    content: serde_json::Value,
}

impl Rendered {
    fn of<T: Serialize>(model: &T, version: &Version, bytes: Vec<u8>) -> Result<Self, Problem> {
        Ok(Rendered {
            bytes,
            version: version.clone(),
            content: serde_json::to_value(model).map_err(|e| Problem::Internal(e.to_string()))?,
        })
    }
}

/// Activities on one page of an organisation page: a commune with 40 activities gets four
/// light pages rather than one heavy one.
const PER_PAGE: usize = 10;

/// The organisation pages exist in HTML, page by page, and JSON, whole. Their version is the
/// whole document's.
fn page<T: Serialize + HasVersion>(
    app: &App,
    kind: Kind,
    format: Format,
    number: usize,
    model: &T,
) -> Result<Rendered, Problem> {
    let bytes = match format {
        Format::Html | Format::MentionHtml => {
            let mut data =
                serde_json::to_value(model).map_err(|e| Problem::Internal(e.to_string()))?;
            paginate(&mut data, number)?;
            app.templates
                .document(kind.template(), &data, Style::Linked)?
                .into_bytes()
        }
        Format::Json => notice::json(model)?,
        other => {
            return Err(Problem::NotFound(format!(
                "pas de format `{}` pour cette page",
                other.id()
            )));
        }
    };
    Rendered::of(model, model.version(), bytes)
}

/// Keeps page `number` of `data.activities` and adds `pagination` (null when one page is
/// enough); a page past the end is not found.
fn paginate(data: &mut serde_json::Value, number: usize) -> Result<(), Problem> {
    let Some(activities) = data.get_mut("activities").and_then(|a| a.as_array_mut()) else {
        return Ok(());
    };
    let pages = activities.len().div_ceil(PER_PAGE).max(1);
    if number == 0 || number > pages {
        return Err(Problem::NotFound(format!("page {number} introuvable")));
    }
    let kept: Vec<serde_json::Value> = activities
        .drain(..)
        .skip((number - 1) * PER_PAGE)
        .take(PER_PAGE)
        .collect();
    *activities = kept;
    let pagination = (pages > 1).then(|| {
        serde_json::json!({
            "page": number,
            "pages": pages,
            "previous": (number > 1).then(|| number - 1),
            "next": (number < pages).then(|| number + 1),
        })
    });
    data["pagination"] = serde_json::json!(pagination);
    Ok(())
}

trait HasVersion {
    fn version(&self) -> &Version;
}

impl HasVersion for notice::PrivacyPage {
    fn version(&self) -> &Version {
        &self.version
    }
}

impl HasVersion for notice::PublicRegister {
    fn version(&self) -> &Version {
        &self.version
    }
}

/// Stores the version the first time this process serves it in this format. A failure is
/// logged, not shown to the reader: the page itself is right.
async fn record(
    app: &App,
    kind: Kind,
    organisation: &Organisation,
    activity: Option<&str>,
    format: Format,
    rendered: &Rendered,
) {
    let key = (rendered.version.sha256.clone(), format.id());
    if app.recorded.0.lock().is_ok_and(|seen| seen.contains(&key)) {
        return;
    }
    let result = app
        .store
        .record_document(
            kind.id(),
            &organisation.id,
            activity,
            &rendered.version,
            &rendered.content,
            format.id(),
            &sha256_hex(&rendered.bytes),
            Timestamp::now(),
        )
        .await;
    match result {
        Ok(()) => {
            if let Ok(mut seen) = app.recorded.0.lock() {
                seen.insert(key);
            }
        }
        Err(e) => eprintln!("registre: version du document non enregistrée : {e}"),
    }
}

/// `cantine.pdf` → (`cantine`, PDF); `cantine` → (`cantine`, HTML).
fn split_extension(file: &str) -> (&str, Format) {
    match file.strip_suffix(".pdf") {
        Some(activity) => (activity, Format::Pdf),
        None => (file, Format::Html),
    }
}

#[get("/o/<org>/confidentialite?<page>")]
async fn privacy_page(app: &State<App>, org: &str, page: Option<usize>) -> Result<Served, Status> {
    let wanted = Wanted {
        page: page.unwrap_or(1),
        ..Wanted::public(Kind::PrivacyPage, org, None, Format::Html)
    };
    Ok(serve(app, wanted).await?)
}

#[get("/o/<org>/registre?<page>")]
async fn public_register(
    app: &State<App>,
    org: &str,
    page: Option<usize>,
) -> Result<Served, Status> {
    let wanted = Wanted {
        page: page.unwrap_or(1),
        ..Wanted::public(Kind::PublicRegister, org, None, Format::Html)
    };
    Ok(serve(app, wanted).await?)
}

#[get("/o/<org>/traitements/<file>")]
async fn public_notice(app: &State<App>, org: &str, file: &str) -> Result<Served, Status> {
    let (activity, format) = split_extension(file);
    Ok(serve(
        app,
        Wanted::public(Kind::Notice, org, Some(activity), format),
    )
    .await?)
}

#[get("/o/<org>/traitements/<activity>/mention")]
async fn public_mention(app: &State<App>, org: &str, activity: &str) -> Result<Served, Status> {
    Ok(serve(
        app,
        Wanted::public(Kind::Notice, org, Some(activity), Format::MentionHtml),
    )
    .await?)
}

#[get("/o/<org>/consentement/<activity>")]
async fn public_consent_form(
    app: &State<App>,
    org: &str,
    activity: &str,
) -> Result<Served, Status> {
    Ok(serve(
        app,
        Wanted::public(Kind::ConsentForm, org, Some(activity), Format::Html),
    )
    .await?)
}

#[get("/o/<org>/consentement/<activity>/formulaire.pdf")]
async fn public_consent_pdf(app: &State<App>, org: &str, activity: &str) -> Result<Served, Status> {
    Ok(serve(
        app,
        Wanted::public(Kind::ConsentForm, org, Some(activity), Format::Pdf),
    )
    .await?)
}

pub fn public_routes() -> Vec<rocket::Route> {
    rocket::routes![
        privacy_page,
        public_register,
        public_notice,
        public_mention,
        public_consent_form,
        public_consent_pdf
    ]
}

#[get("/organisations/<org>/activities/<id>/notice?<format>")]
pub async fn activity_notice(
    app: &State<App>,
    caller: Caller,
    org: &str,
    id: &str,
    format: Option<QueryFormat>,
) -> ApiResult<Served> {
    caller.require(Need::Read, org)?;
    let format = format.map_or(Format::Json, Format::from);
    let wanted = Wanted {
        public: false,
        ..Wanted::public(Kind::Notice, org, Some(id), format)
    };
    Ok(serve(app, wanted).await?)
}

#[get("/organisations/<org>/activities/<id>/consent-form?<format>")]
pub async fn activity_consent_form(
    app: &State<App>,
    caller: Caller,
    org: &str,
    id: &str,
    format: Option<QueryFormat>,
) -> ApiResult<Served> {
    caller.require(Need::Read, org)?;
    let format = format.map_or(Format::Json, Format::from);
    let wanted = Wanted {
        public: false,
        ..Wanted::public(Kind::ConsentForm, org, Some(id), format)
    };
    Ok(serve(app, wanted).await?)
}

#[get("/organisations/<org>/documents")]
pub async fn document_versions(
    app: &State<App>,
    caller: Caller,
    org: &str,
) -> ApiResult<rocket::serde::json::Json<serde_json::Value>> {
    caller.require(Need::Read, org)?;
    let versions = app.store.document_versions(org).await?;
    Ok(rocket::serde::json::Json(
        serde_json::json!({ "organisation": org, "versions": versions }),
    ))
}

#[get("/organisations/<org>/documents/<version>")]
pub async fn document_version(
    app: &State<App>,
    caller: Caller,
    org: &str,
    version: &str,
) -> ApiResult<rocket::serde::json::Json<crate::store::DocumentVersion>> {
    caller.require(Need::Read, org)?;
    let found = app
        .store
        .document_version(org, version)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("version `{version}` introuvable")))?;
    Ok(rocket::serde::json::Json(found))
}
