//! Notice rendering benchmark, on the synthetic register of 700 organisations × 40
//! activities (28 000 activities).
//!
//! Targets (issue 4): one notice in HTML under 1 ms and in PDF under 20 ms (model built from
//! the register, then rendered, as a request does), and every notice of the register in PDF
//! in under 2 minutes. Run with `cargo bench --bench notice`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "benchmark code"
)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use rayon::prelude::*;
use registre::model::{Activity, Organisation, Register, Role};
use registre::notice::{self, Context};
use registre::render::{Style, Templates};

const TARGET_HTML: Duration = Duration::from_millis(1);
const TARGET_PDF: Duration = Duration::from_millis(20);
const TARGET_ALL: Duration = Duration::from_secs(120);

/// Median and 99th percentile of `runs` timings of `work`.
fn time(runs: usize, mut work: impl FnMut()) -> (Duration, Duration) {
    for _ in 0..runs.min(20) {
        work();
    }
    let mut timings: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            work();
            start.elapsed()
        })
        .collect();
    timings.sort();
    (timings[runs / 2], timings[runs * 99 / 100])
}

fn verdict(ok: bool) -> &'static str {
    if ok { "met" } else { "NOT met" }
}

fn main() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let path = dir.path().join("big.yaml");
    common::write_synthetic_register(&path);
    let register: Register = common::load(&std::fs::read_to_string(&path).unwrap());
    let context = Context {
        vocabulary: &common::pack().vocabulary,
        countries: &common::pack().countries,
        register: &register,
        public_url: Some("https://registre.example.fr"),
    };
    let templates = Templates::builtin().unwrap();
    let activities: Vec<(&Organisation, &Activity)> = register
        .organisations
        .iter()
        .flat_map(|o| o.activities().iter().map(move |a| (o, a)))
        .filter(|(_, a)| a.role() != Role::Processor)
        .collect();
    // The longest notice of the first organisation: the slowest to lay out.
    let (organisation, activity) = activities
        .iter()
        .take(40)
        .max_by_key(|(o, a)| notice::notice(&context, o, a).unwrap().text().len())
        .copied()
        .unwrap();

    let (html_median, html_p99) = time(2_000, || {
        let notice = notice::notice(&context, organisation, activity).unwrap();
        let html = templates
            .document("notice/notice", &notice, Style::Linked)
            .unwrap();
        std::hint::black_box(html);
    });
    println!(
        "one notice in HTML ({}): median {:.3} ms, p99 {:.3} ms (target < {} ms): {}",
        activity.id,
        html_median.as_secs_f64() * 1e3,
        html_p99.as_secs_f64() * 1e3,
        TARGET_HTML.as_millis(),
        verdict(html_median < TARGET_HTML)
    );

    let mut size = 0;
    let (pdf_median, pdf_p99) = time(300, || {
        let notice = notice::notice(&context, organisation, activity).unwrap();
        size = notice.pdf().unwrap().len();
    });
    println!(
        "one notice in PDF ({} bytes): median {:.2} ms, p99 {:.2} ms (target < {} ms): {}",
        size,
        pdf_median.as_secs_f64() * 1e3,
        pdf_p99.as_secs_f64() * 1e3,
        TARGET_PDF.as_millis(),
        verdict(pdf_median < TARGET_PDF)
    );

    let start = Instant::now();
    let bytes: usize = activities
        .par_iter()
        .map(|(o, a)| notice::notice(&context, o, a).unwrap().pdf().unwrap().len())
        .sum();
    let all = start.elapsed();
    println!(
        "all {} notices in PDF on {} threads: {:.1} s, {:.0} MB in all (target < {} s): {}",
        activities.len(),
        rayon::current_num_threads(),
        all.as_secs_f64(),
        bytes as f64 / 1e6,
        TARGET_ALL.as_secs(),
        verdict(all < TARGET_ALL)
    );
}
