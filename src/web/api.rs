//! The JSON API under `/api/v1`. Each route checks the caller's role on the organisation, then
//! calls the store, model or audit: no rule of the register lives here.

use std::collections::BTreeSet;
use std::io::Cursor;

use jiff::{SignedDuration, Timestamp};
use rocket::http::{ContentType, Header, Status};
use rocket::request::Request;
use rocket::response::{self, Responder, Response};
use rocket::serde::json::Json;
use rocket::{State, delete, get, post, put};
use serde_json::{Value, json};

use super::App;
use super::body::{JsonBody, RegisterText};
use super::caller::{Admin, Auditor, Caller, Editor, Need, Reader, not_found};
use super::error::{ApiError, FieldError};
use super::login::PasswordLogin;
use super::pages::ClientIp;
use crate::audit::{self, Report};
use crate::auth::{Grant, Role, new_token};
use crate::model::{self, Register};
use crate::store::{Change, Past, WriteMode, Written};
use crate::vocabulary::Kind;

use super::error::ApiResult;

/// A JSON answer with a status other than 200 (201 for creations).
pub struct Created(pub Value);

impl<'r> Responder<'r, 'static> for Created {
    fn respond_to(self, _req: &'r Request<'_>) -> response::Result<'static> {
        let body = self.0.to_string();
        Response::build()
            .status(Status::Created)
            .header(ContentType::JSON)
            .sized_body(body.len(), Cursor::new(body))
            .ok()
    }
}

/// A register in the file format: YAML (`application/yaml`) or JSON.
pub struct RegisterFile {
    text: String,
    json: bool,
}

impl<'r> Responder<'r, 'static> for RegisterFile {
    fn respond_to(self, _req: &'r Request<'_>) -> response::Result<'static> {
        let content_type = if self.json {
            ContentType::JSON
        } else {
            ContentType::new("application", "yaml")
        };
        Response::build()
            .header(content_type)
            .header(Header::new("Cache-Control", "no-store"))
            .sized_body(self.text.len(), Cursor::new(self.text))
            .ok()
    }
}

fn written(outcome: Written, doc: Value) -> Result<Created, Json<Value>> {
    match outcome {
        Written::Created => Ok(Created(doc)),
        Written::Updated | Written::Unchanged => Err(Json(doc)),
    }
}

fn to_value<T: serde::Serialize>(value: &T) -> ApiResult<Value> {
    serde_json::to_value(value).map_err(|e| ApiError::Internal(e.to_string()))
}

fn parse_at(at: Option<&str>) -> ApiResult<Option<Timestamp>> {
    at.map(|text| {
        text.parse::<Timestamp>().map_err(|_| {
            ApiError::invalid(
                "at",
                format!(
                    "date invalide `{text}` : attendu RFC 3339, par exemple 2026-01-01T00:00:00Z"
                ),
            )
        })
    })
    .transpose()
}

fn register_file(register: &Register, format: Option<&str>) -> ApiResult<RegisterFile> {
    match format.unwrap_or("yaml") {
        "yaml" => Ok(RegisterFile {
            text: model::to_yaml(register),
            json: false,
        }),
        "json" => Ok(RegisterFile {
            text: model::to_json(register),
            json: true,
        }),
        other => Err(ApiError::invalid(
            "format",
            format!("format inconnu `{other}` : yaml ou json"),
        )),
    }
}

/// Keeps the organisations the caller may read (`Need::Read`), or read the past of
/// (`Need::Audit`).
fn visible(mut register: Register, caller: &Caller, need: Need) -> Register {
    register.organisations.retain(|o| caller.may(need, &o.id));
    register
}

#[get("/me")]
pub fn me(caller: Caller) -> Json<Value> {
    Json(json!({
        "login": caller.login(),
        "name": caller.rights.name,
        "grants": caller.rights.grants,
    }))
}

/// An organisation as the API shows it: its own fields, which `PUT` takes back as they are
/// (its activities have routes of their own).
fn organisation_json(mut org: model::Organisation) -> ApiResult<Value> {
    org.activities = None;
    to_value(&org)
}

