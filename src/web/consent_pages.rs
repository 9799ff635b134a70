//! The citizen's consent pages, without an account: sending the form, the confirmation with
//! the private link, and that link's page, where each consent is withdrawn in one step.
//! Server-rendered, no JavaScript. The form's cookie (SameSite=Strict, encrypted) is set by
//! the form page: a post from another site comes without it and is refused; its value keys
//! the submission, so that a form sent twice records once.

use jiff::Timestamp;
use rocket::form::{Form, FromForm};
use rocket::http::{ContentType, CookieJar, Status};
use rocket::{State, get, post};
use serde_json::{Value, json};

use super::App;
use super::pages::{ClientIp, Page, page, private_cookie};
use crate::auth::random_secret;
use crate::consent::Channel;
use crate::service::{self, Recording};

/// The cookie the form page sets; its value is the submission's idempotency key.
pub const FORM_COOKIE: &str = "registre_formulaire";

/// Sets the form cookie if the visitor has none yet.
pub fn ensure_form_cookie(app: &App, jar: &CookieJar<'_>) {
    if jar.get_private(FORM_COOKIE).is_none() {
        jar.add_private(private_cookie(app, FORM_COOKIE, random_secret()));
    }
}

/// A public post let through: it comes with the form's cookie (so from registre's own page)
/// and its address has not posted too often. The cookie's value, or the page to answer.
async fn admitted(
    app: &App,
    jar: &CookieJar<'_>,
    address: &ClientIp,
    org: &str,
    back: &str,
    expired: &str,
) -> Result<String, Page> {
    let Some(key) = jar.get_private(FORM_COOKIE).map(|c| c.value().to_owned()) else {
        ensure_form_cookie(app, jar);
        return Err(problem(app, Status::Forbidden, org, back, vec![expired.to_owned()]).await);
    };
    if !app.public_posts.allow(address.0, POSTS_PER_MINUTE) {
        let busy = "Trop d'envois depuis votre connexion : réessayez dans une minute.";
        return Err(problem(
            app,
            Status::TooManyRequests,
            org,
            back,
            vec![busy.to_owned()],
        )
        .await);
    }
    Ok(key)
}

/// A page saying what went wrong, for the person, with the way back.
async fn problem(
    app: &App,
    status: Status,
    organisation: &str,
    back: &str,
    messages: Vec<String>,
) -> Page {
    // The organisation's name when it exists (never more: the page may answer a bad link).
    let name = match app.registre.store.organisation(organisation).await {
        Ok(Some(found)) => found.name,
        _ => "Registre des consentements".to_owned(),
    };
    page(
        app,
        status,
        "notice/consent-problem",
        json!({
            "title": "Votre envoi n'a pas été enregistré",
            "organisation": { "id": organisation, "name": name },
            "messages": messages,
            "back": back,
        }),
    )
}

/// The page of a service error, for the person.
async fn failed(app: &App, org: &str, back: &str, error: &service::Error) -> Page {
    let (status, messages) = messages_of(error);
    problem(app, status, org, back, messages).await
}

/// What a service error means for the person.
fn messages_of(error: &service::Error) -> (Status, Vec<String>) {
    match error {
        service::Error::Invalid(errors) => (
            Status::UnprocessableEntity,
            errors
                .iter()
                .map(|e| format!("{} : {}", field_label(&e.path), e.message))
                .collect(),
        ),
        service::Error::NotFound(m) => (Status::NotFound, vec![m.clone()]),
        service::Error::Store(_) | service::Error::Internal(_) => (
            Status::ServiceUnavailable,
            vec![
                "Le service est momentanément indisponible : réessayez dans un instant.".to_owned(),
            ],
        ),
        other => (Status::BadRequest, vec![other.to_string()]),
    }
}

/// The form's words for a field the service names.
fn field_label(path: &str) -> &str {
    match path {
        "choices" => "Vos choix",
        "signatories" => "Signatures",
        "kind" => "Vos choix",
        "subject" => "Votre identité",
        _ => path,
    }
}

#[derive(FromForm)]
pub struct Submission<'r> {
    /// The choices ticked.
    #[field(name = "choix")]
    choices: Vec<&'r str>,
    /// The name of each signatory, in the form's order.
    #[field(name = "nom")]
    names: Vec<&'r str>,
    /// What identifies the child.
    #[field(name = "enfant")]
    child: Vec<&'r str>,
    email: Option<&'r str>,
}

/// At most this many posts per address and per minute on the public forms.
const POSTS_PER_MINUTE: usize = 20;

