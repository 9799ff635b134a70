//! Benchmark of the consent ledger (release build, embedded surrealkv database, demo commune
//! with `CONSENT_EVENTS` synthetic events, 1 000 000 by default): generating them, then with
//! `registre serve` on that database, `wrk -t2 -c16` on loopback for 10 s on the single check
//! (random subjects among 100 000 spread over the ledger) and on recording paper consents over HTTP, the batch check of
//! 10 000 subjects, the server's resident memory; and `registre consent verify` of the whole
//! ledger. Targets (issue 11): check ≥ 10 000 requests/s with p99 < 5 ms, batch < 100 ms,
//! recording ≥ 500 consents/s, verify < 10 s, server memory < 300 MB.
//! Run with `cargo bench --bench consents` (needs `wrk`: `apt-get install wrk`);
//! `CONSENT_KEEP=1` keeps the database and `CONSENT_DATABASE=DIR` measures a kept one again.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "benchmark code"
)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::process::Command;
use std::time::{Duration, Instant};

const ORG: &str = "saint-aubin";
const CHOICE: &str = "communication.publication-images:site-internet-de-la-commune";

/// Runs `wrk` with `script` on `url`: requests per second, p99 in ms, whether all were 2xx.
fn wrk(script: &std::path::Path, url: &str) -> (f64, f64, bool) {
    let output = Command::new("wrk")
        .args(["-t2", "-c16", "-d10s", "--latency", "-s"])
        .arg(script)
        .arg(url)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&output.stdout).into_owned();
    println!("{report}");
    let requests: f64 = report
        .lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .map(|v| v.trim().parse().unwrap())
        .expect("wrk prints Requests/sec");
    let p99 = report
        .lines()
        .find_map(|l| l.trim().strip_prefix("99%"))
        .map(|v| common::wrk_millis(v.trim()))
        .expect("wrk prints the 99th percentile");
    (requests, p99, !report.contains("Non-2xx"))
}

/// A command of the release binary on `database`, timed, with its peak memory in MB.
fn timed(database: &str, args: &[&str]) -> (Duration, f64, String) {
    let (elapsed, peak, out, ok, stderr) = timed_status(database, args);
    assert!(ok, "{args:?}: {stderr}");
    (elapsed, peak, out)
}

/// [`timed`], with whether the command succeeded and what it wrote on stderr.
fn timed_status(database: &str, args: &[&str]) -> (Duration, f64, String, bool, String) {
    let start = Instant::now();
    let output = Command::new("/usr/bin/time")
        .args(["-f", "%M"])
        .arg(env!("CARGO_BIN_EXE_registre"))
        .args(args)
        .args(["--database", database])
        .output()
        .unwrap();
    let elapsed = start.elapsed();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let peak_kb: f64 = stderr
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .unwrap();
    (
        elapsed,
        peak_kb / 1024.0,
        String::from_utf8_lossy(&output.stdout).into_owned(),
        output.status.success(),
        stderr,
    )
}

