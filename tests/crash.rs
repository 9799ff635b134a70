//! Crash safety: a client writes 2 000 activities through the API of a real `registre serve`
//! process, which is killed with SIGKILL at a random moment. After a restart, every write that
//! was answered 2xx is there, intact; the client then finishes, and the register audits.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

const DEMO: &str = include_str!("../examples/commune-demo.yaml");
const WRITES: usize = 2_000;
const ORG: &str = "commune-crash";

fn activity(i: usize) -> Value {
    static TEMPLATE: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    let mut activity = TEMPLATE
        .get_or_init(|| {
            let demo = common::load(DEMO);
            serde_json::to_value(&demo.organisations[0].activities()[3]).unwrap()
        })
        .clone();
    activity["id"] = json!(format!("activite-{i:04}"));
    activity["name"] = json!(format!("Activité n° {i} — cantine « {i} »"));
    activity
}

/// When to kill: after a random number (in `range`) of acknowledged writes, plus up to 20 ms;
/// the seed is printed so that a failure can be replayed.
fn kill_plan(range: std::ops::Range<usize>) -> (usize, std::time::Duration) {
    let seed: u64 = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let kill_after = rng.random_range(range);
    let delay = std::time::Duration::from_micros(rng.random_range(0..20_000));
    println!("seed {seed}: SIGKILL after {kill_after} acknowledged writes + {delay:?}");
    (kill_after, delay)
}

/// Writes activities `range` until the server stops answering; returns those answered 2xx.
fn write(port: u16, token: &str, range: std::ops::Range<usize>, acked: &AtomicUsize) -> Vec<usize> {
    let auth = format!("Bearer {token}");
    let headers = [
        ("Authorization", auth.as_str()),
        ("Content-Type", "application/json"),
    ];
    let mut done = Vec::new();
    for i in range {
        let body = activity(i).to_string();
        match common::http(
            port,
            "POST",
            &format!("/api/v1/organisations/{ORG}/activities"),
            &headers,
            Some(&body),
        ) {
            Ok((status, answer)) if (200..300).contains(&status) => {
                done.push(i);
                acked.fetch_add(1, Ordering::SeqCst);
                let _ = answer;
            }
            Ok((status, answer)) => panic!("write {i}: {status} {answer}"),
            Err(_) => break,
        }
    }
    done
}

#[test]
fn every_acknowledged_write_survives_a_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("surrealkv://{}", dir.path().join("db").display());
    let log = dir.path().join("serve.log");
    let mut service = common::Service::start(&database, &log, &["--no-demo"]);
    let token = service.admin_token("crash");
    let auth = format!("Bearer {token}");
    let mut org = serde_json::to_value(&common::load(DEMO).organisations[0]).unwrap();
    org["id"] = json!(ORG);
    org.as_object_mut().unwrap().remove("activities");
    let (status, answer) = common::http(
        service.port,
        "POST",
        "/api/v1/organisations",
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
        Some(&org.to_string()),
    )
    .unwrap();
    assert_eq!(status, 201, "{answer}");

    // The kill lands after a random number of acknowledged writes, while writes are in flight.
    let (kill_after, delay) = kill_plan(20..WRITES / 2);
    let acked = Arc::new(AtomicUsize::new(0));
    let port = service.port;
    let writer = {
        let acked = acked.clone();
        let token = token.clone();
        std::thread::spawn(move || write(port, &token, 0..WRITES, &acked))
    };
    while acked.load(Ordering::SeqCst) < kill_after && !writer.is_finished() {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    std::thread::sleep(delay);
    service.kill();
    let done = writer.join().unwrap();
    assert!(
        done.len() >= kill_after && done.len() < WRITES,
        "{} writes acknowledged",
        done.len()
    );

    let service = common::Service::start(&database, &log, &["--no-demo"]);
    let auth = format!("Bearer {token}");
    let headers = [("Authorization", auth.as_str())];
    for &i in &done {
        let (status, answer) = common::http(
            service.port,
            "GET",
            &format!("/api/v1/organisations/{ORG}/activities/activite-{i:04}"),
            &headers,
            None,
        )
        .unwrap();
        assert_eq!(status, 200, "acknowledged write {i} lost: {answer}");
        let stored: Value = serde_json::from_str(&answer).unwrap();
        assert_eq!(stored, activity(i), "write {i} is not intact");
    }

    // The client finishes: the write in flight at the kill may or may not have landed.
    let rest_start = done.last().map_or(0, |last| last + 1);
    let (status, answer) = common::http(
        service.port,
        "GET",
        &format!("/api/v1/organisations/{ORG}/activities/activite-{rest_start:04}"),
        &headers,
        None,
    )
    .unwrap();
    let first_missing = if status == 200 {
        rest_start + 1
    } else {
        rest_start
    };
    let _ = answer;
    let started = std::time::Instant::now();
    let more = write(
        service.port,
        &token,
        first_missing..WRITES,
        &AtomicUsize::new(0),
    );
    assert_eq!(more.len(), WRITES - first_missing);
    println!("{} writes in {:?}", more.len(), started.elapsed());

    let (status, list) = common::http(
        service.port,
        "GET",
        &format!("/api/v1/organisations/{ORG}/activities"),
        &headers,
        None,
    )
    .unwrap();
    assert_eq!(status, 200);
    let list: Value = serde_json::from_str(&list).unwrap();
    assert_eq!(list["activities"].as_array().unwrap().len(), WRITES);

    let (status, register) = common::http(
        service.port,
        "GET",
        &format!("/api/v1/organisations/{ORG}/register"),
        &headers,
        None,
    )
    .unwrap();
    assert_eq!(status, 200);
    assert_eq!(
        common::load(&register).organisations[0].activities().len(),
        WRITES
    );
    let (status, report) = common::http(
        service.port,
        "GET",
        &format!("/api/v1/organisations/{ORG}/audit"),
        &headers,
        None,
    )
    .unwrap();
    assert_eq!(status, 200, "{report}");
    let report: Value = serde_json::from_str(&report).unwrap();
    assert_eq!(report["activities"], WRITES);
}

