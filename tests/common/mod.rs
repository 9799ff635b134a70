//! Helpers shared by the integration tests.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::{Command, Output};
use std::sync::OnceLock;

use registre::audit::{PolicyPack, Report, audit};
use registre::model::{Register, SourceFormat, load_str};

/// The built-in pack, loaded once per test binary.
pub fn pack() -> &'static PolicyPack {
    static PACK: OnceLock<PolicyPack> = OnceLock::new();
    PACK.get_or_init(|| PolicyPack::builtin().expect("the built-in pack loads"))
}

pub fn load(text: &str) -> Register {
    let pack = pack();
    match load_str(text, SourceFormat::Yaml, &pack.vocabulary, &pack.countries) {
        Ok(register) => register,
        Err(e) => panic!("register does not load: {e}"),
    }
}

pub fn audit_text(text: &str) -> Report {
    audit(&load(text), pack()).expect("audit runs")
}

/// Runs the `registre` binary from the crate folder.
pub fn registre(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_registre"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the binary runs")
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A copy of the built-in rule pack with one more rule file, `rules/{file}`.
pub fn pack_with(file: &str, rules: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("policies"),
        dir.path(),
    );
    std::fs::write(dir.path().join("rules").join(file), rules).unwrap();
    dir
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}