#[post("/o/<org>/consentement/<activity>", data = "<form>")]
pub async fn submit(
    app: &State<App>,
    jar: &CookieJar<'_>,
    address: ClientIp,
    org: &str,
    activity: &str,
    form: Form<Submission<'_>>,
) -> Page {
    let back = format!("/o/{org}/consentement/{activity}");
    let expired =
        "Le formulaire a expiré ou vient d'un autre site : ouvrez-le à nouveau et renvoyez-le.";
    let key = match admitted(app, jar, &address, org, &back, expired).await {
        Ok(key) => key,
        Err(refused) => return refused,
    };
    let names: Vec<String> = form.names.iter().map(|n| n.trim().to_owned()).collect();
    let form_model = match app.registre.public_consent_form(org, activity).await {
        Ok(model) => model,
        Err(e) => return failed(app, org, &back, &e).await,
    };
    let minor = form_model.minors.is_some();
    // For a minor, the last signatory is the child; the others hold parental authority.
    let holders = if minor {
        names
            .iter()
            .take(form_model.signatories.len().saturating_sub(1))
            .filter(|n| !n.is_empty())
            .count()
    } else {
        0
    };
    let child_signs = minor && names.last().is_some_and(|n| !n.is_empty());
    let person = names.iter().find(|n| !n.is_empty()).cloned();
    if person.is_none() {
        return problem(
            app,
            Status::UnprocessableEntity,
            org,
            &back,
            vec!["Signatures : indiquez au moins un nom et un prénom.".to_owned()],
        )
        .await;
    }
    let email = form.email.map(str::trim).filter(|e| !e.is_empty());
    if email.is_some_and(|e| !validator::ValidateEmail::validate_email(&e)) {
        return problem(app, Status::UnprocessableEntity, org, &back, vec![
            "Adresse électronique : elle n'a pas la forme d'une adresse (exemple : prenom.nom@exemple.fr).".to_owned(),
        ]).await;
    }
    let identity = json!({
        "names": names.iter().filter(|n| !n.is_empty()).collect::<Vec<_>>(),
        "child": form.child.iter().map(|c| c.trim()).filter(|c| !c.is_empty()).collect::<Vec<_>>(),
        "email": email,
    });
    let choices = form.choices.iter().map(|c| (*c).to_owned()).collect();
    let recording = Recording {
        holders,
        child_signs,
        key: Some(key),
        ..Recording::answer(activity, choices, identity, Channel::EnLigne, minor)
    };
    let now = Timestamp::now();
    let event = match app.registre.record_consent(None, org, recording, now).await {
        Ok(event) => event,
        Err(e) => return failed(app, org, &back, &e).await,
    };
    // A new page view, a new submission.
    jar.add_private(private_cookie(app, FORM_COOKIE, random_secret()));
    let token = match app
        .registre
        .management_link(org, &event.draft.subject, now)
        .await
    {
        Ok(token) => token,
        Err(e) => {
            tracing::error!("lien de gestion non créé : {e}");
            String::new()
        }
    };
    let link = format!("/o/{org}/mes-consentements/{token}");
    let answers: Vec<Value> = event
        .draft
        .answers
        .iter()
        .map(|a| json!({ "label": label_of(&form_model, &a.choice), "accepted": a.accepted }))
        .collect();
    page(
        app,
        Status::Ok,
        "notice/consent-recorded",
        json!({
            "title": "Votre réponse est enregistrée",
            "organisation": { "id": org, "name": form_model.organisation.name },
            "activity": form_model.activity,
            "answers": answers,
            "event": event.id(),
            "at": event.at,
            "when": crate::render::typography::moment(&event.at),
            "link": link,
            "receipt": format!("{link}/recu/{}", event.seq),
        }),
    )
}

/// The label of a choice id on its form.
fn label_of(form: &crate::notice::ConsentForm, choice: &str) -> String {
    form.groups
        .iter()
        .flat_map(|g| g.choices.iter())
        .find(|c| c.id == choice)
        .map_or_else(|| choice.to_owned(), |c| c.label.clone())
}

#[get("/o/<org>/mes-consentements/<token>")]
pub async fn mine(app: &State<App>, jar: &CookieJar<'_>, org: &str, token: &str) -> Page {
    ensure_form_cookie(app, jar);
    match app
        .registre
        .consents_by_link(org, token, Timestamp::now())
        .await
    {
        Ok(view) => link_page(app, org, token, view, Value::Null),
        Err(e) => failed(app, org, &format!("/o/{org}/confidentialite"), &e).await,
    }
}

