//! The JSON API under `/api/v1`. Each route parses its input, calls one function of the
//! service, and shapes the answer: no rule of the register lives here.

use std::io::Cursor;

use jiff::Timestamp;
use rocket::http::{ContentType, Header, Status};
use rocket::request::Request;
use rocket::response::{self, Responder, Response};
use rocket::serde::json::Json;
use rocket::{State, delete, get, post, put};
use serde::Serialize;
use serde_json::Value;

use super::App;
use super::answers::{
    ActivityList, CreatedToken, History, Me, OrganisationList, TokenList, UserList,
};
use super::body::{JsonBody, RegisterText};
use super::caller::{Admin, Auditor, Caller, Editor, Need, Reader};
use super::error::{ApiError, FieldError};
use super::login::PasswordLogin;
use super::pages::ClientIp;
use crate::audit::Report;
use crate::auth::Role;
use crate::model::{self, Activity, Organisation, Register};
use crate::service::{ActivityFilter, MAX_TOKEN_DAYS, TokenRequest};
use crate::store::{ImportSummary, WriteMode, Written};

use super::error::ApiResult;

/// A JSON answer with its status: 201 for what was created.
pub struct WithStatus<T>(pub Status, pub T);

impl<T> WithStatus<T> {
    pub(super) fn created(body: T) -> Self {
        WithStatus(Status::Created, body)
    }
}

impl<'r, T: Serialize> Responder<'r, 'static> for WithStatus<T> {
    fn respond_to(self, _req: &'r Request<'_>) -> response::Result<'static> {
        let body = serde_json::to_string(&self.1).map_err(|_| Status::InternalServerError)?;
        Response::build()
            .status(self.0)
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

