//! The consent ledger in the store: appends in one transaction and without forks, the read
//! model and its rebuild, and tampering with stored events as someone with database access
//! could, which verification must name.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

mod common;

use jiff::Timestamp;
use registre::consent::{
    self, Answer, Channel, Document, Draft, EventKind, Role, Signatory, State, Status,
    verify::{self, HeadMismatch, Problem},
};
use registre::model::Activity;
use registre::notice::Version;
use registre::store::{Rendering, Shown, Store, SubjectRange};
use serde_json::json;

const DEMO: &str = include_str!("../examples/commune-demo.yaml");
const ORG: &str = "saint-aubin";
const CHOICE: &str = "communication.publication-images:site-internet";

fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
}

fn photos() -> Activity {
    let demo = common::load(DEMO);
    demo.organisations[0]
        .activities()
        .iter()
        .find(|a| a.id == "photos")
        .unwrap()
        .clone()
}

fn form_version() -> Version {
    Version::of("consent-form", &json!({"form": "photos", "edition": 1}))
}

fn draft(activity: &Activity, subject: &str, kind: EventKind) -> Draft {
    let version = form_version();
    Draft {
        activity: activity.id.clone(),
        subject: subject.to_owned(),
        kind,
        answers: vec![Answer {
            choice: CHOICE.to_owned(),
            accepted: kind == EventKind::Given,
        }],
        document: Document {
            version: version.id.clone(),
            sha256: version.sha256.clone(),
        },
        scope: consent::scope(activity),
        language: "fr".to_owned(),
        channel: Channel::EnLigne,
        agent: None,
        evidence: None,
        signed_on: None,
        minor: true,
        signatories: ["p1", "p2"]
            .iter()
            .map(|p| Signatory {
                role: Role::TitulaireAutoriteParentale,
                subject: format!("{subject}-{p}"),
            })
            .collect(),
    }
}

async fn record(store: &Store, draft: &Draft, now: &str) -> consent::Event {
    let version = form_version();
    let content = json!({"form": "photos", "edition": 1});
    let shown = Shown {
        kind: "consent-form",
        organisation: ORG,
        activity: Some("photos"),
        version: &version,
        content: &content,
        rendering: Rendering {
            format: "html".to_owned(),
            sha256: "cd".repeat(32),
        },
    };
    store
        .record_consent(ORG, draft, &shown, None, at(now))
        .await
        .unwrap()
}

/// A store with `n` events: subjects s0, s1 … giving consent.
async fn ledger(n: usize) -> Store {
    let store = Store::open("mem://", None).await.unwrap();
    let activity = photos();
    for i in 0..n {
        let d = draft(&activity, &format!("s{i}"), EventKind::Given);
        record(&store, &d, "2026-03-02T10:00:00Z").await;
    }
    store
}

async fn broken(store: &Store) -> verify::Broken {
    store.verify_consents(ORG).await.unwrap().unwrap_err()
}

