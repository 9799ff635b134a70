//! The JSON API, in process on an in-memory database: tenant isolation over every route and
//! role, bad input over every write route, the register round trip, tokens, sessions, CSRF
//! and sign-in throttling.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

mod common;

use std::sync::Arc;

use base64::Engine;
use jiff::Timestamp;
use registre::auth::{Grant, Role, User, hash_password};
use registre::render::Templates;
use registre::store::Store;
use registre::web::{self, App, CSRF_HEADER, SESSION_COOKIE, openapi};
use rocket::http::{ContentType, Cookie, Header, Status};
use rocket::local::asynchronous::{Client, LocalResponse};
use serde_json::{Value, json};

const DEMO: &str = include_str!("../examples/commune-demo.yaml");
const PASSWORD: &str = "Correct-Horse-Battery-Staple-42";
const OWN: &str = "saint-aubin";
const FOREIGN: &str = "ccas-saint-aubin";
/// Strings only the foreign organisation's data contain.
const FOREIGN_MARKERS: [&str; 4] = [FOREIGN, "266000454", "colis-aines", "Colis de Noël"];

struct Api {
    client: Client,
    /// The service over the same database, to record what no API route records yet.
    registre: registre::service::Registre,
    /// API tokens by name: `admin`, and `dpo`, `agent`, `auditor` of the own organisation.
    tokens: std::collections::BTreeMap<&'static str, String>,
}

fn login_of(role: &str) -> String {
    format!("{role}@saint-aubin.fr")
}

async fn api() -> Api {
    let store = Store::open("mem://", None).await.unwrap();
    let now = Timestamp::now();
    store
        .import(&common::load(DEMO), "test", now)
        .await
        .unwrap();
    let hash = hash_password(PASSWORD).unwrap();
    for (role, organisation) in [
        (Role::Admin, None),
        (Role::Dpo, Some(OWN)),
        (Role::Agent, Some(OWN)),
        (Role::Auditor, Some(OWN)),
    ] {
        let user = User {
            login: login_of(role.as_str()),
            name: role.as_str().to_owned(),
            grants: vec![Grant {
                role,
                organisation: organisation.map(str::to_owned),
            }],
            disabled: false,
        };
        store.add_user(&user, &hash, now).await.unwrap();
    }
    let pack = Arc::new(registre::audit::PolicyPack::builtin().unwrap());
    let registre = registre::service::Registre::new(store.clone(), pack.clone());
    let app = App::new(store, pack, Templates::builtin().unwrap());
    let figment = rocket::Config::figment()
        .merge(("log_level", "off"))
        .merge((
            "secret_key",
            base64::engine::general_purpose::STANDARD.encode([7u8; 64]),
        ));
    let client = Client::untracked(web::rocket(app, figment)).await.unwrap();
    let mut api = Api {
        client,
        registre,
        tokens: Default::default(),
    };
    for role in ["admin", "dpo", "agent", "auditor"] {
        let organisation = (role != "admin").then_some(OWN);
        let token = api.new_token(role, role, organisation).await;
        api.tokens.insert(role, token);
    }
    api
}

fn basic(login: &str, password: &str) -> Header<'static> {
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{login}:{password}"));
    Header::new("Authorization", format!("Basic {encoded}"))
}

/// The value of a page's hidden `csrf` field.
fn csrf_field(html: &str) -> String {
    html.split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the page has a CSRF field")
        .to_owned()
}

fn bearer(token: &str) -> Header<'static> {
    Header::new("Authorization", format!("Bearer {token}"))
}

async fn json_of(response: LocalResponse<'_>) -> (Status, Value) {
    let (status, _, value) = answer_of(response).await;
    (status, value)
}

/// Status, whether the body is JSON, and the body (a string when it is not JSON).
async fn answer_of(response: LocalResponse<'_>) -> (Status, bool, Value) {
    let status = response.status();
    let json = response.content_type() == Some(ContentType::JSON);
    let text = response.into_string().await.unwrap_or_default();
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, json, value)
}

/// Checks a JSON answer against what the OpenAPI document says the route answers with this
/// status (its `default`, an error, for statuses it does not list).
fn check_documented(method: &str, path: &str, status: Status, body: &Value) {
    let errors = undocumented(method, path, status, body);
    assert!(
        errors.is_empty(),
        "{method} {path} answered {status} outside its documented schema:\n{}\n{body:#}",
        errors.join("\n")
    );
}

