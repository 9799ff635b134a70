//! `registre serve` as a real process: what the first start prints and creates, what a
//! restart keeps, the sign-in page, a clean stop, and throttling by the socket's address (a client cannot
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
    assert_eq!(organisations(service.port, &token).len(), 2);
}

/// The organisations the API lists to the bearer of `token`.
fn organisations(port: u16, token: &str) -> Vec<serde_json::Value> {
    let auth = format!("Bearer {token}");
    let (status, list) = common::http(
        port,
        "GET",
        "/api/v1/organisations",
        &[("Authorization", &auth)],
        None,
    )
    .unwrap();
    assert_eq!(status, 200, "{list}");
    let list: serde_json::Value = serde_json::from_str(&list).unwrap();
    list["organisations"].as_array().unwrap().clone()
}

/// The bytes of the embedded engine's log: what it would replay at the next start.
fn unwritten_bytes(database_dir: &std::path::Path) -> u64 {
    std::fs::read_dir(database_dir.join("wal"))
        .unwrap()
        .map(|entry| entry.unwrap().metadata().unwrap().len())
        .sum()
}

/// A server stopped by SIGTERM, and each command, closes the embedded engine before it exits:
/// what the engine held in memory is written to its files, nothing is left in its log to
/// replay at the next start (seconds per gigabyte), and the write that last switched its
/// memory table is not lost (README, « Arrêt du service et base embarquée »).
#[test]
fn a_stopped_server_and_each_command_leave_their_writes_in_the_database_files() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let database = format!("surrealkv://{}", db.display());
    let log = dir.path().join("serve.log");
    let mut service = common::Service::start(&database, &log, &[]);
    let token = service.admin_token("t");
    let status = service.stop();
    let printed = std::fs::read_to_string(&log).unwrap();
    assert!(status.success(), "{status}: {printed}");
    assert!(!printed.contains("ERROR"), "{printed}");
    assert!(
        printed.contains("service arrêté, base de données fermée"),
        "{printed}"
    );
    assert_eq!(
        unwritten_bytes(&db),
        0,
        "the demo and the token were written out"
    );

    let register = dir.path().join("register.yaml");
    common::write_synthetic(&register, 3, 5);
    let imported = common::registre(&[
        "import",
        register.to_str().unwrap(),
        "--database",
        &database,
    ]);
    assert!(imported.status.success(), "{}", common::stderr(&imported));
    assert_eq!(unwritten_bytes(&db), 0, "the import was written out");

    // Everything is there at the next start.
    let service = common::Service::start(&database, &dir.path().join("again.log"), &[]);
    assert!(organisations(service.port, &token).len() > 2);
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
