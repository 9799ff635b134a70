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

/// A free TCP port on the loopback interface.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits until something accepts connections on `port`, or panics with `log`'s content.
pub fn wait_for_port(port: u16, child: &mut std::process::Child, log: &Path) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while std::time::Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "the server exited ({status}): {}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!(
        "nothing listens on port {port}: {}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

/// A real SurrealDB server on 127.0.0.1, built from the `surrealdb-server` crate by
/// `scripts/surreal-server.sh` (the test command builds it first). Killed when dropped.
pub struct SurrealServer {
    child: std::process::Child,
    pub url: String,
    pub port: u16,
    log: tempfile::NamedTempFile,
}

pub const SURREAL_USER: &str = "root";
pub const SURREAL_PASSWORD: &str = "registre-test-root";

impl SurrealServer {
    /// Runs `statements` with the SurrealDB command line on `endpoint` (an embedded database
    /// registre does not hold open, say), in registre's namespace: what it printed.
    pub fn sql(endpoint: &str, statements: &str) -> String {
        // The command line keeps a history.txt where it runs.
        let scratch = tempfile::tempdir().unwrap();
        let mut command = Command::new(Self::binary());
        command
            .current_dir(scratch.path())
            .args([
                "sql",
                "--endpoint",
                endpoint,
                "--ns",
                "registre",
                "--db",
                "registre",
            ])
            .arg("--hide-welcome")
            .stderr(std::process::Stdio::null());
        let output = output_with_input(&mut command, statements);
        assert!(output.status.success(), "surreal sql: {statements}");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// The binary: `REGISTRE_SURREAL_BIN`, else where the build script puts it.
    fn binary() -> std::path::PathBuf {
        let path = std::env::var_os("REGISTRE_SURREAL_BIN")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| {
                Path::new(env!("CARGO_MANIFEST_DIR")).join("target/surreal-server/debug/surreal")
            });
        assert!(
            path.is_file(),
            "no SurrealDB server at {}: build it with scripts/surreal-server.sh (scripts/test.sh does)",
            path.display()
        );
        path
    }

    /// Starts a server storing in `storage` (`memory`, or `surrealkv://DIR`).
    pub fn start(storage: &str) -> Self {
        Self::start_on(free_port(), storage)
    }

    pub fn start_on(port: u16, storage: &str) -> Self {
        let log = tempfile::NamedTempFile::new().unwrap();
        let mut child = Command::new(Self::binary())
            .args([
                "start",
                "--bind",
                &format!("127.0.0.1:{port}"),
                "--user",
                SURREAL_USER,
                "--pass",
                SURREAL_PASSWORD,
                "--no-banner",
                "--log",
                "warn",
                storage,
            ])
            .stdout(log.reopen().unwrap())
            .stderr(log.reopen().unwrap())
            .spawn()
            .unwrap();
        wait_for_port(port, &mut child, log.path());
        SurrealServer {
            child,
            url: format!("ws://127.0.0.1:{port}"),
            port,
            log,
        }
    }

    pub fn credentials() -> registre::store::Credentials {
        registre::store::Credentials {
            username: SURREAL_USER.into(),
            password: SURREAL_PASSWORD.into(),
        }
    }

    /// Stops the server (as a crash would: SIGKILL) and waits for it.
    pub fn kill(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for SurrealServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One HTTP/1.1 request on a fresh connection to 127.0.0.1:`port`: the status and body.
/// Plain sockets, so that the tests talk to the real server as any client would.
pub fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> std::io::Result<(u16, String)> {
    let answer = http_raw(port, method, path, headers, body)?;
    let body = String::from_utf8(answer.body).map_err(std::io::Error::other)?;
    Ok((answer.status, body))
}

/// An answer as received: status, headers (names in lower case) and body bytes.
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// [`http`], keeping the headers and the body as bytes (PDF files).
pub fn http_raw(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> std::io::Result<Answer> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(std::time::Duration::from_secs(60)))?;
    let body = body.unwrap_or("");
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes())?;
    // A server that answers before reading the whole body (a refused sign-in) closes with
    // unread bytes, which resets the connection: what arrived before the reset is the answer.
    let mut response = Vec::new();
    let mut chunk = [0; 16 * 1024];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => response.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset && !response.is_empty() => {
                break;
            }
            Err(e) => return Err(e),
        }
    }
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no end of headers"))?;
    let head = String::from_utf8_lossy(&response[..split]).into_owned();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("no status in {head:?}")))?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Ok(Answer {
        status,
        headers,
        body: response[split + 4..].to_vec(),
    })
}