#[get("/organisations")]
pub async fn organisations(app: &State<App>, caller: Caller) -> ApiResult<Json<Value>> {
    let list = app
        .store
        .organisations()
        .await?
        .into_iter()
        .filter(|o| caller.may(Need::Read, &o.id))
        .map(organisation_json)
        .collect::<ApiResult<Vec<_>>>()?;
    Ok(Json(json!({ "organisations": list })))
}

#[post("/organisations", data = "<body>")]
pub async fn create_organisation(
    app: &State<App>,
    caller: Caller,
    body: Result<JsonBody, ApiError>,
) -> ApiResult<Created> {
    let org = app.registre.create_organisation(&caller, body?.0).await?;
    Ok(Created(organisation_json(org)?))
}

#[get("/organisations/<org>")]
pub async fn organisation(app: &State<App>, caller: Reader, org: &str) -> ApiResult<Json<Value>> {
    let found = app.registre.organisation(&caller, Need::Read, org).await?;
    Ok(Json(organisation_json(found)?))
}

#[put("/organisations/<org>", data = "<body>")]
pub async fn update_organisation(
    app: &State<App>,
    caller: Editor,
    org: &str,
    body: Result<JsonBody, ApiError>,
) -> ApiResult<Json<Value>> {
    let updated = app
        .registre
        .update_organisation(&caller, org, body?.0)
        .await?;
    Ok(Json(organisation_json(updated)?))
}

#[delete("/organisations/<org>")]
pub async fn delete_organisation(app: &State<App>, caller: Caller, org: &str) -> ApiResult<Status> {
    app.registre.delete_organisation(&caller, org).await?;
    app.token_cache.clear();
    Ok(Status::NoContent)
}

/// Filters of the activity list; each narrows it.
#[derive(Debug, rocket::FromForm)]
pub struct ActivityFilters<'r> {
    /// A purpose id (or one of its descendants in the vocabulary).
    purpose: Option<&'r str>,
    /// A data category id (or a descendant).
    category: Option<&'r str>,
    /// A data subject id (or a descendant).
    subject: Option<&'r str>,
    legal_basis: Option<&'r str>,
    /// `true` or `false`; any other value is an error, not a filter silently dropped.
    public: Option<&'r str>,
    /// Words of the name or description, case-insensitive.
    q: Option<&'r str>,
}

#[get("/organisations/<org>/activities?<filters..>")]
pub async fn activities(
    app: &State<App>,
    caller: Reader,
    org: &str,
    filters: ActivityFilters<'_>,
) -> ApiResult<Json<Value>> {
    app.registre.organisation(&caller, Need::Read, org).await?;
    let public = match filters.public {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(other) => {
            return Err(ApiError::invalid(
                "public",
                format!("valeur `{other}` invalide : true ou false"),
            ));
        }
    };
    let vocabulary = &app.pack.vocabulary;
    let under = |kind: Kind, ids: &[String], wanted: Option<&str>| {
        wanted.is_none_or(|w| ids.iter().any(|id| vocabulary.is_within(kind, id, w)))
    };
    let words: Vec<String> = filters
        .q
        .map(|q| q.split_whitespace().map(str::to_lowercase).collect())
        .unwrap_or_default();
    let list: Vec<Value> = app
        .store
        .activities(org)
        .await?
        .into_iter()
        .filter(|a| {
            let text =
                format!("{} {}", a.name, a.description.as_deref().unwrap_or("")).to_lowercase();
            under(Kind::Purpose, a.purposes(), filters.purpose)
                && under(Kind::DataCategory, a.data_categories(), filters.category)
                && under(Kind::DataSubject, a.data_subjects(), filters.subject)
                && filters
                    .legal_basis
                    .is_none_or(|b| a.legal_basis.as_deref() == Some(b))
                && public.is_none_or(|p| a.public.unwrap_or(false) == p)
                && words.iter().all(|w| text.contains(w))
        })
        .map(|a| to_value(&a))
        .collect::<ApiResult<_>>()?;
    Ok(Json(json!({ "organisation": org, "activities": list })))
}