async fn run(store: &Store, statement: &str) {
    store
        .database()
        .query(statement)
        .await
        .unwrap()
        .check()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_make_one_chain_with_its_documents() {
    let store = Store::open("mem://", None).await.unwrap();
    let activity = photos();
    let mut appends = tokio::task::JoinSet::new();
    for i in 0..24 {
        let (store, d) = (
            store.clone(),
            draft(&activity, &format!("s{i}"), EventKind::Given),
        );
        appends.spawn(async move { record(&store, &d, "2026-03-02T10:00:00Z").await.seq });
    }
    let mut seqs = appends.join_all().await;
    seqs.sort_unstable();
    assert_eq!(
        seqs,
        (0..24).collect::<Vec<_>>(),
        "one place per event, no fork"
    );

    let tree = store.verify_consents(ORG).await.unwrap().unwrap();
    assert_eq!(tree.size(), 24);
    let version = form_version();
    let stored = store.document_version(ORG, &version.sha256).await.unwrap();
    assert!(
        stored.is_some(),
        "the version the person saw is stored with the event"
    );
}

#[tokio::test]
async fn the_read_model_follows_the_events_and_rebuilds_the_same() {
    let store = ledger(3).await;
    let activity = photos();
    record(
        &store,
        &draft(&activity, "s1", EventKind::Withdrawn),
        "2026-04-01T08:00:00Z",
    )
    .await;
    let scope = consent::scope(&activity);
    let requirement = consent::requirement(&activity, &scope);
    let now = at("2026-05-01T00:00:00Z");
    let status = |current: Option<consent::Current>| current.map(|c| c.status(&requirement, now));
    let s0 = store
        .consent_current(ORG, "photos", "s0", CHOICE)
        .await
        .unwrap();
    assert_eq!(status(s0), Some(Status::Given));
    let s1 = store
        .consent_current(ORG, "photos", "s1", CHOICE)
        .await
        .unwrap();
    assert_eq!(status(s1.clone()), Some(Status::Withdrawn));
    assert_eq!(s1.unwrap().id, "saint-aubin-3");

    // The read model is what the events give, and a rebuild gives it again.
    let events = store.consent_events(ORG).await.unwrap();
    let derived = State::of(&events);
    let live = store.consent_states(ORG).await.unwrap();
    assert_eq!(live.len(), derived.iter().count());
    assert_eq!(store.rebuild_consent_state(ORG).await.unwrap(), 3);
    assert_eq!(store.consent_states(ORG).await.unwrap(), live);
}

#[tokio::test]
async fn an_untouched_ledger_verifies() {
    let store = ledger(6).await;
    assert_eq!(store.verify_consents(ORG).await.unwrap().unwrap().size(), 6);
}

/// Writes `event` over the stored event at its place, as JSON text or (as written before
/// migration 010) as an object, keeping the stored hash.
async fn overwrite_event(store: &Store, event: &consent::Event, as_text: bool) {
    let stored = if as_text {
        serde_json::Value::String(serde_json::to_string(event).unwrap())
    } else {
        serde_json::to_value(event).unwrap()
    };
    store
        .database()
        .query("UPDATE consent_event SET event = $event WHERE organisation = $org AND seq = $seq")
        .bind(("event", stored))
        .bind(("org", ORG))
        .bind(("seq", event.seq))
        .await
        .unwrap()
        .check()
        .unwrap();
}

#[tokio::test]
async fn events_stored_as_objects_before_migration_010_are_read_and_verified() {
    let store = ledger(6).await;
    let events = store.consent_events(ORG).await.unwrap();
    for event in &events[..3] {
        overwrite_event(&store, event, false).await;
    }
    assert_eq!(store.consent_events(ORG).await.unwrap(), events);
    assert_eq!(store.verify_consents(ORG).await.unwrap().unwrap().size(), 6);
}

#[tokio::test]
async fn a_changed_event_is_named() {
    let store = ledger(6).await;
    let mut changed = store.consent_events(ORG).await.unwrap().remove(4);
    changed.draft.answers[0].accepted = !changed.draft.answers[0].accepted;
    overwrite_event(&store, &changed, true).await;
    let b = broken(&store).await;
    assert_eq!((b.position, b.problem.clone()), (4, Problem::Altered));
    assert!(b.to_string().contains("saint-aubin-4"), "{b}");
}

#[tokio::test]
async fn a_deleted_event_is_named() {
    let store = ledger(6).await;
    run(&store, "DELETE consent_event WHERE seq = 2").await;
    let b = broken(&store).await;
    assert_eq!((b.position, b.problem), (2, Problem::OutOfPlace { seq: 3 }));
}

#[tokio::test]
async fn reordered_events_are_named() {
    let store = ledger(6).await;
    // Two events trade places, each keeping its own content and hash.
    run(
        &store,
        "UPDATE consent_event SET seq = 99 WHERE seq = 1;
         UPDATE consent_event SET seq = 1 WHERE seq = 2;
         UPDATE consent_event SET seq = 2 WHERE seq = 99;",
    )
    .await;
    let b = broken(&store).await;
    assert_eq!((b.position, b.problem), (1, Problem::OutOfPlace { seq: 2 }));
}

#[tokio::test]
async fn an_inserted_event_is_named() {
    let store = ledger(6).await;
    let events = store.consent_events(ORG).await.unwrap();
    // A forged event, hashed right, slipped in after the third one.
    let forged = consent::Event::chain(
        ORG,
        3,
        &events[2].hash,
        at("2026-03-02T10:00:00Z"),
        draft(&photos(), "intrus", EventKind::Given),
    );
    run(
        &store,
        "FOR $s IN [5, 4, 3] { UPDATE consent_event SET seq = $s + 1 WHERE seq = $s; };",
    )
    .await;
    store
        .database()
        .query("CREATE consent_event CONTENT { organisation: $org, seq: 3, activity: 'photos', subject: 'intrus', hash: $hash, event: $event }")
        .bind(("org", ORG))
        .bind(("hash", forged.hash.clone()))
        .bind(("event", serde_json::to_value(&forged).unwrap()))
        .await
        .unwrap()
        .check()
        .unwrap();
    let b = broken(&store).await;
    // The forged one is filed nowhere in the chain; the genuine event it pushed on is.
    assert_eq!(b.position, 3);
    assert_eq!(b.problem, Problem::OutOfPlace { seq: 4 });
}

#[tokio::test]
async fn the_last_events_deleted_are_named_against_the_chain_head() {
    let store = ledger(6).await;
    run(&store, "DELETE consent_event WHERE seq >= 4").await;
    let b = broken(&store).await;
    assert_eq!(
        (b.position, b.problem.clone()),
        (4, Problem::Truncated { stands: 6 })
    );
    assert_eq!(
        b.to_string(),
        "les événements n° 4 à 5 manquent : la chaîne en compte 6"
    );
}

#[tokio::test]
async fn a_ledger_rewritten_consistently_fails_against_a_head_signed_before() {
    let store = ledger(8).await;
    let noted = store
        .sign_tree_head(ORG, at("2026-03-03T00:00:00Z"))
        .await
        .unwrap();
    let public = store
        .ledger_key(at("2026-03-03T00:00:00Z"))
        .await
        .unwrap()
        .public_hex();
    assert_eq!(noted.size, 8);
    assert_eq!(store.tree_heads(ORG).await.unwrap(), vec![noted.clone()]);

    // Someone with database access rewrites every event from the fourth on, hashes and
    // links right: the chain alone verifies.
    let events = store.consent_events(ORG).await.unwrap();
    let mut head = consent::ChainHead {
        next: 3,
        prev: events[2].hash.clone(),
    };
    for e in &events[3..] {
        let mut d = e.draft.clone();
        d.answers[0].accepted = false;
        d.kind = EventKind::Refused;
        let (event, next) = head.append(ORG, at("2026-03-02T10:00:00Z"), d);
        head = next;
        store
            .database()
            .query("UPDATE consent_event SET hash = $hash, event = $event WHERE seq = $seq")
            .bind(("hash", event.hash.clone()))
            .bind(("event", serde_json::to_value(&event).unwrap()))
            .bind(("seq", event.seq))
            .await
            .unwrap()
            .check()
            .unwrap();
    }
    let tree = store.verify_consents(ORG).await.unwrap().unwrap();
    let mismatch = verify::head(ORG, &tree, &noted, &public).unwrap_err();
    assert!(
        matches!(mismatch, HeadMismatch::Rewritten { size: 8, .. }),
        "{mismatch}"
    );

    // The key is created once and kept.
    let again = store.ledger_key(at("2026-03-04T00:00:00Z")).await.unwrap();
    assert_eq!(again.public_hex(), public);
}

/// `registre consent …` on a database on disk, as an agent at the counter would use it.
#[test]
fn the_command_line_records_checks_withdraws_and_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("surrealkv://{}", dir.path().join("db").display());
    let run = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--database", &url]);
        common::registre(&all)
    };
    let json = |output: &std::process::Output| -> serde_json::Value {
        assert!(output.status.success(), "{}", common::stderr(output));
        serde_json::from_str(&common::stdout(output)).unwrap()
    };
    assert!(
        run(&["import", "examples/commune-demo.yaml"])
            .status
            .success()
    );
    let choice = "communication.publication-images:site-internet-de-la-commune";
    let paper = [
        "consent",
        "record",
        "--organisation",
        ORG,
        "--activity",
        "photos",
        "--name",
        "Léa Martin",
        "--channel",
        "guichet",
        "--minor",
        "--holders",
        "2",
    ];

    // A choice the form does not have is refused, naming the field; nothing is recorded.
    let wrong = run(&[&paper[..], &["--choice", "site"]].concat());
    assert_eq!(wrong.status.code(), Some(2));
    assert!(
        common::stderr(&wrong).contains("choices"),
        "{}",
        common::stderr(&wrong)
    );
    // A signing date written in words: refused too.
    let date = run(&[
        &paper[..],
        &["--choice", choice, "--signed-on", "1er décembre"],
    ]
    .concat());
    assert!(
        common::stderr(&date).contains("signed_on"),
        "{}",
        common::stderr(&date)
    );

    let event = json(&run(&[
        &paper[..],
        &["--choice", choice, "--signed-on", "2026-12-01"],
    ]
    .concat()));
    assert_eq!(event["seq"], 0, "the refused attempts left no event");
    assert_eq!(event["agent"], "registre");
    let subject = event["subject"].as_str().unwrap().to_owned();
    assert!(
        !common::stdout(&run(&[
            "consent",
            "history",
            "--organisation",
            ORG,
            "--subject",
            &subject
        ]))
        .is_empty()
    );

    let check = [
        "consent",
        "check",
        "--organisation",
        ORG,
        "--subject",
        &subject,
        "--activity",
        "photos",
        "--choice",
        choice,
    ];
    assert_eq!(json(&run(&check))["allowed"], true);
    let head = run(&["consent", "head", "--organisation", ORG]);
    let head_file = dir.path().join("head.json");
    std::fs::write(&head_file, json(&head).to_string()).unwrap();

    let withdrawn = run(&[
        "consent",
        "withdraw",
        "--organisation",
        ORG,
        "--subject",
        &subject,
        "--activity",
        "photos",
        "--choice",
        choice,
        "--channel",
        "courrier",
        "--minor",
    ]);
    json(&withdrawn);
    let after = json(&run(&check));
    assert_eq!(
        (after["allowed"].clone(), after["status"].clone()),
        (false.into(), "withdrawn".into())
    );

    let verified = run(&[
        "consent",
        "verify",
        "--organisation",
        ORG,
        "--head",
        head_file.to_str().unwrap(),
    ]);
    let verified = json(&verified);
    assert_eq!(verified["events"], 2);
    assert_eq!(verified["problems"], serde_json::json!([]));

    // The receipt of the consent proves it offline with the published key; altered, it fails.
    let receipt = json(&run(&[
        "consent",
        "receipt",
        "--organisation",
        ORG,
        "--event",
        "0",
    ]));
    let receipt_file = dir.path().join("receipt.json");
    std::fs::write(&receipt_file, receipt.to_string()).unwrap();
    let public_key = receipt["proof"]["public_key"].as_str().unwrap().to_owned();
    let offline = common::registre(&[
        "consent",
        "verify-receipt",
        receipt_file.to_str().unwrap(),
        "--public-key",
        &public_key,
    ]);
    assert!(offline.status.success(), "{}", common::stderr(&offline));
    assert!(common::stdout(&offline).contains("reçu vérifié"));
    let mut forged = receipt.clone();
    forged["proof"]["event"]["answers"][0]["accepted"] = json!(true);
    std::fs::write(&receipt_file, forged.to_string()).unwrap();
    let offline = common::registre(&[
        "consent",
        "verify-receipt",
        receipt_file.to_str().unwrap(),
        "--public-key",
        &public_key,
    ]);
    assert_eq!(offline.status.code(), Some(1));
    assert!(
        common::stderr(&offline).contains("modifié"),
        "{}",
        common::stderr(&offline)
    );

    // Erased: the identity is gone, the events stay and verify.
    json(&run(&[
        "consent",
        "erase",
        "--organisation",
        ORG,
        "--subject",
        &subject,
    ]));
    let history = json(&run(&[
        "consent",
        "history",
        "--organisation",
        ORG,
        "--subject",
        &subject,
    ]));
    assert_eq!(history["identity"], serde_json::Value::Null);
    assert_eq!(history["events"].as_array().unwrap().len(), 2);
    assert!(!history.to_string().contains("Léa"));
    assert!(
        run(&["consent", "verify", "--organisation", ORG])
            .status
            .success()
    );
}

