//! `memsoak demo-backend`: the reference backend that memsoak's quickstart,
//! tests and example reports run against.
//!
//! It mirrors the typical service memsoak is built for: `GET /health`, a
//! WebSocket collaboration endpoint `/collab/{doc_id}` whose connection
//! manager broadcasts every text message to the *other* clients of the same
//! document, `POST /agent/chat` and `GET /agents/health`, and pages for
//! frontend soaks in a browser (`/editor`, `/frontend/leak`,
//! `/frontend/clean`: see [`frontend`]). It binds to 127.0.0.1 only.
//!
//! Deliberate leaks make memsoak's sensitivity checkable: `--leak RATE`
//! drips heap every 100 ms, `--leak-per-message` and `--leak-per-connection`
//! retain memory per WebSocket message and connection. Leaked blocks are
//! filled with a non-zero byte so their pages are touched and count in RSS.
//! `--leak-fds`, `--leak-threads` and `--leak-mmap` leak descriptors,
//! parked threads and anonymous mappings outside malloc, so each of
//! memsoak's attribution classes has a fault that shows it.

mod collab;
mod frontend;
mod leak;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use axum::extract::ws::Message;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::units::Rate;
use leak::Leak;

/// Messages queued for one slow client before further ones are dropped.
const CLIENT_QUEUE: usize = 1024;

type Clients = HashMap<u64, mpsc::Sender<Message>>;

struct AppState {
    docs: Mutex<HashMap<String, Clients>>,
    next_client: AtomicU64,
    connections: AtomicU64,
    messages: AtomicU64,
    dropped: AtomicU64,
    leak: Leak,
    leak_per_message: u64,
    leak_per_connection: u64,
    agent_token: Option<String>,
    metrics: Metrics,
    started: std::time::Instant,
    restart_agent_every: Option<std::time::Duration>,
}

/// What `/metrics` exposes, in the exposition format of the
/// `prometheus-client` crate: the process gauges client libraries
/// conventionally export, so a Prometheus scraping the demo backend sees
/// what it sees of any instrumented service.
struct Metrics {
    registry: prometheus_client::registry::Registry,
    resident: prometheus_client::metrics::gauge::Gauge,
    leaked: prometheus_client::metrics::gauge::Gauge,
}

impl Metrics {
    fn new() -> Metrics {
        use prometheus_client::metrics::gauge::Gauge;
        let mut registry = prometheus_client::registry::Registry::default();
        let resident = Gauge::default();
        let leaked = Gauge::default();
        let started = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
        started.set(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64()),
        );
        registry.register(
            "process_resident_memory_bytes",
            "Resident memory size in bytes.",
            resident.clone(),
        );
        registry.register(
            "process_start_time_seconds",
            "Start time of the process since unix epoch in seconds.",
            started,
        );
        registry.register(
            "memsoak_demo_leaked_bytes",
            "Bytes the demo backend leaked on purpose.",
            leaked.clone(),
        );
        Metrics {
            registry,
            resident,
            leaked,
        }
    }
}

/// What the demo backend serves and leaks.
#[derive(Debug, Clone, Default)]
pub(crate) struct Options {
    /// Port on 127.0.0.1; 0 picks a free one and prints it.
    pub port: u16,
    /// A steady leak, allocated every 100 ms.
    pub leak: Option<Rate>,
    /// Bytes leaked per WebSocket message received.
    pub leak_per_message: u64,
    /// Bytes leaked per WebSocket connection opened.
    pub leak_per_connection: u64,
    /// Bearer token the agent endpoints require, if any.
    pub agent_token: Option<String>,
    /// Descriptors opened per second and never closed.
    pub leak_fds: Option<f64>,
    /// Threads started per second that never end.
    pub leak_threads: Option<f64>,
    /// Anonymous memory mapped outside malloc and never unmapped.
    pub leak_mmap: Option<Rate>,
    /// The "planner" agent restarts this often.
    pub restart_agent_every: Option<std::time::Duration>,
}

/// Runs the demo backend until SIGTERM or Ctrl-C.
pub(crate) fn run(args: &Options) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("could not start the async runtime")?;
    runtime.block_on(serve(args))
}

