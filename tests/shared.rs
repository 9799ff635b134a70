//! Two `registre serve` behind one load balancer, on the real SurrealDB server the suite
//! builds: what one server knows of sessions and failed sign-ins, the other knows too.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

mod common;

use common::{Answer, Service, SurrealServer};

const ADMIN: &str = "admin@registre.invalid";

/// The `name=value` pairs of an answer's `Set-Cookie` headers.
fn cookies(answer: &Answer) -> Vec<String> {
    answer
        .headers
        .iter()
        .filter(|(name, _)| name == "set-cookie")
        .filter_map(|(_, value)| value.split(';').next())
        .map(str::to_owned)
        .collect()
}

fn form_value(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// Signs in through the sign-in form of the server on `port`: the answer to the form.
fn sign_in(port: u16, login: &str, password: &str, address: &str) -> Answer {
    let page =
        common::http_raw(port, "GET", "/connexion", &[("X-Real-IP", address)], None).unwrap();
    assert_eq!(page.status, 200);
    let html = String::from_utf8(page.body.clone()).unwrap();
    let csrf = html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the sign-in page has a CSRF field")
        .to_owned();
    let cookie = cookies(&page).join("; ");
    let body = format!(
        "login={}&password={}&csrf={}",
        form_value(login),
        form_value(password),
        form_value(&csrf)
    );
    common::http_raw(
        port,
        "POST",
        "/connexion",
        &[
            ("Cookie", &cookie),
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("X-Real-IP", address),
        ],
        Some(&body),
    )
    .unwrap()
}

#[test]
fn servers_sharing_a_database_share_sessions_and_sign_in_throttling() {
    let surreal = SurrealServer::start("memory");
    let dir = tempfile::tempdir().unwrap();
    let password_env = common::SURREAL_PASSWORD;
    // Both behind the same proxy, which passes the client's address in X-Real-IP.
    let env = [
        ("REGISTRE_DATABASE_USER", common::SURREAL_USER),
        ("REGISTRE_DATABASE_PASSWORD", password_env),
        ("ROCKET_IP_HEADER", "X-Real-IP"),
    ];
    let first = Service::start_with(&surreal.url, &dir.path().join("a.log"), &[], &env);
    let password = first.first_admin_password();
    let second = Service::start_with(&surreal.url, &dir.path().join("b.log"), &[], &env);

    // A session opened on the first server is good on the second.
    let answer = sign_in(first.port, ADMIN, &password, "198.51.100.1");
    assert_eq!(answer.status, 303, "signed in");
    let session = cookies(&answer)
        .into_iter()
        .find(|c| c.starts_with(registre::web::SESSION_COOKIE))
        .expect("a session cookie");
    for port in [first.port, second.port] {
        let home = common::http_raw(port, "GET", "/", &[("Cookie", &session)], None).unwrap();
        assert_eq!(home.status, 200, "signed in on the server on {port}");
        let html = String::from_utf8(home.body).unwrap();
        assert!(html.contains("Saint-Aubin"), "the demo's organisations");
    }
    let anonymous = common::http_raw(second.port, "GET", "/", &[], None).unwrap();
    assert_eq!(anonymous.status, 303, "no cookie, no session");

    // Five failures spread over both servers, from five addresses, lock the login itself.
    for i in 0..registre::auth::MAX_FAILURES {
        let port = [first.port, second.port][i % 2];
        let answer = sign_in(port, ADMIN, "wrong password", &format!("203.0.113.{i}"));
        assert_eq!(answer.status, 401, "failure {i}");
    }
    for port in [first.port, second.port] {
        let answer = sign_in(port, ADMIN, &password, "198.51.100.2");
        assert_eq!(
            answer.status, 429,
            "locked on the server on {port}, even with the right password"
        );
    }
    // The administrator's command lifts the lock, for both servers.
    let unlock = std::process::Command::new(env!("CARGO_BIN_EXE_registre"))
        .args(["user", "unlock", ADMIN, "--database", &surreal.url])
        .envs(env)
        .output()
        .unwrap();
    assert!(
        unlock.status.success(),
        "{}",
        String::from_utf8_lossy(&unlock.stderr)
    );
    assert!(String::from_utf8_lossy(&unlock.stdout).contains("débloquée"));
    for port in [second.port, first.port] {
        let answer = sign_in(port, ADMIN, &password, "198.51.100.3");
        assert_eq!(answer.status, 303, "signed in again on {port}");
    }
}