#[tokio::test]
async fn the_demo_commune_comes_with_a_verified_ledger_of_a_few_hundred_events() {
    let store = Store::open("mem://", None).await.unwrap();
    let pack = std::sync::Arc::new(registre::audit::PolicyPack::builtin().unwrap());
    let registre = registre::service::Registre::new(store.clone(), pack);
    registre::service::first_start(&registre, true)
        .await
        .unwrap();
    let events = store.consent_events(ORG).await.unwrap();
    assert!(
        (200..1000).contains(&events.len()),
        "{} events",
        events.len()
    );
    let kinds: std::collections::BTreeSet<&str> =
        events.iter().map(|e| e.draft.kind.as_str()).collect();
    assert!(
        kinds.contains("given") && kinds.contains("withdrawn"),
        "{kinds:?}"
    );
    assert!(events.iter().any(|e| e.draft.channel == Channel::Guichet));
    let times: Vec<Timestamp> = events.iter().map(|e| at(&e.at)).collect();
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "events in time order"
    );
    let tree = store.verify_consents(ORG).await.unwrap().unwrap();
    let heads = store.tree_heads(ORG).await.unwrap();
    assert_eq!(heads.last().map(|h| h.size), Some(tree.size()));
}

/// The fields ISO/IEC TS 27560 makes mandatory, as the DPV guide names them (spec/consent-27560.md).
#[tokio::test]
async fn a_receipt_has_every_mandatory_field_and_proves_its_event_offline() {
    let store = ledger(5).await;
    let pack = std::sync::Arc::new(registre::audit::PolicyPack::builtin().unwrap());
    let registre = registre::service::Registre::new(store.clone(), pack);
    store
        .import(&common::load(DEMO), "test", at("2026-03-01T00:00:00Z"))
        .await
        .unwrap();
    let now = at("2026-03-05T00:00:00Z");
    let receipt = registre
        .consent_receipt(
            None,
            ORG,
            3,
            Some("https://exemple.fr/o/saint-aubin/mes-consentements/x".to_owned()),
            now,
        )
        .await
        .unwrap();
    let record = &receipt["dpv:hasRecordOfActivity"];
    let process = &record["dpv:hasProcess"];
    for (what, value) in [
        ("schema version", &receipt["dct:conformsTo"]),
        ("receipt id", &receipt["dct:identifier"]),
        ("record id", &record["dct:identifier"]),
        (
            "PII principal id",
            &record["dpv:hasDataSubject"]["dct:identifier"],
        ),
        ("privacy notice", &record["dpv:hasNotice"]["dpv:hasHash"]),
        ("language", &record["dpv:hasNotice"]["dct:language"]),
        ("purpose", &process["dpv:hasPurpose"][0]["dct:title"]),
        ("lawful basis", &process["dpv:hasLegalBasis"][0]),
        (
            "PII information",
            &process["dpv:hasPersonalData"][0]["dct:identifier"],
        ),
        (
            "PII controller",
            &record["dpv:hasDataController"]["dpv:hasName"],
        ),
        (
            "storage location",
            &process["dpv:hasStorageCondition"][0]["dpv:hasLocation"][0],
        ),
        (
            "retention period",
            &process["dpv:hasStorageCondition"][1]["dpv:hasDuration"],
        ),
        ("jurisdiction", &record["dpv:hasJurisdiction"][0]),
        (
            "recipient third parties",
            &process["dpv:hasRecipient"][0]["dpv:hasName"],
        ),
        (
            "withdrawal method",
            &record["dpv:hasInvolvementControl"][0]["dpv:isExercisedAt"],
        ),
        (
            "event time",
            &record["dpv:hasConsentStatus"][0]["dpv:isIndicatedAtTime"],
        ),
        (
            "validity duration",
            &record["dpv:hasConsentStatus"][0]["dpv:hasDuration"]["rdf:value"],
        ),
        (
            "entity id",
            &record["dpv:hasConsentStatus"][0]["dpv:isIndicatedBy"][0]["dct:identifier"],
        ),
        (
            "event state",
            &record["dpv:hasConsentStatus"][0]["@type"][0],
        ),
    ] {
        assert!(
            value.is_string() && !value.as_str().unwrap().is_empty(),
            "{what} missing: {value}"
        );
    }
    assert_eq!(
        record["dpv:hasConsentStatus"][0]["@type"][0],
        "dpv:ConsentGiven"
    );
    assert_eq!(record["dpv:hasDataSubject"]["dct:identifier"], "s3");
    assert!(
        !receipt.to_string().contains("Léa"),
        "no identity in a receipt"
    );

    let key = receipt["proof"]["public_key"].as_str().unwrap();
    let event = consent::receipt::verify(&receipt, key).unwrap();
    assert_eq!(event.seq, 3);
    // Another key, or an event moved to another place, does not verify.
    let other = consent::LedgerKey::generate().public_hex();
    assert!(consent::receipt::verify(&receipt, &other).is_err());
    let mut moved = receipt.clone();
    moved["proof"]["event"]["seq"] = json!(2);
    assert!(consent::receipt::verify(&moved, key).is_err());
}

