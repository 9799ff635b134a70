//! The pages of the web interface: sign-in, sign-out and the home page. Server-rendered,
//! no JavaScript; every form carries a CSRF token.

use rocket::form::{Form, FromForm};
use rocket::http::{ContentType, Cookie, CookieJar, SameSite, Status};
use rocket::request::Request;
use rocket::response::{Redirect, content::RawHtml};
use rocket::{State, catch, get, post};
use serde_json::{Value, json};

use super::App;
use super::caller::{Caller, SESSION_COOKIE};

use crate::auth::random_secret;
use crate::render::Templates;
use crate::service;

/// The CSRF token of the sign-in form, before any session exists.
const LOGIN_CSRF_COOKIE: &str = "registre_login_csrf";

pub(super) type Page = (Status, RawHtml<String>);

pub(super) fn page(app: &App, status: Status, template: &str, data: Value) -> Page {
    match app.templates.render(template, &data) {
        Ok(html) => (status, RawHtml(html)),
        Err(e) => {
            tracing::error!("{e}");
            (
                Status::InternalServerError,
                RawHtml("<!DOCTYPE html><html lang=\"fr\"><title>Erreur</title><p>Erreur interne.</p></html>".into()),
            )
        }
    }
}

/// A cookie only registre's own pages read: encrypted by the caller (`add_private`), never
/// seen by scripts, sent over HTTPS only when the public address is https.
pub(super) fn private_cookie(app: &App, name: &'static str, value: String) -> Cookie<'static> {
    Cookie::build((name, value))
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(app.secure_cookies())
        .path("/")
        .build()
}

fn login_form(
    app: &App,
    jar: &CookieJar<'_>,
    status: Status,
    login: &str,
    error: Option<&str>,
) -> Page {
    let csrf = random_secret();
    jar.add_private(private_cookie(app, LOGIN_CSRF_COOKIE, csrf.clone()));
    page(
        app,
        status,
        "web/login",
        json!({ "title": "Connexion", "csrf": csrf, "login": login, "error": error, "session": null }),
    )
}

#[get("/connexion")]
fn login_page(app: &State<App>, jar: &CookieJar<'_>) -> Page {
    login_form(app, jar, Status::Ok, "", None)
}

#[derive(FromForm)]
struct LoginForm<'r> {
    login: &'r str,
    password: &'r str,
    csrf: &'r str,
}

#[post("/connexion", data = "<form>")]
async fn login(
    app: &State<App>,
    jar: &CookieJar<'_>,
    req_ip: ClientIp,
    form: Form<LoginForm<'_>>,
) -> Result<Redirect, Page> {
    let expected = jar
        .get_private(LOGIN_CSRF_COOKIE)
        .map(|c| c.value().to_owned());
    let csrf_ok = expected
        .is_some_and(|e| subtle::ConstantTimeEq::ct_eq(e.as_bytes(), form.csrf.as_bytes()).into());
    if !csrf_ok {
        return Err(login_form(
            app,
            jar,
            Status::Forbidden,
            form.login,
            Some("Le formulaire a expiré : veuillez le soumettre à nouveau."),
        ));
    }
    let address = req_ip.text();
    let signed_in = app
        .registre
        .accounts
        .sign_in(form.login, form.password, address.as_deref())
        .await;
    match signed_in {
        Ok((user, hash)) => {
            jar.remove_private(LOGIN_CSRF_COOKIE);
            let (id, session) = match app.registre.accounts.open_session(&user, &hash).await {
                Ok(opened) => opened,
                Err(e) => {
                    tracing::error!("session non enregistrée : {e}");
                    return Err(page(
                        app,
                        Status::ServiceUnavailable,
                        "web/error",
                        json!({ "title": "Erreur 503", "message": "La connexion n'a pas pu être enregistrée : réessayez dans un instant.", "session": null, "status": 503 }),
                    ));
                }
            };
            // The cookie ends when the session does at the latest.
            let expires =
                rocket::time::OffsetDateTime::from_unix_timestamp(session.expires_at().as_second())
                    .ok();
            let mut cookie = private_cookie(app, SESSION_COOKIE, id);
            cookie.set_expires(expires);
            jar.add_private(cookie);
            Ok(Redirect::to("/"))
        }
        Err(service::Error::Throttled(seconds)) => Err(login_form(
            app,
            jar,
            Status::TooManyRequests,
            form.login,
            Some(&format!(
                "Trop d'essais infructueux : réessayez dans {} minutes.",
                seconds.div_ceil(60)
            )),
        )),
        Err(service::Error::Unauthenticated) => Err(login_form(
            app,
            jar,
            Status::Unauthorized,
            form.login,
            Some("Identifiant ou mot de passe incorrect."),
        )),
        Err(e) => {
            tracing::error!("connexion impossible : {e}");
            Err(page(
                app,
                Status::ServiceUnavailable,
                "web/error",
                json!({ "title": "Erreur 503", "message": "La connexion n'a pas pu être vérifiée : réessayez dans un instant.", "session": null, "status": 503 }),
            ))
        }
    }
}

#[derive(FromForm)]
struct LogoutForm<'r> {
    csrf: &'r str,
}

