//! The demo backend's collaboration endpoint: a hand-written broadcast,
//! as a FastAPI `ConnectionManager` is.
//!
//! `/collab/{doc_id}` relays each text or binary frame to the document's
//! other clients. With `?heartbeat_ms=N` it also sends an
//! application-level ping (`{"type":"ping","n":…}`) every N ms and drops a
//! client that has not answered one (a frame with `"pong"` in it) within
//! three: the dialog a raw workload's reply rules answer.
//! `/discard/{doc_id}` accepts every connection and discards every frame,
//! as a server that rejected the load would.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::response::IntoResponse;
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use tokio::sync::mpsc;

use super::{AppState, CLIENT_QUEUE};

/// `/collab/{doc_id}`'s options.
#[derive(Debug, Deserialize)]
pub(super) struct CollabQuery {
    /// Application-level pings this often, milliseconds.
    heartbeat_ms: Option<u64>,
}

pub(super) async fn collab(
    ws: WebSocketUpgrade,
    Path(doc): Path<String>,
    Query(q): Query<CollabQuery>,
    State(s): State<Arc<AppState>>,
) -> impl IntoResponse {
    let heartbeat = q.heartbeat_ms.map(Duration::from_millis);
    ws.on_upgrade(move |socket| client(socket, doc, s, heartbeat))
}

pub(super) async fn discard(ws: WebSocketUpgrade) -> impl IntoResponse {
    ws.on_upgrade(|mut socket| async move {
        while let Some(Ok(m)) = socket.recv().await {
            if matches!(m, Message::Close(_)) {
                break;
            }
        }
    })
}

/// One collaboration client: joins its document, relays what it sends to
/// the document's other clients, and leaves cleanly however it ends.
async fn client(socket: WebSocket, doc: String, s: Arc<AppState>, heartbeat: Option<Duration>) {
    let id = s.next_client.fetch_add(1, Ordering::Relaxed);
    s.connections.fetch_add(1, Ordering::Relaxed);
    s.leak.retain(s.leak_per_connection);
    let (tx, mut rx) = mpsc::channel::<Message>(CLIENT_QUEUE);
    if let Ok(mut docs) = s.docs.lock() {
        docs.entry(doc.clone()).or_default().insert(id, tx.clone());
    }
    let (mut sink, mut stream) = socket.split();
    let writer = tokio::spawn(async move {
        while let Some(m) = rx.recv().await {
            if sink.send(m).await.is_err() {
                break;
            }
        }
    });
    let answered = Arc::new(AtomicU64::new(0));
    let pinger = heartbeat.map(|every| tokio::spawn(ping(tx, every, answered.clone())));
    while let Some(Ok(msg)) = stream.next().await {
        let frame = match msg {
            Message::Text(t) if t.as_str().contains("pong") => {
                answered.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            frame @ (Message::Text(_) | Message::Binary(_)) => frame,
            Message::Close(_) => break,
            _ => continue,
        };
        if pinger.as_ref().is_some_and(|p| p.is_finished()) {
            break;
        }
        relay(&s, &doc, id, frame);
    }
    if let Ok(mut docs) = s.docs.lock() {
        if let Some(clients) = docs.get_mut(&doc) {
            clients.remove(&id);
            if clients.is_empty() {
                docs.remove(&doc);
            }
        }
    }
    s.connections.fetch_sub(1, Ordering::Relaxed);
    if let Some(p) = pinger {
        p.abort();
    }
    writer.abort();
}

/// A frame to every other client of the document.
fn relay(s: &AppState, doc: &str, from: u64, frame: Message) {
    s.messages.fetch_add(1, Ordering::Relaxed);
    s.leak.retain(s.leak_per_message);
    let peers: Vec<mpsc::Sender<Message>> = match s.docs.lock() {
        Ok(docs) => docs
            .get(doc)
            .into_iter()
            .flatten()
            .filter(|(peer, _)| **peer != from)
            .map(|(_, tx)| tx.clone())
            .collect(),
        Err(_) => Vec::new(),
    };
    for peer in peers {
        if peer.try_send(frame.clone()).is_err() {
            s.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Pings every `every`; ends (and the client is dropped at its next
/// frame, its writer closed now) once three have gone unanswered.
async fn ping(tx: mpsc::Sender<Message>, every: Duration, answered: Arc<AtomicU64>) {
    let mut sent: u64 = 0;
    let start = Instant::now();
    loop {
        tokio::time::sleep(every).await;
        if sent >= 3 && answered.load(Ordering::Relaxed) + 3 <= sent {
            let _ = tx.send(Message::Close(None)).await;
            return;
        }
        sent += 1;
        let text = format!(
            r#"{{"type":"ping","n":{sent},"ms":{}}}"#,
            start.elapsed().as_millis()
        );
        if tx.send(Message::text(text)).await.is_err() {
            return;
        }
    }
}