#[get("/organisations/<org>/activities/<id>")]
pub async fn activity(
    app: &State<App>,
    _reader: Reader,
    org: &str,
    id: &str,
) -> ApiResult<Json<Value>> {
    let found =
        app.store.activity(org, id).await?.ok_or_else(|| {
            ApiError::NotFound(format!("activité `{id}` introuvable dans `{org}`"))
        })?;
    Ok(Json(to_value(&found)?))
}

#[post("/organisations/<org>/activities", data = "<body>")]
pub async fn create_activity(
    app: &State<App>,
    caller: Editor,
    org: &str,
    body: Result<JsonBody, ApiError>,
) -> ApiResult<Result<Created, Json<Value>>> {
    let (outcome, activity) = app
        .registre
        .write_activity(&caller, org, None, body?.0, WriteMode::Create)
        .await?;
    Ok(written(outcome, to_value(&activity)?))
}

#[put("/organisations/<org>/activities/<id>", data = "<body>")]
pub async fn update_activity(
    app: &State<App>,
    caller: Editor,
    org: &str,
    id: &str,
    body: Result<JsonBody, ApiError>,
) -> ApiResult<Result<Created, Json<Value>>> {
    let (outcome, activity) = app
        .registre
        .write_activity(&caller, org, Some(id), body?.0, WriteMode::Update)
        .await?;
    Ok(written(outcome, to_value(&activity)?))
}

#[delete("/organisations/<org>/activities/<id>")]
pub async fn delete_activity(
    app: &State<App>,
    caller: Editor,
    org: &str,
    id: &str,
) -> ApiResult<Status> {
    app.registre.delete_activity(&caller, org, id).await?;
    Ok(Status::NoContent)
}

/// How far back the caller reads: a deleted organisation's history is for administrators.
fn past(caller: &Caller) -> Past {
    if caller.is_admin() {
        Past::Everything
    } else {
        Past::Current
    }
}

fn history_json(changes: Vec<Change>) -> Value {
    let list: Vec<Value> = changes
        .into_iter()
        .map(|c| {
            json!({
                "at": c.at,
                "author": c.author,
                "operation": c.operation,
                "label": c.operation.label(),
                "activity": c.activity,
                "changes": c.diff(),
            })
        })
        .collect();
    json!({ "history": list })
}

#[get("/organisations/<org>/history")]
pub async fn organisation_history(
    app: &State<App>,
    caller: Auditor,
    org: &str,
) -> ApiResult<Json<Value>> {
    let changes = app.store.history(org, None, past(&caller)).await?;
    if changes.is_empty() {
        return Err(not_found(org));
    }
    Ok(Json(history_json(changes)))
}

#[get("/organisations/<org>/activities/<id>/history")]
pub async fn activity_history(
    app: &State<App>,
    caller: Auditor,
    org: &str,
    id: &str,
) -> ApiResult<Json<Value>> {
    let changes = app.store.history(org, Some(id), past(&caller)).await?;
    if changes.is_empty() {
        return Err(ApiError::NotFound(format!(
            "aucun historique pour l'activité `{id}` de `{org}`"
        )));
    }
    Ok(Json(history_json(changes)))
}

#[get("/organisations/<org>/register?<format>&<at>")]
pub async fn organisation_register(
    app: &State<App>,
    caller: Caller,
    org: &str,
    format: Option<&str>,
    at: Option<&str>,
) -> ApiResult<RegisterFile> {
    let register = match parse_at(at)? {
        // The register as it was is its history: the same rule as the history routes.
        Some(at) => {
            caller.require(Need::Audit, org)?;
            app.store.register_at(Some(org), at, past(&caller)).await?
        }
        None => {
            caller.require(Need::Read, org)?;
            app.store.organisation_with_sources(org).await?
        }
    };
    if !register.organisations.iter().any(|o| o.id == org) {
        return Err(not_found(org));
    }
    register_file(&visible(register, &caller, Need::Read), format)
}