/// Where a JSON answer departs from its documented schema.
fn undocumented(method: &str, path: &str, status: Status, body: &Value) -> Vec<String> {
    type Validators =
        std::collections::BTreeMap<(String, &'static str, u16), jsonschema::Validator>;
    static DOCUMENT: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    static VALIDATORS: std::sync::Mutex<Validators> = std::sync::Mutex::new(Validators::new());
    let document = DOCUMENT.get_or_init(openapi::document);
    let path = path.split('?').next().unwrap();
    let route = openapi::ROUTES
        .iter()
        .filter(|r| r.method == method && path_matches(r.path, path))
        .min_by_key(|r| r.path.matches('{').count())
        .unwrap_or_else(|| panic!("{method} {path} is not documented"));
    let mut validators = VALIDATORS.lock().unwrap();
    let validator = validators
        .entry((method.to_owned(), route.path, status.code))
        .or_insert_with(|| {
            let responses = &document["paths"][route.path][method]["responses"];
            let response = responses
                .get(status.code.to_string())
                .unwrap_or(&responses["default"]);
            let schema = &response["content"]["application/json"]["schema"];
            assert!(
                schema.is_object(),
                "{method} {} answers {status} in JSON, documented without",
                route.path
            );
            let root = json!({
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "allOf": [schema],
                "components": document["components"],
            });
            jsonschema::validator_for(&root).unwrap()
        });
    validator
        .iter_errors(body)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

impl Api {
    async fn new_token(&self, login_role: &str, role: &str, organisation: Option<&str>) -> String {
        let mut body = json!({ "name": format!("test {role}"), "role": role });
        if let Some(org) = organisation {
            body["organisation"] = json!(org);
        }
        let (status, value) = json_of(
            self.client
                .post("/api/v1/tokens")
                .header(basic(&login_of(login_role), PASSWORD))
                .header(ContentType::JSON)
                .body(body.to_string())
                .dispatch()
                .await,
        )
        .await;
        assert_eq!(status, Status::Created, "{value}");
        check_documented("post", "/tokens", status, &value);
        value["token"].as_str().unwrap().to_owned()
    }

    /// A new account with one grant, and a token of its own.
    async fn user_with_token(&self, login: &str, role: Role, organisation: Option<&str>) -> String {
        let app = self.client.rocket().state::<App>().unwrap();
        let user = User {
            login: login.into(),
            name: login.into(),
            grants: vec![Grant {
                role,
                organisation: organisation.map(str::to_owned),
            }],
            disabled: false,
        };
        app.registre
            .store
            .add_user(&user, &hash_password(PASSWORD).unwrap(), Timestamp::now())
            .await
            .unwrap();
        let mut body = json!({ "name": "t", "role": role.as_str() });
        if let Some(org) = organisation {
            body["organisation"] = json!(org);
        }
        let (status, value) = json_of(
            self.client
                .post("/api/v1/tokens")
                .header(basic(login, PASSWORD))
                .header(ContentType::JSON)
                .body(body.to_string())
                .dispatch()
                .await,
        )
        .await;
        assert_eq!(status, Status::Created, "{value}");
        value["token"].as_str().unwrap().to_owned()
    }

    async fn call(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Option<&str>,
    ) -> (Status, Value) {
        let uri = format!("/api/v1{path}");
        let request = match method {
            "get" => self.client.get(uri),
            "post" => self.client.post(uri),
            "put" => self.client.put(uri),
            "delete" => self.client.delete(uri),
            other => panic!("method {other}"),
        };
        let mut request = request.header(bearer(token));
        if let Some(body) = body {
            request = request.header(ContentType::JSON).body(body);
        }
        let (status, json, value) = answer_of(request.dispatch().await).await;
        if json {
            check_documented(method, path, status, &value);
        }
        (status, value)
    }

    async fn history(&self, organisation: &str, token: &str) -> (Status, Value) {
        self.call(
            "get",
            &format!("/organisations/{organisation}/history"),
            token,
            None,
        )
        .await
    }

    async fn get(&self, path: &str, role: &str) -> (Status, Value) {
        self.call("get", path, &self.tokens[role], None).await
    }

    /// The whole stored register and its history, to check that nothing changed.
    async fn snapshot(&self) -> (String, usize) {
        let response = self
            .client
            .get("/api/v1/register?format=json")
            .header(bearer(&self.tokens["admin"]))
            .dispatch()
            .await;
        assert_eq!(response.status(), Status::Ok);
        let register = response.into_string().await.unwrap();
        let mut changes = 0;
        for org in [OWN, FOREIGN] {
            let (status, history) = self
                .get(&format!("/organisations/{org}/history"), "admin")
                .await;
            if status == Status::Ok {
                changes += history["history"].as_array().unwrap().len();
            }
            changes += self.registre.store.consent_events(org).await.unwrap().len();
        }
        (register, changes)
    }
}

fn foreign_activity() -> Value {
    let register = common::load(DEMO);
    let ccas = register
        .organisations
        .iter()
        .find(|o| o.id == FOREIGN)
        .unwrap();
    serde_json::to_value(&ccas.activities()[0]).unwrap()
}

fn foreign_organisation() -> Value {
    let register = common::load(DEMO);
    let mut ccas = register
        .organisations
        .iter()
        .find(|o| o.id == FOREIGN)
        .unwrap()
        .clone();
    ccas.activities = None;
    serde_json::to_value(ccas).unwrap()
}

/// A valid body for each write route, aimed at the foreign organisation.
fn foreign_body(method: &str, path: &str) -> Option<String> {
    match (method, path) {
        ("post", "/organisations") | ("put", "/organisations/{org}") => {
            Some(foreign_organisation().to_string())
        }
        ("post", "/organisations/{org}/activities") => {
            let mut activity = foreign_activity();
            activity["id"] = json!("nouvelle");
            Some(activity.to_string())
        }
        ("put", "/organisations/{org}/activities/{id}") => {
            let mut activity = foreign_activity();
            activity["name"] = json!("Changé par un autre");
            Some(activity.to_string())
        }
        ("post", "/register") => {
            let register = common::load(DEMO);
            Some(registre::model::to_json(&register))
        }
        ("post", "/tokens") => {
            Some(json!({ "name": "x", "role": "agent", "organisation": FOREIGN }).to_string())
        }
        ("post", "/organisations/{org}/consents") => Some(
            json!({ "activity": foreign_activity()["id"], "choices": [], "channel": "guichet", "name": "Jean Dupont" })
                .to_string(),
        ),
        ("post", "/organisations/{org}/consents/withdrawals") => Some(
            json!({ "activity": foreign_activity()["id"], "subject": "0123456789abcdef0123456789abcdef", "choices": ["x"], "channel": "courrier" })
                .to_string(),
        ),
        _ => None,
    }
}

#[rocket::async_test]
async fn no_route_shows_or_changes_another_organisations_data() {
    let api = api().await;
    let before = api.snapshot().await;
    let foreign_id = foreign_activity()["id"].as_str().unwrap().to_owned();
    let mut checked = 0;
    for route in openapi::ROUTES {
        let path = route
            .path
            .replace("{org}", FOREIGN)
            .replace("{id}", &foreign_id)
            .replace("{login}", &login_of("admin"))
            .replace("{version}", "0123456789ab")
            .replace("{subject}", "0123456789abcdef0123456789abcdef")
            .replace("{activity}", &foreign_id)
            .replace("{seq}", "0")
            .replace("{sha256}", &"0".repeat(64));
        let body = foreign_body(route.method, route.path);
        for role in ["dpo", "agent", "auditor"] {
            let (status, value) = api
                .call(route.method, &path, &api.tokens[role], body.as_deref())
                .await;
            let text = value.to_string();
            let shown: Vec<&str> = FOREIGN_MARKERS
                .iter()
                .copied()
                .filter(|m| text.contains(m))
                .collect();
            if route.path.contains("{org}") || route.method != "get" {
                assert!(
                    status == Status::Forbidden || status == Status::NotFound,
                    "{} {} as {role}: {status} {text}",
                    route.method,
                    route.path
                );
            }
            // A refusal may name the requested id back, never show the organisation's data.
            let allowed_echo = [FOREIGN, foreign_id.as_str()];
            assert!(
                shown.iter().all(|m| allowed_echo.contains(m))
                    && (status.code >= 400 || shown.is_empty()),
                "{} {} as {role} shows {shown:?}: {status} {text}",
                route.method,
                route.path
            );
            checked += 1;
        }
    }
    assert_eq!(checked, openapi::ROUTES.len() * 3);
    assert_eq!(
        api.snapshot().await,
        before,
        "nothing of the other organisation changed"
    );

    // The same caller does see their own organisation.
    let (status, own) = api
        .get(&format!("/organisations/{OWN}/activities"), "agent")
        .await;
    assert_eq!(status, Status::Ok);
    assert_eq!(own["activities"].as_array().unwrap().len(), 17);
}

#[rocket::async_test]
async fn browser_sessions_are_isolated_and_need_the_csrf_token() {
    let api = api().await;
    let app = api.client.rocket().state::<App>().unwrap();
    let (_, hash) = app
        .registre
        .store
        .user_with_hash(&login_of("dpo"))
        .await
        .unwrap()
        .unwrap();
    let now = Timestamp::now();
    let (session_id, session) = registre::auth::Session::open(&login_of("dpo"), &hash, now);
    app.registre
        .store
        .open_session(&registre::auth::Session::key(&session_id), &session, now)
        .await
        .unwrap();
    let csrf = session.csrf;
    let cookie = || Cookie::new(SESSION_COOKIE, session_id.clone());

    let own = api
        .client
        .get(format!("/api/v1/organisations/{OWN}"))
        .private_cookie(cookie())
        .dispatch()
        .await;
    assert_eq!(own.status(), Status::Ok);
    let foreign = api
        .client
        .get(format!("/api/v1/organisations/{FOREIGN}"))
        .private_cookie(cookie())
        .dispatch()
        .await;
    assert_eq!(foreign.status(), Status::NotFound);

    let mut activity =
        serde_json::to_value(&common::load(DEMO).organisations[0].activities()[0]).unwrap();
    activity["name"] = json!("Tenue de l'état civil");
    let path = format!(
        "/api/v1/organisations/{OWN}/activities/{}",
        activity["id"].as_str().unwrap()
    );
    let without = api
        .client
        .put(path.clone())
        .private_cookie(cookie())
        .header(ContentType::JSON)
        .body(activity.to_string())
        .dispatch()
        .await;
    let (status, body) = json_of(without).await;
    assert_eq!(status, Status::Forbidden, "{body}");
    assert!(body["message"].as_str().unwrap().contains("CSRF"), "{body}");
    let with = api
        .client
        .put(path)
        .private_cookie(cookie())
        .header(Header::new(CSRF_HEADER, csrf))
        .header(ContentType::JSON)
        .body(activity.to_string())
        .dispatch()
        .await;
    assert_eq!(with.status(), Status::Ok);

    // A new password ends the session.
    let new_hash = hash_password("Another-Long-Passphrase-2026").unwrap();
    app.registre
        .store
        .set_password(&login_of("dpo"), &new_hash, Timestamp::now())
        .await
        .unwrap();
    let after = api
        .client
        .get(format!("/api/v1/organisations/{OWN}"))
        .private_cookie(cookie())
        .dispatch()
        .await;
    assert_eq!(after.status(), Status::Unauthorized);
}

/// Each bad body of a write route, with the field path the answer must name.
struct BadInput {
    method: &'static str,
    path: String,
    token: &'static str,
    body: String,
    status: Status,
    field: &'static str,
}

fn own_activity() -> Value {
    serde_json::to_value(&common::load(DEMO).organisations[0].activities()[3]).unwrap()
}

fn with(mut value: Value, field: &str, new: Value) -> String {
    value[field] = new;
    value.to_string()
}

fn bad_inputs() -> Vec<BadInput> {
    let activity = own_activity();
    let id = activity["id"].as_str().unwrap().to_owned();
    let mut organisation = serde_json::to_value(&common::load(DEMO).organisations[0]).unwrap();
    organisation.as_object_mut().unwrap().remove("activities");
    let new_org = with(organisation.clone(), "id", json!("nouvelle-commune"));
    let new_org: Value = serde_json::from_str(&new_org).unwrap();
    let mut new_activity = activity.clone();
    new_activity["id"] = json!("nouvelle-activite");
    let huge = format!("{{\"id\":\"x\",\"name\":\"{}\"}}", "a".repeat(300 * 1024));
    let mut cases = Vec::new();
    let mut add = |method, path: &str, token, body: String, status, field| {
        cases.push(BadInput {
            method,
            path: path.to_owned(),
            token,
            body,
            status,
            field,
        })
    };
    let activities = format!("/organisations/{OWN}/activities");
    let one = format!("/organisations/{OWN}/activities/{id}");
    let org = format!("/organisations/{OWN}");
    for (method, path, base) in [
        ("post", activities.as_str(), &new_activity),
        ("put", one.as_str(), &activity),
    ] {
        add(
            method,
            path,
            "dpo",
            "{\"id\": ".into(),
            Status::BadRequest,
            "",
        );
        add(
            method,
            path,
            "dpo",
            "[1, 2]".into(),
            Status::UnprocessableEntity,
            "",
        );
        add(
            method,
            path,
            "dpo",
            with(base.clone(), "purposes", json!("education")),
            Status::UnprocessableEntity,
            "purposes",
        );
        add(
            method,
            path,
            "dpo",
            with(base.clone(), "automated_decision", json!("non")),
            Status::UnprocessableEntity,
            "automated_decision",
        );
        add(
            method,
            path,
            "dpo",
            with(base.clone(), "purposes", json!(["finalite-inventee"])),
            Status::UnprocessableEntity,
            "purposes[0]",
        );
        add(
            method,
            path,
            "dpo",
            with(base.clone(), "legal_basis", json!("bon-plaisir")),
            Status::UnprocessableEntity,
            "legal_basis",
        );
        add(
            method,
            path,
            "dpo",
            with(base.clone(), "siren", json!("216000125")),
            Status::UnprocessableEntity,
            "siren",
        );
        add(
            method,
            path,
            "dpo",
            huge.clone(),
            Status::PayloadTooLarge,
            "",
        );
    }
    add(
        "put",
        &one,
        "dpo",
        with(activity.clone(), "id", json!("autre-id")),
        Status::UnprocessableEntity,
        "id",
    );
    for (method, path, token, base) in [
        ("post", "/organisations", "admin", &new_org),
        ("put", org.as_str(), "dpo", &organisation),
    ] {
        add(
            method,
            path,
            token,
            "{\"id\": ".into(),
            Status::BadRequest,
            "",
        );
        add(
            method,
            path,
            token,
            with(base.clone(), "siren", json!("216000126")),
            Status::UnprocessableEntity,
            "siren",
        );
        add(
            method,
            path,
            token,
            with(base.clone(), "email", json!("mairie-at-example")),
            Status::UnprocessableEntity,
            "email",
        );
        add(
            method,
            path,
            token,
            with(base.clone(), "kind", json!("royaume")),
            Status::UnprocessableEntity,
            "kind",
        );
        add(
            method,
            path,
            token,
            with(base.clone(), "name", json!(42)),
            Status::UnprocessableEntity,
            "name",
        );
        add(
            method,
            path,
            token,
            with(base.clone(), "activities", json!([])),
            Status::UnprocessableEntity,
            "activities",
        );
        add(
            method,
            path,
            token,
            huge.clone(),
            Status::PayloadTooLarge,
            "",
        );
    }
    let mut dpo = organisation.clone();
    dpo["dpo"]["email"] = json!("dpo@@opsn");
    add(
        "put",
        &org,
        "dpo",
        dpo.to_string(),
        Status::UnprocessableEntity,
        "dpo.email",
    );

    let register = registre::model::to_json(&common::load(DEMO));
    add(
        "post",
        "/register",
        "admin",
        "organisations: [".into(),
        Status::BadRequest,
        "",
    );
    add(
        "post",
        "/register",
        "admin",
        register.replace("216000125", "216000126"),
        Status::UnprocessableEntity,
        "organisations[0].siren",
    );
    add(
        "post",
        "/register",
        "admin",
        register.replace("\"elections.liste-electorale\"", "\"elections.inventee\""),
        Status::UnprocessableEntity,
        "organisations[0].activities[1].purposes[0]",
    );

    add(
        "post",
        "/tokens",
        "basic:dpo",
        "{".into(),
        Status::BadRequest,
        "",
    );
    add(
        "post",
        "/tokens",
        "basic:dpo",
        json!({ "name": 3, "role": "agent", "organisation": OWN }).to_string(),
        Status::UnprocessableEntity,
        "name",
    );
    add(
        "post",
        "/tokens",
        "basic:dpo",
        json!({ "name": "x", "role": "roi", "organisation": OWN }).to_string(),
        Status::UnprocessableEntity,
        "role",
    );
    add(
        "post",
        "/tokens",
        "basic:dpo",
        json!({ "name": "x", "role": "agent", "organisation": OWN, "days": 5000 }).to_string(),
        Status::UnprocessableEntity,
        "days",
    );
    add(
        "post",
        "/tokens",
        "basic:dpo",
        json!({ "name": "x", "role": "agent" }).to_string(),
        Status::UnprocessableEntity,
        "organisation",
    );
    add(
        "post",
        "/tokens",
        "basic:dpo",
        json!({ "name": "x", "role": "agent", "organisation": OWN, "scope": "lecture" })
            .to_string(),
        Status::UnprocessableEntity,
        "scope",
    );
    let consents = format!("/organisations/{OWN}/consents");
    let paper = json!({ "activity": "photos", "choices": [PHOTO_CHOICE], "channel": "guichet", "name": "Jean Dupont", "minor": true, "holders": 2 });
    let unreadable = base64::engine::general_purpose::STANDARD.encode("<html>scan.pdf</html>");
    for (field, value, status, named) in [
        (
            "channel",
            json!("en-ligne"),
            Status::UnprocessableEntity,
            "channel",
        ),
        ("channel", json!("pigeon"), Status::BadRequest, "body"),
        (
            "scan",
            json!(unreadable),
            Status::UnprocessableEntity,
            "scan",
        ),
        ("scan", json!("%%%"), Status::UnprocessableEntity, "scan"),
        (
            "email",
            json!("jean-at-dupont"),
            Status::UnprocessableEntity,
            "email",
        ),
        (
            "choices",
            json!(["photos:affiches"]),
            Status::UnprocessableEntity,
            "choices",
        ),
        (
            "signed_on",
            json!("hier"),
            Status::UnprocessableEntity,
            "signed_on",
        ),
        (
            "holders",
            json!(3),
            Status::UnprocessableEntity,
            "signatories",
        ),
        ("ip", json!("192.0.2.1"), Status::BadRequest, "body"),
    ] {
        add(
            "post",
            &consents,
            "agent",
            with(paper.clone(), field, value),
            status,
            named,
        );
    }
    add(
        "post",
        &format!("{consents}/withdrawals"),
        "agent",
        json!({ "activity": "photos", "choices": [PHOTO_CHOICE], "channel": "courrier" })
            .to_string(),
        Status::BadRequest,
        "body",
    );
    add(
        "post",
        &format!("{consents}/withdrawals"),
        "agent",
        json!({ "activity": "photos", "subject": "x", "choices": [PHOTO_CHOICE], "channel": "en-ligne" }).to_string(),
        Status::UnprocessableEntity,
        "channel",
    );
    cases
}

const PHOTO_CHOICE: &str = "communication.publication-images:site-internet-de-la-commune";

#[rocket::async_test]
async fn bad_input_is_refused_with_its_field_and_changes_nothing() {
    let api = api().await;
    let before = api.snapshot().await;
    let cases = bad_inputs();
    let write_routes: std::collections::BTreeSet<(&str, &str)> = openapi::ROUTES
        .iter()
        .filter(|r| r.method == "post" || r.method == "put")
        .filter(|r| foreign_body(r.method, r.path).is_some())
        .map(|r| (r.method, r.path))
        .collect();
    let mut covered = std::collections::BTreeSet::new();
    for case in &cases {
        let content_type_yaml = case.path == "/register" && case.body.starts_with("organisations");
        let uri = format!("/api/v1{}", case.path);
        let request = match case.method {
            "post" => api.client.post(uri),
            _ => api.client.put(uri),
        }
        .header(match case.token.strip_prefix("basic:") {
            Some(role) => basic(&login_of(role), PASSWORD),
            None => bearer(&api.tokens[case.token]),
        })
        .header(if content_type_yaml {
            ContentType::new("application", "yaml")
        } else {
            ContentType::JSON
        })
        .body(case.body.clone());
        let (status, body) = json_of(request.dispatch().await).await;
        let short: String = case.body.chars().take(80).collect();
        assert_eq!(
            status, case.status,
            "{} {} {short}: {body}",
            case.method, case.path
        );
        let paths: Vec<&str> = body["errors"]
            .as_array()
            .unwrap_or_else(|| panic!("{} {} {short}: no errors: {body}", case.method, case.path))
            .iter()
            .map(|e| e["path"].as_str().unwrap())
            .collect();
        assert!(
            paths.contains(&case.field),
            "{} {} {short}: expected {:?} in {body}",
            case.method,
            case.path,
            case.field
        );
        for error in body["errors"].as_array().unwrap() {
            assert!(!error["message"].as_str().unwrap().is_empty());
        }
        let route = openapi::ROUTES
            .iter()
            .find(|r| r.method == case.method && path_matches(r.path, &case.path))
            .unwrap();
        covered.insert((route.method, route.path));
    }
    assert_eq!(covered, write_routes, "every write route gets bad input");
    assert_eq!(api.snapshot().await, before, "nothing stored changed");
}

fn path_matches(pattern: &str, path: &str) -> bool {
    let a: Vec<&str> = pattern.split('/').collect();
    let b: Vec<&str> = path.split('/').collect();
    a.len() == b.len() && a.iter().zip(&b).all(|(p, s)| p.starts_with('{') || p == s)
}

#[rocket::async_test]
async fn activities_are_created_read_updated_listed_and_deleted_with_history() {
    let api = api().await;
    let dpo = &api.tokens["dpo"];
    let mut activity = own_activity();
    activity["id"] = json!("portage-repas");
    activity["name"] = json!("Portage de repas à domicile");
    let base = format!("/organisations/{OWN}/activities");
    let (status, created) = api
        .call("post", &base, dpo, Some(&activity.to_string()))
        .await;
    assert_eq!(status, Status::Created, "{created}");
    let (status, again) = api
        .call("post", &base, dpo, Some(&activity.to_string()))
        .await;
    assert_eq!(status, Status::Conflict, "{again}");
    let (status, read) = api.get(&format!("{base}/portage-repas"), "agent").await;
    assert_eq!((status, &read), (Status::Ok, &created));

    activity["retention"]["active"] = json!("P6M");
    let (status, _) = api
        .call(
            "put",
            &format!("{base}/portage-repas"),
            dpo,
            Some(&activity.to_string()),
        )
        .await;
    assert_eq!(status, Status::Ok);
    let (status, history) = api
        .get(&format!("{base}/portage-repas/history"), "auditor")
        .await;
    assert_eq!(status, Status::Ok);
    let history = history["history"].as_array().unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[1]["operation"], "update");
    assert_eq!(history[1]["changes"][0]["field"], "retention");
    assert!(
        history[1]["author"]
            .as_str()
            .unwrap()
            .starts_with("dpo@saint-aubin.fr")
    );

    let (_, list) = api.get(&format!("{base}?q=portage"), "agent").await;
    assert_eq!(list["activities"].as_array().unwrap().len(), 1);
    let (_, list) = api.get(&format!("{base}?purpose=elections"), "agent").await;
    let ids: Vec<&str> = list["activities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        ["liste-electorale"],
        "a purpose filter takes the purposes under it"
    );
    let (status, body) = api.get(&format!("{base}?public=peut-etre"), "agent").await;
    assert_eq!(status, Status::UnprocessableEntity, "{body}");
    assert_eq!(body["errors"][0]["path"], "public");

    // An agent reads but does not write; an auditor does not write either.
    for role in ["agent", "auditor"] {
        let (status, _) = api
            .call(
                "delete",
                &format!("{base}/portage-repas"),
                &api.tokens[role],
                None,
            )
            .await;
        assert_eq!(status, Status::Forbidden, "{role}");
    }
    // The electoral list feeds other activities: deleting it is a conflict.
    let (status, body) = api
        .call("delete", &format!("{base}/liste-electorale"), dpo, None)
        .await;
    assert_eq!(status, Status::Conflict, "{body}");
    // The CCAS's sheet that takes from it is not the commune DPO's to know of.
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("d'autres organismes")
            && FOREIGN_MARKERS.iter().all(|m| !message.contains(m)),
        "{message}"
    );
    let (status, _) = api
        .call("delete", &format!("{base}/portage-repas"), dpo, None)
        .await;
    assert_eq!(status, Status::NoContent);
    let (status, _) = api.get(&format!("{base}/portage-repas"), "agent").await;
    assert_eq!(status, Status::NotFound);

    // The register as it stood before the deletion still has it.
    let (_, history) = api
        .get(&format!("{base}/portage-repas/history"), "auditor")
        .await;
    let updated_at = history["history"][1]["at"].as_str().unwrap().to_owned();
    let response = api
        .client
        .get(format!(
            "/api/v1/organisations/{OWN}/register?format=json&at={updated_at}"
        ))
        .header(bearer(&api.tokens["agent"]))
        .dispatch()
        .await;
    assert_eq!(
        response.status(),
        Status::Forbidden,
        "the register as it was is history: not for agents"
    );
    let response = api
        .client
        .get(format!(
            "/api/v1/organisations/{OWN}/register?format=json&at={updated_at}"
        ))
        .header(bearer(&api.tokens["auditor"]))
        .dispatch()
        .await;
    assert_eq!(response.status(), Status::Ok);
    let text = response.into_string().await.unwrap();
    assert!(text.contains("Portage de repas"));
    let (status, body) = api
        .get(&format!("/organisations/{OWN}/register?at=hier"), "agent")
        .await;
    assert_eq!(status, Status::UnprocessableEntity);
    assert_eq!(body["errors"][0]["path"], "at");
}

