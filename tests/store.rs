//! The store suite, run on the embedded engines (in memory, and on disk, surviving a restart)
//! and on a real SurrealDB server on 127.0.0.1.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

mod common;

use jiff::Timestamp;
use registre::model::Register;
use registre::store::{
    Event, ImportSummary, Operation, Past, Store, StoreError, WriteMode, Written,
};

const DEMO: &str = include_str!("../examples/commune-demo.yaml");

fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
}

/// The demo with the video retention fixed and the congratulation letters dropped.
fn corrected(demo: &Register) -> Register {
    let mut register = demo.clone();
    let commune = &mut register.organisations[0];
    let activities = commune.activities.as_mut().unwrap();
    let video = activities
        .iter_mut()
        .find(|a| a.id == "videoprotection")
        .unwrap();
    video.retention.as_mut().unwrap().active = Some(registre::model::Period::new("P30D"));
    activities.retain(|a| a.id != "felicitations");
    register
}

async fn suite(store: &Store) {
    let demo = common::load(DEMO);
    let activities: usize = demo
        .organisations
        .iter()
        .map(|o| o.activities().len())
        .sum();

    let first = store
        .import(&demo, "dpo@opsn", at("2026-01-10T09:00:00Z"))
        .await
        .unwrap();
    assert_eq!(first.created, demo.organisations.len() + activities);
    assert_eq!(
        store.register(None).await.unwrap(),
        demo,
        "what is stored reads back the same"
    );

    let again = store
        .import(&demo, "dpo@opsn", at("2026-01-11T09:00:00Z"))
        .await
        .unwrap();
    assert_eq!(
        again,
        ImportSummary {
            unchanged: demo.organisations.len() + activities,
            ..ImportSummary::default()
        }
    );

    let fixed = corrected(&demo);
    let third = store
        .import(&fixed, "agent@mairie", at("2026-02-01T09:00:00Z"))
        .await
        .unwrap();
    assert_eq!((third.updated, third.deleted), (1, 1));
    assert_eq!(store.register(None).await.unwrap(), fixed);
    // The CCAS with the commune whose electoral list it reuses: the export reads on its own.
    assert_eq!(
        store.register(Some("ccas-saint-aubin")).await.unwrap(),
        fixed
    );
    assert_eq!(
        store
            .register(Some("saint-aubin"))
            .await
            .unwrap()
            .organisations,
        fixed.organisations[..1]
    );

    // The register as it stood on a date.
    assert_eq!(
        store
            .register_at(None, at("2026-01-31T00:00:00Z"), Past::Everything)
            .await
            .unwrap(),
        demo
    );
    assert_eq!(
        store
            .register_at(None, at("2026-02-01T09:00:00Z"), Past::Everything)
            .await
            .unwrap(),
        fixed
    );
    assert!(
        store
            .register_at(None, at("2025-12-31T00:00:00Z"), Past::Everything)
            .await
            .unwrap()
            .organisations
            .is_empty()
    );

    // Who changed what, field by field.
    let history = store
        .history("saint-aubin", Some("videoprotection"), Past::Everything)
        .await
        .unwrap();
    let operations: Vec<Operation> = history.iter().map(|c| c.operation).collect();
    assert_eq!(operations, [Operation::Create, Operation::Update]);
    assert_eq!(history[1].author, "agent@mairie");
    let diff = history[1].diff();
    assert_eq!(diff.len(), 1, "{diff:?}");
    assert_eq!(diff[0].field, "retention");
    let deleted = store
        .history("saint-aubin", Some("felicitations"), Past::Everything)
        .await
        .unwrap();
    assert_eq!(deleted.last().unwrap().operation, Operation::Delete);

    records(store, &fixed).await;
    access(store).await;
}