/// `registre serve` on a free port of 127.0.0.1, killed when dropped.
pub struct Service {
    child: std::process::Child,
    pub port: u16,
    pub log: std::path::PathBuf,
}

impl Service {
    pub fn start(database: &str, log: &Path, extra: &[&str]) -> Self {
        Self::start_with(database, log, extra, &[])
    }

    /// [`Service::start`] with more environment variables.
    pub fn start_with(database: &str, log: &Path, extra: &[&str], env: &[(&str, &str)]) -> Self {
        let port = free_port();
        let port_text = port.to_string();
        let mut args = vec!["serve", "--database", database, "--port", &port_text];
        args.extend(extra);
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_registre"))
            .args(&args)
            .envs(env.iter().copied())
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap();
        // This very server must say it listens: another test's server that drew the same
        // free port would accept connections too, and vanish when that test ends.
        let listening = format!("registre écoute sur http://127.0.0.1:{port}/");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let printed = std::fs::read_to_string(log).unwrap_or_default();
            if printed.contains(&listening) {
                break;
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!("the server exited ({status}): {printed}");
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the server does not listen on {port}: {printed}"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        wait_for_port(port, &mut child, log);
        Service {
            child,
            port,
            log: log.to_owned(),
        }
    }

    /// The first administrator's password, as `serve` printed it on first start.
    pub fn first_admin_password(&self) -> String {
        std::fs::read_to_string(&self.log)
            .unwrap()
            .lines()
            .find_map(|l| l.strip_prefix("Mot de passe (affiché une seule fois) : "))
            .expect("the first start prints the password")
            .to_owned()
    }

    /// An API token of the first administrator (signed in with the printed password).
    pub fn admin_token(&self, name: &str) -> String {
        let body = format!(r#"{{"name": "{name}", "role": "admin"}}"#);
        api_token(
            self.port,
            "admin@registre.invalid",
            &self.first_admin_password(),
            &body,
        )
    }

    /// SIGKILL, as a crash or a power cut would stop it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, as `systemctl stop` or `docker stop` would stop it: how it exited.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(sent.success(), "kill -TERM {pid}");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the server does not stop: {}",
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.kill();
    }
}

/// An API token for `login`, created with a password (HTTP Basic).
pub fn api_token(port: u16, login: &str, password: &str, body: &str) -> String {
    use base64::Engine;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{login}:{password}"));
    let (status, answer) = http(
        port,
        "POST",
        "/api/v1/tokens",
        &[
            ("Authorization", &format!("Basic {basic}")),
            ("Content-Type", "application/json"),
        ],
        Some(body),
    )
    .unwrap();
    assert_eq!(status, 201, "{answer}");
    let value: serde_json::Value = serde_json::from_str(&answer).unwrap();
    value["token"].as_str().unwrap().to_owned()
}

/// Writes the benchmarks' synthetic register (700 organisations × 40 activities, seed 1, about
/// 40 MB of YAML) to `path`.
pub fn write_synthetic_register(path: &Path) {
    write_synthetic(path, 700, 40);
}

/// Writes the synthetic register of `organisations` × `activities` (seed 1) to `path`, in
/// JSON if its name ends in `.json`, else in YAML.
pub fn write_synthetic(path: &Path, organisations: usize, activities: usize) {
    let status = Command::new(env!("CARGO_BIN_EXE_registre"))
        .args(["demo", "synthetic", "--organisations"])
        .arg(organisations.to_string())
        .arg("--activities")
        .arg(activities.to_string())
        .args(["--seed", "1", "--output"])
        .arg(path)
        .status()
        .expect("registre starts");
    assert!(status.success(), "the synthetic register is written");
}

/// Runs `pdftotext` (poppler-utils, installed by scripts/test.sh) on `pdf` with `args`.
fn pdftotext(pdf: &[u8], args: &[&str]) -> String {
    use std::io::Write;
    let mut child = Command::new("pdftotext")
        .args(args)
        .args(["-", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("pdftotext is needed to read PDFs back ({e}): install poppler-utils, or run scripts/test.sh")
        });
    child.stdin.take().unwrap().write_all(pdf).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "pdftotext failed");
    String::from_utf8(output.stdout).expect("pdftotext writes UTF-8")
}