#[rocket::async_test]
async fn importing_then_exporting_the_demo_gives_the_same_register() {
    let api = api().await;
    let admin = &api.tokens["admin"];
    // A fresh organisation set: delete both, then import the file as a mairie would.
    for org in [FOREIGN, OWN] {
        let (status, body) = api
            .call("delete", &format!("/organisations/{org}"), admin, None)
            .await;
        assert_eq!(status, Status::NoContent, "{body}");
    }
    let response = api
        .client
        .post("/api/v1/register")
        .header(bearer(admin))
        .header(ContentType::new("application", "yaml"))
        .body(DEMO)
        .dispatch()
        .await;
    let (status, summary) = json_of(response).await;
    assert_eq!(status, Status::Ok, "{summary}");
    assert_eq!(summary["created"], 22);
    let response = api
        .client
        .get("/api/v1/register?format=yaml")
        .header(bearer(admin))
        .dispatch()
        .await;
    assert_eq!(
        response.content_type(),
        Some(ContentType::new("application", "yaml"))
    );
    let exported = response.into_string().await.unwrap();
    assert_eq!(common::load(&exported), common::load(DEMO));

    // The DPO's role and token ended with the organisation deleted.
    let (status, _) = api.call("get", "/me", &api.tokens["dpo"], None).await;
    assert_eq!(status, Status::Unauthorized);

    // A DPO may re-import their own organisation, not create another one.
    let dpo2 = api
        .user_with_token("dpo2@saint-aubin.fr", Role::Dpo, Some(OWN))
        .await;
    let (status, _) = api
        .call(
            "post",
            "/register",
            &dpo2,
            Some(&registre::model::to_json(&common::load(DEMO))),
        )
        .await;
    assert_eq!(status, Status::Forbidden, "the CCAS is not the DPO's");
}