#[get("/register?<format>&<at>")]
pub async fn register(
    app: &State<App>,
    caller: Caller,
    format: Option<&str>,
    at: Option<&str>,
) -> ApiResult<RegisterFile> {
    let (register, need) = match parse_at(at)? {
        Some(at) => (
            app.store.register_at(None, at, past(&caller)).await?,
            Need::Audit,
        ),
        None => (app.store.register(None).await?, Need::Read),
    };
    register_file(&visible(register, &caller, need), format)
}

#[post("/register", data = "<body>")]
pub async fn import(
    app: &State<App>,
    caller: Caller,
    body: Result<RegisterText, ApiError>,
) -> ApiResult<Json<Value>> {
    crate::service::may_import(&caller)?;
    let RegisterText { text, format, slot } = body?;
    let summary = app.registre.import(&caller, text, format).await?;
    // The import's place is held until it is written.
    drop(slot);
    Ok(Json(json!({
        "created": summary.created,
        "updated": summary.updated,
        "deleted": summary.deleted,
        "unchanged": summary.unchanged,
    })))
}

/// Audits in a blocking thread (the engine is CPU-bound) and keeps the findings of the
/// organisations the caller may audit.
async fn audit_visible(
    app: &App,
    caller: &Caller,
    register: Register,
    only: Option<&str>,
) -> ApiResult<Json<Value>> {
    let pack = app.pack.clone();
    let kept: BTreeSet<String> = register
        .organisations
        .iter()
        .filter(|o| only.is_none_or(|id| o.id == id) && caller.may(Need::Audit, &o.id))
        .map(|o| o.id.clone())
        .collect();
    let activities = register
        .organisations
        .iter()
        .filter(|o| kept.contains(&o.id))
        .map(|o| o.activities().len())
        .sum();
    let mut report: Report =
        rocket::tokio::task::spawn_blocking(move || audit::audit(&register, &pack))
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))?
            .map_err(|e| ApiError::Internal(e.to_string()))?;
    report.findings.retain(|f| kept.contains(&f.organisation));
    report.organisations = kept.len();
    report.activities = activities;
    Ok(Json(to_value(&report)?))
}

#[get("/organisations/<org>/audit")]
pub async fn organisation_audit(
    app: &State<App>,
    caller: Auditor,
    org: &str,
) -> ApiResult<Json<Value>> {
    let register = app.store.organisation_with_sources(org).await?;
    if !register.organisations.iter().any(|o| o.id == org) {
        return Err(not_found(org));
    }
    audit_visible(app, &caller, register, Some(org)).await
}

#[get("/audit")]
pub async fn audit_all(app: &State<App>, caller: Caller) -> ApiResult<Json<Value>> {
    let auditable = caller.is_admin()
        || caller
            .rights
            .grants
            .iter()
            .any(|g| matches!(g.role, Role::Dpo | Role::Auditor));
    if !auditable {
        return Err(ApiError::Forbidden(
            "les audits sont réservés aux auditeurs, DPO et administrateurs".into(),
        ));
    }
    // Only what the caller audits (and the sources it takes data from) is read and audited.
    let register = if caller.is_admin() {
        app.store.register(None).await?
    } else {
        let roots: BTreeSet<String> = caller
            .rights
            .grants
            .iter()
            .filter(|g| matches!(g.role, Role::Dpo | Role::Auditor))
            .filter_map(|g| g.organisation.clone())
            .collect();
        app.store.organisations_with_sources(&roots).await?
    };
    audit_visible(app, &caller, register, None).await
}

/// The longest an API token lives.
const MAX_TOKEN_DAYS: i64 = 366;

/// Tokens are managed with a password or a browser session, never with a token: a token
/// cannot mint a longer-lived one, nor list or revoke its owner's others.
fn refuse_token_caller(caller: &Caller) -> ApiResult<()> {
    if caller.token.is_some() {
        return Err(ApiError::Forbidden(
            "les jetons se gèrent avec le mot de passe (HTTP Basic) ou une session, pas avec un jeton".into(),
        ));
    }
    Ok(())
}

