//! A real `registre serve` under load and hostile use: parallel writes to one activity, the
//! largest imports it accepts, imports in parallel, an import cut short by SIGKILL.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

mod common;

use std::io::Write;
use std::time::{Duration, Instant};

use common::Service;
use serde_json::{Value, json};

const ADMIN: &str = "admin@registre.invalid";

fn admin_token(service: &Service) -> String {
    common::api_token(
        service.port,
        ADMIN,
        &service.first_admin_password(),
        r#"{"name": "charge", "role": "admin"}"#,
    )
}

fn json_headers(auth: &str) -> [(&str, &str); 2] {
    [
        ("Authorization", auth),
        ("Content-Type", "application/json"),
    ]
}

/// The most memory the process has held since it started, in MiB (Linux).
fn peak_mib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .expect("VmHWM in /proc/PID/status")
        / 1024
}

#[test]
fn parallel_writes_to_one_activity_never_answer_500() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("surrealkv://{}", dir.path().join("db").display());
    let service = Service::start(&database, &dir.path().join("serve.log"), &[]);
    let auth = format!("Bearer {}", admin_token(&service));
    let path = "/api/v1/organisations/saint-aubin/activities/cantine";
    let (status, text) =
        common::http(service.port, "GET", path, &json_headers(&auth), None).unwrap();
    assert_eq!(status, 200, "{text}");
    let activity: Value = serde_json::from_str(&text).unwrap();

    let writers: Vec<_> = (0..20)
        .map(|i| {
            let mut changed = activity.clone();
            changed["name"] = json!(format!("Restauration scolaire, version {i}"));
            let (port, auth) = (service.port, auth.clone());
            std::thread::spawn(move || {
                let answer = common::http_raw(
                    port,
                    "PUT",
                    path,
                    &json_headers(&auth),
                    Some(&changed.to_string()),
                )
                .unwrap();
                (i, answer)
            })
        })
        .collect();
    let mut saved = Vec::new();
    for writer in writers {
        let (i, answer) = writer.join().unwrap();
        match answer.status {
            200 => saved.push(format!("Restauration scolaire, version {i}")),
            409 => {}
            503 => assert!(answer.header("retry-after").is_some(), "503 says when"),
            other => panic!(
                "write {i}: {other} {}",
                String::from_utf8_lossy(&answer.body)
            ),
        }
    }
    println!("{} of 20 parallel writes saved", saved.len());
    assert!(!saved.is_empty(), "some writes went through");
    let (_, text) = common::http(service.port, "GET", path, &json_headers(&auth), None).unwrap();
    let stored: Value = serde_json::from_str(&text).unwrap();
    assert!(
        saved.iter().any(|name| stored["name"] == json!(name)),
        "the stored sheet is one of those acknowledged: {}",
        stored["name"]
    );
}