/// A written activity: 201 when it is new, 200 otherwise.
fn written(outcome: Written, activity: Activity) -> WithStatus<Activity> {
    match outcome {
        Written::Created => WithStatus::created(activity),
        Written::Updated | Written::Unchanged => WithStatus(Status::Ok, activity),
    }
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

#[get("/me")]
pub fn me(caller: Caller) -> Json<Me> {
    Json(Me {
        login: caller.login().to_owned(),
        name: caller.rights.name.clone(),
        grants: caller.rights.grants.clone(),
    })
}

/// An organisation as the API shows it: its own fields, which `PUT` takes back as they are
/// (its activities have routes of their own).
fn without_activities(mut org: Organisation) -> Organisation {
    org.activities = None;
    org
}

#[get("/organisations")]
pub async fn organisations(app: &State<App>, caller: Caller) -> ApiResult<Json<OrganisationList>> {
    let organisations = app.registre.organisations(&caller).await?;
    Ok(Json(OrganisationList { organisations }))
}

#[post("/organisations", data = "<body>")]
pub async fn create_organisation(
    app: &State<App>,
    caller: Caller,
    body: Result<JsonBody, ApiError>,
) -> ApiResult<WithStatus<Organisation>> {
    let org = app.registre.create_organisation(&caller, body?.0).await?;
    Ok(WithStatus::created(without_activities(org)))
}

#[get("/organisations/<org>")]
pub async fn organisation(
    app: &State<App>,
    caller: Reader,
    org: &str,
) -> ApiResult<Json<Organisation>> {
    let found = app.registre.organisation(&caller, Need::Read, org).await?;
    Ok(Json(without_activities(found)))
}

#[put("/organisations/<org>", data = "<body>")]
pub async fn update_organisation(
    app: &State<App>,
    caller: Editor,
    org: &str,
    body: Result<JsonBody, ApiError>,
) -> ApiResult<Json<Organisation>> {
    let updated = app
        .registre
        .update_organisation(&caller, org, body?.0)
        .await?;
    Ok(Json(without_activities(updated)))
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

impl ActivityFilters<'_> {
    fn parse(&self) -> ApiResult<ActivityFilter> {
        let public = match self.public {
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
        let owned = |v: Option<&str>| v.map(str::to_owned);
        Ok(ActivityFilter {
            purpose: owned(self.purpose),
            category: owned(self.category),
            subject: owned(self.subject),
            legal_basis: owned(self.legal_basis),
            public,
            words: self
                .q
                .map(|q| q.split_whitespace().map(str::to_owned).collect())
                .unwrap_or_default(),
        })
    }
}

#[get("/organisations/<org>/activities?<filters..>")]
pub async fn activities(
    app: &State<App>,
    caller: Reader,
    org: &str,
    filters: ActivityFilters<'_>,
) -> ApiResult<Json<ActivityList>> {
    let filter = filters.parse()?;
    let activities = app.registre.activities(&caller, org, &filter).await?;
    Ok(Json(ActivityList {
        organisation: org.to_owned(),
        activities,
    }))
}

#[get("/organisations/<org>/activities/<id>")]
pub async fn activity(
    app: &State<App>,
    caller: Reader,
    org: &str,
    id: &str,
) -> ApiResult<Json<Activity>> {
    Ok(Json(app.registre.activity(&caller, org, id).await?))
}

#[post("/organisations/<org>/activities", data = "<body>")]
pub async fn create_activity(
    app: &State<App>,
    caller: Editor,
    org: &str,
    body: Result<JsonBody, ApiError>,
) -> ApiResult<WithStatus<Activity>> {
    let (outcome, activity) = app
        .registre
        .write_activity(&caller, org, None, body?.0, WriteMode::Create)
        .await?;
    Ok(written(outcome, activity))
}

#[put("/organisations/<org>/activities/<id>", data = "<body>")]
pub async fn update_activity(
    app: &State<App>,
    caller: Editor,
    org: &str,
    id: &str,
    body: Result<JsonBody, ApiError>,
) -> ApiResult<WithStatus<Activity>> {
    let (outcome, activity) = app
        .registre
        .write_activity(&caller, org, Some(id), body?.0, WriteMode::Update)
        .await?;
    Ok(written(outcome, activity))
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

#[get("/organisations/<org>/history")]
pub async fn organisation_history(
    app: &State<App>,
    caller: Auditor,
    org: &str,
) -> ApiResult<Json<History>> {
    Ok(Json(app.registre.history(&caller, org, None).await?.into()))
}

#[get("/organisations/<org>/activities/<id>/history")]
pub async fn activity_history(
    app: &State<App>,
    caller: Auditor,
    org: &str,
    id: &str,
) -> ApiResult<Json<History>> {
    Ok(Json(
        app.registre.history(&caller, org, Some(id)).await?.into(),
    ))
}

#[get("/organisations/<org>/register?<format>&<at>")]
pub async fn organisation_register(
    app: &State<App>,
    caller: Caller,
    org: &str,
    format: Option<&str>,
    at: Option<&str>,
) -> ApiResult<RegisterFile> {
    let at = parse_at(at)?;
    let register = app.registre.register(&caller, Some(org), at).await?;
    register_file(&register, format)
}

#[get("/register?<format>&<at>")]
pub async fn register(
    app: &State<App>,
    caller: Caller,
    format: Option<&str>,
    at: Option<&str>,
) -> ApiResult<RegisterFile> {
    let at = parse_at(at)?;
    let register = app.registre.register(&caller, None, at).await?;
    register_file(&register, format)
}

#[post("/register", data = "<body>")]
pub async fn import(
    app: &State<App>,
    caller: Caller,
    body: Result<RegisterText, ApiError>,
) -> ApiResult<Json<ImportSummary>> {
    crate::service::may_import(&caller)?;
    let RegisterText { text, format, slot } = body?;
    let summary = app.registre.import(&caller, text, format).await?;
    // The import's place is held until it is written.
    drop(slot);
    Ok(Json(summary))
}

#[get("/organisations/<org>/audit")]
pub async fn organisation_audit(
    app: &State<App>,
    caller: Auditor,
    org: &str,
) -> ApiResult<Json<Report>> {
    Ok(Json(app.registre.audit(&caller, Some(org)).await?))
}

#[get("/audit")]
pub async fn audit_all(app: &State<App>, caller: Caller) -> ApiResult<Json<Report>> {
    Ok(Json(app.registre.audit(&caller, None).await?))
}

#[get("/tokens")]
pub async fn tokens(
    app: &State<App>,
    login: Result<PasswordLogin, ApiError>,
) -> ApiResult<Json<TokenList>> {
    let caller = login?.0;
    let tokens = app.registre.accounts.tokens(&caller).await?;
    Ok(Json(TokenList { tokens }))
}

/// Creates an API token for one organisation and role the caller holds. Signs in with a
/// password (HTTP Basic, throttled) or a browser session.
#[post("/tokens", data = "<body>")]
pub async fn create_token(
    app: &State<App>,
    address: ClientIp,
    login: Result<PasswordLogin, ApiError>,
    body: Result<JsonBody, ApiError>,
) -> ApiResult<WithStatus<CreatedToken>> {
    let caller = login?.0;
    let request = token_request(&body?.0)?;
    let created = app
        .registre
        .accounts
        .create_token(&caller, request, address.text().as_deref())
        .await?;
    Ok(WithStatus::created(created.into()))
}

/// The body of a token request, every error with its field.
fn token_request(body: &Value) -> ApiResult<TokenRequest> {
    let mut fields = Fields::new(body);
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
    Ok(TokenRequest {
        name,
        role,
        organisation,
        days,
    })
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
    app.registre
        .accounts
        .revoke_token(&caller, id, address.text().as_deref())
        .await?;
    app.token_cache.clear();
    Ok(Status::NoContent)
}

#[post("/users/<login>/disable")]
pub async fn disable_user(
    app: &State<App>,
    caller: Admin,
    address: ClientIp,
    login: &str,
) -> ApiResult<Status> {
    set_disabled(app, &caller, &address, login, true).await
}

#[post("/users/<login>/enable")]
pub async fn enable_user(
    app: &State<App>,
    caller: Admin,
    address: ClientIp,
    login: &str,
) -> ApiResult<Status> {
    set_disabled(app, &caller, &address, login, false).await
}

async fn set_disabled(
    app: &App,
    caller: &Admin,
    address: &ClientIp,
    login: &str,
    disabled: bool,
) -> ApiResult<Status> {
    app.registre
        .accounts
        .set_disabled(caller, login, disabled, address.text().as_deref())
        .await?;
    app.token_cache.clear();
    Ok(Status::NoContent)
}

#[get("/users")]
pub async fn users(app: &State<App>, caller: Admin) -> ApiResult<Json<UserList>> {
    let users = app.registre.accounts.users(&caller).await?;
    Ok(Json(UserList { users }))
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
        super::consents::check,
        super::consents::check_batch,
        super::consents::history,
        super::consents::verify,
        super::consents::head,
        super::consents::record,
        super::consents::withdraw,
        super::consents::counts,
        super::consents::allowed,
        super::consents::proof,
        super::consents::receipt,
        super::consents::scan,
    ]
}