const SUBMISSIONS: usize = 2_000;
const CLIENTS: usize = 4;
const DEMO_ORG: &str = "saint-aubin";
const PHOTO_CHOICE: &str = "communication.publication-images:site-internet-de-la-commune";

/// A paper consent of the demo commune's photo form, under its idempotency key.
fn submission(key: &str) -> String {
    json!({
        "activity": "photos",
        "choices": [PHOTO_CHOICE],
        "channel": "guichet",
        "name": format!("Famille {key}"),
        "minor": true,
        "holders": 2,
        "idempotency_key": key,
    })
    .to_string()
}

/// Sends `keys` until the server stops answering; gives the event number of each answered 2xx.
fn submit(port: u16, token: &str, keys: &[String], acked: &AtomicUsize) -> Vec<(String, u64)> {
    let auth = format!("Bearer {token}");
    let headers = [
        ("Authorization", auth.as_str()),
        ("Content-Type", "application/json"),
    ];
    let mut done = Vec::new();
    for key in keys {
        let path = format!("/api/v1/organisations/{DEMO_ORG}/consents");
        match common::http(port, "POST", &path, &headers, Some(&submission(key))) {
            Ok((status, answer)) if (200..300).contains(&status) => {
                let event: Value = serde_json::from_str(&answer).unwrap();
                done.push((key.clone(), event["seq"].as_u64().unwrap()));
                acked.fetch_add(1, Ordering::SeqCst);
            }
            Ok((status, answer)) => panic!("submission {key}: {status} {answer}"),
            Err(_) => break,
        }
    }
    done
}

fn keys_of(client: usize) -> Vec<String> {
    (0..SUBMISSIONS / CLIENTS)
        .map(|i| format!("client-{client}-{i:04}"))
        .collect()
}

#[test]
fn every_acknowledged_consent_is_in_the_ledger_once_after_a_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("surrealkv://{}", dir.path().join("db").display());
    let log = dir.path().join("serve.log");
    let mut service = common::Service::start(&database, &log, &[]);
    let token = service.admin_token("crash");
    let auth = format!("Bearer {token}");
    let headers = [("Authorization", auth.as_str())];
    let verify = |port: u16| -> Value {
        let path = format!("/api/v1/organisations/{DEMO_ORG}/consents/verify");
        let (status, answer) = common::http(port, "GET", &path, &headers, None).unwrap();
        assert_eq!(status, 200, "{answer}");
        serde_json::from_str(&answer).unwrap()
    };
    let before = verify(service.port)["events"].as_u64().unwrap();

    let (kill_after, delay) = kill_plan(50..SUBMISSIONS / 2);
    let acked = Arc::new(AtomicUsize::new(0));
    let port = service.port;
    let clients: Vec<_> = (0..CLIENTS)
        .map(|client| {
            let (acked, token) = (acked.clone(), token.clone());
            std::thread::spawn(move || submit(port, &token, &keys_of(client), &acked))
        })
        .collect();
    while acked.load(Ordering::SeqCst) < kill_after && clients.iter().any(|c| !c.is_finished()) {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    std::thread::sleep(delay);
    service.kill();
    let done: Vec<(String, u64)> = clients
        .into_iter()
        .flat_map(|c| c.join().unwrap())
        .collect();
    assert!(
        done.len() >= kill_after && done.len() < SUBMISSIONS,
        "{} submissions acknowledged",
        done.len()
    );

    // After the restart each acknowledged submission is there, under its event: sent again,
    // it answers with the same event and records nothing.
    let service = common::Service::start(&database, &log, &[]);
    assert_eq!(
        verify(service.port)["problems"],
        json!([]),
        "the chain verifies after the kill"
    );
    let started = std::time::Instant::now();
    let mut again: Vec<(String, u64)> = Vec::new();
    let everything: Vec<String> = (0..CLIENTS).flat_map(keys_of).collect();
    for chunk in everything.chunks(SUBMISSIONS / CLIENTS) {
        let sent = submit(service.port, &token, chunk, &AtomicUsize::new(0));
        assert_eq!(sent.len(), chunk.len());
        again.extend(sent);
    }
    println!(
        "{} submissions (again) in {:?}",
        again.len(),
        started.elapsed()
    );
    let seq_of: std::collections::HashMap<&str, u64> =
        again.iter().map(|(k, s)| (k.as_str(), *s)).collect();
    for (key, seq) in &done {
        assert_eq!(
            seq_of[key.as_str()],
            *seq,
            "acknowledged submission {key} moved or doubled"
        );
    }
    let distinct: std::collections::HashSet<u64> = again.iter().map(|(_, s)| *s).collect();
    assert_eq!(distinct.len(), SUBMISSIONS, "one event per submission");

    let verified = verify(service.port);
    assert_eq!(verified["problems"], json!([]));
    assert_eq!(
        verified["events"].as_u64().unwrap(),
        before + SUBMISSIONS as u64,
        "every submission recorded exactly once"
    );
}