/// The demo commune in a database, with the service over it.
async fn service() -> (Store, registre::service::Registre) {
    let store = Store::open("mem://", None).await.unwrap();
    store
        .import(&common::load(DEMO), "test", at("2026-03-01T00:00:00Z"))
        .await
        .unwrap();
    let pack = std::sync::Arc::new(registre::audit::PolicyPack::builtin().unwrap());
    (store.clone(), registre::service::Registre::new(store, pack))
}

fn online(holders: usize, identity: serde_json::Value) -> registre::service::Recording {
    registre::service::Recording {
        holders,
        ..registre::service::Recording::answer(
            "photos",
            vec![CHOICE_SITE.to_owned()],
            identity,
            Channel::EnLigne,
            true,
        )
    }
}

const CHOICE_SITE: &str = "communication.publication-images:site-internet-de-la-commune";

#[tokio::test]
async fn a_new_recipient_requires_renewal_and_a_new_security_measure_does_not() {
    let (_, registre) = service().await;
    let admin = registre::auth::Actor::command_line("dpo");
    let event = registre
        .record_consent(None, ORG, online(2, json!({})), at("2026-03-02T10:00:00Z"))
        .await
        .unwrap();
    let subject = event.draft.subject;
    let now = at("2026-04-01T00:00:00Z");
    let status = async || {
        registre
            .check_consent(&admin, ORG, "photos", &subject, CHOICE_SITE, now)
            .await
            .unwrap()
            .status
    };
    assert_eq!(status().await, Status::Given);
    let mut photos = photos();
    // Through the service, as the API and the workspace write: checks see it at once.
    let save = async |activity: &Activity| {
        registre
            .write_activity(
                &admin,
                ORG,
                Some(&activity.id),
                serde_json::to_value(activity).unwrap(),
                registre::store::WriteMode::Update,
            )
            .await
            .unwrap();
    };
    photos
        .security_measures
        .get_or_insert_default()
        .push("chiffrement".to_owned());
    save(&photos).await;
    assert_eq!(
        status().await,
        Status::Given,
        "a security measure changes nothing consented to"
    );
    photos
        .recipients
        .get_or_insert_default()
        .push(registre::model::Recipient {
            name: "Page de la commune sur un réseau social".to_owned(),
            kind: Some("public".to_owned()),
        });
    save(&photos).await;
    assert_eq!(status().await, Status::RenewalRequired);
}

