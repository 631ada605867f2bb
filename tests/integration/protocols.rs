//! The collaborative protocols teams run, against real servers installed
//! from the registries and served on loopback: pycrdt-websocket under
//! uvicorn and y-websocket's node server (Yjs), python-socketio (ASGI),
//! each clean and in a leaking variant (tests/servers/); raw dialogs with
//! binary frames and reply rules against the demo backend; TLS with a
//! certificate made for the test; and servers that misbehave on purpose.

use std::io::Write as _;

use crate::common::*;

/// uvicorn serving `app` of tests/servers on `{port}`.
fn uvicorn(app: &str, env: &str, extra: &[&str]) -> String {
    let extra: String = extra.iter().map(|a| format!(", \"{a}\"")).collect();
    format!(
        r#"[target]
command = ["python3", "-m", "uvicorn", "--app-dir", "tests/servers", "{app}", "--port", "{{port}}", "--log-level", "warning"{extra}]
ready_tcp = "127.0.0.1:{{port}}"
env = {{ {env} }}
"#
    )
}

/// y-websocket's server must be installed (never a skipped test).
fn assert_node_server_installed() {
    assert!(
        std::path::Path::new("tests/servers/yjs-node/node_modules/@y/websocket-server").is_dir(),
        "y-websocket's server is not installed: run scripts/test (it runs `npm ci --prefix tests/servers/yjs-node`)"
    );
}

/// y-websocket's node server on `{port}`.
fn node(env: &str) -> String {
    let server = "tests/servers/yjs-node/server.mjs";
    assert_node_server_installed();
    format!(
        r#"[target]
command = ["node", "{server}"]
ready_tcp = "127.0.0.1:{{port}}"
env = {{ HOST = "127.0.0.1", PORT = "{{port}}"{env} }}
"#
    )
}

/// A worked example of docs/protocols.md, read from examples/protocols/
/// and checked to be in the page as written.
fn example(name: &str) -> String {
    let text = std::fs::read_to_string(format!("examples/protocols/{name}")).unwrap();
    let page = std::fs::read_to_string("docs/protocols.md").unwrap();
    assert!(
        page.contains(&text),
        "docs/protocols.md shows examples/protocols/{name} as it is"
    );
    text
}

/// Yjs editors on `/notes-{doc}`.
fn yjs_editors(extra: &str) -> String {
    format!(
        r#"
[[workload]]
name = "editors"
kind = "collab"
protocol = "yjs"
url = "ws://127.0.0.1:{{port}}/notes-{{doc}}"
docs = 2
clients_per_doc = 3
ramp_up = "3s"
{extra}
"#
    )
}

/// The checks of a clean Yjs run: nothing lost, latency measured, every
/// document converged, no protocol trouble, and no FAIL.
fn assert_clean_yjs(r: &Soak) {
    assert!(matches!(r.code(), Some(0 | 4)), "{}", r.describe());
    let w = workload(&r.summary(), "editors");
    assert_eq!(w["protocol"], "yjs", "{w}");
    assert!(num(&w["received"]) > 100, "{w}");
    assert_eq!(num(&w["lost"]), 0, "{w}");
    assert_eq!(num(&w["misdelivered"]), 0, "{w}");
    assert_eq!(num(&w["errors"]), 0, "{w}");
    assert!(num(&w["latency"]["count"]) > 100, "{w}");
    assert_eq!(w["convergence"]["documents"], 2, "{w}");
    assert_eq!(w["convergence"]["converged"], 2, "{w}");
}

/// The checks of a leaking run: FAIL, with the server's process as where
/// it grows.
fn assert_leak_found(r: &Soak, process: &str) {
    assert_eq!(r.code(), Some(1), "{}", r.describe());
    let s = r.summary();
    let headline = s["attribution"]["headline"].as_str().unwrap_or_default();
    assert!(headline.contains(process), "{headline}: {s}");
    let w = workload(&s, "editors");
    // Around a churn reconnect a message can race a leaving client.
    assert!(
        num(&w["lost"]) * 100 <= num(&w["expected_deliveries"]),
        "{w}"
    );
}

