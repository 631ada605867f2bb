//! Workloads against the real demo backend on loopback.
//!
//! These tests check the load, not the verdict: a few seconds of churn can
//! read as growth, so runs that are not about the verdict pass
//! `--max-growth 100GB/h` to keep it out of their exit code.

use crate::common::*;

/// The demo backend launched by memsoak, with extra flags.
fn target(extra: &str) -> String {
    let args: Vec<String> = extra
        .split_whitespace()
        .map(|a| format!(", \"{a}\""))
        .collect();
    format!(
        r#"[target]
command = ["{{memsoak}}", "demo-backend", "--port", "{{port}}"{}]
ready_url = "http://127.0.0.1:{{port}}/health"
"#,
        args.concat()
    )
}

/// A collab workload on the demo backend's endpoint, with `settings` (TOML lines).
fn collab(name: &str, settings: &str) -> String {
    format!(
        "\n[[workload]]\nname = \"{name}\"\nkind = \"collab\"\nurl = \"ws://127.0.0.1:{{port}}/collab/{{doc}}\"\n{settings}"
    )
}

#[test]
fn every_message_reaches_each_other_client_of_its_doc_and_no_other() {
    let profile =
        target("") + &collab("editors", "docs = 3\nclients_per_doc = 3\nrate = \"5/s\"\n");
    let r = soak_profile(
        &profile,
        "--duration 6s --warmup 1s --interval 500ms --on-inconclusive pass --max-growth 100GB/h",
        &[],
    );
    assert_eq!(r.code(), Some(0), "{}", r.describe());
    let w = workload(&r.summary(), "editors");
    let sent = num(&w["sent"]);
    assert!(sent >= 9 * 5 * 4, "{w}");
    // Each message goes to the two other clients of its document.
    assert_eq!(num(&w["received"]), 2 * sent, "{w}");
    assert_eq!(num(&w["expected_deliveries"]), 2 * sent, "{w}");
    for zero in ["lost", "misdelivered", "echoed", "errors", "late_sends"] {
        assert_eq!(num(&w[zero]), 0, "{zero}: {w}");
    }
    assert_eq!(num(&w["connects"]), 9);
    assert!(w["latency"]["p99_ms"].as_f64().unwrap() > 0.0);
    // Per-interval rows were streamed.
    let csv = std::fs::read_to_string(r.dir.join("workload.csv")).unwrap();
    let rows = csv
        .lines()
        .filter(|l| l.contains(",editors,collab,"))
        .count();
    assert!(rows >= 5, "{csv}");
}

#[test]
fn churn_reconnects_with_clean_closes_and_abrupt_drops() {
    let profile = target("")
        + &collab("churners", "docs = 1\nclients_per_doc = 4\nrate = \"4/s\"\nchurn_interval = \"1s\"\nabrupt_fraction = 0.5\n");
    let r = soak_profile(
        &profile,
        "--duration 8s --warmup 1s --interval 500ms --on-inconclusive pass --max-growth 100GB/h",
        &[],
    );
    assert_eq!(r.code(), Some(0), "{}", r.describe());
    let w = workload(&r.summary(), "churners");
    let (clean, abrupt) = (num(&w["clean_closes"]), num(&w["abrupt_drops"]));
    // 4 clients × 8 s / 1 s mean lifetime ≈ 32 disconnects.
    assert!((10..=70).contains(&(clean + abrupt)), "{w}");
    assert!(clean > 0 && abrupt > 0, "{w}");
    // Every churn disconnect is followed by a reconnect (the last may be cut by the end).
    assert!(num(&w["connects"]) >= 4 + clean + abrupt - 4, "{w}");
    assert_eq!(num(&w["errors"]), 0, "{w}");
}

#[test]
fn clients_back_off_when_the_backend_dies_and_totals_are_kept() {
    // The backend is killed at 3 s; its parent lives on until 9 s, so the
    // clients' retries are observable before the run ends as a target failure.
    let profile = r#"
[target]
command = ["sh", "-c", "\"$0\" demo-backend --port \"$1\" & b=$!; sleep 3; kill -9 $b; sleep 6", "{memsoak}", "{port}"]
ready_url = "http://127.0.0.1:{port}/health"

[[workload]]
name = "editors"
kind = "collab"
url = "ws://127.0.0.1:{port}/collab/{doc}"
docs = 2
clients_per_doc = 2
rate = "5/s"
backoff_initial = "1s"
"#;
    let r = soak_profile(profile, "--duration 60s --warmup 1s --interval 500ms", &[]);
    assert_eq!(r.code(), Some(3), "{}", r.describe());
    let s = r.summary();
    assert!(
        s["target"]["failure"]
            .as_str()
            .unwrap()
            .contains("ended during the run"),
        "{s}"
    );
    let w = workload(&s, "editors");
    assert!(num(&w["sent"]) > 0, "totals kept: {w}");
    assert_eq!(
        num(&w["errors_by_kind"]["closed"]),
        4,
        "each client saw the server go: {w}"
    );
    // Retries at ~1 s and ~2 s after the failure (±20%) fit in the 6 s left,
    // a third (4 s later) may: 2–3 connect failures per client, not a storm.
    let connect = num(&w["errors_by_kind"]["connect"]);
    assert!(
        (8..=12).contains(&connect),
        "4 clients backing off made {connect} attempts: {w}"
    );
}

