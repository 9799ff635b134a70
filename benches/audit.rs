//! End-to-end audit benchmark: `registre audit FILE --format json > /dev/null` on the
//! synthetic registers of the issue « Rules, second pass »: 700 organisations × 40 activities
//! (28 000 activities) and 70 × 40 (2 800), seed 7, start-up (loading and validating the rule
//! pack) included.
//!
//! Targets on a 2-core machine: 28 000 activities under 0.5 s wall and 300 MB peak memory;
//! 2 800 under 0.1 s. Run with `cargo bench --bench audit`; `REGISTRE_BENCH_RUNS` sets the
//! number of runs of each (5). The best and the median run are printed.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "benchmark code"
)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A register to audit and its targets.
struct Case {
    organisations: u32,
    target_wall: Duration,
    target_peak_mb: f64,
}

const CASES: [Case; 2] = [
    Case {
        organisations: 700,
        target_wall: Duration::from_millis(500),
        target_peak_mb: 300.0,
    },
    Case {
        organisations: 70,
        target_wall: Duration::from_millis(100),
        target_peak_mb: 300.0,
    },
];

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
        std::thread::sleep(Duration::from_millis(1));
    };
    (start.elapsed(), peak, status.code().unwrap_or(-1))
}

fn synthetic(binary: &str, organisations: u32, path: &Path) {
    let status = Command::new(binary)
        .args(["demo", "synthetic", "--organisations"])
        .arg(organisations.to_string())
        .args(["--activities", "40", "--seed", "7", "--output"])
        .arg(path)
        .status()
        .expect("registre starts");
    assert!(status.success(), "the synthetic register is written");
}

fn main() {
    let binary = env!("CARGO_BIN_EXE_registre");
    let runs: usize = std::env::var("REGISTRE_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let dir = std::env::temp_dir().join("registre-bench");
    std::fs::create_dir_all(&dir).expect("temporary folder");
    let mut all_met = true;
    for case in &CASES {
        let register = dir.join(format!("synthetic-{}.yaml", case.organisations));
        synthetic(binary, case.organisations, &register);
        let size = std::fs::metadata(&register).map(|m| m.len()).unwrap_or(0);
        let activities = case.organisations * 40;
        println!(
            "synthetic register: {} × 40 activities, {:.1} MB",
            case.organisations,
            size as f64 / 1e6
        );
        let mut walls = Vec::new();
        let mut peak: f64 = 0.0;
        for i in 1..=runs {
            let (wall, run_peak, code) = run_once(binary, &register);
            assert!(code == 0 || code == 1, "the audit ran (exit status {code})");
            println!(
                "  run {i}: {:.3} s wall, {run_peak:.0} MB peak",
                wall.as_secs_f64()
            );
            walls.push(wall);
            peak = peak.max(run_peak);
        }
        walls.sort();
        let (best, median) = (walls[0], walls[walls.len() / 2]);
        let met = best < case.target_wall && peak < case.target_peak_mb;
        all_met &= met;
        println!(
            "audit {activities} activities: best {:.3} s, median {:.3} s wall (target < {:.1} s); peak {peak:.0} MB (target < {:.0} MB): {}",
            best.as_secs_f64(),
            median.as_secs_f64(),
            case.target_wall.as_secs_f64(),
            case.target_peak_mb,
            if met { "met" } else { "NOT met" }
        );
    }
    println!("targets {}", if all_met { "met" } else { "NOT met" });
}
