//! The citizen's consent pages, in process: the form sent and recorded once, the private link,
//! a withdrawal in one step that the check sees at once, and what is refused.

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
use registre::auth::Actor;
use registre::render::Templates;
use registre::service::Registre;
use registre::store::Store;
use registre::web::{self, App};
use rocket::http::{ContentType, Status};
use rocket::local::asynchronous::Client;

const DEMO: &str = include_str!("../examples/commune-demo.yaml");
const ORG: &str = "saint-aubin";
const SITE: &str = "communication.publication-images:site-internet-de-la-commune";
const PRINTED: &str = "communication.publication-images:bulletin-municipal-imprime";

async fn citizen() -> (Client, Registre) {
    let store = Store::open("mem://", None).await.unwrap();
    store
        .import(&common::load(DEMO), "test", Timestamp::now())
        .await
        .unwrap();
    let pack = Arc::new(registre::audit::PolicyPack::builtin().unwrap());
    let registre = Registre::new(store.clone(), pack.clone());
    let app = App::new(store, pack, Templates::builtin().unwrap());
    let figment = rocket::Config::figment()
        .merge(("log_level", "off"))
        .merge((
            "secret_key",
            base64::engine::general_purpose::STANDARD.encode([9u8; 64]),
        ));
    (
        Client::tracked(web::rocket(app, figment)).await.unwrap(),
        registre,
    )
}

