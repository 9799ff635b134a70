//! End-to-end audit benchmark: `registre audit big.yaml --format json > /dev/null` on a
//! synthetic register of 700 organisations × 40 activities (28 000 activities).
//!
//! Targets (issue 2): under 1 s wall and under 300 MB peak memory on a 2-core machine.
//! Run with `cargo bench --bench audit`; `REGISTRE_BENCH_RUNS` sets the number of runs (5).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "benchmark code"
)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::fs::File;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const TARGET_WALL: Duration = Duration::from_secs(1);
const TARGET_PEAK_MB: f64 = 300.0;

/// Peak resident memory of a running process, in MB (Linux `VmHWM`).
fn peak_mb(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// Runs the audit once: wall time and the highest peak memory seen while it ran.
fn run_once(binary: &str, register: &Path) -> (Duration, f64, i32) {
    let start = Instant::now();
    let mut child = Command::new(binary)
        .args(["audit", "--format", "json"])
        .arg(register)
        .stdout(Stdio::null())
        .spawn()
        .expect("registre starts");
    let mut peak: f64 = 0.0;
    let status = loop {
        if let Some(mb) = peak_mb(child.id()) {
            peak = peak.max(mb);
        }
        if let Some(status) = child.try_wait().expect("registre runs") {
            break status;
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    (start.elapsed(), peak, status.code().unwrap_or(-1))
}

fn main() {
    let binary = env!("CARGO_BIN_EXE_registre");
    let runs: usize = std::env::var("REGISTRE_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let dir = std::env::temp_dir().join("registre-bench");
    std::fs::create_dir_all(&dir).expect("temporary folder");
    let register = dir.join("big.yaml");

    let start = Instant::now();
    common::write_synthetic_register(&register);
    let size = File::open(&register)
        .and_then(|f| f.metadata())
        .map(|m| m.len())
        .unwrap_or(0);
    println!(
        "synthetic register: 700 × 40 activities, {:.1} MB, written in {:.2} s",
        size as f64 / 1e6,
        start.elapsed().as_secs_f64()
    );

    let mut walls = Vec::new();
    let mut peaks = Vec::new();
    for i in 1..=runs {
        let (wall, peak, code) = run_once(binary, &register);
        assert!(code == 0 || code == 1, "the audit ran (exit status {code})");
        println!(
            "run {i}: {:.3} s wall, {:.0} MB peak",
            wall.as_secs_f64(),
            peak
        );
        walls.push(wall);
        peaks.push(peak);
    }
    walls.sort();
    let median = walls[walls.len() / 2];
    let peak = peaks.iter().copied().fold(0.0, f64::max);
    println!(
        "audit 28 000 activities: median {:.3} s wall (target < {:.1} s), max {:.3} s; peak {:.0} MB (target < {:.0} MB)",
        median.as_secs_f64(),
        TARGET_WALL.as_secs_f64(),
        walls[walls.len() - 1].as_secs_f64(),
        peak,
        TARGET_PEAK_MB
    );
    let verdict = if median < TARGET_WALL && peak < TARGET_PEAK_MB {
        "met"
    } else {
        "NOT met"
    };
    println!("targets {verdict}");
}