/// A clean run: long enough for the servers' own start (interpreters,
/// V8, allocator arenas) to settle, judged against a limit a minute's data
/// can tell apart from that settling. A Yjs document also grows with its
/// edit history (each deleted item leaves a small record), so the edits
/// are few, as a handful of people typing make.
const CLEAN: &str = "--duration 90s --warmup 30s --interval 1s --max-growth 60MB/h";
/// A leaking run: leaks of a gigabyte an hour and more, clear within a
/// minute even through V8's steps.
const LEAKY: &str = "--duration 60s --warmup 10s --interval 1s --max-growth 60MB/h";

#[test]
fn yjs_peers_of_pycrdt_websocket_sync_edit_and_converge() {
    assert_clean_yjs(&soak_profile(&example("yjs-pycrdt.toml"), CLEAN, &[]));
}

#[test]
fn a_pycrdt_server_that_keeps_every_update_fails_and_is_named() {
    let profile = uvicorn("yjs_pycrdt:app", "LEAK = \"1\"", &[])
        + &yjs_editors("rate = \"5/s\"\nmessage = \"{tag} {random:8000} \"\n");
    assert_leak_found(&soak_profile(&profile, LEAKY, &[]), "python3");
}

#[test]
fn yjs_peers_of_the_y_websocket_node_server_sync_edit_and_converge() {
    assert_node_server_installed();
    assert_clean_yjs(&soak_profile(&example("yjs-node.toml"), CLEAN, &[]));
}

#[test]
fn a_y_websocket_server_that_keeps_every_message_fails_and_is_named() {
    let profile = node(", LEAK = \"1\"") + &yjs_editors("rate = \"5/s\"\n");
    assert_leak_found(&soak_profile(&profile, LEAKY, &[]), "node");
}

/// Socket.IO chat clients with auth, a room joined by event, and acks.
fn chat(rate: &str, text: usize) -> String {
    format!(
        r#"
[[workload]]
name = "editors"
kind = "collab"
protocol = "socketio"
url = "ws://127.0.0.1:{{port}}/socket.io/"
docs = 2
clients_per_doc = 3
rate = "{rate}"
ramp_up = "2s"
churn_interval = "30s"

[workload.socketio]
event = "chat"
data = '{{"room":"{{doc}}","tag":"{{tag}}","text":"{{random:{text}}}"}}'
auth = '{{"token":"${{MEMSOAK_TEST_CHAT_TOKEN}}"}}'
join_event = "join"
join_data = '{{"room":"{{doc}}"}}'
ack = true
"#
    )
}

