//! A browser's DevTools endpoint (`http://127.0.0.1:9222`, what
//! `--remote-debugging-port` opens): its version and targets over HTTP
//! (`/json/version`, `/json/list`), which page a run attaches to, and the
//! browser's process on this machine, whose tree memsoak samples beside
//! the page's heap.

use std::time::Duration;

use serde::Deserialize;
use serde_json::json;

use super::{CdpError, Session};

/// How long one HTTP request to the endpoint may take.
const HTTP_TIMEOUT: Duration = Duration::from_secs(5);

/// A target the endpoint lists (`/json/list`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct TargetInfo {
    /// The target's id.
    pub id: String,
    /// `page`, `iframe`, `service_worker`, `browser_ui`, ….
    #[serde(rename = "type")]
    pub kind: String,
    /// The page's title.
    #[serde(default)]
    pub title: String,
    /// The page's URL.
    #[serde(default)]
    pub url: String,
    /// Where to connect; absent while another client holds an exclusive
    /// connection.
    #[serde(rename = "webSocketDebuggerUrl", default)]
    pub ws_url: Option<String>,
}

impl TargetInfo {
    /// `'Title' (url)`, for messages.
    pub fn describe(&self) -> String {
        if self.title.is_empty() || self.title == self.url {
            self.url.clone()
        } else {
            format!("'{}' ({})", self.title, self.url)
        }
    }
}

/// The endpoint's `/json/version`.
#[derive(Debug, Clone, Deserialize)]
pub struct Version {
    /// `Chrome/156.0.8078.114`.
    #[serde(rename = "Browser", default)]
    pub browser: String,
    /// The browser target's WebSocket.
    #[serde(rename = "webSocketDebuggerUrl")]
    pub ws_url: String,
}

/// A DevTools HTTP endpoint.
#[derive(Debug, Clone)]
pub struct Endpoint {
    base: reqwest::Url,
    http: reqwest::Client,
}

impl Endpoint {
    /// The endpoint at `url` (`http://HOST:PORT`; a path is ignored).
    pub fn parse(url: &str) -> Result<Endpoint, String> {
        let parsed = reqwest::Url::parse(url)
            .ok()
            .filter(|u| u.scheme() == "http" && u.has_host() && u.port_or_known_default().is_some())
            .ok_or_else(|| {
                format!(
                    "'{url}' is not a DevTools endpoint: give http://HOST:PORT, the address a browser started with --remote-debugging-port=PORT listens on (e.g. http://127.0.0.1:9222)"
                )
            })?;
        let mut base = parsed;
        base.set_path("/");
        base.set_query(None);
        let http = crate::tls::Trust::default()
            .http_client()
            .map_err(|e| format!("{e:#}"))?
            .timeout(HTTP_TIMEOUT)
            .no_proxy()
            .build()
            .map_err(|e| format!("could not build the HTTP client: {e}"))?;
        Ok(Endpoint { base, http })
    }

    /// The endpoint's address, `http://127.0.0.1:9222`.
    pub fn address(&self) -> String {
        self.base.as_str().trim_end_matches('/').to_string()
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.base.port_or_known_default().unwrap_or(80)
    }

    async fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, String> {
        let url = self.base.join(path).map_err(|e| e.to_string())?;
        let response = self.http.get(url).send().await.map_err(|e| {
            format!(
                "could not reach the DevTools endpoint {}: {} (is the browser running with --remote-debugging-port={}?)",
                self.address(),
                chain(&e),
                self.port()
            )
        })?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!(
                "the DevTools endpoint {} answered {status} to /{path}",
                self.address()
            ));
        }
        response.json::<T>().await.map_err(|e| {
            format!(
                "{} answered /{path} with something that is not DevTools JSON ({e})",
                self.address()
            )
        })
    }

    /// `/json/version`.
    pub async fn version(&self) -> Result<Version, String> {
        self.get("json/version").await
    }

    /// Every target, `/json/list`.
    pub async fn targets(&self) -> Result<Vec<TargetInfo>, String> {
        self.get("json/list").await
    }
}

/// An error with its causes, `a: b: c`.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

/// The page to attach to: the page whose target id is `wanted`, else the
/// one page whose URL or title contains it, or with no `wanted`, the only
/// page. Pages of the browser's
/// own interface (`chrome://`, `devtools://`) are never chosen.
pub fn choose_page(targets: &[TargetInfo], wanted: Option<&str>) -> Result<TargetInfo, String> {
    let pages: Vec<&TargetInfo> = targets
        .iter()
        .filter(|t| t.kind == "page")
        .filter(|t| !(t.url.starts_with("chrome://") || t.url.starts_with("devtools://")))
        .collect();
    let matching: Vec<&TargetInfo> = match wanted {
        // A target id picks one page even among pages alike.
        Some(w) if pages.iter().any(|t| t.id == w) => {
            pages.iter().copied().filter(|t| t.id == w).collect()
        }
        Some(w) => pages
            .iter()
            .copied()
            .filter(|t| t.url.contains(w) || t.title.contains(w))
            .collect(),
        None => pages.clone(),
    };
    let list = |ts: &[&TargetInfo]| {
        ts.iter()
            .map(|t| format!("  {} — target id {}", t.describe(), t.id))
            .collect::<Vec<_>>()
            .join("\n")
    };
    match (matching.as_slice(), wanted) {
        ([one], _) => Ok((*one).clone()),
        ([], None) => Err("the browser has no page open to attach to".into()),
        ([], Some(w)) if pages.is_empty() => Err(format!(
            "no page's URL or title contains '{w}': the browser has no page open"
        )),
        ([], Some(w)) => Err(format!(
            "no page's URL or title contains '{w}'; the pages open are:\n{}",
            list(&pages)
        )),
        (many, None) => Err(format!(
            "the browser has {} pages open: choose one with --cdp-target (part of its URL or title, or its target id):\n{}",
            many.len(),
            list(many)
        )),
        (many, Some(w)) => Err(format!(
            "{} pages' URL or title contain '{w}': make --cdp-target longer, or give the target id of one:\n{}",
            many.len(),
            list(many)
        )),
    }
}