#[get("/tokens")]
pub async fn tokens(
    app: &State<App>,
    login: Result<PasswordLogin, ApiError>,
) -> ApiResult<Json<Value>> {
    let caller = login?.0;
    refuse_token_caller(&caller)?;
    let owner = (!caller.is_admin()).then(|| caller.login().to_owned());
    let list = app.store.tokens(owner.as_deref()).await?;
    Ok(Json(json!({ "tokens": list })))
}

/// Creates an API token for one organisation and role the caller holds. Signs in with a
/// password (HTTP Basic, throttled) or an existing session or token.
#[post("/tokens", data = "<body>")]
pub async fn create_token(
    app: &State<App>,
    address: ClientIp,
    login: Result<PasswordLogin, ApiError>,
    body: Result<JsonBody, ApiError>,
) -> ApiResult<Created> {
    let caller = login?.0;
    refuse_token_caller(&caller)?;
    let body = body?.0;
    let mut fields = Fields::new(&body);
    fields.only(&["name", "role", "organisation", "days"]);
    let name = fields.text("name", true);
    let role = fields.text("role", true).and_then(|r| match r.as_str() {
        "admin" => Some(Role::Admin),
        "dpo" => Some(Role::Dpo),
        "agent" => Some(Role::Agent),
        "auditor" => Some(Role::Auditor),
        other => {
            fields.error(
                "role",
                format!("rôle inconnu `{other}` : admin, dpo, agent ou auditor"),
            );
            None
        }
    });
    let organisation = fields.text("organisation", role.is_some_and(|r| r != Role::Admin));
    let days = fields.integer("days", 1..=MAX_TOKEN_DAYS).unwrap_or(90);
    fields.finish()?;
    let (Some(name), Some(role)) = (name, role) else {
        return Err(ApiError::invalid("", "corps incomplet"));
    };
    let grant = if role == Role::Admin {
        caller.require_admin()?;
        Grant {
            role,
            organisation: None,
        }
    } else {
        let org = organisation.unwrap_or_default();
        if !caller.rights.can(role, &org) {
            caller.require(Need::Read, &org)?;
            return Err(ApiError::Forbidden(format!(
                "vous n'avez pas le rôle `{}` sur `{org}`",
                role.as_str()
            )));
        }
        Grant {
            role,
            organisation: Some(org),
        }
    };
    let (token, hash) = new_token();
    let now = Timestamp::now();
    let id = app
        .store
        .add_token(
            &hash,
            &name,
            caller.login(),
            &grant,
            now,
            SignedDuration::from_hours(24 * days),
        )
        .await?;
    app.log(
        caller.login(),
        "token.create",
        Some(&id),
        true,
        address.0.map(|a| a.to_string()).as_deref(),
    )
    .await;
    Ok(Created(json!({
        "id": id,
        "token": token,
        "name": name,
        "grant": grant,
        "days": days,
        "note": "conservez ce jeton : il n'est affiché qu'une fois",
    })))
}

/// Reads the fields of a small JSON body, collecting every error with its field name.
struct Fields<'a> {
    body: &'a Value,
    errors: Vec<FieldError>,
}

impl<'a> Fields<'a> {
    fn new(body: &'a Value) -> Self {
        let mut errors = Vec::new();
        if !body.is_object() {
            errors.push(FieldError {
                path: String::new(),
                line: None,
                message: "un objet JSON est attendu".into(),
            });
        }
        Fields { body, errors }
    }

    /// Refuses any field but `known`: a misspelt `day` must not silently give 90 days.
    fn only(&mut self, known: &[&str]) {
        let unknown: Vec<String> = self
            .body
            .as_object()
            .into_iter()
            .flat_map(|map| map.keys())
            .filter(|k| !known.contains(&k.as_str()))
            .cloned()
            .collect();
        for key in unknown {
            self.error(
                &key,
                format!("champ inconnu : attendus {}", known.join(", ")),
            );
        }
    }