#[test]
fn leak_per_message_is_measured_per_message() {
    let profile = target("--leak-per-message 4KB")
        + &collab(
            "editors",
            "docs = 2\nclients_per_doc = 3\nrate = \"10/s\"\n",
        );
    let r = soak_profile(&profile, "--duration 15s --warmup 3s --interval 250ms", &[]);
    assert_eq!(r.code(), Some(1), "{}", r.describe());
    let w = workload(&r.summary(), "editors");
    let per_message = w["growth_per_message_bytes"].as_f64().unwrap();
    assert!(
        (per_message / 4000.0 - 1.0).abs() < 0.25,
        "{per_message} bytes per message, injected 4000"
    );
    assert!(r.stdout().contains("growth per message"), "{}", r.stdout());

    // Re-judging the folder restates it; with another warm-up the counts
    // after warm-up are unknown, so it is not stated.
    let dir = r.dir.to_str().unwrap();
    let o = run(&["report", dir]);
    assert_eq!(o.status.code(), Some(1), "{}", describe(&o));
    let again = workload(&summary(&r.dir), "editors")["growth_per_message_bytes"].as_f64();
    assert_eq!(again, Some(per_message));
    let o = run(&["report", dir, "--warmup", "5s"]);
    assert_eq!(o.status.code(), Some(1), "{}", describe(&o));
    assert!(workload(&summary(&r.dir), "editors")["growth_per_message_bytes"].is_null());
}

/// An agent workload whose chat step sends `${MEMSOAK_TEST_TOKEN}`.
pub(crate) const AGENT: &str = r#"
[[workload]]
name = "agents"
kind = "agent"
base_url = "http://127.0.0.1:{port}"
agents = 2
rate = "5/s"

[[workload.step]]
name = "chat"
path = "/agent/chat"
headers = { Authorization = "Bearer ${MEMSOAK_TEST_TOKEN}" }
json = '{"message": "hello {seq}"}'
expect_status = 200
expect_field = "reply"
"#;

#[test]
fn env_token_reaches_the_server_and_no_output_file() {
    let secret = "s3cr3t-token-5f0c1e";
    let profile = target("") + AGENT;
    let env = [
        ("MEMSOAK_TEST_TOKEN", secret),
        ("MEMSOAK_DEMO_TOKEN", secret),
    ];
    let r = soak_profile(
        &profile,
        "--duration 4s --warmup 1s --interval 500ms --on-inconclusive pass --max-growth 100GB/h",
        &env,
    );
    assert_eq!(r.code(), Some(0), "{}", r.describe());
    let w = workload(&r.summary(), "agents");
    assert!(num(&w["sent"]) >= 15, "{w}");
    assert_eq!(num(&w["errors"]), 0, "the server accepted the token: {w}");
    assert_eq!(w["steps"][0]["name"], "chat");
    assert_no_file_contains(&r.dir, secret);
    assert!(!r.stdout().contains(secret) && !r.stderr().contains(secret));

    // Control: a wrong token is refused, so the check above is meaningful.
    let env = [
        ("MEMSOAK_TEST_TOKEN", "wrong"),
        ("MEMSOAK_DEMO_TOKEN", secret),
    ];
    let r = soak_profile(
        &profile,
        "--duration 3s --warmup 1s --interval 500ms --on-inconclusive pass --max-growth 100GB/h",
        &env,
    );
    let w = workload(&r.summary(), "agents");
    assert_eq!(num(&w["errors_by_kind"]["status"]), num(&w["sent"]), "{w}");
}

#[test]
fn health_step_flags_a_target_that_stops_answering() {
    // The backend answers /agents/health only with the token; polls without
    // it fail, so the monitor sees an unhealthy target from the start.
    let profile = target("--agent-token t0k")
        + r#"
[[workload]]
name = "monitor"
kind = "agent"
base_url = "http://127.0.0.1:{port}"

[[workload.step]]
kind = "health"
path = "/agents/health"
every = "200ms"
unhealthy_after = "1s"
"#;
    let r = soak_profile(
        &profile,
        "--duration 3s --warmup 1s --interval 500ms --on-inconclusive pass --max-growth 100GB/h",
        &[],
    );
    assert_eq!(r.code(), Some(0), "{}", r.describe());
    let h = &workload(&r.summary(), "monitor")["health"][0];
    assert_eq!(h["flagged"], true, "{h}");
    assert!(h["longest_unhealthy_s"].as_f64().unwrap() >= 1.0, "{h}");
    assert!(
        r.stdout().contains("health 'GET /agents/health' flagged"),
        "{}",
        r.stdout()
    );
}