#[tokio::test]
async fn one_holder_where_the_register_requires_both_is_incomplete_parental() {
    let (_, registre) = service().await;
    let admin = registre::auth::Actor::command_line("dpo");
    let event = registre
        .record_consent(None, ORG, online(1, json!({})), at("2026-03-02T10:00:00Z"))
        .await
        .unwrap();
    let check = registre
        .check_consent(
            &admin,
            ORG,
            "photos",
            &event.draft.subject,
            CHOICE_SITE,
            at("2026-03-03T00:00:00Z"),
        )
        .await
        .unwrap();
    assert_eq!(
        (check.allowed, check.status),
        (false, Status::IncompleteParental)
    );
    // No holder at all for a minor is refused outright, naming the field.
    let refused = registre
        .record_consent(None, ORG, online(0, json!({})), at("2026-03-02T10:00:00Z"))
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("signatories"), "{refused}");
}

#[tokio::test]
async fn after_erasure_the_database_holds_neither_name_nor_email_and_the_chain_verifies() {
    let (store, registre) = service().await;
    let admin = registre::auth::Actor::command_line("dpo");
    let identity = json!({ "name": "Hortense Vasseur-Quillet", "email": "hortense.vq@exemple.fr", "child": "Apolline" });
    let event = registre
        .record_consent(None, ORG, online(2, identity), at("2026-03-02T10:00:00Z"))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let dump = dir.path().join("before.surql");
    store.backup(&dump).await.unwrap();
    assert!(
        std::fs::read_to_string(&dump)
            .unwrap()
            .contains("Vasseur-Quillet"),
        "the identity is stored apart before erasure"
    );

    registre
        .erase_consent_subject(
            &admin,
            ORG,
            &event.draft.subject,
            at("2026-05-01T00:00:00Z"),
        )
        .await
        .unwrap();
    let dump = dir.path().join("after.surql");
    store.backup(&dump).await.unwrap();
    let text = std::fs::read_to_string(&dump).unwrap();
    for personal in ["Vasseur-Quillet", "hortense.vq", "Apolline"] {
        assert!(
            !text.contains(personal),
            "{personal} is still in the database"
        );
    }
    assert!(
        text.contains(&event.draft.subject),
        "the events keep their opaque id"
    );
    assert!(store.verify_consents(ORG).await.unwrap().is_ok());
}

