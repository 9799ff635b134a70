//! Citizen documents over HTTP: the public pages (no sign-in) under `/o/{org}`, and the same
//! documents for agents under `/api/v1`. Each file served carries its version and hash, and
//! each version is stored the first time it is shown.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use rocket::http::{ContentType, Header, Status};
use rocket::request::Request;
use rocket::response::{self, Responder, Response};
use rocket::serde::json::Json;
use rocket::tokio::sync::Semaphore;
use rocket::{State, get};
use serde::Serialize;

use super::App;
use super::answers::DocumentVersions;
use super::caller::Reader;
use super::error::{ApiError, ApiResult};
use crate::digest::sha256_hex;
use crate::model::Organisation;
use crate::notice::{self, Context, Format, NoticeError, Render, Version, Versioned};
use crate::render::Style;
use crate::service::{ActivityDocument, DocumentKind, ShownFile};

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

/// The `format` of an API request for a document; JSON when absent. Anything else is
/// refused with the list, never served as something else.
fn query_format(format: Option<&str>) -> ApiResult<Format> {
    match format {
        None | Some("json") => Ok(Format::Json),
        Some("html") => Ok(Format::Html),
        Some("pdf") => Ok(Format::Pdf),
        Some("text") => Ok(Format::Text),
        Some("mention") => Ok(Format::Mention),
        Some(other) => Err(ApiError::bad_parameter(
            "format",
            format!(
                "format inconnu `{}` : json, html, pdf, text ou mention",
                shown(other)
            ),
        )),
    }
}

/// A value from a request, as quoted back in a message: at most 40 characters.
fn shown(value: &str) -> String {
    let mut short: String = value.chars().take(40).collect();
    if short.len() < value.len() {
        short.push('…');
    }
    short
}

/// `?page=`: a number from 1; anything else is a bad request, not page 1.
fn page_number(page: Option<&str>) -> Result<usize, Status> {
    match page {
        None => Ok(1),
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|n| *n >= 1)
            .ok_or(Status::BadRequest),
    }
}

/// What serving documents keeps between requests.
pub struct DocumentState {
    /// Versions (and files) this process has already stored: a page read a thousand times is
    /// written once.
    recorded: Mutex<HashSet<(String, String)>>,
    /// PDF layouts running at once: anonymous requests must not take every core.
    pdf_slots: Arc<Semaphore>,
    /// The last PDFs made, by version: the same notice printed again is not laid out again.
    pdfs: Mutex<PdfCache>,
}

impl Default for DocumentState {
    fn default() -> Self {
        DocumentState {
            recorded: Mutex::default(),
            // Half the cores: the other half keeps serving pages and the API.
            pdf_slots: Arc::new(Semaphore::new(
                std::thread::available_parallelism().map_or(1, |n| n.get().div_ceil(2)),
            )),
            pdfs: Mutex::default(),
        }
    }
}

/// At most [`PdfCache::CAPACITY`] PDFs (tens of kilobytes each), the oldest dropped first.
#[derive(Default)]
struct PdfCache {
    order: VecDeque<String>,
    files: HashMap<String, Arc<Vec<u8>>>,
}

impl PdfCache {
    const CAPACITY: usize = 64;

    fn get(&self, sha256: &str) -> Option<Arc<Vec<u8>>> {
        self.files.get(sha256).cloned()
    }

    fn insert(&mut self, sha256: String, pdf: Arc<Vec<u8>>) {
        if self.files.insert(sha256.clone(), pdf).is_none() {
            self.order.push_back(sha256);
        }
        while self.order.len() > Self::CAPACITY {
            if let Some(oldest) = self.order.pop_front() {
                self.files.remove(&oldest);
            }
        }
    }
}

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
enum DocumentError {
    /// Unknown organisation or activity, or not published.
    NotFound(String),
    /// The activity has no such document (a processor's notice, a form without consent).
    NoDocument(NoticeError),
    /// Every PDF slot stayed taken: retry later.
    Busy,
    /// The register could not be read.
    Service(crate::service::Error),
    Internal(String),
}

impl From<crate::service::Error> for DocumentError {
    fn from(e: crate::service::Error) -> Self {
        match e {
            crate::service::Error::NotFound(m) => DocumentError::NotFound(m),
            other => DocumentError::Service(other),
        }
    }
}