#[test]
fn workload_profile_errors_are_clear() {
    let cases = [
        (
            "[[workload]]\nkind = \"collab\"\nurl = \"ws://127.0.0.1:1/c/{doc}\"\nmessage = \"hi\"\n",
            "must contain {tag}",
        ),
        (
            "[[workload]]\nkind = \"agent\"\ndocs = 2\n[[workload.step]]\nurl = \"http://127.0.0.1:1/\"\n",
            "key 'docs' does not apply to agent workloads",
        ),
        ("[[workload]]\nkind = \"collab\"\nurll = \"x\"\n", ":5: unknown key 'urll' in [[workload]]"),
        ("[[workload]]\nkind = \"websocket\"\n", ":4: invalid value 'websocket' for 'kind'"),
        (
            "[[workload]]\nkind = \"agent\"\n[[workload.step]]\nurl = \"http://127.0.0.1:1/\"\nheaders = { A = \"${MEMSOAK_UNSET_VAR_FOR_TEST}\" }\n",
            "environment variable MEMSOAK_UNSET_VAR_FOR_TEST is not set",
        ),
    ];
    for (body, expected) in cases {
        let profile = "[target]\ncommand = [\"sleep\", \"30\"]\n".to_string() + body;
        let r = soak_profile(&profile, "", &[]);
        assert_eq!(r.code(), Some(2), "{body}\n{}", r.describe());
        assert!(
            r.stderr().contains(expected),
            "expected {expected:?}:\n{}",
            r.stderr()
        );
    }
}

/// A WebSocket server on loopback that records each handshake's request
/// target and every text message it receives.
struct Capture {
    port: u16,
    seen: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Capture {
    fn start() -> Capture {
        use futures_util::StreamExt;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let record = seen.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                // Bounded: the test's run lasts seconds.
                let until = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
                while let Ok(Ok((stream, _))) =
                    tokio::time::timeout_at(until, listener.accept()).await
                {
                    let record = record.clone();
                    tokio::spawn(async move {
                        let uri = record.clone();
                        // The error type is tungstenite's own, large response.
                        #[allow(clippy::result_large_err)]
                        let callback = move |req: &tokio_tungstenite::tungstenite::handshake::server::Request,
                                             resp| {
                            uri.lock().unwrap().push(req.uri().to_string());
                            Ok(resp)
                        };
                        let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(stream, callback).await
                        else {
                            return;
                        };
                        while let Some(Ok(m)) = ws.next().await {
                            if let Ok(text) = m.to_text() {
                                record.lock().unwrap().push(text.to_string());
                            }
                        }
                    });
                }
            });
        });
        Capture { port, seen }
    }
}

#[test]
fn env_values_are_sent_on_the_wire_and_never_logged() {
    let secret = "S3CR3TVALUE-9d1f";
    let capture = Capture::start();
    let profile = target("")
        + &format!(
            r#"
[[workload]]
name = "editors"
kind = "collab"
url = "ws://127.0.0.1:{}/collab/{{doc}}?t=${{MS_SECRET}}"
clients_per_doc = 1
rate = "5/s"
message = '{{"tag":"{{tag}}","auth":"${{MS_SECRET}}"}}'

[[workload]]
name = "monitor"
kind = "agent"
base_url = "http://127.0.0.1:{{port}}"
[[workload.step]]
kind = "health"
path = "/nonexistent?token=${{MS_SECRET}}"
every = "200ms"
unhealthy_after = "1s"
"#,
            capture.port
        );
    let r = soak_profile(
        &profile,
        "-vvv --duration 3s --warmup 1s --interval 500ms --on-inconclusive pass --max-growth 100GB/h",
        &[("MS_SECRET", secret)],
    );
    assert_eq!(r.code(), Some(0), "{}", r.describe());
    let seen = capture.seen.lock().unwrap().clone();
    assert!(
        seen.iter()
            .any(|s| s == &format!("/collab/editors-0?t={secret}")),
        "the URL is expanded on the wire: {seen:?}"
    );
    assert!(
        seen.iter()
            .any(|s| s.contains(&format!("\"auth\":\"{secret}\""))),
        "the message is expanded on the wire: {seen:?}"
    );
    // The health step was unhealthy, so its URL was logged: as written.
    let stderr = r.stderr();
    assert!(
        stderr.contains("/nonexistent?token=${MS_SECRET}"),
        "{stderr}"
    );
    assert!(
        !stderr.contains(secret) && !r.stdout().contains(secret),
        "{stderr}"
    );
    for entry in std::fs::read_dir(&r.dir).unwrap().flatten() {
        let bytes = std::fs::read(entry.path()).unwrap();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(secret),
            "{} contains the secret",
            entry.path().display()
        );
    }
}