/// One organisation or activity at a time, as the API writes them.
async fn records(store: &Store, fixed: &Register) {
    let now = at("2026-03-01T09:00:00Z");
    assert_eq!(
        store.organisation_ids().await.unwrap(),
        ["saint-aubin", "ccas-saint-aubin"]
    );
    let commune = &fixed.organisations[0];
    let mut video = store
        .activity("saint-aubin", "videoprotection")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        &video,
        commune
            .activities()
            .iter()
            .find(|a| a.id == "videoprotection")
            .unwrap()
    );
    assert_eq!(store.activity("saint-aubin", "nope").await.unwrap(), None);
    assert_eq!(
        store.activities("saint-aubin").await.unwrap(),
        commune.activities()
    );

    // Same content: nothing written. New content: one update, recorded.
    assert_eq!(
        store
            .save_activity("saint-aubin", &video, WriteMode::Update, "dpo", now)
            .await
            .unwrap(),
        Written::Unchanged
    );
    video.name = "Vidéoprotection de la voie publique".into();
    assert_eq!(
        store
            .save_activity("saint-aubin", &video, WriteMode::Update, "dpo", now)
            .await
            .unwrap(),
        Written::Updated
    );
    let history = store
        .history("saint-aubin", Some("videoprotection"), Past::Everything)
        .await
        .unwrap();
    assert_eq!(history.last().unwrap().diff()[0].field, "name");

    // Creating an existing id is a conflict; updating a missing one is not found.
    let conflict = store
        .save_activity("saint-aubin", &video, WriteMode::Create, "dpo", now)
        .await;
    assert!(
        matches!(conflict, Err(StoreError::Conflict(_))),
        "{conflict:?}"
    );
    let mut new = video.clone();
    new.id = "videoprotection-2".into();
    assert!(matches!(
        store
            .save_activity("saint-aubin", &new, WriteMode::Update, "dpo", now)
            .await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store
            .save_activity("nowhere", &new, WriteMode::Create, "dpo", now)
            .await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(
        store
            .save_activity("saint-aubin", &new, WriteMode::Create, "dpo", now)
            .await
            .unwrap(),
        Written::Created
    );
    let ids: Vec<String> = store
        .activities("saint-aubin")
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.id)
        .collect();
    assert_eq!(
        ids.last().unwrap(),
        "videoprotection-2",
        "a new activity goes last"
    );
    let later = at("2026-03-01T10:00:00Z");
    store
        .delete_activity("saint-aubin", "videoprotection-2", "dpo", later)
        .await
        .unwrap();
    assert!(matches!(
        store
            .delete_activity("saint-aubin", "videoprotection-2", "dpo", now)
            .await,
        Err(StoreError::NotFound(_))
    ));

    // The electoral list feeds the CCAS: it cannot go, nor can the commune.
    let refused = store
        .delete_activity("saint-aubin", "liste-electorale", "dpo", now)
        .await;
    match refused {
        Err(StoreError::InUse { dependents, .. }) => {
            assert!(
                dependents
                    .iter()
                    .any(|d| d.organisation == "ccas-saint-aubin"),
                "{dependents:?}"
            )
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        store.delete_organisation("saint-aubin", "admin", now).await,
        Err(StoreError::InUse { .. })
    ));
    assert!(
        store
            .activity("saint-aubin", "liste-electorale")
            .await
            .unwrap()
            .is_some()
    );

    // An organisation's own fields.
    let mut ccas = store
        .organisation("ccas-saint-aubin")
        .await
        .unwrap()
        .unwrap();
    ccas.phone = Some("+33 3 44 99 99 99".into());
    assert_eq!(
        store
            .save_organisation(&ccas, WriteMode::Update, "dpo", now)
            .await
            .unwrap(),
        Written::Updated
    );
    assert_eq!(
        store
            .organisation("ccas-saint-aubin")
            .await
            .unwrap()
            .unwrap()
            .phone
            .as_deref(),
        Some("+33 3 44 99 99 99")
    );
    let before_delete = store.register(None).await.unwrap();
    store
        .delete_organisation("ccas-saint-aubin", "admin", at("2026-03-02T09:00:00Z"))
        .await
        .unwrap();
    assert_eq!(store.organisation_ids().await.unwrap(), ["saint-aubin"]);
    assert!(
        store
            .activities("ccas-saint-aubin")
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .register_at(None, at("2026-03-01T12:00:00Z"), Past::Everything)
            .await
            .unwrap(),
        before_delete,
        "the history keeps what was deleted"
    );
}