#[test]
fn an_import_holds_its_memory_and_its_place_in_line() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("surrealkv://{}", dir.path().join("db").display());
    let service = Service::start(&database, &dir.path().join("serve.log"), &["--no-demo"]);
    let auth = format!("Bearer {}", admin_token(&service));
    let limit = registre::web::REGISTER_LIMIT as usize;
    let filler = limit - 1024;
    let hostile = [
        (
            "a huge unknown value",
            format!(
                r#"{{"format": "registre/v1", "organisations": [], "notes": "{}"}}"#,
                "a".repeat(filler)
            ),
        ),
        (
            "a huge unknown key",
            format!(
                r#"{{"format": "registre/v1", "organisations": [], "{}": 1}}"#,
                "a".repeat(filler)
            ),
        ),
        (
            "a huge YAML value",
            format!(
                "format: registre/v1\norganisations: []\nnotes: {}\n",
                "a".repeat(filler)
            ),
        ),
    ];
    for (what, body) in &hostile {
        let content_type = if body.starts_with('{') {
            "application/json"
        } else {
            "application/yaml"
        };
        let started = Instant::now();
        let (status, answer) = common::http(
            service.port,
            "POST",
            "/api/v1/register",
            &[("Authorization", &auth), ("Content-Type", content_type)],
            Some(body),
        )
        .unwrap();
        println!(
            "{what} ({} MiB): {status} in {:.1} s, server peak {} MiB",
            body.len() >> 20,
            started.elapsed().as_secs_f64(),
            peak_mib(service.pid())
        );
        assert_eq!(status, 422, "{what}: {}", &answer[..answer.len().min(500)]);
        assert!(
            answer.len() < 4096,
            "{what}: the answer does not echo the input ({} bytes)",
            answer.len()
        );
    }
    let peak = peak_mib(service.pid());
    assert!(peak < 1024, "server peak {peak} MiB for the largest bodies");

    let (status, _) = common::http(
        service.port,
        "POST",
        "/api/v1/register",
        &json_headers(&auth),
        Some(&"a".repeat(limit + 1)),
    )
    .unwrap();
    assert_eq!(status, 413, "past the limit");

    // Imports on their way (their bodies still arriving) take every place. A stalled import
    // and the first small one may reach the server together: if the small one took the place
    // first, the stalled one was answered 503 at once, and another is sent in its stead.
    let stall = || {
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", service.port)).unwrap();
        write!(
            stream,
            "POST /api/v1/register HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {auth}\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{{\"format\"{}",
            " ".repeat(4096)
        )
        .unwrap();
        stream
    };
    let answered = |stream: &std::net::TcpStream| {
        stream.set_nonblocking(true).unwrap();
        let mut byte = [0u8];
        let answered =
            !matches!(stream.peek(&mut byte), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock);
        stream.set_nonblocking(false).unwrap();
        answered
    };
    let mut stalled: Vec<std::net::TcpStream> = (0..registre::web::CONCURRENT_IMPORTS)
        .map(|_| stall())
        .collect();
    // The smallest import, sent until its answer is `wanted` (or 10 s have passed).
    let import_until = |stalled: &mut Vec<std::net::TcpStream>, wanted: fn(u16) -> bool| {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let answer = common::http_raw(
                service.port,
                "POST",
                "/api/v1/register",
                &json_headers(&auth),
                Some(r#"{"format": "registre/v1", "organisations": []}"#),
            )
            .unwrap();
            if wanted(answer.status) || Instant::now() > deadline {
                break answer;
            }
            for stream in stalled.iter_mut() {
                if answered(stream) {
                    *stream = stall();
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    let busy = import_until(&mut stalled, |status| status == 503);
    assert_eq!(
        busy.status,
        503,
        "another import waits its turn: {}",
        std::fs::read_to_string(&service.log).unwrap_or_default()
    );
    assert!(busy.header("retry-after").is_some());
    stalled.clear();
    let status = import_until(&mut stalled, |status| status != 503).status;
    assert_eq!(status, 200, "the places free up with the abandoned imports");
}

/// Appends ` (v2)` to the name of every activity of a register in JSON.
fn second_version(register: &str) -> String {
    let mut value: Value = serde_json::from_str(register).unwrap();
    for org in value["organisations"].as_array_mut().unwrap() {
        for activity in org["activities"].as_array_mut().unwrap() {
            let name = format!("{} (v2)", activity["name"].as_str().unwrap());
            activity["name"] = json!(name);
        }
    }
    value.to_string()
}

#[test]
fn an_import_cut_by_sigkill_is_all_or_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("surrealkv://{}", dir.path().join("db").display());
    let log = dir.path().join("serve.log");
    let mut service = Service::start(&database, &log, &["--no-demo"]);
    let token = admin_token(&service);
    let auth = format!("Bearer {token}");
    let file = dir.path().join("register.json");
    common::write_synthetic(&file, 3, 300);
    let first = std::fs::read_to_string(&file).unwrap();
    let started = Instant::now();
    let (status, answer) = common::http(
        service.port,
        "POST",
        "/api/v1/register",
        &json_headers(&auth),
        Some(&first),
    )
    .unwrap();
    assert_eq!(status, 200, "{answer}");
    let duration = started.elapsed();

    // The second version is sent, and the server killed at a random moment of its import.
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let kill_after = duration.mul_f64(1.5 * f64::from(seed % 1000) / 1000.0);
    println!("first import {duration:?}; SIGKILL {kill_after:?} into the second");
    let port = service.port;
    let second = second_version(&first);
    let sender = {
        let auth = auth.clone();
        std::thread::spawn(move || {
            common::http(
                port,
                "POST",
                "/api/v1/register",
                &json_headers(&auth),
                Some(&second),
            )
        })
    };
    std::thread::sleep(kill_after);
    service.kill();
    let acknowledged = matches!(sender.join().unwrap(), Ok((200, _)));

    let service = Service::start(&database, &log, &["--no-demo"]);
    let (status, text) = common::http(
        service.port,
        "GET",
        "/api/v1/register?format=json",
        &json_headers(&auth),
        None,
    )
    .unwrap();
    assert_eq!(status, 200, "{text}");
    let stored: Value = serde_json::from_str(&text).unwrap();
    let names: Vec<&str> = stored["organisations"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|o| o["activities"].as_array().unwrap())
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 900);
    let new = names.iter().filter(|n| n.ends_with(" (v2)")).count();
    println!("after the restart: {new} of 900 activities at the second version");
    assert!(
        new == 0 || new == names.len(),
        "half an import: {new} of {} activities at the new version",
        names.len()
    );
    if acknowledged {
        assert_eq!(new, names.len(), "an acknowledged import is all there");
    }
}
