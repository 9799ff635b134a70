//! `registre serve` as a real process: what the first start prints and creates, what a
//! restart keeps, the sign-in page, and throttling by the socket's address (a client cannot
//! pick its own with `X-Real-IP`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

mod common;

#[test]
fn the_first_start_creates_an_administrator_and_loads_the_demo_once() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("surrealkv://{}", dir.path().join("db").display());
    let first_log = dir.path().join("first.log");
    let mut service = common::Service::start(&database, &first_log, &[]);
    let printed = std::fs::read_to_string(&first_log).unwrap();
    assert!(
        printed.contains("Premier compte administrateur : admin@registre.invalid"),
        "{printed}"
    );
    assert!(
        printed.contains("Registre de démonstration chargé"),
        "{printed}"
    );
    assert!(
        printed.contains(&format!(
            "registre écoute sur http://127.0.0.1:{}/",
            service.port
        )),
        "{printed}"
    );
    let password = service.first_admin_password();
    assert!(registre::auth::check_password_strength(&password, "admin@registre.invalid").is_ok());

    let (status, _) = common::http(service.port, "GET", "/", &[], None).unwrap();
    assert_eq!(status, 303, "the home page asks to sign in");
    let (status, page) = common::http(service.port, "GET", "/connexion", &[], None).unwrap();
    assert_eq!(status, 200);
    assert!(
        page.contains("<form method=\"post\" action=\"/connexion\">"),
        "{page}"
    );
    let (status, css) =
        common::http(service.port, "GET", "/assets/registre.css", &[], None).unwrap();
    assert_eq!(status, 200);
    assert!(page.len() + css.len() < 30_000);

    let token = common::api_token(
        service.port,
        "admin@registre.invalid",
        &password,
        r#"{"name": "t", "role": "admin"}"#,
    );
    service.kill();

    // A restart keeps accounts, tokens and register, and creates nothing again.
    let second_log = dir.path().join("second.log");
    let service = common::Service::start(&database, &second_log, &[]);
    let printed = std::fs::read_to_string(&second_log).unwrap();
    assert!(
        !printed.contains("Premier compte") && !printed.contains("démonstration"),
        "{printed}"
    );
    let auth = format!("Bearer {token}");
    let (status, list) = common::http(
        service.port,
        "GET",
        "/api/v1/organisations",
        &[("Authorization", &auth)],
        None,
    )
    .unwrap();
    assert_eq!(status, 200);
    let list: serde_json::Value = serde_json::from_str(&list).unwrap();
    assert_eq!(list["organisations"].as_array().unwrap().len(), 2);
}

#[test]
fn throttling_counts_the_socket_address_not_a_header() {
    let dir = tempfile::tempdir().unwrap();
    let service = common::Service::start("mem://", &dir.path().join("serve.log"), &["--no-demo"]);
    use base64::Engine;
    let attempt = |i: usize| {
        let basic =
            base64::engine::general_purpose::STANDARD.encode(format!("user{i}@ville.fr:wrong"));
        let address = format!("203.0.113.{i}");
        common::http(
            service.port,
            "POST",
            "/api/v1/tokens",
            &[
                ("Authorization", &format!("Basic {basic}")),
                ("X-Real-IP", &address),
                ("Content-Type", "application/json"),
            ],
            Some(r#"{"name": "x", "role": "admin"}"#),
        )
        .unwrap()
        .0
    };
    for i in 0..registre::auth::MAX_FAILURES {
        assert_eq!(attempt(i), 401);
    }
    assert_eq!(
        attempt(99),
        429,
        "new login, new claimed address, same socket: throttled"
    );
}
