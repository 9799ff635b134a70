//! HTTP benchmark of `registre serve` (release build, embedded surrealkv database, demo
//! commune): idle memory, then reading one activity under load with `wrk` on loopback
//! (2 threads, 16 connections, 10 s), then importing the 28 000-activity synthetic register
//! through the API. Targets (issue 3): ≥ 5 000 requests/s with p99 < 10 ms on 2 cores, idle
//! memory < 60 MB, import < 60 s.
//! Run with `cargo bench --bench http` (needs `wrk`: `apt-get install wrk`).

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

const DURATION: &str = "10s";
/// The activity read under load.
const ACTIVITY: &str = "/api/v1/organisations/saint-aubin/activities/cantine";

/// Reads the activity once, checking the answer.
fn read_activity(port: u16, token: &str) {
    let auth = format!("Bearer {token}");
    let (status, _) =
        common::http(port, "GET", ACTIVITY, &[("Authorization", &auth)], None).unwrap();
    assert_eq!(status, 200);
}

/// Resident memory of a process in MB: total, anonymous (the heap and stacks: the server's
/// own), and file-backed (pages of the executable mapped in).
fn rss_mb(pid: u32) -> (f64, f64, f64) {
    let field = |name: &str| common::proc_mb(pid, name);
    (field("VmRSS:"), field("RssAnon:"), field("RssFile:"))
}

fn memory(label: &str, (total, anon, file): (f64, f64, f64)) {
    println!(
        "{label}: {total:.1} MB resident ({anon:.1} MB anonymous, {file:.1} MB of mapped executable) (target < 60 MB)"
    );
}

fn main() {
    if Command::new("wrk").arg("--version").output().is_err() {
        eprintln!("wrk is needed for this benchmark: apt-get install wrk");
        std::process::exit(2);
    }
    let dir = tempfile::tempdir().unwrap();
    let database = format!("surrealkv://{}", dir.path().join("db").display());
    let log = dir.path().join("serve.log");
    let mut service = common::Service::start(&database, &log, &[]);
    let token = service.admin_token("bench");
    let auth = format!("Authorization: Bearer {token}");
    let url = format!("http://127.0.0.1:{}{ACTIVITY}", service.port);
    read_activity(service.port, &token);

    // At rest: tokio ends idle pool threads after 10 s, and with them what the one-off
    // first-start work (Argon2id hash, demo import) left with the allocator.
    std::thread::sleep(Duration::from_secs(12));
    let first_idle = rss_mb(service.pid());

    let output = Command::new("wrk")
        .args([
            "-t2",
            "-c16",
            "-d",
            DURATION,
            "--latency",
            "-H",
            &auth,
            &url,
        ])
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
    let non_2xx = report.contains("Non-2xx");
    let loaded = rss_mb(service.pid());

    // A server as it usually runs: restarted on its database (the demo), then left alone.
    service.kill();
    service = common::Service::start(&database, &log, &[]);
    read_activity(service.port, &token);
    std::thread::sleep(Duration::from_secs(5));
    let restarted_idle = rss_mb(service.pid());

    // The synthetic register through the API, into the same database.
    let big = dir.path().join("big.yaml");
    common::write_synthetic_register(&big);
    let text = std::fs::read_to_string(&big).unwrap();
    let start = Instant::now();
    let (status, answer) = common::http(
        service.port,
        "POST",
        "/api/v1/register",
        &[
            ("Authorization", &format!("Bearer {token}")),
            ("Content-Type", "application/yaml"),
        ],
        Some(&text),
    )
    .unwrap();
    let import = start.elapsed();
    assert_eq!(status, 200, "{answer}");

    memory(
        "idle after the first start (admin created, demo imported)",
        first_idle,
    );
    memory("after the load test", loaded);
    memory("idle after a restart, one request served", restarted_idle);
    println!(
        "GET one activity: {requests:.0} requests/s, p99 {p99:.2} ms (targets ≥ 5000 /s, < 10 ms){}",
        if non_2xx {
            " — some answers were not 2xx!"
        } else {
            ""
        }
    );
    println!(
        "import of 28 000 activities through the API: {:.1} s (target < 60 s), server peak {:.0} MB: {answer}",
        import.as_secs_f64(),
        common::proc_mb(service.pid(), "VmHWM:")
    );
    assert!(!non_2xx, "every request must succeed");
}