/// API tokens, the security log and settings.
async fn access(store: &Store) {
    use registre::auth::{Grant, Role, User};
    let now = Timestamp::now();
    let owner = User {
        login: "dpo@opsn.fr".into(),
        name: "DPO".into(),
        grants: vec![Grant {
            role: Role::Dpo,
            organisation: Some("saint-aubin".into()),
        }],
        disabled: false,
    };
    store.add_user(&owner, "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$Wt8Y5QfOvLg4IV2W1e6kR1mQ0OtmwDm3kmbqjvCg5e8", now).await.unwrap();
    let grant = Grant {
        role: Role::Agent,
        organisation: Some("saint-aubin".into()),
    };
    let (token, hash) = registre::auth::new_token();
    store
        .add_token(
            &hash,
            "portail",
            &owner.login,
            &grant,
            now,
            jiff::SignedDuration::from_hours(24),
        )
        .await
        .unwrap();
    let (live, found_owner) = store
        .live_token(&registre::auth::token_hash(&token), now)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (live.grant, found_owner.login.as_str()),
        (grant.clone(), "dpo@opsn.fr")
    );
    // Expired, unknown, or owned by a disabled account: not live.
    let later = now
        .checked_add(jiff::SignedDuration::from_hours(25))
        .unwrap();
    assert!(store.live_token(&hash, later).await.unwrap().is_none());
    assert!(
        store
            .live_token(&registre::auth::token_hash("rgt_other"), now)
            .await
            .unwrap()
            .is_none()
    );
    store.set_disabled("dpo@opsn.fr", true, now).await.unwrap();
    assert!(store.live_token(&hash, now).await.unwrap().is_none());
    store.set_disabled("dpo@opsn.fr", false, now).await.unwrap();
    assert!(
        store.live_token(&hash, now).await.unwrap().is_none(),
        "re-enabling does not revive the tokens"
    );
    let (_, hash) = registre::auth::new_token();
    let id = store
        .add_token(
            &hash,
            "portail",
            &owner.login,
            &grant,
            now,
            jiff::SignedDuration::from_hours(24),
        )
        .await
        .unwrap();
    assert!(store.live_token(&hash, now).await.unwrap().is_some());
    assert!(matches!(
        store.revoke_token(&id, Some("other@opsn.fr")).await,
        Err(StoreError::NotFound(_))
    ));
    store.revoke_token(&id, Some("dpo@opsn.fr")).await.unwrap();
    assert!(store.live_token(&hash, now).await.unwrap().is_none());
    assert!(
        store
            .tokens(Some("dpo@opsn.fr"))
            .await
            .unwrap()
            .iter()
            .all(|t| t.revoked)
    );

    let event = Event {
        at: now.to_string(),
        actor: "dpo@opsn.fr".into(),
        action: "login".into(),
        target: None,
        success: false,
        address: Some("127.0.0.1".into()),
    };
    store.log_event(&event).await.unwrap();
    let old = Event {
        at: "2024-01-01T00:00:00Z".into(),
        ..event.clone()
    };
    store.log_event(&old).await.unwrap();
    store.prune(now).await.unwrap();
    let events = store.events(10).await.unwrap();
    assert_eq!(events.len(), 1, "entries past a year are pruned");
    assert_eq!(
        (events[0].actor.as_str(), events[0].success),
        ("dpo@opsn.fr", false)
    );

    let key = store
        .setting_or_init("secret_key", "first".into())
        .await
        .unwrap();
    assert_eq!(key, "first");
    assert_eq!(
        store
            .setting_or_init("secret_key", "second".into())
            .await
            .unwrap(),
        "first"
    );
}