/// Two services, as two `registre serve` processes, on one SurrealDB server, recording at the
/// same time: one chain, every event once, and it verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_services_on_one_database_server_record_into_one_chain() {
    let server = common::SurrealServer::start("memory");
    let credentials = common::SurrealServer::credentials();
    let pack = std::sync::Arc::new(registre::audit::PolicyPack::builtin().unwrap());
    let first = Store::open(&server.url, Some(&credentials)).await.unwrap();
    first
        .import(&common::load(DEMO), "test", at("2026-03-01T00:00:00Z"))
        .await
        .unwrap();
    let second = Store::open(&server.url, Some(&credentials)).await.unwrap();
    let services =
        [first.clone(), second].map(|store| registre::service::Registre::new(store, pack.clone()));
    let mut writers = tokio::task::JoinSet::new();
    for (n, service) in services.iter().enumerate() {
        for i in 0..10 {
            let service = service.clone();
            writers.spawn(async move {
                let identity = json!({ "name": format!("Personne {n}-{i}") });
                service
                    .record_consent(None, ORG, online(2, identity), Timestamp::now())
                    .await
                    .unwrap()
                    .seq
            });
        }
    }
    let mut seqs = writers.join_all().await;
    seqs.sort_unstable();
    assert_eq!(
        seqs,
        (0..20).collect::<Vec<u64>>(),
        "every event once, no fork"
    );
    let tree = first.verify_consents(ORG).await.unwrap().unwrap();
    assert_eq!(tree.size(), 20);
}

#[tokio::test]
async fn the_private_link_withdraws_in_one_step_and_the_check_follows_at_once() {
    let (store, registre) = service().await;
    let admin = registre::auth::Actor::command_line("dpo");
    let given = registre
        .record_consent(
            None,
            ORG,
            online(2, json!({ "name": "Léa" })),
            at("2026-03-02T10:00:00Z"),
        )
        .await
        .unwrap();
    let subject = given.draft.subject.clone();
    let token = registre
        .management_link(ORG, &subject, at("2026-03-02T10:00:01Z"))
        .await
        .unwrap();
    assert!(token.len() >= 32, "unguessable");
    let dump = tempfile::NamedTempFile::new().unwrap();
    store.backup(dump.path()).await.unwrap();
    assert!(
        !std::fs::read_to_string(dump.path())
            .unwrap()
            .contains(&token),
        "only its hash is kept"
    );

    // Consenting took one submission; withdrawing takes one too.
    let withdrawn = registre
        .withdraw_by_link(
            ORG,
            &token,
            "photos",
            vec![CHOICE_SITE.to_owned()],
            at("2026-03-05T08:00:00Z"),
        )
        .await
        .unwrap();
    assert_eq!(withdrawn.draft.kind, EventKind::Withdrawn);
    assert!(
        withdrawn.draft.minor,
        "a child's consent is withdrawn as a child's"
    );
    let check = registre
        .check_consent(
            &admin,
            ORG,
            "photos",
            &subject,
            CHOICE_SITE,
            at("2026-03-05T08:00:01Z"),
        )
        .await
        .unwrap();
    assert_eq!((check.allowed, check.status), (false, Status::Withdrawn));

    // A made-up link, or another organisation's, opens nothing.
    assert!(registre.subject_by_link(ORG, "inventé").await.is_err());
    assert!(
        registre
            .subject_by_link("ccas-saint-aubin", &token)
            .await
            .is_err()
    );
    // After erasure the link is gone too.
    registre
        .erase_consent_subject(&admin, ORG, &subject, at("2026-06-01T00:00:00Z"))
        .await
        .unwrap();
    assert!(registre.subject_by_link(ORG, &token).await.is_err());
}