#[post("/deconnexion", data = "<form>")]
async fn logout(
    app: &State<App>,
    jar: &CookieJar<'_>,
    form: Form<LogoutForm<'_>>,
) -> Result<Redirect, Status> {
    let Some(id) = jar
        .get_private(SESSION_COOKIE)
        .map(|c| c.value().to_owned())
    else {
        return Ok(Redirect::to("/connexion"));
    };
    let accounts = &app.registre.accounts;
    let failed = |e: service::Error| {
        tracing::error!("déconnexion : {e}");
        Status::ServiceUnavailable
    };
    match accounts.session(&id).await.map_err(failed)? {
        Some((_, session)) if !session.csrf_matches(form.csrf) => Err(Status::Forbidden),
        _ => {
            accounts.close_session(&id).await.map_err(failed)?;
            jar.remove_private(SESSION_COOKIE);
            Ok(Redirect::to("/connexion"))
        }
    }
}

#[get("/")]
async fn home(app: &State<App>, caller: Option<Caller>) -> Result<Page, Result<Redirect, Status>> {
    let Some(caller) = caller.filter(|c| c.csrf.is_some()) else {
        return Err(Ok(Redirect::to("/connexion")));
    };
    let organisations: Vec<Value> = app
        .registre
        .organisations_counted(&caller)
        .await
        .map_err(|e| {
            tracing::error!("page d'accueil : {e}");
            Err(Status::ServiceUnavailable)
        })?
        .into_iter()
        .map(|(o, count)| json!({ "id": o.id, "name": o.name, "activities": count }))
        .collect();
    let session = json!({ "login": caller.login(), "csrf": caller.csrf });
    Ok(page(
        app,
        Status::Ok,
        "web/home",
        json!({ "title": "Registres", "organisations": organisations, "session": session }),
    ))
}

/// An organisation's activities and, for each, its documents in one click: the notice
/// (page, PDF, short mention), the consent form, and what the register lacks for them.
#[get("/organisations/<org>")]
async fn organisation(
    app: &State<App>,
    caller: Option<Caller>,
    org: &str,
) -> Result<Page, Result<Redirect, Status>> {
    let Some(caller) = caller.filter(|c| c.csrf.is_some()) else {
        return Err(Ok(Redirect::to("/connexion")));
    };
    let register = app
        .registre
        .register(&caller, Some(org), None)
        .await
        .map_err(|e| match e {
            service::Error::NotFound(_) | service::Error::Forbidden(_) => Err(Status::NotFound),
            other => {
                tracing::error!("page d'organisme : {other}");
                Err(Status::ServiceUnavailable)
            }
        })?;
    let Some(organisation) = register.organisations.iter().find(|o| o.id == org) else {
        return Err(Err(Status::NotFound));
    };
    let context = crate::notice::Context {
        vocabulary: &app.registre.pack.vocabulary,
        countries: &app.registre.pack.countries,
        register: &register,
        public_url: app.public_url.as_deref(),
    };
    let activities: Vec<Value> = organisation
        .activities()
        .iter()
        .map(|activity| {
            let notice = crate::notice::notice(&context, organisation, activity);
            let consent = crate::notice::consent_form(&context, organisation, activity).is_ok();
            json!({
                "id": activity.id,
                "name": activity.name,
                "public": activity.public == Some(true),
                "consent": consent,
                "notice": notice.is_ok(),
                "missing": notice.map(|n| n.missing).unwrap_or_default(),
            })
        })
        .collect();
    let session = json!({ "login": caller.login(), "csrf": caller.csrf });
    Ok(page(
        app,
        Status::Ok,
        "web/organisation",
        json!({
            "title": organisation.name,
            "organisation": { "id": organisation.id, "name": organisation.name },
            "activities": activities,
            "session": session,
        }),
    ))
}

#[get("/assets/<file>")]
fn asset(file: &str) -> Option<(ContentType, &'static str)> {
    let content_type = ContentType::from_extension(file.rsplit_once('.')?.1)?;
    Some((content_type, Templates::asset(file)?))
}

/// The client's address, for throttling and the security log.
pub struct ClientIp(pub Option<std::net::IpAddr>);

impl ClientIp {
    /// The address as the security log writes it.
    pub fn text(&self) -> Option<String> {
        self.0.map(|a| a.to_string())
    }
}

#[rocket::async_trait]
impl<'r> rocket::request::FromRequest<'r> for ClientIp {
    type Error = std::convert::Infallible;

    async fn from_request(req: &'r Request<'_>) -> rocket::request::Outcome<Self, Self::Error> {
        rocket::request::Outcome::Success(ClientIp(req.client_ip()))
    }
}

#[catch(default)]
pub fn page_catcher(status: Status, req: &Request<'_>) -> Page {
    let message = match status.code {
        404 => "Cette page n'existe pas.",
        401 | 403 => "Vous n'avez pas accès à cette page.",
        413 => "Le contenu envoyé est trop volumineux.",
        400 | 422 => "La requête est invalide.",
        _ => "Une erreur est survenue ; elle a été journalisée.",
    };
    let data = json!({ "title": format!("Erreur {}", status.code), "message": message, "session": null, "status": status.code });
    match req.rocket().state::<App>() {
        Some(app) => page(app, status, "web/error", data),
        None => (status, RawHtml(message.to_owned())),
    }
}

pub fn routes() -> Vec<rocket::Route> {
    rocket::routes![login_page, login, logout, home, organisation, asset]
}