#[tokio::test]
async fn in_memory() {
    let store = Store::open("mem://", None).await.unwrap();
    suite(&store).await;
}

#[tokio::test]
async fn on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("surrealkv://{}", dir.path().join("db").display());
    let store = Store::open(&url, None).await.unwrap();
    suite(&store).await;
}

#[tokio::test]
async fn on_a_surrealdb_server() {
    let dir = tempfile::tempdir().unwrap();
    let storage = format!("surrealkv://{}", dir.path().join("server").display());
    let server = common::SurrealServer::start(&storage);
    let credentials = common::SurrealServer::credentials();
    let store = Store::open(&server.url, Some(&credentials)).await.unwrap();
    suite(&store).await;
    let before = registre::model::to_yaml(&store.register(None).await.unwrap());
    drop(store);

    // The server restarts on the same files: the register and its history are still there,
    // and the schema is not applied twice.
    let port = server.port;
    server.kill();
    let server = common::SurrealServer::start_on(port, &storage);
    let store = Store::open(&server.url, Some(&credentials)).await.unwrap();
    let after = registre::model::to_yaml(&store.register(None).await.unwrap());
    assert_eq!(before, after);
    assert!(
        !store
            .history("saint-aubin", None, Past::Everything)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_server_refuses_wrong_credentials() {
    let server = common::SurrealServer::start("memory");
    let wrong = registre::store::Credentials {
        username: "root".into(),
        password: "not-the-password".into(),
    };
    let error = Store::open(&server.url, Some(&wrong))
        .await
        .err()
        .expect("refused");
    assert!(error.to_string().contains(&server.url), "{error}");
}

/// Each command is a process of its own: what one stored, the next one reads after a restart.
#[test]
fn data_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("surrealkv://{}", dir.path().join("db").display());
    let demo = common::load(DEMO);
    let fixed_file = dir.path().join("fixed.yaml");
    std::fs::write(&fixed_file, registre::model::to_yaml(&corrected(&demo))).unwrap();

    let run = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--database", &url]);
        let output = common::registre(&all);
        assert!(
            output.status.success(),
            "{args:?}: {}",
            common::stderr(&output)
        );
        common::stdout(&output)
    };
    let imported = run(&["import", "examples/commune-demo.yaml"]);
    assert!(imported.contains("22 créé(s)"), "{imported}");
    let before_fix = Timestamp::now();
    std::thread::sleep(std::time::Duration::from_millis(20));
    run(&["import", fixed_file.to_str().unwrap()]);

    assert_eq!(common::load(&run(&["export"])), corrected(&demo));
    let past = run(&["export", "--at", &before_fix.to_string()]);
    assert_eq!(common::load(&past), demo);
    let one = run(&[
        "export",
        "--organisation",
        "ccas-saint-aubin",
        "--format",
        "json",
    ]);
    let pack = common::pack();
    let one = registre::model::load_str(
        &one,
        registre::model::SourceFormat::Json,
        &pack.vocabulary,
        &pack.countries,
    )
    .unwrap();
    assert_eq!(
        one,
        corrected(&demo),
        "the CCAS comes with the commune it takes data from"
    );

    let history = run(&["history", "saint-aubin", "videoprotection"]);
    assert!(
        history.contains("création") && history.contains("modification"),
        "{history}"
    );
    assert!(history.contains("retention"), "{history}");

    let output = common::registre(&["export", "--organisation", "nulle-part", "--database", &url]);
    assert_eq!(output.status.code(), Some(2));
    assert!(common::stderr(&output).contains("nulle-part"));

    // A backup, restored into a new database, gives the same register.
    let backup = dir.path().join("sauvegarde.surql");
    run(&["backup", backup.to_str().unwrap()]);
    let other = format!("surrealkv://{}", dir.path().join("other").display());
    let restored = common::registre(&["restore", backup.to_str().unwrap(), "--database", &other]);
    assert!(restored.status.success(), "{}", common::stderr(&restored));
    let exported = common::registre(&["export", "--database", &other]);
    assert_eq!(common::load(&common::stdout(&exported)), corrected(&demo));
    let missing = common::registre(&["restore", "nulle-part.surql", "--database", &other]);
    assert_eq!(missing.status.code(), Some(2));
}