fn main() {
    if Command::new("wrk").arg("--version").output().is_err() {
        eprintln!("wrk is needed for this benchmark: apt-get install wrk");
        std::process::exit(2);
    }
    let events: usize = std::env::var("CONSENT_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    // A database kept by an earlier run (`CONSENT_KEEP=1`) is measured again as it is, e.g.
    // with the server in a memory-limited container (scripts/with-memory-limit.sh).
    let kept = std::env::var_os("CONSENT_DATABASE").map(std::path::PathBuf::from);
    let dir = tempfile::tempdir().unwrap();
    let root = kept.clone().unwrap_or_else(|| dir.path().to_owned());
    let database = format!("surrealkv://{}", root.join("db").display());
    let log = dir.path().join("serve.log");
    let token = match &kept {
        Some(root) => std::fs::read_to_string(root.join("token")).unwrap(),
        None => generate(&database, &log, events),
    };
    let (exported, exported_mb, allowed) = timed(
        &database,
        &[
            "consent",
            "export",
            "--organisation",
            ORG,
            "--activity",
            "photos",
            "--choice",
            CHOICE,
        ],
    );
    let subjects: Vec<String> = allowed
        .lines()
        .skip(1)
        .filter_map(|l| l.split(',').next().map(str::to_owned))
        .collect();
    assert!(
        subjects.len() >= 10_000,
        "{} subjects allowed",
        subjects.len()
    );
    println!(
        "allowed list of {} people (consent export): {:.1} s, peak {exported_mb:.0} MB",
        subjects.len(),
        exported.as_secs_f64()
    );

    let started = Instant::now();
    let log = dir.path().join("measured.log");
    let mut service = common::Service::start(&database, &log, &[]);
    let port = service.port;
    // The server verifies the ledger after it starts, on every core: measured apart.
    common::wait_for_log(
        &log,
        &format!("registre des consentements de `{ORG}`"),
        Duration::from_secs(3600),
    );
    let verified_at_start = started.elapsed();
    println!(
        "server started and its ledger verified after {:.1} s",
        verified_at_start.as_secs_f64()
    );
    let started_mb = common::proc_mb(service.pid(), "VmRSS:");
    let auth = format!("Bearer {token}");

    // Single checks, each on a subject drawn at random among 100 000 spread over the ledger
    // (or all of a smaller one): few are asked twice, as a mailing would ask.
    let sample: Vec<String> = subjects
        .iter()
        .step_by((subjects.len() / 100_000).max(1))
        .take(100_000)
        .map(|s| format!("\"{s}\""))
        .collect();
    let check = dir.path().join("check.lua");
    std::fs::write(
        &check,
        format!(
            "local subjects = {{{}}}\n\
             wrk.headers[\"Authorization\"] = \"{auth}\"\n\
             request = function()\n\
               local s = subjects[math.random(#subjects)]\n\
               return wrk.format(\"GET\", \"/api/v1/organisations/{ORG}/consents/check?activity=photos&choice={CHOICE}&subject=\" .. s)\n\
             end\n",
            sample.join(",")
        ),
    )
    .unwrap();
    let (checks, check_p99, checks_ok) = wrk(&check, &format!("http://127.0.0.1:{port}/"));
    println!(
        "single check: {checks:.0} requests/s, p99 {check_p99:.2} ms (targets ≥ 10 000 /s, < 5 ms)"
    );

    // Batches of 10 000 subjects.
    let body = serde_json::json!({ "activity": "photos", "choice": CHOICE, "subjects": &subjects[..10_000] })
        .to_string();
    let batches = timed_requests(10, |_| {
        common::http(
            port,
            "POST",
            &format!("/api/v1/organisations/{ORG}/consents/check"),
            &[
                ("Authorization", &auth),
                ("Content-Type", "application/json"),
            ],
            Some(&body),
        )
    });
    println!(
        "batch of 10 000 subjects: median {:.0} ms, slowest {:.0} ms (target < 100 ms)",
        batches[batches.len() / 2].as_secs_f64() * 1000.0,
        batches[batches.len() - 1].as_secs_f64() * 1000.0
    );

    // Recording paper consents over HTTP, each committed to disk before its answer.
    let record = dir.path().join("record.lua");
    let paper = serde_json::json!({
        "activity": "photos", "choices": [CHOICE], "channel": "guichet",
        "name": "Famille Banc", "minor": true, "holders": 2,
    })
    .to_string()
    .replace('"', "\\\"");
    std::fs::write(
        &record,
        format!(
            "wrk.method = \"POST\"\n\
             wrk.headers[\"Authorization\"] = \"{auth}\"\n\
             wrk.headers[\"Content-Type\"] = \"application/json\"\n\
             wrk.body = \"{paper}\"\n"
        ),
    )
    .unwrap();
    let (recorded, record_p99, recorded_ok) = wrk(
        &record,
        &format!("http://127.0.0.1:{port}/api/v1/organisations/{ORG}/consents"),
    );
    println!(
        "recording over HTTP: {recorded:.0} consents/s, p99 {record_p99:.1} ms (target ≥ 500 /s)"
    );
    // Receipts of events recorded last: a proof from the tree the ledger keeps.
    let (last, signing) = signed_head(port, &auth);
    println!(
        "tree head of {last} events signed in {:.1} ms",
        signing.as_secs_f64() * 1000.0
    );
    let receipts = timed_requests(20, |n| {
        common::http(
            port,
            "GET",
            &format!(
                "/api/v1/organisations/{ORG}/consents/events/{}/receipt",
                last - 1 - n * 997
            ),
            &[("Authorization", &auth)],
            None,
        )
    });
    println!(
        "receipt with its inclusion proof: median {:.1} ms, slowest {:.1} ms",
        receipts[receipts.len() / 2].as_secs_f64() * 1000.0,
        receipts[receipts.len() - 1].as_secs_f64() * 1000.0
    );
    let loaded_mb = common::proc_mb(service.pid(), "VmRSS:");
    println!(
        "server memory: {started_mb:.0} MB after start, {loaded_mb:.0} MB after the load (target < 300 MB)"
    );
    // As deployed: SIGTERM, the server writes out what the engine holds in memory.
    let stopping = Instant::now();
    let stopped = service.stop();
    assert!(stopped.success(), "the server stops cleanly: {stopped}");
    println!(
        "server stopped (SIGTERM) in {:.1} s",
        stopping.elapsed().as_secs_f64()
    );

    let (verified, verify_mb, verification, _, stderr) =
        timed_status(&database, &["consent", "verify", "--organisation", ORG]);
    let verification: serde_json::Value = serde_json::from_str(&verification).unwrap();
    println!(
        "verify of {} events: {:.1} s, peak {verify_mb:.0} MB (target < 10 s), problems: {}",
        verification["events"],
        verified.as_secs_f64(),
        verification["problems"]
    );
    if kept.is_none() && std::env::var_os("CONSENT_KEEP").is_some() {
        std::fs::write(dir.path().join("token"), &token).unwrap();
        println!("database kept: CONSENT_DATABASE={}", dir.keep().display());
    }
    assert!(checks_ok && recorded_ok, "every request must succeed");
    assert_eq!(
        verification["problems"],
        serde_json::json!([]),
        "the ledger verifies: {stderr}"
    );
}

/// A new database with the demo commune and `events` synthetic events: an administrator's
/// API token on it.
fn generate(database: &str, log: &std::path::Path, events: usize) -> String {
    let mut service = common::Service::start(database, log, &[]);
    let token = service.admin_token("bench");
    service.stop();
    let count = events.to_string();
    let (generated, generated_mb, _) = timed(
        database,
        &[
            "demo",
            "consents",
            "--organisation",
            ORG,
            "--activity",
            "photos",
            "--events",
            &count,
        ],
    );
    println!(
        "{events} events generated in {:.1} s ({:.0} events/s), peak {generated_mb:.0} MB",
        generated.as_secs_f64(),
        events as f64 / generated.as_secs_f64()
    );
    token
}

/// `count` requests made by `request` (given their number), each timed and required to
/// succeed: their durations, fastest first.
fn timed_requests<E: std::fmt::Debug>(
    count: u64,
    request: impl Fn(u64) -> Result<(u16, String), E>,
) -> Vec<Duration> {
    let mut durations: Vec<Duration> = (0..count)
        .map(|n| {
            let start = Instant::now();
            let (status, answer) = request(n).unwrap();
            assert_eq!(status, 200, "{answer}");
            start.elapsed()
        })
        .collect();
    durations.sort();
    durations
}

/// A tree head signed by the server: the number of events it covers, and how long it took.
fn signed_head(port: u16, auth: &str) -> (u64, Duration) {
    let start = Instant::now();
    let (status, answer) = common::http(
        port,
        "POST",
        &format!("/api/v1/organisations/{ORG}/consents/head"),
        &[("Authorization", auth)],
        None,
    )
    .unwrap();
    assert_eq!(status, 200, "{answer}");
    let took = start.elapsed();
    let head: serde_json::Value = serde_json::from_str(&answer).unwrap();
    (head["head"]["size"].as_u64().unwrap(), took)
}
