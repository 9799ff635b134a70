//! Import benchmark: `registre import big.yaml` of the 28 000-activity synthetic register into
//! a new embedded database (surrealkv), then the same import again (nothing changed) and an
//! export. Target (issue 3): the first import under 60 s on a 2-core machine.
//! Run with `cargo bench --bench import`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "benchmark code"
)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const TARGET: Duration = Duration::from_secs(60);

fn timed(binary: &str, args: &[&str]) -> Duration {
    let start = Instant::now();
    let status = Command::new(binary)
        .args(args)
        .stdout(Stdio::null())
        .status()
        .expect("registre starts");
    assert!(status.success(), "registre {args:?} failed");
    start.elapsed()
}

fn main() {
    let binary = env!("CARGO_BIN_EXE_registre");
    let dir = tempfile::tempdir().expect("temporary folder");
    let register = dir.path().join("big.yaml");
    let database = format!("surrealkv://{}", dir.path().join("db").display());
    let register_arg = register.to_str().unwrap();
    common::write_synthetic_register(&register);

    let first = timed(binary, &["import", register_arg, "--database", &database]);
    let again = timed(binary, &["import", register_arg, "--database", &database]);
    let export = timed(binary, &["export", "--database", &database]);
    println!(
        "import of 28 000 activities into a new database: {:.1} s (target < {} s)",
        first.as_secs_f64(),
        TARGET.as_secs()
    );
    println!(
        "same import again, nothing changed: {:.1} s",
        again.as_secs_f64()
    );
    println!(
        "export of the whole register: {:.1} s",
        export.as_secs_f64()
    );
    println!("target {}", if first < TARGET { "met" } else { "NOT met" });
}