#[tokio::test]
async fn a_grown_ledger_gets_a_head_at_least_daily_and_noted_heads_prove_it_only_grew() {
    let (store, registre) = service().await;
    let activity = photos();
    for i in 0..3 {
        let d = draft(&activity, &format!("s{i}"), EventKind::Given);
        record(&store, &d, "2026-03-02T10:00:00Z").await;
    }
    let due = async |now: &str| registre.sign_due_heads(at(now)).await.unwrap();
    assert_eq!(due("2026-03-02T12:00:00Z").await, 1, "the first head");
    assert_eq!(due("2026-03-02T18:00:00Z").await, 0, "not a day later");
    for i in 3..5 {
        let d = draft(&activity, &format!("s{i}"), EventKind::Given);
        record(&store, &d, "2026-03-02T20:00:00Z").await;
    }
    assert_eq!(
        due("2026-03-02T21:00:00Z").await,
        0,
        "grown, but not a day later"
    );
    assert_eq!(due("2026-03-03T12:00:00Z").await, 1, "grown, a day later");
    assert_eq!(
        due("2026-03-06T12:00:00Z").await,
        0,
        "a ledger that did not grow"
    );
    let heads = store.tree_heads(ORG).await.unwrap();
    let sizes: Vec<u64> = heads.iter().map(|h| h.size).collect();
    assert_eq!(sizes, [3, 5]);

    // Both heads noted by someone outside: the newer one extends the older.
    let auditor = registre::auth::Actor::command_line("auditeur");
    let now = at("2026-03-06T12:00:00Z");
    let verified = registre
        .verify_consents(&auditor, ORG, &heads, now)
        .await
        .unwrap();
    assert_eq!(verified.problems, Vec::<String>::new());

    // A newer head over another history does not.
    let key = store.ledger_key(now).await.unwrap();
    let forged = key.sign(ORG, 5, &[7u8; 32], now);
    let verified = registre
        .verify_consents(&auditor, ORG, &[heads[0].clone(), forged], now)
        .await
        .unwrap();
    assert!(
        verified
            .problems
            .iter()
            .any(|p| p.contains("ne prolonge pas")),
        "{:?}",
        verified.problems
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_recordings_share_commits_and_a_double_submission_records_once() {
    let (store, registre) = service().await;
    let now = at("2026-03-02T10:00:00Z");
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let registre = registre.clone();
            tokio::spawn(async move {
                // Submissions 0 and 1 are the same form sent twice.
                let key = format!("envoi-{}", i.max(1));
                let recording = registre::service::Recording {
                    key: Some(key),
                    ..online(2, json!({ "name": format!("Famille {i}") }))
                };
                registre.record_consent(None, ORG, recording, now).await
            })
        })
        .collect();
    let mut events = Vec::new();
    for task in tasks {
        events.push(task.await.unwrap().unwrap());
    }
    assert_eq!(events[0].seq, events[1].seq, "sent twice, recorded once");
    let distinct: std::collections::BTreeSet<u64> = events.iter().map(|e| e.seq).collect();
    assert_eq!(distinct.len(), 19);
    assert_eq!(store.consent_events(ORG).await.unwrap().len(), 19);
    assert!(store.verify_consents(ORG).await.unwrap().is_ok());
}

#[tokio::test]
async fn proofs_from_the_kept_tree_are_those_of_the_whole_ledger() {
    let store = ledger(200).await;
    let tree = store.verify_consents(ORG).await.unwrap().unwrap();
    assert_eq!(
        store.tree_root(ORG).await.unwrap(),
        (200, tree.root(200).unwrap())
    );
    for size in [1u64, 63, 64, 65, 128, 130, 200] {
        for index in (0..size).step_by(9).chain([size - 1]) {
            assert_eq!(
                store.inclusion_proof(ORG, index, size).await.unwrap(),
                tree.inclusion_proof(index, size).unwrap(),
                "event {index} in the tree of {size}"
            );
        }
    }
    assert_eq!(store.tree_fault(ORG, &tree).await.unwrap(), None);
}

#[tokio::test]
async fn a_chain_recorded_before_the_tree_was_kept_gets_it_at_first_use() {
    let store = ledger(150).await;
    let tree = store.verify_consents(ORG).await.unwrap().unwrap();
    run(
        &store,
        "UPDATE consent_chain UNSET frontier; DELETE consent_node;",
    )
    .await;
    assert_eq!(
        store.tree_root(ORG).await.unwrap(),
        (150, tree.root(150).unwrap())
    );
    assert_eq!(store.tree_fault(ORG, &tree).await.unwrap(), None);
    // Appending goes on from the rebuilt tree.
    run(
        &store,
        "UPDATE consent_chain UNSET frontier; DELETE consent_node;",
    )
    .await;
    let d = draft(&photos(), "s150", EventKind::Given);
    record(&store, &d, "2026-03-03T10:00:00Z").await;
    let tree = store.verify_consents(ORG).await.unwrap().unwrap();
    assert_eq!(tree.size(), 151);
    assert_eq!(store.tree_fault(ORG, &tree).await.unwrap(), None);
}

