//! Accounts: CNIL password rules, Argon2id hashes, roles per organisation, through the command
//! line as an administrator uses it.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

mod common;

use std::process::{Command, Output, Stdio};

use registre::auth::{Role, verify_password};
use registre::store::Store;

fn with_stdin(args: &[&str], input: &str) -> Output {
    common::output_with_input(
        Command::new(env!("CARGO_BIN_EXE_registre"))
            .args(args)
            .stderr(Stdio::piped()),
        input,
    )
}

#[test]
fn accounts_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("surrealkv://{}", dir.path().join("db").display());
    let add = |login: &str, role: &str, organisation: Option<&str>, password: &str| {
        let mut args = vec![
            "user",
            "add",
            login,
            "--name",
            "Claire Dupont",
            "--role",
            role,
            "--password-stdin",
            "--database",
            &url,
        ];
        if let Some(o) = organisation {
            args.extend(["--organisation", o]);
        }
        with_stdin(&args, &format!("{password}\n"))
    };

    let weak = add("dpo@opsn.fr", "dpo", Some("ville"), "motdepasse");
    assert_eq!(weak.status.code(), Some(2));
    assert!(
        common::stderr(&weak).contains("trop faible"),
        "{}",
        common::stderr(&weak)
    );

    let ok = add(
        "dpo@opsn.fr",
        "dpo",
        Some("ville"),
        "cheval batterie agrafe correct",
    );
    assert!(ok.status.success(), "{}", common::stderr(&ok));
    let again = add(
        "dpo@opsn.fr",
        "dpo",
        Some("ville"),
        "cheval batterie agrafe correct",
    );
    assert_eq!(again.status.code(), Some(2));
    assert!(common::stderr(&again).contains("existe déjà"));

    let no_org = add(
        "agent@ville.fr",
        "agent",
        None,
        "cheval batterie agrafe correct",
    );
    assert_eq!(
        no_org.status.code(),
        Some(2),
        "an agent belongs to an organisation"
    );
    let bad_login = add(
        "pas-une-adresse",
        "admin",
        None,
        "cheval batterie agrafe correct",
    );
    assert_eq!(bad_login.status.code(), Some(2));
    assert!(
        add("admin@opsn.fr", "admin", None, "Tr0ub4dor&3xY!z")
            .status
            .success()
    );

    let list = common::registre(&["user", "list", "--database", &url]);
    let text = common::stdout(&list);
    assert!(
        text.contains("dpo@opsn.fr\tClaire Dupont\tdpo@ville"),
        "{text}"
    );
    assert!(
        text.contains("admin@opsn.fr\tClaire Dupont\tadmin"),
        "{text}"
    );

    let passwd = with_stdin(
        &[
            "user",
            "passwd",
            "nobody@opsn.fr",
            "--password-stdin",
            "--database",
            &url,
        ],
        "cheval batterie agrafe correct\n",
    );
    assert_eq!(passwd.status.code(), Some(2));
    let passwd = with_stdin(
        &[
            "user",
            "passwd",
            "dpo@opsn.fr",
            "--password-stdin",
            "--database",
            &url,
        ],
        "nouvelle phrase de passe assez longue\n",
    );
    assert!(passwd.status.success(), "{}", common::stderr(&passwd));
    let disable = common::registre(&["user", "disable", "admin@opsn.fr", "--database", &url]);
    assert!(disable.status.success(), "{}", common::stderr(&disable));
    let unknown = common::registre(&["user", "disable", "nobody@opsn.fr", "--database", &url]);
    assert_eq!(unknown.status.code(), Some(2));
    let list = common::stdout(&common::registre(&["user", "list", "--database", &url]));
    assert!(
        list.contains("admin@opsn.fr\tClaire Dupont\tadmin (désactivé)"),
        "{list}"
    );

    // What is stored: an Argon2id hash of the new password, and the role on its organisation.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let store = runtime.block_on(Store::open(&url, None)).unwrap();
    let (user, hash) = runtime
        .block_on(store.user_with_hash("dpo@opsn.fr"))
        .unwrap()
        .unwrap();
    assert!(hash.starts_with("$argon2id$"));
    assert!(verify_password(
        "nouvelle phrase de passe assez longue",
        &hash
    ));
    assert!(!verify_password("cheval batterie agrafe correct", &hash));
    assert!(user.can(Role::Dpo, "ville") && !user.can(Role::Dpo, "ccas"));

    // Every account change is in the security log, with its target.
    let events = runtime.block_on(store.events(50)).unwrap();
    let actions: Vec<(&str, &str)> = events
        .iter()
        .map(|e| (e.action.as_str(), e.target.as_deref().unwrap_or("")))
        .collect();
    for expected in [
        ("user.add", "dpo@opsn.fr"),
        ("user.passwd", "dpo@opsn.fr"),
        ("user.disable", "admin@opsn.fr"),
    ] {
        assert!(
            actions.contains(&expected),
            "{expected:?} not in {actions:?}"
        );
    }
}