    fn error(&mut self, field: &str, message: impl Into<String>) {
        self.errors.push(FieldError {
            path: field.to_owned(),
            line: None,
            message: message.into(),
        });
    }

    fn text(&mut self, field: &str, required: bool) -> Option<String> {
        match self.body.get(field) {
            None if required => {
                self.error(field, "champ obligatoire");
                None
            }
            None => None,
            Some(Value::String(s)) if !s.trim().is_empty() && s.chars().count() <= 200 => {
                Some(s.clone())
            }
            Some(_) => {
                self.error(
                    field,
                    "doit être un texte non vide de 200 caractères au plus",
                );
                None
            }
        }
    }

    fn integer(&mut self, field: &str, range: std::ops::RangeInclusive<i64>) -> Option<i64> {
        let value = self.body.get(field)?;
        let found = value.as_i64().filter(|n| range.contains(n));
        if found.is_none() {
            self.error(
                field,
                format!(
                    "doit être un nombre entier entre {} et {}",
                    range.start(),
                    range.end()
                ),
            );
        }
        found
    }

    fn finish(self) -> ApiResult<()> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Invalid(self.errors))
        }
    }
}

#[delete("/tokens/<id>")]
pub async fn revoke_token(
    app: &State<App>,
    address: ClientIp,
    login: Result<PasswordLogin, ApiError>,
    id: &str,
) -> ApiResult<Status> {
    let caller = login?.0;
    refuse_token_caller(&caller)?;
    let owner = (!caller.is_admin()).then(|| caller.login().to_owned());
    app.store.revoke_token(id, owner.as_deref()).await?;
    app.token_cache.clear();
    app.log(
        caller.login(),
        "token.revoke",
        Some(id),
        true,
        address.0.map(|a| a.to_string()).as_deref(),
    )
    .await;
    Ok(Status::NoContent)
}

#[post("/users/<login>/disable")]
pub async fn disable_user(
    app: &State<App>,
    caller: Admin,
    address: ClientIp,
    login: &str,
) -> ApiResult<Status> {
    set_disabled(app, &caller, address.0, login, true).await
}

#[post("/users/<login>/enable")]
pub async fn enable_user(
    app: &State<App>,
    caller: Admin,
    address: ClientIp,
    login: &str,
) -> ApiResult<Status> {
    set_disabled(app, &caller, address.0, login, false).await
}

async fn set_disabled(
    app: &App,
    caller: &Admin,
    address: Option<std::net::IpAddr>,
    login: &str,
    disabled: bool,
) -> ApiResult<Status> {
    if disabled && login == caller.login() {
        return Err(ApiError::Conflict(
            "un administrateur ne peut pas désactiver son propre compte".into(),
        ));
    }
    app.store
        .set_disabled(login, disabled, Timestamp::now())
        .await?;
    app.token_cache.clear();
    let action = if disabled {
        "user.disable"
    } else {
        "user.enable"
    };
    app.log(
        caller.login(),
        action,
        Some(login),
        true,
        address.map(|a| a.to_string()).as_deref(),
    )
    .await;
    Ok(Status::NoContent)
}

#[get("/users")]
pub async fn users(app: &State<App>, _admin: Admin) -> ApiResult<Json<Value>> {
    Ok(Json(json!({ "users": app.store.users().await? })))
}

#[get("/openapi.json")]
pub fn openapi() -> Json<Value> {
    Json(super::openapi::document())
}

pub fn routes() -> Vec<rocket::Route> {
    rocket::routes![
        me,
        organisations,
        create_organisation,
        organisation,
        update_organisation,
        delete_organisation,
        activities,
        create_activity,
        activity,
        update_activity,
        delete_activity,
        organisation_history,
        activity_history,
        organisation_register,
        register,
        import,
        organisation_audit,
        audit_all,
        tokens,
        create_token,
        revoke_token,
        users,
        disable_user,
        enable_user,
        openapi,
        super::documents::activity_notice,
        super::documents::activity_consent_form,
        super::documents::document_versions,
        super::documents::document_version,
    ]
}