#[tokio::test]
async fn an_altered_kept_subtree_is_named_and_no_receipt_is_proven_from_it() {
    let store = ledger(140).await;
    let pack = std::sync::Arc::new(registre::audit::PolicyPack::builtin().unwrap());
    let registre = registre::service::Registre::new(store.clone(), pack);
    store
        .import(&common::load(DEMO), "test", at("2026-03-01T00:00:00Z"))
        .await
        .unwrap();
    let now = at("2026-03-05T00:00:00Z");
    // Events 64 to 127 are kept as one subtree; event 3's proof uses it.
    registre
        .consent_receipt(None, ORG, 3, None, now)
        .await
        .unwrap();
    run(
        &store,
        &format!(
            "UPDATE type::record('consent_node', ['{ORG}', 6, 1]) SET hash = '{}'",
            "ab".repeat(32)
        ),
    )
    .await;
    let tree = store.verify_consents(ORG).await.unwrap().unwrap();
    let fault = store.tree_fault(ORG, &tree).await.unwrap().unwrap();
    assert_eq!(
        fault.to_string(),
        "le sous-arbre des événements n° 64 à 127 enregistré ne correspond pas aux événements"
    );
    let refused = registre
        .consent_receipt(None, ORG, 3, None, now)
        .await
        .unwrap_err();
    assert!(
        refused.to_string().contains("ne se prouve pas"),
        "{refused}"
    );
    // An event whose proof does not use it is still proven.
    registre
        .consent_receipt(None, ORG, 130, None, now)
        .await
        .unwrap();
}

#[tokio::test]
async fn the_answers_of_an_activity_are_read_a_range_of_subjects_at_a_time_each_once() {
    let store = ledger(10).await;
    // Subjects at the edges of the ranges, hexadecimal as registre makes them or not.
    let edges = [
        "00", "0", "00ff", "01", "9f", "A1", "fe", "ff", "ffff", "zz", "É",
    ];
    for (n, subject) in edges.iter().enumerate() {
        record(
            &store,
            &draft(&photos(), subject, EventKind::Given),
            &format!("2026-03-02T10:{n:02}:00Z"),
        )
        .await;
    }
    // An answer to another activity, whose key sorts right after this one's.
    let mut other = draft(&photos(), "s3", EventKind::Given);
    other.activity = "photos-2".to_owned();
    record(&store, &other, "2026-03-02T11:00:00Z").await;
    let ranges: Vec<SubjectRange> = SubjectRange::all().collect();
    assert_eq!(ranges.len(), 256);
    let mut seen = Vec::new();
    for range in &ranges {
        let answers = store
            .activity_currents(ORG, "photos", range, false)
            .await
            .unwrap();
        seen.extend(answers.into_iter().map(|a| a.subject));
    }
    let mut expected: Vec<String> = (0..10).map(|i| format!("s{i}")).collect();
    expected.extend(edges.iter().map(|s| s.to_string()));
    expected.sort();
    assert_eq!(
        seen, expected,
        "every subject once, in the order of their ids"
    );
    // "00ff" is in the first of the two-digit ranges, "ffff" in the last.
    let first = store
        .activity_currents(ORG, "photos", &ranges[1], false)
        .await
        .unwrap();
    assert_eq!(
        first.iter().map(|a| a.subject.as_str()).collect::<Vec<_>>(),
        ["01"]
    );
}

/// A crash is when the embedded engine loses writes: `registre serve` verifies every ledger
/// after it starts and names in its log what went missing.
#[test]
fn the_server_verifies_every_ledger_after_it_starts_and_names_a_loss() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("surrealkv://{}", dir.path().join("db").display());
    let log = dir.path().join("serve.log");
    let mut service = common::Service::start(&database, &log, &[]);
    let minute = std::time::Duration::from_secs(60);
    let printed = common::wait_for_log(
        &log,
        "registre des consentements de `saint-aubin` vérifié : ",
        minute,
    );
    assert!(!printed.contains("ERROR"), "{printed}");
    service.kill();
    // Ten events lost in the middle of the chain, later ones kept.
    let printed = common::SurrealServer::sql(
        &database,
        "DELETE consent_event WHERE organisation = 'saint-aubin' AND seq >= 100 AND seq < 110;
         SELECT VALUE seq FROM consent_event WHERE seq >= 99 AND seq <= 110;",
    );
    assert!(printed.contains("[99, 110]"), "{printed}");
    let _service = common::Service::start(&database, &log, &[]);
    common::wait_for_log(
        &log,
        "registre des consentements de `saint-aubin` : l'événement n° 100 manque : le registre passe au n° 110",
        minute,
    );
}