#[rocket::async_test]
async fn audits_keep_to_the_callers_organisations() {
    let api = api().await;
    let (status, report) = api.get("/audit", "auditor").await;
    assert_eq!(status, Status::Ok);
    let findings = report["findings"].as_array().unwrap();
    assert!(!findings.is_empty());
    assert!(findings.iter().all(|f| f["organisation"] == OWN));
    assert_eq!(report["organisations"], 1);
    let (_, all) = api.get("/audit", "admin").await;
    assert!(
        all["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["organisation"] == FOREIGN)
    );
    let (status, _) = api
        .get(&format!("/organisations/{OWN}/audit"), "agent")
        .await;
    assert_eq!(status, Status::Forbidden, "agents do not run audits");
}

#[rocket::async_test]
async fn tokens_die_with_revocation_and_disabled_accounts() {
    let api = api().await;
    let token = api.new_token("agent", "agent", Some(OWN)).await;
    let (status, me) = api.call("get", "/me", &token, None).await;
    assert_eq!(status, Status::Ok);
    assert_eq!(
        me["grants"],
        json!([{ "role": "agent", "organisation": OWN }])
    );
    // A token cannot mint another (which could outlive it), and a password gives no more
    // than the holder's own rights.
    let request = json!({ "name": "x", "role": "agent", "organisation": OWN }).to_string();
    assert_eq!(
        api.call("post", "/tokens", &token, Some(&request)).await.0,
        Status::Forbidden
    );
    let stronger = api
        .client
        .post("/api/v1/tokens")
        .header(basic(&login_of("agent"), PASSWORD))
        .header(ContentType::JSON)
        .body(json!({ "name": "x", "role": "dpo", "organisation": OWN }).to_string())
        .dispatch()
        .await;
    assert_eq!(stronger.status(), Status::Forbidden);

    let (status, _) = api
        .call(
            "post",
            &format!("/users/{}/disable", login_of("agent")),
            &api.tokens["admin"],
            None,
        )
        .await;
    assert_eq!(status, Status::NoContent);
    let (status, body) = api.call("get", "/me", &token, None).await;
    assert_eq!(status, Status::Unauthorized, "{body}");
    assert_eq!(body["error"], "unauthenticated");
    let (status, _) = api
        .call(
            "post",
            &format!("/users/{}/enable", login_of("agent")),
            &api.tokens["admin"],
            None,
        )
        .await;
    assert_eq!(status, Status::NoContent);
    assert_eq!(
        api.call("get", "/me", &token, None).await.0,
        Status::Unauthorized,
        "re-enabling an account does not revive its tokens"
    );
    let token = api.new_token("agent", "agent", Some(OWN)).await;
    assert_eq!(api.call("get", "/me", &token, None).await.0, Status::Ok);

    // Tokens are managed with the password (or a session), not with a token.
    assert_eq!(
        api.call("get", "/tokens", &token, None).await.0,
        Status::Forbidden
    );
    let listed = api
        .client
        .get("/api/v1/tokens")
        .header(basic(&login_of("agent"), PASSWORD))
        .dispatch()
        .await;
    let (_, list) = json_of(listed).await;
    let mine = list["tokens"].as_array().unwrap();
    assert!(mine.iter().all(|t| t["owner"] == login_of("agent")));
    assert!(
        !list.to_string().contains("rgt_"),
        "only hashes are kept, never shown"
    );
    let id = mine[0]["id"].as_str().unwrap();
    assert_eq!(
        api.call("delete", &format!("/tokens/{id}"), &token, None)
            .await
            .0,
        Status::Forbidden
    );
    let revoked = api
        .client
        .delete(format!("/api/v1/tokens/{id}"))
        .header(basic(&login_of("agent"), PASSWORD))
        .dispatch()
        .await;
    assert_eq!(revoked.status(), Status::NoContent);
    assert_eq!(
        api.call("get", "/me", &token, None).await.0,
        Status::Unauthorized
    );
    assert_eq!(
        api.call("get", "/me", "rgt_made_up", None).await.0,
        Status::Unauthorized
    );
}

#[rocket::async_test]
async fn sign_in_is_throttled_after_repeated_failures() {
    let api = api().await;
    let attempt = |password: &'static str| {
        api.client
            .post("/api/v1/tokens")
            .header(basic(&login_of("dpo"), password))
            .header(ContentType::JSON)
            .body(json!({ "name": "x", "role": "dpo", "organisation": OWN }).to_string())
            .dispatch()
    };
    for _ in 0..registre::auth::MAX_FAILURES {
        assert_eq!(attempt("wrong").await.status(), Status::Unauthorized);
    }
    let response = attempt(PASSWORD).await;
    assert_eq!(response.status(), Status::TooManyRequests);
    assert!(response.headers().get_one("Retry-After").is_some());
    let store = &api.client.rocket().state::<App>().unwrap().registre.store;
    let events = store.events(20).await.unwrap();
    assert!(events.iter().any(|e| e.action == "login.throttled"));
    assert!(
        events
            .iter()
            .filter(|e| e.action == "login" && !e.success)
            .count()
            >= registre::auth::MAX_FAILURES
    );
}

