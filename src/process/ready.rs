//! Waiting until the target answers, before the measured clock starts:
//! an HTTP 2xx from a URL, or a TCP port accepting connections.

use std::time::{Duration, Instant};

use super::spec::Readiness;
use super::{Target, TargetError};

const POLL: Duration = Duration::from_millis(200);
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);

/// Polls `readiness` until it succeeds, the target ends, or `timeout` passes.
pub async fn wait_ready(
    target: &mut Target,
    readiness: &Readiness,
    timeout: Duration,
    trust: &crate::tls::Trust,
) -> Result<(), TargetError> {
    let client = trust
        .http_client()
        .map_err(|e| std::io::Error::other(format!("{e:#}")))
        .and_then(|b| {
            b.timeout(ATTEMPT_TIMEOUT)
                .no_proxy()
                .build()
                .map_err(std::io::Error::other)
        })
        .map_err(|e| TargetError::NotReady {
            timeout: humantime::format_duration(timeout).to_string(),
            probe: describe(readiness),
            last_error: e.to_string(),
            tail: String::new(),
        })?;
    let began = Instant::now();
    let deadline = began + timeout;
    loop {
        let last_error = match probe(&client, readiness).await {
            Ok(()) => {
                tracing::info!(
                    "ready after {:.1?} ({})",
                    began.elapsed(),
                    describe(readiness)
                );
                return Ok(());
            }
            Err(e) => e,
        };
        tracing::debug!("not ready yet: {last_error}");
        if Instant::now() >= deadline {
            return Err(TargetError::NotReady {
                timeout: humantime::format_duration(timeout).to_string(),
                probe: describe(readiness),
                last_error,
                tail: target.stderr_tail(),
            });
        }
        tokio::select! {
            info = target.exited() => {
                return Err(TargetError::ExitedBeforeReady {
                    status: info.describe(),
                    tail: target.stderr_tail(),
                });
            }
            _ = tokio::time::sleep(POLL) => {}
        }
    }
}

fn describe(readiness: &Readiness) -> String {
    match readiness {
        Readiness::Http(url) => format!("GET {url}"),
        Readiness::Tcp(addr) => format!("TCP connect to {addr}"),
    }
}

async fn probe(client: &reqwest::Client, readiness: &Readiness) -> Result<(), String> {
    match readiness {
        Readiness::Http(url) => {
            let resp = client.get(url).send().await.map_err(|e| error_chain(&e))?;
            if resp.status().is_success() {
                Ok(())
            } else {
                Err(format!("HTTP {}", resp.status()))
            }
        }
        Readiness::Tcp(addr) => {
            match tokio::time::timeout(
                ATTEMPT_TIMEOUT,
                tokio::net::TcpStream::connect(addr.as_str()),
            )
            .await
            {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err("connect timed out".into()),
            }
        }
    }
}

/// reqwest's top-level message is vague ("error sending request"); the
/// cause chain says what happened (e.g. connection refused).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        s.push_str(": ");
        s.push_str(&cause.to_string());
        source = cause.source();
    }
    s
}