/// The text of a PDF as a reader extracts it, whitespace (line breaks, no-break spaces)
/// folded into single spaces.
pub fn pdf_text(pdf: &[u8]) -> String {
    fold(&pdftotext(pdf, &["-enc", "UTF-8"]))
}

/// `text` with every run of whitespace (line breaks, no-break spaces) made one space.
pub fn fold(text: &str) -> String {
    text.split(|c: char| c.is_whitespace() || c == '\u{a0}' || c == '\u{202f}')
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// For each page of a PDF, the rightmost and lowest extent of its words (in points, from the
/// top left), as `pdftotext -bbox` reports them.
pub fn pdf_word_extents(pdf: &[u8]) -> Vec<(usize, f64, f64)> {
    let boxes = pdftotext(pdf, &["-bbox", "-enc", "UTF-8"]);
    let attribute = |tag: &str, name: &str| -> f64 {
        let start = tag.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
        tag[start..].split('"').next().unwrap().parse().unwrap()
    };
    let mut pages = Vec::new();
    for tag in boxes.split('<') {
        if tag.starts_with("page ") {
            pages.push((pages.len() + 1, 0.0f64, 0.0f64));
        } else if tag.starts_with("word ") {
            let page = pages.last_mut().expect("words are inside pages");
            page.1 = page.1.max(attribute(tag, "xMax"));
            page.2 = page.2.max(attribute(tag, "yMax"));
        }
    }
    pages
}

/// Signs in through the sign-in form, as a browser does; the `Cookie` header of the session.
pub fn sign_in(port: u16, login: &str, password: &str) -> String {
    let cookies = |answer: &Answer| -> Vec<String> {
        answer
            .headers
            .iter()
            .filter(|(name, _)| name == "set-cookie")
            .filter_map(|(_, value)| value.split(';').next().map(str::to_owned))
            .collect()
    };
    let form = http_raw(port, "GET", "/connexion", &[], None).unwrap();
    let page = String::from_utf8(form.body.clone()).unwrap();
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the sign-in form carries a CSRF token");
    let encode = |text: &str| -> String {
        text.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    let body = format!(
        "csrf={}&login={}&password={}",
        encode(csrf),
        encode(login),
        encode(password)
    );
    let cookie = cookies(&form).join("; ");
    let answer = http_raw(
        port,
        "POST",
        "/connexion",
        &[
            ("Cookie", &cookie),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        Some(&body),
    )
    .unwrap();
    assert_eq!(answer.status, 303, "sign-in refused");
    cookies(&answer).join("; ")
}

/// A field of `/proc/PID/status` in kB (`VmRSS:`, `VmHWM:`, `RssAnon:`…), in MB.
pub fn proc_mb(pid: u32, field: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .unwrap()
        / 1024.0
}

/// `wrk`'s latency figure (`1.23ms`, `850.00us`, `1.02s`) in milliseconds.
pub fn wrk_millis(text: &str) -> f64 {
    let (number, factor) = if let Some(n) = text.strip_suffix("us") {
        (n, 0.001)
    } else if let Some(n) = text.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1000.0)
    } else {
        (text, 1.0)
    };
    number.parse::<f64>().unwrap() * factor
}

/// What `command` printed, given `input` on its standard input (standard output and, unless
/// the command says otherwise, standard error captured).
pub fn output_with_input(command: &mut Command, input: &str) -> std::process::Output {
    use std::io::Write;
    let mut child = command
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// Waits until `log` has a line containing `text` (`within` at most): its whole text.
pub fn wait_for_log(log: &Path, text: &str, within: std::time::Duration) -> String {
    let deadline = std::time::Instant::now() + within;
    loop {
        let printed = std::fs::read_to_string(log).unwrap_or_default();
        if printed.contains(text) {
            return printed;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "« {text} » not in the log: {printed}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}