#[rocket::async_test]
async fn the_sign_in_page_works_without_javascript_and_checks_its_csrf_token() {
    let store = Store::open("mem://", None).await.unwrap();
    let user = User {
        login: login_of("agent"),
        name: "Agent".into(),
        grants: vec![Grant {
            role: Role::Agent,
            organisation: Some(OWN.into()),
        }],
        disabled: false,
    };
    store
        .add_user(&user, &hash_password(PASSWORD).unwrap(), Timestamp::now())
        .await
        .unwrap();
    let pack = Arc::new(registre::audit::PolicyPack::builtin().unwrap());
    let figment = rocket::Config::figment().merge(("log_level", "off"));
    let client = Client::tracked(web::rocket(
        App::new(store, pack, Templates::builtin().unwrap()),
        figment,
    ))
    .await
    .unwrap();

    let home = client.get("/").dispatch().await;
    assert_eq!(home.status(), Status::SeeOther);
    let page = client.get("/connexion").dispatch().await;
    assert_eq!(page.status(), Status::Ok);
    let csp = page
        .headers()
        .get_one("Content-Security-Policy")
        .unwrap()
        .to_owned();
    assert!(csp.contains("default-src 'none'") && !csp.contains("script-src"));
    let html = page.into_string().await.unwrap();
    assert!(html.contains("lang=\"fr\"") && !html.contains("<script"));
    let csrf = csrf_field(&html);

    let forged = client
        .post("/connexion")
        .header(ContentType::Form)
        .body(format!(
            "login={}&password={PASSWORD}&csrf=forged",
            login_of("agent")
        ))
        .dispatch()
        .await;
    assert_eq!(forged.status(), Status::Forbidden);
    // A failed attempt renders a fresh form with a new token.
    let html = forged.into_string().await.unwrap();
    let csrf2 = csrf_field(&html);
    assert_ne!(csrf, csrf2);
    let signed_in = client
        .post("/connexion")
        .header(ContentType::Form)
        .body(format!(
            "login={}&password={PASSWORD}&csrf={csrf2}",
            login_of("agent")
        ))
        .dispatch()
        .await;
    assert_eq!(signed_in.status(), Status::SeeOther);
    let home = client.get("/").dispatch().await;
    assert_eq!(home.status(), Status::Ok);
    let html = home.into_string().await.unwrap();
    assert!(html.contains(&login_of("agent")));
    assert!(html.len() < 30_000);
    let logout_csrf = csrf_field(&html);
    let out = client
        .post("/deconnexion")
        .header(ContentType::Form)
        .body(format!("csrf={logout_csrf}"))
        .dispatch()
        .await;
    assert_eq!(out.status(), Status::SeeOther);
    assert_eq!(client.get("/").dispatch().await.status(), Status::SeeOther);
}

#[rocket::async_test]
async fn the_openapi_document_lists_exactly_the_mounted_routes() {
    let api = api().await;
    let mounted: std::collections::BTreeSet<(String, String)> = api
        .client
        .rocket()
        .routes()
        .filter(|r| r.uri.base().starts_with("/api/v1"))
        .map(|r| {
            let path = r.uri.path().trim_start_matches("/api/v1").to_owned();
            let path = path
                .split('/')
                .map(
                    |s| match s.strip_prefix('<').and_then(|s| s.strip_suffix('>')) {
                        Some(name) => format!("{{{name}}}"),
                        None => s.to_owned(),
                    },
                )
                .collect::<Vec<_>>()
                .join("/");
            (r.method.as_str().to_lowercase(), path)
        })
        .collect();
    let documented: std::collections::BTreeSet<(String, String)> = openapi::ROUTES
        .iter()
        .map(|r| (r.method.to_owned(), r.path.to_owned()))
        .collect();
    assert_eq!(mounted, documented);
    let response = api.client.get("/api/v1/openapi.json").dispatch().await;
    let (status, doc) = json_of(response).await;
    assert_eq!(status, Status::Ok);
    assert_eq!(doc["openapi"], "3.1.0");
    let text = doc.to_string();
    assert!(
        !text.contains("#/$defs/"),
        "references resolve from the document root"
    );
    assert!(doc["components"]["schemas"]["Activity"]["properties"]["purposes"].is_object());

    // Every JSON answer is checked against its schema by `Api::call`: one call of each read
    // route at least, and the check is seen to catch a body that departs from it.
    let activity = format!("/organisations/{OWN}/activities/photos");
    let mut version = String::new();
    for path in [
        "/me".to_owned(),
        "/organisations".to_owned(),
        format!("/organisations/{OWN}"),
        format!("/organisations/{OWN}/activities?purpose=communication"),
        activity.clone(),
        format!("/organisations/{OWN}/history"),
        format!("{activity}/history"),
        format!("/organisations/{OWN}/audit"),
        "/audit".to_owned(),
        "/users".to_owned(),
        "/tokens".to_owned(),
        format!("{activity}/notice"),
        format!("{activity}/consent-form"),
        format!("/organisations/{OWN}/documents"),
    ] {
        let (status, body) = api.get(&path, "admin").await;
        if path.ends_with("/documents") {
            version = body["versions"][0]["version"].as_str().unwrap().to_owned();
        }
        let expected = if path == "/tokens" {
            Status::Forbidden
        } else {
            Status::Ok
        };
        assert_eq!(status, expected, "{path}: {body}");
    }
    let (status, body) = api
        .get(
            &format!("/organisations/{OWN}/documents/{version}"),
            "admin",
        )
        .await;
    assert_eq!(status, Status::Ok, "{body}");
    let (_, me) = api.get("/me", "agent").await;
    assert!(undocumented("get", "/me", Status::Ok, &me).is_empty());
    let mut wrong = me.clone();
    wrong["grants"][0]["role"] = json!("maire");
    assert!(!undocumented("get", "/me", Status::Ok, &wrong).is_empty());
    assert!(!undocumented("get", "/me", Status::Created, &me).is_empty());

    let (status, body) = json_of(api.client.get("/api/v1/nowhere").dispatch().await).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (Status::NotFound, Some("not_found"))
    );
    let (status, body) = json_of(api.client.get("/api/v1/me").dispatch().await).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (Status::Unauthorized, Some("unauthenticated"))
    );
}