#[derive(Deserialize)]
struct ProcessInfo {
    #[serde(rename = "type")]
    kind: String,
    id: u32,
}

#[derive(Deserialize)]
struct ProcessInfoAnswer {
    #[serde(rename = "processInfo")]
    processes: Vec<ProcessInfo>,
}

/// The browser's main process: from `SystemInfo.getProcessInfo` on the
/// browser target, or, where the browser does not offer it, the process
/// on this machine that listens on the endpoint's port.
pub async fn browser_pid(endpoint: &Endpoint, version: &Version) -> Result<u32, String> {
    let asked = async {
        let session = Session::connect(&version.ws_url, "the browser", HTTP_TIMEOUT).await?;
        let answer: Result<ProcessInfoAnswer, CdpError> = session
            .call_as("SystemInfo.getProcessInfo", json!({}), HTTP_TIMEOUT)
            .await;
        session.close();
        answer
    };
    match asked.await {
        Ok(a) => {
            if let Some(p) = a.processes.iter().find(|p| p.kind == "browser") {
                return Ok(p.id);
            }
        }
        Err(e) => tracing::debug!("SystemInfo.getProcessInfo: {e}"),
    }
    listener_pid(endpoint.port()).ok_or_else(|| {
        format!(
            "could not find the browser's process on this machine (SystemInfo.getProcessInfo gave none, and no local process listens on port {}): memsoak samples the browser's processes from /proc, so the browser must run here",
            endpoint.port()
        )
    })
}

/// The process listening on TCP `port` on this machine, found through the
/// socket's inode in `/proc/net/tcp{,6}` and the descriptors in `/proc`:
/// one walk of every process, done once when attaching.
#[cfg(target_os = "linux")]
fn listener_pid(port: u16) -> Option<u32> {
    use procfs::net::TcpState;
    let tables = [procfs::net::tcp(), procfs::net::tcp6()];
    let inodes: Vec<u64> = tables
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.state == TcpState::Listen && e.local_address.port() == port)
        .map(|e| e.inode)
        .collect();
    if inodes.is_empty() {
        return None;
    }
    let wanted = |link: &std::path::Path| {
        let text = link.to_string_lossy();
        text.strip_prefix("socket:[")
            .and_then(|r| r.strip_suffix(']'))
            .and_then(|n| n.parse::<u64>().ok())
            .is_some_and(|n| inodes.contains(&n))
    };
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        if fds
            .flatten()
            .filter_map(|fd| std::fs::read_link(fd.path()).ok())
            .any(|l| wanted(&l))
        {
            return Some(pid);
        }
    }
    None
}

#[cfg(not(target_os = "linux"))]
fn listener_pid(_port: u16) -> Option<u32> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(title: &str, url: &str) -> TargetInfo {
        TargetInfo {
            id: title.into(),
            kind: "page".into(),
            title: title.into(),
            url: url.into(),
            ws_url: Some(format!("ws://127.0.0.1:1/devtools/page/{title}")),
        }
    }

    #[test]
    fn a_page_is_chosen_by_part_of_its_url_or_title() {
        let mut ui = page("Omnibox Popup", "chrome://omnibox-popup.top-chrome/");
        ui.kind = "browser_ui".into();
        let targets = vec![
            page("Editor", "http://127.0.0.1:8000/editor?doc=a"),
            page("Admin", "http://127.0.0.1:8000/admin"),
            ui,
            page("chrome://newtab", "chrome://newtab/"),
        ];
        assert_eq!(
            choose_page(&targets, Some("editor")).unwrap().title,
            "Editor"
        );
        assert_eq!(choose_page(&targets, Some("Admin")).unwrap().title, "Admin");
        let e = choose_page(&targets, None).unwrap_err();
        assert!(
            e.contains("2 pages open") && e.contains("--cdp-target"),
            "{e}"
        );
        let e = choose_page(&targets, Some("8000")).unwrap_err();
        assert!(e.contains("make --cdp-target longer"), "{e}");
        let e = choose_page(&targets, Some("nowhere")).unwrap_err();
        assert!(
            e.contains("'Editor' (http://127.0.0.1:8000/editor?doc=a)"),
            "{e}"
        );
        assert_eq!(
            choose_page(&targets[..1], None).unwrap().url,
            "http://127.0.0.1:8000/editor?doc=a"
        );
    }

    #[test]
    fn pages_alike_are_told_apart_by_their_target_id() {
        let mut a = page("Editor", "http://127.0.0.1:8000/editor");
        let mut b = a.clone();
        a.id = "A1B2".into();
        b.id = "C3D4".into();
        let targets = vec![a, b];
        let e = choose_page(&targets, Some("Editor")).unwrap_err();
        assert!(
            e.contains("target id A1B2") && e.contains("target id C3D4"),
            "{e}"
        );
        assert_eq!(choose_page(&targets, Some("C3D4")).unwrap().id, "C3D4");
    }

    #[test]
    fn endpoints_are_http_addresses() {
        assert_eq!(
            Endpoint::parse("http://127.0.0.1:9222/json")
                .unwrap()
                .address(),
            "http://127.0.0.1:9222"
        );
        assert!(Endpoint::parse("127.0.0.1:9222").is_err());
        assert!(Endpoint::parse("ws://127.0.0.1:9222").is_err());
    }
}