fn encode(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(k, v)| {
            format!(
                "{k}={}",
                url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>()
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// Where a page's link whose text is `text` goes.
fn href(html: &str, text: &str) -> String {
    let at = html
        .find(text)
        .unwrap_or_else(|| panic!("no link « {text} » in {html}"));
    let before = &html[..at];
    let start = before.rfind("href=\"").unwrap() + 6;
    before[start..]
        .split('"')
        .next()
        .unwrap()
        .replace("&#x2F;", "/")
        .replace("&#x3D;", "=")
}

/// The number of forms a page shows.
fn forms(html: &str) -> usize {
    html.matches("<form").count()
}

#[rocket::async_test]
async fn a_person_consents_online_gets_a_link_and_withdraws_in_as_many_steps() {
    let (client, registre) = citizen().await;
    let form_page = format!("/o/{ORG}/consentement/photos");
    let page = client.get(&form_page).dispatch().await;
    assert_eq!(page.status(), Status::Ok);
    let html = page.into_string().await.unwrap();
    assert!(html.contains("method=\"post\""), "a real form");
    assert!(!html.contains("checked"), "no box ticked in advance");

    // Consent: one submission.
    let body = encode(&[
        ("choix", SITE),
        ("nom", "Claire Martin"),
        ("nom", "Marc Martin"),
        ("nom", ""),
        ("enfant", "Jules Martin"),
        ("enfant", "CM1"),
        ("email", "claire.martin@exemple.fr"),
    ]);
    let sent = client
        .post(&form_page)
        .header(ContentType::Form)
        .body(&body)
        .dispatch()
        .await;
    assert_eq!(sent.status(), Status::Ok);
    let confirmation = sent.into_string().await.unwrap();
    assert!(
        confirmation.contains("Votre réponse est enregistrée"),
        "{confirmation}"
    );
    let link = href(&confirmation, "Voir ou retirer mes consentements");
    assert!(
        link.starts_with(&format!("/o/{ORG}/mes-consentements/")),
        "{link}"
    );

    // Sent again (a reload of the same page): recorded once.
    let again = client
        .post(&form_page)
        .header(ContentType::Form)
        .body(&body)
        .dispatch()
        .await;
    assert_eq!(again.status(), Status::Ok);
    let token = link.rsplit('/').next().unwrap().to_owned();
    let subject = registre.subject_by_link(ORG, &token).await.unwrap();
    let events = registre.store.subject_events(ORG, &subject).await.unwrap();
    assert_eq!(events.len(), 1, "the same submission records once");
    assert_eq!(events[0].draft.signatories.len(), 2, "both holders signed");
    let agent = Actor::command_line("agent");
    let check = async || {
        registre
            .check_consent(&agent, ORG, "photos", &subject, SITE, Timestamp::now())
            .await
            .unwrap()
    };
    assert!(check().await.allowed);

    // The receipt, through the link.
    let receipt = client
        .get(href(&confirmation, "reçu vérifiable (JSON)"))
        .dispatch()
        .await;
    assert_eq!(receipt.status(), Status::Ok);
    let receipt: serde_json::Value =
        serde_json::from_str(&receipt.into_string().await.unwrap()).unwrap();
    let key = receipt["proof"]["public_key"].as_str().unwrap().to_owned();
    assert!(registre::consent::receipt::verify(&receipt, &key).is_ok());
    let printed = client
        .get(href(&confirmation, "reçu à imprimer (PDF)"))
        .dispatch()
        .await;
    assert_eq!(printed.content_type(), Some(ContentType::PDF));
    let text = common::pdf_text(&printed.into_bytes().await.unwrap());
    assert!(text.contains("Reçu de consentement"), "{text}");
    assert!(
        text.contains(&key),
        "the receipt gives the public key: {text}"
    );

    // The head the receipt rests on is published, with the same key, for anyone to note.
    let ledger = href(
        &confirmation,
        "la clé publique et la dernière tête signée du registre des consentements",
    );
    let page = client
        .get(&ledger)
        .dispatch()
        .await
        .into_string()
        .await
        .unwrap();
    assert!(page.contains(&key), "{page}");
    let published: serde_json::Value = serde_json::from_str(
        &client
            .get(format!("{ledger}?format=json"))
            .dispatch()
            .await
            .into_string()
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(published["public_key"], key.as_str());
    assert_eq!(published["head"], receipt["proof"]["tree_head"]);

    // Withdraw: the link's page, then one submission — no more steps than consenting.
    let mine = client
        .get(&link)
        .dispatch()
        .await
        .into_string()
        .await
        .unwrap();
    assert!(mine.contains("accordé"), "{mine}");
    assert_eq!(forms(&mine), 1, "one button per consent given");
    let withdrawn = client
        .post(format!("{link}/retrait"))
        .header(ContentType::Form)
        .body(encode(&[("activity", "photos"), ("choix", SITE)]))
        .dispatch()
        .await;
    assert_eq!(withdrawn.status(), Status::Ok);
    let after = withdrawn.into_string().await.unwrap();
    assert!(after.contains("Votre retrait est enregistré"), "{after}");
    assert!(after.contains("retiré"));
    let now = check().await;
    assert_eq!(
        (now.allowed, now.status.as_str()),
        (false, "withdrawn"),
        "at once"
    );
    assert_eq!(forms(&after), 0, "nothing left to withdraw");
}

#[rocket::async_test]
async fn what_the_form_refuses_is_said_and_nothing_is_recorded() {
    let (client, registre) = citizen().await;
    let form_page = format!("/o/{ORG}/consentement/photos");

    // Without the form's cookie (a post from another site): refused.
    let foreign = client
        .post(&form_page)
        .header(ContentType::Form)
        .body(encode(&[("choix", SITE), ("nom", "A B"), ("nom", "C D")]))
        .dispatch()
        .await;
    assert_eq!(foreign.status(), Status::Forbidden);

    client.get(&form_page).dispatch().await;
    for (fields, status, words) in [
        (
            vec![("choix", "autre"), ("nom", "A B"), ("nom", "C D")],
            Status::UnprocessableEntity,
            "existe pas dans ce formulaire",
        ),
        (
            vec![("choix", SITE)],
            Status::UnprocessableEntity,
            "au moins un nom",
        ),
        (
            vec![
                ("choix", SITE),
                ("nom", "A B"),
                ("email", "pas-une-adresse"),
            ],
            Status::UnprocessableEntity,
            "Adresse électronique",
        ),
        (vec![("nom", "A B"), ("nom", "")], Status::Ok, "refusé"),
    ] {
        let sent = client
            .post(&form_page)
            .header(ContentType::Form)
            .body(encode(&fields))
            .dispatch()
            .await;
        assert_eq!(sent.status(), status, "{fields:?}");
        let html = sent.into_string().await.unwrap();
        assert!(html.contains(words), "{fields:?}: {html}");
    }
    let events = registre.store.consent_events(ORG).await.unwrap();
    assert_eq!(
        events.len(),
        1,
        "only the refusal (every box unticked) is recorded"
    );
    assert!(events[0].draft.answers.iter().all(|a| !a.accepted));
    let _ = PRINTED;

    // A link nobody was given opens nothing.
    let unknown = client
        .get(format!("/o/{ORG}/mes-consentements/lien-invente"))
        .dispatch()
        .await;
    assert_eq!(unknown.status(), Status::NotFound);
}