#[rocket::async_test]
async fn sources_are_checked_within_what_the_caller_sees() {
    let api = api().await;
    let dpo = &api.tokens["dpo"];
    let base = format!("/organisations/{OWN}/activities");
    // A chain: the new activity takes data from one that itself takes data from the
    // electoral list.
    let mut chained = own_activity();
    chained["id"] = json!("relance-aines");
    chained["sources"] =
        json!([{ "activity": "invitation-repas-aines", "categories": ["identite"] }]);
    let (status, body) = api
        .call("post", &base, dpo, Some(&chained.to_string()))
        .await;
    assert_eq!(status, Status::Created, "{body}");

    // Another organisation's activity reads as missing, whether or not it exists: the same
    // answer for both.
    let mut answers = Vec::new();
    for missing in ["colis-aines", "n-existe-pas"] {
        let mut foreign = own_activity();
        foreign["id"] = json!("tiree-du-ccas");
        foreign["sources"] = json!([{ "activity": missing, "organisation": FOREIGN }]);
        let answer = api
            .call("post", &base, dpo, Some(&foreign.to_string()))
            .await;
        answers.push(refused_source(answer));
    }
    assert_eq!(answers[0], answers[1]);
}

/// An answer refusing the first source of an activity; its body, to compare with others.
fn refused_source((status, body): (Status, Value)) -> Value {
    assert_eq!(status, Status::UnprocessableEntity, "{body}");
    assert!(
        body["errors"][0]["path"]
            .as_str()
            .unwrap()
            .starts_with("sources[0]"),
        "{body}"
    );
    body
}

#[rocket::async_test]
async fn a_ccas_dpo_keeps_the_sources_its_sheets_already_take_from_the_commune() {
    let api = api().await;
    let token = api
        .user_with_token("dpo@ccas-saint-aubin.fr", Role::Dpo, Some(FOREIGN))
        .await;
    let path = format!("/organisations/{FOREIGN}/activities/colis-aines");
    let (status, activity) = api.call("get", &path, &token, None).await;
    assert_eq!(status, Status::Ok, "{activity}");
    assert_eq!(
        (
            &activity["sources"][0]["activity"],
            &activity["sources"][0]["organisation"]
        ),
        (&json!("liste-electorale"), &json!(OWN)),
        "the sheet takes data from the commune's electoral list: {activity}"
    );
    let (status, body) = api
        .call("put", &path, &token, Some(&activity.to_string()))
        .await;
    assert_eq!(status, Status::Ok, "the unchanged sheet saves: {body}");
    let (status, body) = api
        .call(
            "put",
            &path,
            &token,
            Some(&with(
                activity.clone(),
                "name",
                json!("Colis de fin d'année"),
            )),
        )
        .await;
    assert_eq!(status, Status::Ok, "an edited sheet saves: {body}");

    // The CCAS's own export comes back in unchanged.
    let response = api
        .client
        .get(format!(
            "/api/v1/organisations/{FOREIGN}/register?format=json"
        ))
        .header(bearer(&token))
        .dispatch()
        .await;
    assert_eq!(response.status(), Status::Ok);
    let export = response.into_string().await.unwrap();
    let (status, summary) = api.call("post", "/register", &token, Some(&export)).await;
    assert_eq!(status, Status::Ok, "{summary}");
    assert_eq!(summary["created"], 0, "{summary}");
    assert_eq!(summary["updated"], 0, "{summary}");

    // A new link to the commune, which the CCAS does not read, is refused the same way
    // whether the commune's activity exists or not.
    let mut answers = Vec::new();
    for missing in ["etat-civil", "n-existe-pas"] {
        let mut changed = activity.clone();
        changed["sources"][0]["activity"] = json!(missing);
        let answer = api
            .call("put", &path, &token, Some(&changed.to_string()))
            .await;
        answers.push(refused_source(answer));
    }
    assert_eq!(answers[0], answers[1]);
}

#[rocket::async_test]
async fn a_recreated_organisation_inherits_nothing_of_the_deleted_one() {
    let api = api().await;
    let admin = &api.tokens["admin"];
    let agent = api
        .user_with_token("agent@ccas-saint-aubin.fr", Role::Agent, Some(FOREIGN))
        .await;
    let auditor = api
        .user_with_token("auditeur@ccas-saint-aubin.fr", Role::Auditor, Some(FOREIGN))
        .await;
    let (status, history) = api.history(FOREIGN, &auditor).await;
    assert_eq!(status, Status::Ok, "{history}");
    let before = history["history"][0]["at"].as_str().unwrap().to_owned();

    let (status, body) = api
        .call("delete", &format!("/organisations/{FOREIGN}"), admin, None)
        .await;
    assert_eq!(status, Status::NoContent, "{body}");
    for token in [&agent, &auditor] {
        let (status, _) = api.call("get", "/me", token, None).await;
        assert_eq!(
            status,
            Status::Unauthorized,
            "tokens end with the organisation"
        );
    }
    // The roles ended too: the accounts hold nothing any more.
    let app = api.client.rocket().state::<App>().unwrap();
    for user in app.registre.store.users().await.unwrap() {
        assert!(
            user.grants
                .iter()
                .all(|g| g.organisation.as_deref() != Some(FOREIGN)),
            "{user:?}"
        );
    }

    // Another organisation under the same id, and its new DPO.
    let (status, body) = api
        .call(
            "post",
            "/organisations",
            admin,
            Some(&with(foreign_organisation(), "name", json!("Autre CCAS"))),
        )
        .await;
    assert_eq!(status, Status::Created, "{body}");
    let dpo = api
        .user_with_token("dpo@autre-ccas.fr", Role::Dpo, Some(FOREIGN))
        .await;
    let (status, history) = api.history(FOREIGN, &dpo).await;
    assert_eq!(status, Status::Ok, "{history}");
    assert_eq!(
        history["history"].as_array().unwrap().len(),
        1,
        "only the new organisation's creation: {history}"
    );
    let response = api
        .client
        .get(format!(
            "/api/v1/organisations/{FOREIGN}/register?format=json&at={before}"
        ))
        .header(bearer(&dpo))
        .dispatch()
        .await;
    let text = response.into_string().await.unwrap();
    assert!(
        !text.contains("colis-aines"),
        "the old register is not the new DPO's: {text}"
    );
    // An administrator still reads the deleted organisation's history.
    let (status, history) = api.history(FOREIGN, admin).await;
    assert_eq!(status, Status::Ok);
    assert!(
        history["history"].as_array().unwrap().len() > 1,
        "{history}"
    );
}

#[rocket::async_test]
async fn a_password_change_ends_the_accounts_tokens() {
    let api = api().await;
    let token = api.new_token("agent", "agent", Some(OWN)).await;
    assert_eq!(api.call("get", "/me", &token, None).await.0, Status::Ok);
    let app = api.client.rocket().state::<App>().unwrap();
    app.registre
        .store
        .set_password(
            &login_of("agent"),
            &hash_password("Another-Horse-Battery-Staple-43").unwrap(),
            Timestamp::now(),
        )
        .await
        .unwrap();
    // Changed from another process (`registre user passwd`): this server notices once its
    // memory of recently checked tokens has expired.
    rocket::tokio::time::sleep(web::TOKEN_CACHE_TTL).await;
    assert_eq!(
        api.call("get", "/me", &token, None).await.0,
        Status::Unauthorized
    );
}