async fn serve(args: &Options) -> anyhow::Result<()> {
    let state = Arc::new(AppState {
        docs: Mutex::new(HashMap::new()),
        next_client: AtomicU64::new(0),
        connections: AtomicU64::new(0),
        messages: AtomicU64::new(0),
        dropped: AtomicU64::new(0),
        leak: Leak::default(),
        leak_per_message: args.leak_per_message,
        leak_per_connection: args.leak_per_connection,
        agent_token: args.agent_token.clone(),
        metrics: Metrics::new(),
        started: std::time::Instant::now(),
        restart_agent_every: args.restart_agent_every,
    });
    let app = Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route("/collab/{doc_id}", get(collab::collab))
        .route("/discard/{doc_id}", get(collab::discard))
        .route("/agent/chat", post(agent_chat))
        .route("/agents/health", get(agents_health))
        .route("/editor", get(frontend::editor))
        .route("/frontend/leak", get(frontend::leaking))
        .route("/frontend/clean", get(frontend::clean))
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", args.port))
        .await
        .with_context(|| format!("could not listen on 127.0.0.1:{}", args.port))?;
    let addr = listener.local_addr()?;
    println!("memsoak demo-backend listening on http://{addr}");
    if let Some(rate) = &args.leak {
        println!("leaking {rate} steadily");
        tokio::spawn(leak::drip(state.clone(), rate.bytes_per_sec()));
    }
    if let Some(rate) = args.leak_fds {
        println!("leaking {rate}/s file descriptors");
        tokio::spawn(leak::fds(rate));
    }
    if let Some(rate) = args.leak_threads {
        println!("leaking {rate}/s threads");
        tokio::spawn(leak::threads(rate));
    }
    if let Some(rate) = &args.leak_mmap {
        println!("leaking {rate} of mmap'd memory");
        tokio::spawn(leak::mmaps(rate.bytes_per_sec()));
    }
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("could not install the SIGTERM handler")?;
    tokio::select! {
        r = axum::serve(listener, app) => r.context("server failed")?,
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    Ok(())
}

#[derive(Serialize)]
struct Health {
    status: &'static str,
    docs: usize,
    connections: u64,
    messages: u64,
    dropped: u64,
    leaked_bytes: u64,
}

async fn health(State(s): State<Arc<AppState>>) -> Json<Health> {
    let docs = s.docs.lock().map_or(0, |d| d.len());
    Json(Health {
        status: "ok",
        docs,
        connections: s.connections.load(Ordering::Relaxed),
        messages: s.messages.load(Ordering::Relaxed),
        dropped: s.dropped.load(Ordering::Relaxed),
        leaked_bytes: s.leak.total(),
    })
}

#[derive(Deserialize)]
struct ChatRequest {
    message: String,
    #[serde(default)]
    agent: Option<String>,
}

#[derive(Serialize)]
struct ChatReply {
    agent: String,
    reply: String,
    tokens: usize,
}

/// Whether the request carries the token the backend was started with.
fn authorized(s: &AppState, headers: &HeaderMap) -> bool {
    match &s.agent_token {
        None => true,
        Some(token) => headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|t| t == token),
    }
}

async fn agent_chat(
    State(s): State<Arc<AppState>>,
    headers: HeaderMap,
    Json(req): Json<ChatRequest>,
) -> Result<Json<ChatReply>, StatusCode> {
    if !authorized(&s, &headers) {
        return Err(StatusCode::UNAUTHORIZED);
    }
    let agent = req.agent.unwrap_or_else(|| "assistant".into());
    let tokens = req.message.split_whitespace().count();
    Ok(Json(ChatReply {
        reply: format!("{agent} read {tokens} words"),
        agent,
        tokens,
    }))
}

async fn agents_health(
    State(s): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, StatusCode> {
    if !authorized(&s, &headers) {
        return Err(StatusCode::UNAUTHORIZED);
    }
    // With --restart-agent-every, the planner has restarted once per
    // period so far, and reports "restarting" in the second after each.
    let (restarts, status) = match s.restart_agent_every {
        Some(every) => {
            let up = s.started.elapsed();
            let n = (up.as_secs_f64() / every.as_secs_f64()).floor();
            let since = up.as_secs_f64() - n * every.as_secs_f64();
            let status = if n > 0.0 && since < 1.0 {
                "restarting"
            } else {
                "healthy"
            };
            (n as u64, status)
        }
        None => (0, "healthy"),
    };
    Ok(Json(serde_json::json!({
        "status": "ok",
        "agents": [
            {"name": "assistant", "status": "healthy", "restart_count": 0},
            {"name": "planner", "status": status, "restart_count": restarts}
        ]
    })))
}

/// `GET /metrics`: the resident size read now (`/proc/self/statm`), in
/// OpenMetrics text.
async fn metrics(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    let m = &state.metrics;
    if let Some(bytes) = resident_bytes() {
        m.resident.set(i64::try_from(bytes).unwrap_or(i64::MAX));
    }
    m.leaked
        .set(i64::try_from(state.leak.total()).unwrap_or(i64::MAX));
    let mut text = String::new();
    match prometheus_client::encoding::text::encode(&mut text, &m.registry) {
        Ok(()) => (
            StatusCode::OK,
            [(
                axum::http::header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        ),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(axum::http::header::CONTENT_TYPE, "text/plain")],
            format!("could not encode the metrics: {e}"),
        ),
    }
}

/// This process's resident size, bytes.
fn resident_bytes() -> Option<u64> {
    #[cfg(target_os = "linux")]
    {
        let text = std::fs::read("/proc/self/statm").ok()?;
        let statm = crate::sampler::linux::proc::parse_statm(&text)?;
        Some(statm.resident * crate::sampler::linux::proc::page_size())
    }
    #[cfg(not(target_os = "linux"))]
    {
        None
    }
}