/// The page of a private link: each choice and its status, and the withdrawal just made.
fn link_page(app: &App, org: &str, token: &str, view: service::LinkView, withdrawn: Value) -> Page {
    page(
        app,
        Status::Ok,
        "notice/my-consents",
        json!({
            "title": "Vos consentements",
            "organisation": { "id": org, "name": view.organisation },
            "token": token,
            "activities": view.activities,
            "withdrawn": withdrawn,
        }),
    )
}

#[derive(FromForm)]
pub struct Withdrawal<'r> {
    activity: &'r str,
    #[field(name = "choix")]
    choice: &'r str,
}

#[post("/o/<org>/mes-consentements/<token>/retrait", data = "<form>")]
pub async fn withdraw(
    app: &State<App>,
    jar: &CookieJar<'_>,
    address: ClientIp,
    org: &str,
    token: &str,
    form: Form<Withdrawal<'_>>,
) -> Page {
    let back = format!("/o/{org}/mes-consentements/{token}");
    let expired = "La page a expiré ou la demande vient d'un autre site : ouvrez à nouveau votre lien et recommencez.";
    if let Err(refused) = admitted(app, jar, &address, org, &back, expired).await {
        return refused;
    }
    let now = Timestamp::now();
    let withdrawn = app
        .registre
        .withdraw_by_link(org, token, form.activity, vec![form.choice.to_owned()], now)
        .await;
    let event = match withdrawn {
        Ok(event) => event,
        Err(e) => return failed(app, org, &back, &e).await,
    };
    match app.registre.consents_by_link(org, token, now).await {
        Ok(view) => {
            let withdrawn = json!({
                "event": event.id(),
                "at": event.at,
                "when": crate::render::typography::moment(&event.at),
                "receipt": format!("{back}/recu/{}", event.seq),
            });
            link_page(app, org, token, view, withdrawn)
        }
        Err(e) => failed(app, org, &back, &e).await,
    }
}

/// A receipt of the link's person: JSON-LD, or a PDF with `?format=pdf`.
#[get("/o/<org>/mes-consentements/<token>/recu/<seq>?<format>")]
pub async fn receipt(
    app: &State<App>,
    org: &str,
    token: &str,
    seq: u64,
    format: Option<&str>,
) -> (Status, (ContentType, Vec<u8>)) {
    let pdf = match format {
        None | Some("json") => false,
        Some("pdf") => true,
        Some(other) => {
            let message = format!("format inconnu `{other}` : json ou pdf");
            return (
                Status::BadRequest,
                (ContentType::JSON, error_body(&message)),
            );
        }
    };
    let link = format!("/o/{org}/mes-consentements/{token}");
    match app
        .registre
        .receipt_by_link(org, token, seq, link, pdf, Timestamp::now())
        .await
    {
        Ok(bytes) if pdf => (Status::Ok, (ContentType::PDF, bytes)),
        Ok(bytes) => (
            Status::Ok,
            (ContentType::new("application", "ld+json"), bytes),
        ),
        Err(e) => {
            let (status, messages) = messages_of(&e);
            (status, (ContentType::JSON, error_body(&messages.join(" "))))
        }
    }
}

fn error_body(message: &str) -> Vec<u8> {
    json!({ "error": message }).to_string().into_bytes()
}

/// The organisation's last signed tree head, for anyone to note: a page, or JSON with
/// `?format=json`.
#[get("/o/<org>/registre-des-consentements?<format>")]
pub async fn ledger(
    app: &State<App>,
    org: &str,
    format: Option<&str>,
) -> Result<Result<Page, (ContentType, String)>, Status> {
    let head = match app.registre.published_head(org, Timestamp::now()).await {
        Ok(head) => head,
        Err(service::Error::NotFound(_)) => return Err(Status::NotFound),
        Err(e) => {
            tracing::error!("tête d'arbre illisible : {e}");
            return Err(Status::InternalServerError);
        }
    };
    match format {
        Some("json") => {
            let body = serde_json::to_string_pretty(&head).unwrap_or_default();
            return Ok(Err((ContentType::JSON, body)));
        }
        None | Some("html") => {}
        Some(_) => return Err(Status::BadRequest),
    }
    let name = match app.registre.store.organisation(org).await {
        Ok(Some(found)) => found.name,
        _ => return Err(Status::NotFound),
    };
    let when = head
        .as_ref()
        .map(|h| crate::render::typography::moment(&h.head.time));
    Ok(Ok(page(
        app,
        Status::Ok,
        "notice/ledger",
        json!({
            "title": "Registre des consentements",
            "organisation": { "id": org, "name": name },
            "head": head,
            "when": when,
        }),
    )))
}

pub fn routes() -> Vec<rocket::Route> {
    rocket::routes![submit, mine, withdraw, receipt, ledger]
}