#[rocket::async_test]
async fn token_and_account_changes_are_logged_with_the_clients_address() {
    let api = api().await;
    let client: std::net::SocketAddr = "192.0.2.7:40000".parse().unwrap();
    let response = api
        .client
        .post("/api/v1/tokens")
        .remote(client)
        .header(basic(&login_of("dpo"), PASSWORD))
        .header(ContentType::JSON)
        .body(json!({ "name": "portail", "role": "agent", "organisation": OWN }).to_string())
        .dispatch()
        .await;
    assert_eq!(response.status(), Status::Created);
    let response = api
        .client
        .post(format!("/api/v1/users/{}/disable", login_of("agent")))
        .remote(client)
        .header(bearer(&api.tokens["admin"]))
        .dispatch()
        .await;
    assert_eq!(response.status(), Status::NoContent);
    let app = api.client.rocket().state::<App>().unwrap();
    let events = app.registre.store.events(50).await.unwrap();
    for action in ["token.create", "user.disable"] {
        let event = events
            .iter()
            .find(|e| e.action == action)
            .unwrap_or_else(|| panic!("no {action} in {events:?}"));
        assert_eq!(event.address.as_deref(), Some("192.0.2.7"), "{event:?}");
    }
}

#[rocket::async_test]
async fn reads_and_writes_agree_and_parameters_are_checked() {
    let api = api().await;
    // What a GET of an organisation returns, a PUT accepts.
    let (status, organisation) = api.get(&format!("/organisations/{OWN}"), "dpo").await;
    assert_eq!(status, Status::Ok);
    let (status, body) = api
        .call(
            "put",
            &format!("/organisations/{OWN}"),
            &api.tokens["dpo"],
            Some(&organisation.to_string()),
        )
        .await;
    assert_eq!(status, Status::Ok, "{body}");

    let notice = format!("/organisations/{OWN}/activities/cantine/notice");
    let (status, body) = api.get(&format!("{notice}?format=docx"), "agent").await;
    assert_eq!(status, Status::BadRequest, "{body}");
    assert_eq!(body["errors"][0]["path"], "format", "{body}");
    let message = body["errors"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("html") && message.contains("pdf"),
        "the formats are listed: {message}"
    );

    // A page that is not a page number is not page 1.
    for page in ["-1", "0", "deux", "99999999999999999999999"] {
        for public in ["registre", "confidentialite"] {
            let uri = format!("/o/{OWN}/{public}?page={page}");
            let response = api.client.get(uri.clone()).dispatch().await;
            assert_eq!(response.status(), Status::BadRequest, "{uri}");
        }
    }
}

#[rocket::async_test]
async fn control_characters_never_reach_the_register() {
    let api = api().await;
    let before = api.snapshot().await;
    let activity = own_activity();
    let id = activity["id"].as_str().unwrap().to_owned();
    let one = format!("/organisations/{OWN}/activities/{id}");
    let mut new = activity.clone();
    for (field, value, expected) in [
        ("name", "Cantine\u{0}scolaire", "name"),
        ("name", "Cantine \u{202e}eriacs", "name"),
        ("description", "Texte \u{2066}isolé\u{2069}", "description"),
    ] {
        let (status, body) = api
            .call(
                "put",
                &one,
                &api.tokens["dpo"],
                Some(&with(activity.clone(), field, json!(value))),
            )
            .await;
        assert_eq!(status, Status::UnprocessableEntity, "{value:?}: {body}");
        assert_eq!(body["errors"][0]["path"], expected, "{body}");
    }
    // A zero-width space makes an id that looks like another: not an id.
    new["id"] = json!("cantine\u{200b}");
    let (status, body) = api
        .call(
            "post",
            &format!("/organisations/{OWN}/activities"),
            &api.tokens["dpo"],
            Some(&new.to_string()),
        )
        .await;
    assert_eq!(status, Status::UnprocessableEntity, "{body}");
    assert_eq!(body["errors"][0]["path"], "id", "{body}");
    // A key given twice: which one would count?
    let twice = activity
        .to_string()
        .replacen("{", "{\"name\":\"Première\",", 1);
    let (status, body) = api
        .call("put", &one, &api.tokens["dpo"], Some(&twice))
        .await;
    assert_eq!(status, Status::UnprocessableEntity, "{body}");
    assert_eq!(body["errors"][0]["path"], "name", "{body}");
    // In an imported file too, escaped or not.
    let register = registre::model::to_json(&common::load(DEMO));
    for bad in [
        register.replacen("restauration scolaire", "restauration\\u0000scolaire", 1),
        register.replacen("restauration scolaire", "restauration\u{202e}scolaire", 1),
        register.replacen("{", "{\"format\":\"registre/v1\",", 1),
    ] {
        let (status, body) = api
            .call("post", "/register", &api.tokens["admin"], Some(&bad))
            .await;
        assert_eq!(status, Status::UnprocessableEntity, "{body}");
    }
    assert_eq!(api.snapshot().await, before, "nothing stored changed");
}