#[tokio::test]
async fn an_unreachable_server_is_a_clear_error() {
    let error = Store::open("ws://127.0.0.1:9", None)
        .await
        .err()
        .expect("nothing listens there");
    let message = error.to_string();
    assert!(message.contains("ws://127.0.0.1:9"), "{message}");
}

/// Opens a database folder that the previous handle of this process may still be closing.
async fn reopen(
    url: &str,
    migrations: &[(&str, &str)],
) -> Result<Store, registre::store::StoreError> {
    for _ in 0..100 {
        match Store::open_with(url, None, migrations).await {
            Err(registre::store::StoreError::Connect { message, .. })
                if message.contains("locked") =>
            {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            other => return other,
        }
    }
    panic!("the database folder stayed locked");
}

#[tokio::test]
async fn a_failing_migration_stops_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("surrealkv://{}", dir.path().join("db").display());
    drop(Store::open(&url, None).await.unwrap());
    let with = |third: &'static str| {
        let mut all = registre::store::MIGRATIONS.to_vec();
        all.push(("003-consent", third));
        all
    };
    // The second statement has a typo: the whole migration is refused.
    let broken =
        with("DEFINE TABLE consent SCHEMAFULL;\nDEFINE FIELD subject ON consent TYPE strnig;");
    let error = reopen(&url, &broken)
        .await
        .err()
        .expect("the broken migration is refused");
    let message = error.to_string();
    assert!(
        message.contains("003-consent") && message.contains("rien n'a été modifié"),
        "{message}"
    );
    // Nothing of it stayed: the corrected migration defines the same table from scratch.
    let fixed =
        with("DEFINE TABLE consent SCHEMAFULL;\nDEFINE FIELD subject ON consent TYPE string;");
    reopen(&url, &fixed)
        .await
        .expect("the corrected migration applies");
}

#[tokio::test]
async fn a_backup_restores_register_history_and_accounts() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sauvegarde.surql");
    let demo = common::load(DEMO);
    let source = Store::open("mem://", None).await.unwrap();
    source
        .import(&demo, "dpo@opsn", at("2026-01-10T09:00:00Z"))
        .await
        .unwrap();
    source
        .import(&corrected(&demo), "dpo@opsn", at("2026-02-01T09:00:00Z"))
        .await
        .unwrap();
    let dpo = registre::auth::User {
        login: "dpo@opsn.fr".into(),
        name: "Service DPO".into(),
        grants: vec![registre::auth::Grant {
            role: registre::auth::Role::Dpo,
            organisation: Some("saint-aubin".into()),
        }],
        disabled: false,
    };
    let hash = registre::auth::hash_password("cheval batterie agrafe correct").unwrap();
    source
        .add_user(&dpo, &hash, at("2026-01-10T09:00:00Z"))
        .await
        .unwrap();
    source.backup(&file).await.unwrap();

    let target = Store::open("mem://", None).await.unwrap();
    target.restore(&file).await.unwrap();
    assert_eq!(target.register(None).await.unwrap(), corrected(&demo));
    assert_eq!(
        target
            .register_at(None, at("2026-01-31T00:00:00Z"), Past::Everything)
            .await
            .unwrap(),
        demo
    );
    assert_eq!(
        target
            .history("saint-aubin", Some("videoprotection"), Past::Everything)
            .await
            .unwrap()
            .len(),
        2
    );
    let (user, stored) = target.user_with_hash("dpo@opsn.fr").await.unwrap().unwrap();
    assert_eq!((user, stored), (dpo, hash));
}
