//! The store suite, run on the embedded engines: in memory, and on disk (surviving a restart).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

mod common;

use jiff::Timestamp;
use registre::model::Register;
use registre::store::{ImportSummary, Operation, Store};

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
            .register_at(None, at("2026-01-31T00:00:00Z"))
            .await
            .unwrap(),
        demo
    );
    assert_eq!(
        store
            .register_at(None, at("2026-02-01T09:00:00Z"))
            .await
            .unwrap(),
        fixed
    );
    assert!(
        store
            .register_at(None, at("2025-12-31T00:00:00Z"))
            .await
            .unwrap()
            .organisations
            .is_empty()
    );

    // Who changed what, field by field.
    let history = store
        .history("saint-aubin", Some("videoprotection"))
        .await
        .unwrap();
    let operations: Vec<Operation> = history.iter().map(|c| c.operation).collect();
    assert_eq!(operations, [Operation::Create, Operation::Update]);
    assert_eq!(history[1].author, "agent@mairie");
    let diff = history[1].diff();
    assert_eq!(diff.len(), 1, "{diff:?}");
    assert_eq!(diff[0].field, "retention");
    let deleted = store
        .history("saint-aubin", Some("felicitations"))
        .await
        .unwrap();
    assert_eq!(deleted.last().unwrap().operation, Operation::Delete);
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
            .register_at(None, at("2026-01-31T00:00:00Z"))
            .await
            .unwrap(),
        demo
    );
    assert_eq!(
        target
            .history("saint-aubin", Some("videoprotection"))
            .await
            .unwrap()
            .len(),
        2
    );
    let (user, stored) = target.user_with_hash("dpo@opsn.fr").await.unwrap().unwrap();
    assert_eq!((user, stored), (dpo, hash));
}