#[test]
fn socketio_clients_connect_with_auth_join_rooms_and_get_acks() {
    let token = "chat-token-for-the-socketio-test";
    let profile = example("socketio.toml");
    let r = soak_profile(&profile, CLEAN, &[("CHAT_TOKEN", token)]);
    assert!(matches!(r.code(), Some(0 | 4)), "{}", r.describe());
    let w = workload(&r.summary(), "chat");
    assert_eq!(w["protocol"], "socketio", "{w}");
    let sent = num(&w["sent"]);
    assert!(sent > 300, "{w}");
    assert_eq!(num(&w["lost"]), 0, "{w}");
    assert_eq!(num(&w["errors"]), 0, "{w}");
    // Every event was acknowledged (the last ones may be in flight).
    assert!(num(&w["acks"]) + 6 >= sent, "{w}");
    assert!(num(&w["latency"]["count"]) > 300, "{w}");
    assert_no_file_contains(&r.dir, token);
    // A wrong token is refused by the server: counted, never a delivery.
    let wrong = profile.replace(r#"{"token":"${CHAT_TOKEN}"}"#, r#"{"token":"wrong"}"#);
    assert_ne!(wrong, profile);
    let r = soak_profile(
        &wrong,
        "--duration 8s --warmup 2s --on-inconclusive pass --max-growth 100GB/h",
        &[("CHAT_TOKEN", token)],
    );
    let w = workload(&r.summary(), "chat");
    assert!(
        w["errors_by_kind"]["rejected"].as_u64().unwrap_or(0) > 0,
        "{w}"
    );
    assert_eq!(num(&w["sent"]), 0, "{w}");
}

#[test]
fn a_socketio_server_with_an_unbounded_history_fails_and_is_named() {
    let profile = uvicorn("socketio_server:app", "LEAK = \"1\"", &[]) + &chat("10/s", 2000);
    let r = soak_profile(&profile, LEAKY, &[("MEMSOAK_TEST_CHAT_TOKEN", "x")]);
    assert_leak_found(&r, "python3");
}

#[test]
fn raw_binary_frames_and_reply_rules_keep_a_heartbeat_dialog_alive() {
    let profile = example("raw-heartbeat.toml");
    let flags = "--duration 12s --warmup 2s --on-inconclusive pass --max-growth 100GB/h";
    let r = soak_profile(&profile, flags, &[]);
    let w = workload_of(&r);
    assert!(num(&w["received"]) > 200, "{w}");
    assert_eq!(num(&w["lost"]), 0, "{w}");
    assert_eq!(num(&w["errors"]), 0, "{w}");
    // Without the reply the server drops every client after three pings.
    let (without, _) = profile.split_once("[[workload.reply]]").unwrap();
    let r = soak_profile(without, flags, &[]);
    let w = workload_of(&r);
    assert!(
        w["errors_by_kind"]["closed"].as_u64().unwrap_or(0) >= 6,
        "{w}"
    );
}

fn workload_of(r: &Soak) -> serde_json::Value {
    assert!(r.dir.join("summary.json").is_file(), "{}", r.describe());
    workload(&r.summary(), "editors")
}

/// A CA and a certificate for 127.0.0.1 signed by it, as PEM files.
fn certificates(dir: &std::path::Path) -> (String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::File::create(&path)
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        path.display().to_string()
    };
    (
        write("ca.pem", &ca_cert.pem()),
        write("cert.pem", &leaf.pem()),
        write("key.pem", &key.serialize_pem()),
    )
}

#[test]
fn wss_and_https_trust_a_ca_file_or_explicitly_any_certificate() {
    let tmp = tempfile::tempdir().unwrap();
    let (ca, cert, key) = certificates(tmp.path());
    let target = uvicorn(
        "socketio_server:app",
        "",
        &["--ssl-keyfile", &key, "--ssl-certfile", &cert],
    );
    let load = r#"
[[workload]]
name = "editors"
kind = "collab"
protocol = "socketio"
url = "wss://127.0.0.1:{port}/socket.io/"
docs = 1
clients_per_doc = 3
rate = "5/s"

[workload.socketio]
event = "chat"
join_event = "join"
join_data = '{"room":"{doc}"}'

[[workload]]
name = "probe"
kind = "agent"
base_url = "https://127.0.0.1:{port}"

[[workload.step]]
path = "/health"
"#;
    let flags = "--duration 10s --warmup 2s --on-inconclusive pass --max-growth 100GB/h";
    let trusted = format!("{target}{load}\n[tls]\nca_file = \"{ca}\"\n");
    for profile in [trusted, format!("{target}{load}\n[tls]\ninsecure = true\n")] {
        let r = soak_profile(&profile, flags, &[]);
        let s = r.summary();
        let w = workload(&s, "editors");
        assert!(num(&w["received"]) > 50, "{w}");
        assert_eq!(num(&w["errors"]), 0, "{w}");
        let p = workload(&s, "probe");
        assert!(num(&p["received"]) > 3, "{p}");
        assert_eq!(num(&p["errors"]), 0, "{p}");
    }
    // Trusting neither: every connection fails, counted, and the run ends.
    let r = soak_profile(&format!("{target}{load}"), flags, &[]);
    let s = r.summary();
    let w = workload(&s, "editors");
    assert_eq!(num(&w["received"]), 0, "{w}");
    assert!(
        w["errors_by_kind"]["connect"].as_u64().unwrap_or(0) > 0,
        "{w}"
    );
}