impl From<crate::store::StoreError> for DocumentError {
    fn from(e: crate::store::StoreError) -> Self {
        crate::service::Error::from(e).into()
    }
}

impl From<crate::render::RenderError> for DocumentError {
    fn from(e: crate::render::RenderError) -> Self {
        DocumentError::Internal(e.to_string())
    }
}

impl From<DocumentError> for ApiError {
    fn from(error: DocumentError) -> Self {
        match error {
            DocumentError::NotFound(m) => ApiError::NotFound(m),
            DocumentError::NoDocument(e) => ApiError::Conflict(e.to_string()),
            DocumentError::Busy => ApiError::Busy(PDF_WAIT.as_secs()),
            DocumentError::Service(e) => e.into(),
            DocumentError::Internal(m) => ApiError::Internal(m),
        }
    }
}

impl From<DocumentError> for Status {
    fn from(error: DocumentError) -> Self {
        match error {
            DocumentError::NotFound(_) | DocumentError::NoDocument(_) => Status::NotFound,
            DocumentError::Busy => Status::ServiceUnavailable,
            DocumentError::Service(e) => {
                tracing::error!("{e}");
                ApiError::from(e).status()
            }
            DocumentError::Internal(message) => {
                tracing::error!("{message}");
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
    /// A public page: what the register publishes, to anyone.
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

    /// A document for a signed-in agent: any activity of the organisation.
    fn agent(kind: Kind, org: &'a str, activity: &'a str, format: Format) -> Self {
        Wanted {
            public: false,
            ..Wanted::public(kind, org, Some(activity), format)
        }
    }

    /// How the file served is named in its stored version.
    fn rendering(&self) -> String {
        match (self.format, self.page) {
            (Format::MentionHtml, _) => "mention-html".to_owned(),
            (Format::Html, page) if page > 1 => format!("html-page-{page}"),
            (format, _) => format.id().to_owned(),
        }
    }
}

/// Renders a document, and stores its version.
async fn serve(app: &App, wanted: Wanted<'_>) -> Result<Served, DocumentError> {
    let register = app
        .registre
        .document_register(wanted.org, wanted.activity)
        .await?;
    let organisation = &register.organisations[0];
    let context = Context {
        vocabulary: &app.registre.pack.vocabulary,
        countries: &app.registre.pack.countries,
        register: &register,
        public_url: app.public_url.as_deref(),
    };
    let rendered = match wanted.kind {
        Kind::Notice | Kind::ConsentForm => {
            let id = wanted.activity.unwrap_or_default();
            let found = organisation
                .activities()
                .iter()
                .find(|a| a.id == id && (!wanted.public || a.public == Some(true)))
                .ok_or_else(|| {
                    DocumentError::NotFound(format!(
                        "activité `{id}` introuvable dans `{}`",
                        wanted.org
                    ))
                })?;
            let kind = if wanted.kind == Kind::Notice {
                DocumentKind::Notice
            } else {
                DocumentKind::ConsentForm
            };
            let document = ActivityDocument::of(kind, &context, organisation, found)
                .map_err(DocumentError::NoDocument)?;
            file(app, document, wanted.format).await?
        }
        Kind::PrivacyPage => page(app, &wanted, &notice::privacy_page(&context, organisation))?,
        Kind::PublicRegister => page(
            app,
            &wanted,
            &notice::public_register(&context, organisation),
        )?,
    };
    record(app, &wanted, organisation, &rendered).await;
    let content_type = match wanted.format {
        Format::Json => ContentType::JSON,
        Format::Html | Format::MentionHtml => ContentType::HTML,
        Format::Pdf => ContentType::PDF,
        Format::Text | Format::Mention => ContentType::Plain,
    };
    Ok(Served {
        sha256: sha256_hex(&rendered.bytes),
        bytes: rendered.bytes,
        content_type,
        version: rendered.version,
    })
}

/// A rendering and what it was made from.
struct Rendered {
    bytes: Vec<u8>,
    version: Version,
    content: serde_json::Value,
}

impl Rendered {
    fn of<T: Serialize + Versioned>(model: &T, bytes: Vec<u8>) -> Result<Self, DocumentError> {
        Ok(Rendered {
            bytes,
            version: model.version().clone(),
            content: serde_json::to_value(model)
                .map_err(|e| DocumentError::Internal(e.to_string()))?,
        })
    }
}

/// An activity's document as a file. A PDF is milliseconds of CPU: laid out on a blocking
/// thread, two at a time, and kept for the next reader of the same version.
async fn file<T>(app: &App, model: T, format: Format) -> Result<Rendered, DocumentError>
where
    T: Render + Serialize + Send + 'static,
{
    if format != Format::Pdf {
        let bytes = model.render(&app.templates, format, Style::Linked)?;
        return Rendered::of(&model, bytes);
    }
    let sha256 = model.version().sha256.clone();
    let cached = app.documents.pdfs.lock().ok().and_then(|c| c.get(&sha256));
    if let Some(pdf) = cached {
        return Rendered::of(&model, pdf.to_vec());
    }
    let slot =
        rocket::tokio::time::timeout(PDF_WAIT, app.documents.pdf_slots.clone().acquire_owned())
            .await
            .map_err(|_| DocumentError::Busy)?
            .map_err(|e| DocumentError::Internal(e.to_string()))?;
    let templates = app.templates.clone();
    let (model, pdf) = rocket::tokio::task::spawn_blocking(move || {
        // The slot is held until the layout ends, even if the client has gone.
        let _slot = slot;
        let pdf = model.render(&templates, Format::Pdf, Style::Linked);
        (model, pdf)
    })
    .await
    .map_err(|e| DocumentError::Internal(e.to_string()))?;
    let pdf = Arc::new(pdf?);
    if let Ok(mut cache) = app.documents.pdfs.lock() {
        cache.insert(sha256, pdf.clone());
    }
    Rendered::of(&model, pdf.to_vec())
}

/// How long a PDF request waits for a slot before being told to come back.
const PDF_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Activities on one page of an organisation page: a commune with 40 activities gets four
/// light pages rather than one heavy one.
const PER_PAGE: usize = 10;

/// The organisation pages exist in HTML, page by page, and JSON, whole. Their version is the
/// whole document's.
fn page<T: Serialize + Versioned>(
    app: &App,
    wanted: &Wanted,
    model: &T,
) -> Result<Rendered, DocumentError> {
    let bytes = match wanted.format {
        Format::Html => {
            let mut data =
                serde_json::to_value(model).map_err(|e| DocumentError::Internal(e.to_string()))?;
            paginate(&mut data, wanted.page)?;
            app.templates
                .document(wanted.kind.template(), &data, Style::Linked)?
                .into_bytes()
        }
        Format::Json => notice::json(model)?,
        other => {
            return Err(DocumentError::NotFound(format!(
                "pas de format `{}` pour cette page",
                other.id()
            )));
        }
    };
    Rendered::of(model, bytes)
}

/// Keeps page `number` of `data.activities` and adds `pagination` (null when one page is
/// enough); a page past the end is not found.
fn paginate(data: &mut serde_json::Value, number: usize) -> Result<(), DocumentError> {
    let Some(activities) = data.get_mut("activities").and_then(|a| a.as_array_mut()) else {
        return Ok(());
    };
    let pages = activities.len().div_ceil(PER_PAGE).max(1);
    if number == 0 || number > pages {
        return Err(DocumentError::NotFound(format!(
            "page {number} introuvable : de 1 à {pages}"
        )));
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

/// Stores the version the first time this process serves this file of it. A failure is
/// logged, not shown to the reader: the page itself is right.
async fn record(app: &App, wanted: &Wanted<'_>, organisation: &Organisation, rendered: &Rendered) {
    let key = (rendered.version.sha256.clone(), wanted.rendering());
    let seen = |recorded: &HashSet<(String, String)>| recorded.contains(&key);
    if app.documents.recorded.lock().is_ok_and(|r| seen(&r)) {
        return;
    }
    let shown = ShownFile {
        kind: wanted.kind.id(),
        organisation: &organisation.id,
        activity: wanted.activity,
        version: &rendered.version,
        content: &rendered.content,
        rendering: key.1.clone(),
        bytes: &rendered.bytes,
    };
    match app.registre.record_shown(shown).await {
        Ok(()) => {
            if let Ok(mut recorded) = app.documents.recorded.lock() {
                recorded.insert(key);
            }
        }
        Err(e) => tracing::error!("version du document non enregistrée : {e}"),
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
async fn privacy_page(app: &State<App>, org: &str, page: Option<&str>) -> Result<Served, Status> {
    let wanted = Wanted {
        page: page_number(page)?,
        ..Wanted::public(Kind::PrivacyPage, org, None, Format::Html)
    };
    Ok(serve(app, wanted).await?)
}

#[get("/o/<org>/registre?<page>")]
async fn public_register(
    app: &State<App>,
    org: &str,
    page: Option<&str>,
) -> Result<Served, Status> {
    let wanted = Wanted {
        page: page_number(page)?,
        ..Wanted::public(Kind::PublicRegister, org, None, Format::Html)
    };
    Ok(serve(app, wanted).await?)
}

/// A public document of one activity.
async fn public_activity(
    app: &App,
    kind: Kind,
    org: &str,
    activity: &str,
    format: Format,
) -> Result<Served, Status> {
    Ok(serve(app, Wanted::public(kind, org, Some(activity), format)).await?)
}

#[get("/o/<org>/traitements/<file>")]
async fn public_notice(app: &State<App>, org: &str, file: &str) -> Result<Served, Status> {
    let (activity, format) = split_extension(file);
    public_activity(app, Kind::Notice, org, activity, format).await
}

#[get("/o/<org>/traitements/<activity>/mention")]
async fn public_mention(app: &State<App>, org: &str, activity: &str) -> Result<Served, Status> {
    public_activity(app, Kind::Notice, org, activity, Format::MentionHtml).await
}

#[get("/o/<org>/consentement/<activity>")]
async fn public_consent_form(
    app: &State<App>,
    jar: &rocket::http::CookieJar<'_>,
    org: &str,
    activity: &str,
) -> Result<Served, Status> {
    // The cookie that lets the form be sent (see `consent_pages`); the page stays the same
    // bytes for everyone, its version's file.
    super::consent_pages::ensure_form_cookie(app, jar);
    public_activity(app, Kind::ConsentForm, org, activity, Format::Html).await
}

#[get("/o/<org>/consentement/<activity>/formulaire.pdf")]
async fn public_consent_pdf(app: &State<App>, org: &str, activity: &str) -> Result<Served, Status> {
    public_activity(app, Kind::ConsentForm, org, activity, Format::Pdf).await
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
    _reader: Reader,
    org: &str,
    id: &str,
    format: Option<&str>,
) -> ApiResult<Served> {
    agent_document(app, Kind::Notice, org, id, format).await
}

#[get("/organisations/<org>/activities/<id>/consent-form?<format>")]
pub async fn activity_consent_form(
    app: &State<App>,
    _reader: Reader,
    org: &str,
    id: &str,
    format: Option<&str>,
) -> ApiResult<Served> {
    agent_document(app, Kind::ConsentForm, org, id, format).await
}

/// An activity's document for a caller who reads the organisation; JSON unless asked.
async fn agent_document(
    app: &App,
    kind: Kind,
    org: &str,
    id: &str,
    format: Option<&str>,
) -> ApiResult<Served> {
    let format = query_format(format)?;
    Ok(serve(app, Wanted::agent(kind, org, id, format)).await?)
}

#[get("/organisations/<org>/documents")]
pub async fn document_versions(
    app: &State<App>,
    caller: Reader,
    org: &str,
) -> ApiResult<Json<DocumentVersions>> {
    let versions = app.registre.document_versions(&caller, org).await?;
    Ok(Json(DocumentVersions {
        organisation: org.to_owned(),
        versions,
    }))
}

#[get("/organisations/<org>/documents/<version>")]
pub async fn document_version(
    app: &State<App>,
    caller: Reader,
    org: &str,
    version: &str,
) -> ApiResult<Json<crate::store::DocumentVersion>> {
    Ok(Json(
        app.registre.document_version(&caller, org, version).await?,
    ))
}