#[rocket::async_test]
async fn consents_are_checked_one_by_one_and_in_batches_and_the_ledger_verifies() {
    use registre::consent::Channel;
    use registre::service::Recording;
    let api = api().await;
    let choice = "communication.publication-images:site-internet-de-la-commune";
    let event = api
        .registre
        .record_consent(
            None,
            OWN,
            Recording::answer(
                "photos",
                vec![choice.to_owned()],
                json!({ "name": "Léa Martin" }),
                Channel::EnLigne,
                true,
            ),
            Timestamp::now(),
        )
        .await
        .unwrap();
    let subject = event.draft.subject.clone();
    let agent = &api.tokens["agent"];
    let check = |who: &str| {
        format!("/organisations/{OWN}/consents/check?activity=photos&subject={who}&choice={choice}")
    };

    let (status, given) = api.call("get", &check(&subject), agent, None).await;
    assert_eq!(status, Status::Ok, "{given}");
    assert_eq!(
        given,
        json!({ "allowed": true, "status": "given", "event": "saint-aubin-0" })
    );
    let (_, never) = api.call("get", &check("personne"), agent, None).await;
    assert_eq!(
        (never["allowed"].clone(), never["status"].clone()),
        (json!(false), json!("never-asked"))
    );

    // A missing parameter is named.
    let missing = format!("/organisations/{OWN}/consents/check?activity=photos&choice={choice}");
    let (status, error) = api.call("get", &missing, agent, None).await;
    assert_eq!(status, Status::BadRequest);
    assert_eq!(error["errors"][0]["path"], "subject");

    let batch = format!("/organisations/{OWN}/consents/check");
    let body = json!({ "activity": "photos", "choice": choice, "subjects": [subject, "personne"] });
    let (status, answer) = api
        .call("post", &batch, agent, Some(&body.to_string()))
        .await;
    assert_eq!(status, Status::Ok, "{answer}");
    let states: Vec<&str> = answer["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["status"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["given", "never-asked"]);
    let too_many: Vec<String> = (0..=registre::service::MAX_BATCH)
        .map(|i| format!("s{i}"))
        .collect();
    let body = json!({ "activity": "photos", "choice": choice, "subjects": too_many });
    let (status, error) = api
        .call("post", &batch, agent, Some(&body.to_string()))
        .await;
    assert_eq!(status, Status::UnprocessableEntity, "{error}");
    assert_eq!(error["errors"][0]["path"], "subjects");
    let (status, error) = api
        .call("post", &batch, agent, Some(r#"{"activity": "photos"}"#))
        .await;
    assert_eq!(status, Status::BadRequest, "{error}");
    assert_eq!(error["errors"][0]["path"], "body");

    let (status, history) = api
        .call(
            "get",
            &format!("/organisations/{OWN}/consents/subjects/{subject}"),
            agent,
            None,
        )
        .await;
    assert_eq!(status, Status::Ok);
    assert_eq!(history["identity"]["name"], "Léa Martin");
    assert_eq!(history["events"].as_array().unwrap().len(), 1);

    let (status, head) = api
        .call(
            "post",
            &format!("/organisations/{OWN}/consents/head"),
            agent,
            None,
        )
        .await;
    assert_eq!(status, Status::Ok, "{head}");
    assert_eq!(head["head"]["size"], 1);
    let verify = format!("/organisations/{OWN}/consents/verify");
    let (status, _) = api.call("get", &verify, agent, None).await;
    assert_eq!(status, Status::Forbidden, "verifying is an audit");
    let (status, verified) = api.call("get", &verify, &api.tokens["auditor"], None).await;
    assert_eq!(status, Status::Ok, "{verified}");
    assert_eq!(
        (verified["events"].clone(), verified["problems"].clone()),
        (json!(1), json!([]))
    );
}

/// A PNG by its signature: what a scanner gives, as far as the content check goes.
const SCAN: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR formulaire signe";

#[rocket::async_test]
async fn an_agent_records_a_paper_consent_with_its_scan_then_a_withdrawal_by_mail() {
    // On the heap: the whole exchange is a large future for a test thread's stack.
    Box::pin(paper_consent_and_withdrawal(api().await)).await;
}

async fn paper_consent_and_withdrawal(api: Api) {
    let agent = &api.tokens["agent"];
    let consents = format!("/organisations/{OWN}/consents");
    let paper = json!({
        "activity": "photos",
        "choices": [PHOTO_CHOICE],
        "channel": "guichet",
        "name": "Paul Durand",
        "email": "paul.durand@exemple.fr",
        "child": "Lina Durand",
        "signed_on": "2026-12-01",
        "minor": true,
        "holders": 2,
        "scan": base64::engine::general_purpose::STANDARD.encode(SCAN),
    });

    // An auditor reads, never records.
    let (status, _) = api
        .call(
            "post",
            &consents,
            &api.tokens["auditor"],
            Some(&paper.to_string()),
        )
        .await;
    assert_eq!(status, Status::Forbidden);

    let (status, event) = api
        .call("post", &consents, agent, Some(&paper.to_string()))
        .await;
    assert_eq!(status, Status::Created, "{event}");
    let subject = event["subject"].as_str().unwrap().to_owned();
    let seq = event["seq"].as_u64().unwrap();
    assert_eq!(event["channel"], "guichet");
    assert!(
        event["agent"]
            .as_str()
            .unwrap()
            .starts_with("agent@saint-aubin.fr")
    );
    assert_eq!(event["signed_on"], "2026-12-01");
    let sha = registre::digest::sha256_hex(SCAN);
    assert_eq!(event["evidence"]["sha256"], sha.as_str());
    assert_eq!(event["evidence"]["media_type"], "image/png");
    assert!(
        !event.to_string().contains("Durand"),
        "no identity in the event"
    );

    // The scan itself comes back as it was received.
    let response = api
        .client
        .get(format!("/api/v1{consents}/scans/{sha}"))
        .header(bearer(agent))
        .dispatch()
        .await;
    assert_eq!(response.status(), Status::Ok);
    assert_eq!(response.content_type(), Some(ContentType::PNG));
    assert_eq!(response.into_bytes().await.unwrap(), SCAN);

    let check = format!("{consents}/check?activity=photos&subject={subject}&choice={PHOTO_CHOICE}");
    let (_, allowed) = api.call("get", &check, agent, None).await;
    assert_eq!(allowed["allowed"], true, "{allowed}");

    // The list for the photo service, as CSV, names the family; the counts agree.
    let list = format!("{consents}/activities/photos/allowed?choice={PHOTO_CHOICE}&format=csv");
    let response = api
        .client
        .get(format!("/api/v1{list}"))
        .header(bearer(agent))
        .dispatch()
        .await;
    assert_eq!(response.status(), Status::Ok);
    let csv = response.into_string().await.unwrap();
    assert!(
        csv.starts_with("personne,nom,enfant,courriel,evenement,depuis\n"),
        "{csv}"
    );
    assert!(
        csv.contains(&format!(
            "{subject},Paul Durand,Lina Durand,paul.durand@exemple.fr,{seq},"
        )),
        "{csv}"
    );
    let (status, _) = api.call("get", &list, &api.tokens["auditor"], None).await;
    assert_eq!(
        status,
        Status::Forbidden,
        "the list of names is for the agents"
    );
    let counts = format!("{consents}/activities/photos/counts");
    let (status, counted) = api.call("get", &counts, &api.tokens["auditor"], None).await;
    assert_eq!(status, Status::Ok, "{counted}");
    let site = |counted: &Value, state: &str| {
        counted["choices"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["choice"] == PHOTO_CHOICE)
            .unwrap()[state]
            .as_u64()
            .unwrap()
    };
    assert_eq!(
        (site(&counted, "given"), site(&counted, "withdrawn")),
        (1, 0)
    );

    // A letter withdraws it: the check says no at once, in as many steps as the consent.
    let withdrawal = json!({ "activity": "photos", "subject": subject, "choices": [PHOTO_CHOICE], "channel": "courrier", "minor": true });
    let (status, withdrawn) = api
        .call(
            "post",
            &format!("{consents}/withdrawals"),
            agent,
            Some(&withdrawal.to_string()),
        )
        .await;
    assert_eq!(status, Status::Created, "{withdrawn}");
    assert_eq!(withdrawn["kind"], "withdrawn");
    let (_, refused) = api.call("get", &check, agent, None).await;
    assert_eq!(
        (refused["allowed"].clone(), refused["status"].clone()),
        (json!(false), json!("withdrawn"))
    );
    let (_, counted) = api.call("get", &counts, agent, None).await;
    assert_eq!(
        (site(&counted, "given"), site(&counted, "withdrawn")),
        (0, 1)
    );
    let (_, list) = api
        .call(
            "get",
            &format!("{consents}/activities/photos/allowed?choice={PHOTO_CHOICE}"),
            agent,
            None,
        )
        .await;
    assert_eq!(list, json!([]));

    // The proof bundle: both events, the form version seen, proofs that verify offline.
    let (status, bundle) = api
        .call(
            "get",
            &format!("{consents}/subjects/{subject}/proof"),
            agent,
            None,
        )
        .await;
    assert_eq!(status, Status::Ok, "{bundle}");
    let head: registre::consent::TreeHead = serde_json::from_value(bundle["head"].clone()).unwrap();
    let root = head
        .verified_root(bundle["public_key"].as_str().unwrap())
        .unwrap();
    let events = bundle["events"].as_array().unwrap();
    assert_eq!(events.len(), 2);
    for proven in events {
        let event: registre::consent::Event =
            serde_json::from_value(proven["event"].clone()).unwrap();
        let proof: Vec<[u8; 32]> = proven["inclusion"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| {
                hex::decode(h.as_str().unwrap())
                    .unwrap()
                    .try_into()
                    .unwrap()
            })
            .collect();
        assert!(registre::consent::merkle::verify_inclusion(
            &registre::consent::merkle::leaf_hash(&event.computed_hash()),
            event.seq,
            head.size,
            &proof,
            &root
        ));
    }
    let seen = &bundle["documents"][0];
    assert_eq!(seen["sha256"], event["document"]["sha256"]);
    assert!(seen["content"]["groups"].to_string().contains(PHOTO_CHOICE));

    // Printed: the bundle and the receipt read back.
    for (path, words) in [
        (
            format!("{consents}/subjects/{subject}/proof?format=pdf"),
            vec![
                "Preuve des consentements",
                "papier, au guichet",
                "consentement retiré",
                "Formulaire vu, version",
                &sha,
            ],
        ),
        (
            format!("{consents}/events/{seq}/receipt?format=pdf"),
            vec![
                "Reçu de consentement",
                "Lina",
                "Racine de l'arbre",
                "Clé publique de l'organisme",
            ],
        ),
    ] {
        let response = api
            .client
            .get(format!("/api/v1{path}"))
            .header(bearer(agent))
            .dispatch()
            .await;
        assert_eq!(response.status(), Status::Ok, "{path}");
        assert_eq!(response.content_type(), Some(ContentType::PDF));
        let text = common::pdf_text(&response.into_bytes().await.unwrap());
        for word in words {
            if word == "Lina" {
                assert!(!text.contains(word), "the receipt holds no name: {text}");
            } else {
                assert!(text.contains(word), "{path}: « {word} » in {text}");
            }
        }
    }

    // Erasure takes the scan with the name; the ledger still verifies.
    api.registre
        .erase_consent_subject(
            &registre::auth::Actor::command_line("dpo"),
            OWN,
            &subject,
            Timestamp::now(),
        )
        .await
        .unwrap();
    let (status, _) = api
        .call("get", &format!("{consents}/scans/{sha}"), agent, None)
        .await;
    assert_eq!(status, Status::NotFound);
    let (_, verified) = api
        .call(
            "get",
            &format!("{consents}/verify"),
            &api.tokens["auditor"],
            None,
        )
        .await;
    assert_eq!(verified["problems"], json!([]));
}