/// How a stand-in server misbehaves.
#[derive(Clone, Copy)]
enum Misbehaviour {
    /// Accepts the WebSocket, then closes it before any handshake.
    ClosesAtOnce,
    /// Answers every frame with bytes that are no y-sync message.
    Garbage,
    /// Sends a 50 MB y-sync update as soon as a client connects.
    Huge,
}

/// A WebSocket server on loopback that misbehaves; serves until the test
/// process ends.
fn stand_in(how: Misbehaviour) -> u16 {
    use tokio_tungstenite::tungstenite::{accept, Message};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let Ok(mut ws) = accept(stream) else { return };
                match how {
                    Misbehaviour::ClosesAtOnce => {
                        let _ = ws.close(None);
                        let _ = ws.flush();
                    }
                    Misbehaviour::Garbage => {
                        while ws.read().is_ok() {
                            let _ = ws.send(Message::binary(vec![0x00, 0x07, 0xff, 0xff]));
                        }
                    }
                    Misbehaviour::Huge => {
                        // Sync (0), update (2), a varint length, then bytes.
                        let n: usize = 50 << 20;
                        let mut frame = vec![0u8, 2];
                        let mut v = n;
                        while v >= 0x80 {
                            frame.push((v as u8 & 0x7f) | 0x80);
                            v >>= 7;
                        }
                        frame.push(v as u8);
                        frame.resize(frame.len() + n, b'x');
                        let _ = ws.send(Message::binary(frame));
                        while ws.read().is_ok() {}
                    }
                }
            });
        }
    });
    port
}

#[test]
fn servers_that_close_send_garbage_or_push_50_mb_are_counted_and_memsoak_stays_small() {
    for (how, kind) in [
        (Misbehaviour::ClosesAtOnce, "closed"),
        (Misbehaviour::Garbage, "protocol"),
        (Misbehaviour::Huge, "too_large"),
    ] {
        let port = stand_in(how);
        let profile = format!(
            r#"[target]
command = ["sleep", "60"]

[[workload]]
name = "editors"
kind = "collab"
protocol = "yjs"
url = "ws://127.0.0.1:{port}/room-{{doc}}"
clients_per_doc = 2
rate = "2/s"
backoff_initial = "200ms"
backoff_max = "500ms"
"#
        );
        let file = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
        std::fs::write(file.path(), &profile).unwrap();
        let out = tempfile::tempdir().unwrap();
        let dir = out.path().join("run");
        let mut child = memsoak()
            .args([
                "run",
                file.path().to_str().unwrap(),
                "--duration",
                "8s",
                "--warmup",
                "2s",
                "--on-inconclusive",
                "pass",
                "--max-growth",
                "100GB/h",
                "-q",
                "--out",
                dir.to_str().unwrap(),
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut peak_kb = 0u64;
        while child.try_wait().unwrap().is_none() {
            let status =
                std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap_or_default();
            if let Some(kb) = status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            {
                peak_kb = peak_kb.max(kb);
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let w = workload(&summary(&dir), "editors");
        assert!(
            w["errors_by_kind"][kind].as_u64().unwrap_or(0) > 0,
            "{kind}: {w}"
        );
        assert_eq!(num(&w["received"]), 0, "{kind}: {w}");
        // A 50 MB frame is refused, never held: memsoak stays far below it.
        assert!(peak_kb < 60_000, "{kind}: memsoak peaked at {peak_kb} kB");
    }
}
