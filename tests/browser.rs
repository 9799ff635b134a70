//! Every page a citizen or an agent sees, in headless Chromium: axe-core finds no
//! accessibility violation (RGAA / WCAG 2.1 AA and axe's best practices), no page carries a
//! script, and each weighs under 30 KB with its style sheet. The documents' PDFs are served
//! with their version, and each version shown is stored.
//!
//! Needs Chromium, Node.js and the packages of tests/browser (scripts/test.sh installs them);
//! without them the test fails, it does not skip.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::process::Command;

use serde_json::Value;

const HOSTILE: &str = include_str!("notice/hostile.yaml");

#[test]
fn every_page_passes_axe_without_javascript_and_under_30_kb() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("surrealkv://{}", dir.path().join("db").display());
    let log = dir.path().join("serve.log");
    let service = common::Service::start(&database, &log, &[]);
    let port = service.port;
    let token = common::api_token(
        port,
        "admin@registre.invalid",
        &service.first_admin_password(),
        r#"{"name": "pages", "role": "admin"}"#,
    );
    let auth = format!("Bearer {token}");
    let get = |path: &str| {
        let (status, body) =
            common::http(port, "GET", path, &[("Authorization", &auth)], None).unwrap();
        assert_eq!(status, 200, "{path}: {body}");
        serde_json::from_str::<Value>(&body).unwrap()
    };
    // The demo, and a register full of markup, script and 3 000-character words.
    let (status, answer) = common::http(
        port,
        "POST",
        "/api/v1/register",
        &[("Authorization", &auth)],
        Some(HOSTILE),
    )
    .unwrap();
    assert_eq!(status, 200, "{answer}");

    // Signed in (the browser signs in first): the home page and an organisation's documents.
    let mut pages = vec![
        ("/connexion".to_owned(), 200),
        ("/".to_owned(), 200),
        ("/organisations/saint-aubin".to_owned(), 200),
        ("/organisations/hostile".to_owned(), 200),
        ("/o/inconnu/registre".to_owned(), 404),
        ("/o/saint-aubin/registre-des-consentements".to_owned(), 200),
        (
            "/o/ccas-saint-aubin/registre-des-consentements".to_owned(),
            200,
        ),
    ];
    let mut pdfs = Vec::new();
    for org in ["saint-aubin", "ccas-saint-aubin", "hostile"] {
        let list = get(&format!(
            "/api/v1/organisations/{org}/activities?public=true"
        ));
        let activities = list["activities"].as_array().unwrap();
        // Organisation pages list ten activities a page.
        let count = activities.len().div_ceil(10).max(1);
        for page in 1..=count {
            pages.push((format!("/o/{org}/confidentialite?page={page}"), 200));
            pages.push((format!("/o/{org}/registre?page={page}"), 200));
        }
        pages.push((format!("/o/{org}/registre?page={}", count + 1), 404));
        for activity in activities {
            let id = activity["id"].as_str().unwrap();
            pages.push((format!("/o/{org}/traitements/{id}"), 200));
            pages.push((format!("/o/{org}/traitements/{id}/mention"), 200));
            pdfs.push(format!("/o/{org}/traitements/{id}.pdf"));
            let consent_based = activity["legal_basis"] == "consentement"
                || activity["special_category_exception"] == "consentement-explicite";
            if consent_based {
                pages.push((format!("/o/{org}/consentement/{id}"), 200));
                pdfs.push(format!("/o/{org}/consentement/{id}/formulaire.pdf"));
            }
        }
    }
    // A consent sent online: its private link's page joins the list, and the confirmation,
    // a POST's answer, is checked as a file.
    let form =
        common::http_raw(port, "GET", "/o/saint-aubin/consentement/photos", &[], None).unwrap();
    let cookie = form
        .header("set-cookie")
        .and_then(|c| c.split(';').next())
        .expect("the form page sets its cookie")
        .to_owned();
    let body = "choix=communication.publication-images%3Asite-internet-de-la-commune&nom=Claire+Martin&nom=Marc+Martin&nom=&enfant=Jules&email=";
    let sent = common::http_raw(
        port,
        "POST",
        "/o/saint-aubin/consentement/photos",
        &[
            ("Cookie", &cookie),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        Some(body),
    )
    .unwrap();
    assert_eq!(sent.status, 200);
    let confirmation = String::from_utf8(sent.body).unwrap();
    let link = confirmation
        .split("href=\"")
        .map(|rest| rest.split('"').next().unwrap())
        .find(|href| {
            href.starts_with("/o/saint-aubin/mes-consentements/") && !href.contains("/recu/")
        })
        .expect("the confirmation gives the private link")
        .to_owned();
    pages.push((link, 200));
    let confirmation_file = dir.path().join("consent-recorded.html");
    std::fs::write(
        &confirmation_file,
        confirmation.replacen(
            "<head>",
            &format!("<head><base href=\"http://127.0.0.1:{port}/\">"),
            1,
        ),
    )
    .unwrap();
    assert!(pages.len() >= 50, "{} pages", pages.len());
    assert!(
        pages
            .iter()
            .any(|(p, _)| p == "/o/saint-aubin/registre?page=2"),
        "the demo commune's register takes two pages"
    );

    // Weight and scripts, as a browser without JavaScript receives them.
    let password = service.first_admin_password();
    let cookie = common::sign_in(port, "admin@registre.invalid", &password);
    let (_, css) = common::http(port, "GET", "/assets/registre.css", &[], None).unwrap();
    for (path, status) in &pages {
        let answer = common::http_raw(port, "GET", path, &[("Cookie", &cookie)], None).unwrap();
        assert_eq!(answer.status, *status, "{path}");
        let html = String::from_utf8(answer.body).unwrap();
        assert!(
            html.len() + css.len() < 30_000,
            "{path}: {} bytes of HTML and {} of CSS",
            html.len(),
            css.len()
        );
        assert!(!html.to_lowercase().contains("<script"), "{path}");
        assert!(html.contains("<html lang=\"fr\">"), "{path}");
    }
    // A page not published gives 404, even when the activity exists.
    let answer =
        common::http_raw(port, "GET", "/o/saint-aubin/traitements/paie", &[], None).unwrap();
    assert_eq!(answer.status, 404);

    // axe-core in headless Chromium, on every page, and on the pages the CLI writes (their
    // style sheet inside).
    let mut urls: Vec<String> = pages
        .iter()
        .map(|(path, _)| format!("http://127.0.0.1:{port}{path}"))
        .collect();
    for (command, activity) in [("notice", "cantine"), ("consent-form", "photos")] {
        let file = dir.path().join(format!("{command}.html"));
        let written = common::registre(&[
            command,
            "--register",
            "examples/commune-demo.yaml",
            "--organisation",
            "saint-aubin",
            "--activity",
            activity,
            "--format",
            "html",
            "--output",
            file.to_str().unwrap(),
        ]);
        assert!(written.status.success(), "{}", common::stderr(&written));
        let html = std::fs::read_to_string(&file).unwrap();
        assert!(
            html.len() < 30_000 && !html.contains("<script"),
            "{command}"
        );
        urls.push(format!("file://{}", file.display()));
        pages.push((format!("{command}.html"), 200));
    }
    urls.push(format!("file://{}", confirmation_file.display()));
    pages.push(("consent-recorded.html".to_owned(), 200));
    let output = Command::new("node")
        .env("SIGN_IN", format!("http://127.0.0.1:{port}/connexion"))
        .env("LOGIN", "admin@registre.invalid")
        .env("PASSWORD", &password)
        .arg("tests/browser/axe.mjs")
        .args(&urls)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap_or_else(|e| {
            panic!("node is needed for the browser tests ({e}): run scripts/test.sh")
        });
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the browser check failed (Chromium and tests/browser/node_modules are installed by scripts/test.sh):\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let results: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(results.len(), pages.len());
    for (result, (path, status)) in results.iter().zip(&pages) {
        assert_eq!(result["status"], *status, "{path}");
        // No redirection: the signed-in pages were seen signed in.
        assert_eq!(result["final"], result["url"], "{path}");
        assert!(
            result["passes"].as_u64().unwrap() > 10,
            "{path}: axe did not run"
        );
        assert_eq!(
            result["violations"].as_array().unwrap().len(),
            0,
            "{path}: {:#}",
            result["violations"]
        );
    }

    // The PDFs: served with their version and hash, under 100 KB.
    for path in &pdfs {
        let answer = common::http_raw(port, "GET", path, &[], None).unwrap();
        assert_eq!(answer.status, 200, "{path}");
        assert_eq!(answer.header("content-type"), Some("application/pdf"));
        assert!(answer.body.starts_with(b"%PDF-"), "{path}");
        assert!(
            answer.body.len() < 100_000,
            "{path}: {} bytes",
            answer.body.len()
        );
        let etag = answer.header("etag").unwrap();
        assert_eq!(
            etag.trim_matches('"'),
            registre::digest::sha256_hex(&answer.body)
        );
        assert_eq!(answer.header("x-document-version").unwrap().len(), 12);
    }

    // A notice names the organisation its data come from (art. 14), loaded for it.
    let colis = get("/api/v1/organisations/ccas-saint-aubin/activities/colis-aines/notice");
    assert_eq!(colis["missing"], serde_json::json!([]), "{colis:#}");
    let origin = colis["sections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "origine")
        .unwrap();
    assert!(
        origin
            .to_string()
            .contains("Commune de Saint-Aubin-sur-Oise"),
        "{origin}"
    );

    // Every version shown is stored, with the hash of each file served from it.
    let versions = get("/api/v1/organisations/saint-aubin/documents");
    let versions = versions["versions"].as_array().unwrap();
    let photos = versions
        .iter()
        .find(|v| v["kind"] == "consent-form" && v["activity"] == "photos")
        .unwrap();
    let formats: Vec<&str> = photos["renderings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["format"].as_str().unwrap())
        .collect();
    assert!(
        formats.contains(&"pdf") && formats.contains(&"html"),
        "{formats:?}"
    );
    // Page 2 of the public register is a file of its own.
    let register = versions
        .iter()
        .find(|v| v["kind"] == "public-register")
        .unwrap();
    assert!(
        register["renderings"].to_string().contains("html-page-2"),
        "{register}"
    );
    let id = photos["version"].as_str().unwrap();
    let stored = get(&format!("/api/v1/organisations/saint-aubin/documents/{id}"));
    assert_eq!(stored["content"]["activity"]["id"], "photos");
    assert_eq!(stored["sha256"], photos["sha256"]);
    let form = get("/api/v1/organisations/saint-aubin/activities/photos/consent-form");
    assert_eq!(form["version"]["id"], id);
}
