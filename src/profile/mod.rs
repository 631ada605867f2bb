//! Profiles: the TOML files in `profiles/` that describe a whole run.
//!
//! This is the low level of memsoak's two-stage configuration: these serde
//! structs mirror the file exactly and reject unknown keys; `config.rs`
//! merges them with the command-line flags into one validated `RunConfig`.
//! Every error names the file, the line and the key, e.g.
//! `profiles/x.toml:7: unknown key 'duraton' in [run]`.

pub mod collab;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::analysis::Metric;
use crate::units::{HumanDuration, HumanDurationOrZero, HumanSize, PerSecond, Rate, Share, Warmup};

/// The profile that `memsoak run` uses when given none: the quickstart.
pub const QUICKSTART: &str = include_str!("../../profiles/quickstart.toml");

/// A whole profile file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Name of the run, used for the run folder; defaults to the file stem.
    pub name: Option<String>,
    /// What to measure.
    #[serde(default)]
    pub target: TargetSection,
    /// How long and how often.
    #[serde(default)]
    pub run: RunSection,
    /// What counts as a leak.
    #[serde(default)]
    pub limits: LimitsSection,
    /// An allocation profiler for the judged window.
    #[serde(default)]
    pub profiler: ProfilerSection,
    /// Where the memory is read from (the process tree when absent).
    #[serde(default, rename = "source")]
    pub memory: MemorySection,
    /// Load driven against the target while it is sampled.
    #[serde(default, rename = "workload")]
    pub workloads: Vec<WorkloadSection>,
    /// What is trusted over TLS (`wss://`, `https://`).
    #[serde(default)]
    pub tls: TlsSection,
    /// The file and its text, to point later errors at a line.
    #[serde(skip)]
    pub origin: Option<Origin>,
}

/// Where a profile came from.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    /// The file.
    pub path: PathBuf,
    /// Its text.
    pub text: String,
}

/// `[source]`: a cgroup or a Prometheus query instead of the process tree.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemorySection {
    /// A cgroup folder or path, or `new` for a child cgroup of the
    /// launched target.
    pub cgroup: Option<PathBuf>,
    /// Prometheus's base URL.
    pub prometheus: Option<String>,
    /// The PromQL query.
    pub query: Option<String>,
    /// `query_range` resolution for `memsoak report`.
    pub step: Option<HumanDuration>,
    /// Headers sent to Prometheus; `${ENV}` values are never written.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// `event` (default) or `fail`: whether a replica restart is a target
    /// failure.
    pub restarts: Option<Restarts>,
    /// A browser page, through the DevTools protocol.
    pub cdp: Option<CdpSection>,
}

/// `[source] cdp = {...}` (or `[source.cdp]`): a page of a running browser
/// (`endpoint`), or one memsoak opens in a browser it launches
/// (`browser`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CdpSection {
    /// A running browser's DevTools endpoint, `http://127.0.0.1:9222`.
    pub endpoint: Option<String>,
    /// With `endpoint`: the page, by part of its URL or title.
    pub target: Option<String>,
    /// The URL to open in a browser memsoak launches.
    pub browser: Option<String>,
    /// The browser to launch (a path, or a name in `PATH`).
    pub executable: Option<PathBuf>,
    /// Launch it headless (default true).
    pub headless: Option<bool>,
    /// More flags for the launched browser.
    pub args: Option<Vec<String>>,
    /// How often garbage is collected before a reading; `0`: never.
    pub gc_interval: Option<HumanDurationOrZero>,
    /// Heap snapshots as warm-up ends and at the end.
    pub heap_snapshots: Option<bool>,
}

/// `[tls]`: certificates trusted beside the system's.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSection {
    /// A PEM file of CA certificates (a backend with its own CA).
    pub ca_file: Option<PathBuf>,
    /// Accept any certificate (a local server with a self-signed one).
    pub insecure: Option<bool>,
}

/// What a replica restart does to the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Restarts {
    /// Recorded as an event; the replica's new series is judged alone.
    #[default]
    Event,
    /// A target failure (exit 3).
    Fail,
}

/// `[target]`: launch a command or attach to a pid.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetSection {
    /// Program and arguments, run without a shell. `{port}` and `{memsoak}` are expanded.
    pub command: Option<Vec<String>>,
    /// Working directory of the command.
    pub cwd: Option<PathBuf>,
    /// Extra environment variables for the command.
    pub env: Option<BTreeMap<String, String>>,
    /// Attach to this running process instead of launching.
    pub pid: Option<u32>,
    /// Ready when this URL answers 2xx.
    pub ready_url: Option<String>,
    /// Ready when this `host:port` accepts TCP connections.
    pub ready_tcp: Option<String>,
    /// Give up waiting for readiness after this long.
    pub ready_timeout: Option<HumanDuration>,
    /// Time between SIGTERM and SIGKILL when stopping the target.
    pub stop_grace: Option<HumanDuration>,
    /// Ask glibc to name its mappings (`GLIBC_TUNABLES=glibc.mem.decorate_maps=1`)
    /// in a launched target, so heap and stacks are told apart by name
    /// (default true).
    pub decorate_maps: Option<bool>,
}

/// `[run]`: schedule and output.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunSection {
    /// Measured duration, after readiness.
    pub duration: Option<HumanDuration>,
    /// Initial part of the run that is not judged, or `"auto"`.
    pub warmup: Option<Warmup>,
    /// Sampling interval.
    pub interval: Option<HumanDuration>,
    /// Interval of the (slower) PSS sampling.
    pub pss_interval: Option<HumanDuration>,
    /// Interval of the per-mapping `smaps` reading (heap, stacks, other
    /// anonymous memory); `0` turns it off.
    pub smaps_interval: Option<HumanDurationOrZero>,
    /// Processes tracked individually in `processes.csv`.
    pub track_processes: Option<usize>,
    /// Run folder.
    pub out: Option<PathBuf>,
    /// `steady` (default) or `alternate`: rates varied in blocks after
    /// warm-up, so the growth is attributed to what drives it.
    pub load_design: Option<crate::workload::design::LoadDesign>,
    /// One block of the load design (default: the judged window in eight,
    /// or in whole cycles with more than three drivers).
    pub design_block: Option<HumanDuration>,
}

/// `[profiler]`: the judged window handed to an allocation profiler.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfilerSection {
    /// `tracemalloc`, `memray` or `heaptrack`.
    pub kind: Option<crate::allocations::ProfilerKind>,
    /// Stack frames kept per allocation site.
    pub frames: Option<u32>,
    /// Processes attached to at most (memray, heaptrack).
    pub max_processes: Option<usize>,
    /// How long one profiler step (a snapshot, a detach, a report) may take.
    pub timeout: Option<HumanDuration>,
}

/// `[limits]`: the verdict's thresholds.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsSection {
    /// Largest acceptable growth rate, e.g. `"10MB/h"`.
    pub max_growth: Option<Rate>,
    /// RSS ceiling of the whole process tree, e.g. `"2GB"`.
    pub max_rss: Option<HumanSize>,
    /// Metric to judge.
    pub metric: Option<Metric>,
    /// Exit status for an inconclusive verdict.
    pub on_inconclusive: Option<OnInconclusive>,
    /// Stop early once a leak is statistically certain.
    pub fail_fast: Option<bool>,
}

/// `[[workload]]`: one load generator. Keys apply to one kind or the other;
/// `config.rs` rejects a key given to the wrong kind.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkloadSection {
    /// Name in outputs; default `<kind>-<index>`.
    pub name: Option<String>,
    /// `collab` (WebSocket clients) or `agent` (HTTP sequences).
    pub kind: WorkloadKind,
    /// Rate per client (collab) or per agent (agent), e.g. `"2/s"`.
    pub rate: Option<PerSecond>,
    /// Rate for the whole workload, split evenly among clients or agents.
    pub total_rate: Option<PerSecond>,
    /// Clients or agents start evenly spread over this long.
    pub ramp_up: Option<HumanDurationOrZero>,
    /// First reconnect delay after a failure.
    pub backoff_initial: Option<HumanDuration>,
    /// Longest reconnect delay.
    pub backoff_max: Option<HumanDuration>,
    /// Failures in a row before a client gives up (default: never).
    pub max_retries: Option<u32>,
    /// collab: WebSocket URL with `{doc}`, e.g. `ws://127.0.0.1:8000/collab/{doc}`.
    pub url: Option<String>,
    /// collab: `raw` (default), `yjs` or `socketio`.
    pub protocol: Option<collab::Protocol>,
    /// collab: whether clients send (default true); `false` makes clients
    /// that only connect, read and churn.
    pub send: Option<bool>,
    /// collab (raw): a binary message, hex digits around placeholders.
    pub message_hex: Option<String>,
    /// collab (raw): a binary message, base64 around placeholders.
    pub message_base64: Option<String>,
    /// collab (raw): what counts as a delivery.
    pub delivery: Option<collab::DeliverySection>,
    /// collab (raw): frames sent once a connection opens.
    #[serde(default)]
    pub on_open: Vec<collab::FrameSection>,
    /// collab (raw): received frames answered.
    #[serde(default, rename = "reply")]
    pub replies: Vec<collab::ReplySection>,
    /// collab (yjs): the Yjs peers' options.
    pub yjs: Option<collab::YjsSection>,
    /// collab (socketio): the Socket.IO clients' options.
    pub socketio: Option<collab::SocketIoSection>,
    /// collab: number of documents.
    pub docs: Option<u32>,
    /// collab: clients connected to each document.
    pub clients_per_doc: Option<u32>,
    /// collab: message template; must contain `{tag}`.
    pub message: Option<String>,
    /// collab: size of `{random}` in the default message.
    pub message_bytes: Option<HumanSize>,
    /// collab: mean time a client stays connected before it reconnects.
    pub churn_interval: Option<HumanDuration>,
    /// collab: share of churn disconnects that drop the socket without a close frame.
    pub abrupt_fraction: Option<f64>,
    /// collab: whether clients read what is broadcast to them (default
    /// true); `false` makes stalled readers, whose unread messages pile up
    /// in the server's socket send queues.
    pub read: Option<bool>,
    /// agent: base URL the steps' paths are joined to.
    pub base_url: Option<String>,
    /// agent: concurrent virtual agents.
    pub agents: Option<u32>,
    /// agent: pause after each step (closed loop) instead of a rate.
    pub think_time: Option<HumanDurationOrZero>,
    /// agent: per-request timeout.
    pub timeout: Option<HumanDuration>,
    /// agent: the sequence each agent runs in a loop.
    #[serde(default, rename = "step")]
    pub steps: Vec<StepSection>,
    /// Thresholds on the load itself (`[workload.checks]`).
    pub checks: Option<ChecksSection>,
}

/// `[workload.checks]`: thresholds on the load itself, like k6's. A failed
/// check makes the run a load failure instead of a memory verdict.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChecksSection {
    /// Largest share of expected deliveries lost (collab; default 5%).
    pub max_lost: Option<Share>,
    /// Largest share of sends, requests and connection attempts that
    /// failed (default 5%).
    pub max_errors: Option<Share>,
    /// Smallest share of the planned sends made (rate-paced; default 90%).
    pub min_rate: Option<Share>,
    /// Largest share of clients whose every connection attempt failed
    /// (collab; default 5%).
    pub max_unconnected: Option<Share>,
    /// Largest share of clients that gave up reconnecting (collab;
    /// default 5%).
    pub max_gave_up: Option<Share>,
    /// Most restarts any one counter a health step follows (`restarts`)
    /// may show (default: not checked).
    pub max_restarts: Option<u64>,
}

/// The kinds of workload; `collab`, `agent` and `browser` in profiles and
/// outputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WorkloadKind {
    /// WebSocket collaboration clients.
    Collab,
    /// Scripted HTTP request sequences.
    Agent,
    /// A scripted person using the browser page of the run's DevTools
    /// source.
    Browser,
}

impl WorkloadKind {
    /// The name in profiles and outputs.
    pub fn as_str(self) -> &'static str {
        match self {
            WorkloadKind::Collab => "collab",
            WorkloadKind::Agent => "agent",
            WorkloadKind::Browser => "browser",
        }
    }

    /// The unit of its send rate: messages, requests or steps per second.
    pub fn rate_unit(self) -> &'static str {
        match self {
            WorkloadKind::Collab => "msg/s",
            WorkloadKind::Agent => "req/s",
            WorkloadKind::Browser => "steps/s",
        }
    }
}

impl std::fmt::Display for WorkloadKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `[[workload.step]]`: one HTTP request of an agent's sequence, a
/// health poll on its own interval, or one action of a browser workload.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepSection {
    /// Name in outputs; default `<method> <path>`.
    pub name: Option<String>,
    /// `request` (default) or `health`.
    #[serde(default)]
    pub kind: StepKind,
    /// HTTP method (default GET, or POST with a body).
    pub method: Option<String>,
    /// Path joined to the workload's `base_url`.
    pub path: Option<String>,
    /// Full URL instead of `path`.
    pub url: Option<String>,
    /// Request headers; values may use `${ENV_VAR}`.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// JSON body template (sent as `application/json`).
    pub json: Option<String>,
    /// Text body template.
    pub body: Option<String>,
    /// Expected status (default: any 2xx).
    pub expect_status: Option<u16>,
    /// A top-level JSON field the response must have.
    pub expect_field: Option<String>,
    /// health: poll interval (default 30s).
    pub every: Option<HumanDuration>,
    /// health: flag the target after this long unhealthy (default 60s).
    pub unhealthy_after: Option<HumanDuration>,
    /// health: fields of the JSON answer recorded at every poll into
    /// `health.csv` (`agents.*.status`: `*` matches each member).
    #[serde(default)]
    pub track: Vec<String>,
    /// health: a counter of restarts in the JSON answer, per item
    /// (`agents.*.restart_count`): its increases over the run are counted
    /// per agent, recorded and checked (`[workload.checks] max_restarts`).
    pub restarts: Option<String>,
    /// browser: what the step does.
    pub action: Option<BrowserAction>,
    /// browser: the element (a CSS selector) to click, type into or wait for.
    pub selector: Option<String>,
    /// browser: text to type (templates such as `{seq}` apply).
    pub text: Option<String>,
    /// browser: the key to press (`Enter`, `Tab`, `Escape`, …).
    pub key: Option<String>,
    /// browser: JavaScript to run in the page.
    pub script: Option<String>,
    /// browser: how long a `wait` step waits.
    pub duration: Option<HumanDuration>,
}

/// What a browser step does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BrowserAction {
    /// Open a URL and wait for it to load.
    Navigate,
    /// Click an element.
    Click,
    /// Type text.
    Type,
    /// Press a key.
    Press,
    /// Wait a while, or for an element.
    Wait,
    /// Run a script.
    Eval,
    /// Reload the page.
    Reload,
}

impl BrowserAction {
    /// The name in profiles and outputs.
    pub fn as_str(self) -> &'static str {
        match self {
            BrowserAction::Navigate => "navigate",
            BrowserAction::Click => "click",
            BrowserAction::Type => "type",
            BrowserAction::Press => "press",
            BrowserAction::Wait => "wait",
            BrowserAction::Eval => "eval",
            BrowserAction::Reload => "reload",
        }
    }
}

/// What a step does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StepKind {
    /// Part of the agent's loop.
    #[default]
    Request,
    /// Polled on its own interval; transitions are recorded.
    Health,
}

/// What an inconclusive verdict does to the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnInconclusive {
    /// Exit 0, as if passed.
    Pass,
    /// Exit 1, as if failed.
    Fail,
    /// Exit 4, its own code.
    #[default]
    Inconclusive,
}

/// A profile that could not be loaded: the file, the line and what is wrong.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// The file could not be read.
    // The cause is the error's source: `{:#}` prints it once, after this.
    #[error("could not read profile '{path}'")]
    Read {
        /// The profile path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// No such file, and the name looks like a command, not a profile
    /// (`memsoak run sleep 60`, the `--` forgotten).
    #[error("no profile file '{}': to launch a command, put it after `--`: memsoak run [OPTIONS] -- {} …", path.display(), path.display())]
    NotAProfile {
        /// The name given.
        path: PathBuf,
    },
    /// The TOML is malformed or does not match the schema.
    #[error("{path}:{line}: {message}")]
    Invalid {
        /// The profile path.
        path: PathBuf,
        /// 1-based line of the offending key or value.
        line: usize,
        /// What is wrong, naming the key.
        message: String,
    },
}

impl Profile {
    /// Reads and parses a profile file.
    pub fn load(path: &Path) -> Result<Profile, ProfileError> {
        let bytes = std::fs::read(path).map_err(|source| {
            // A bare name with no extension that is no file: a command.
            let bare = path.extension().is_none() && path.components().count() == 1;
            if source.kind() == std::io::ErrorKind::NotFound && bare {
                ProfileError::NotAProfile {
                    path: path.to_path_buf(),
                }
            } else {
                ProfileError::Read {
                    path: path.to_path_buf(),
                    source,
                }
            }
        })?;
        let text = String::from_utf8(bytes).map_err(|e| {
            let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
            ProfileError::Invalid {
                path: path.to_path_buf(),
                line: valid.iter().filter(|&&b| b == b'\n').count() + 1,
                message: "not UTF-8 text (TOML profiles must be UTF-8)".into(),
            }
        })?;
        Profile::parse(&text, path)
    }

    /// Parses profile text; `path` is only used in messages.
    pub fn parse(text: &str, path: &Path) -> Result<Profile, ProfileError> {
        let mut profile: Profile = toml::from_str(text).map_err(|e| {
            let offset = e.span().map_or(0, |s| s.start);
            let line = text[..offset.min(text.len())].matches('\n').count() + 1;
            ProfileError::Invalid {
                path: path.to_path_buf(),
                line,
                message: describe(e.message(), text, line),
            }
        })?;
        profile.origin = Some(Origin {
            path: path.to_path_buf(),
            text: text.to_string(),
        });
        Ok(profile)
    }

    /// Where a value found wrong after parsing is, as a message prefix:
    /// `file:line: ` for the key at `path` (`["run", "warmup"]`,
    /// `["workload", "1", "url"]`; the deepest part found counts), `file: `
    /// when no part is found, nothing for a profile without a file.
    pub fn at(&self, path: &[&str]) -> String {
        let Some(origin) = &self.origin else {
            return String::new();
        };
        match locate(&origin.text, path) {
            Some(line) => format!("{}:{line}: ", origin.path.display()),
            None => format!("{}: ", origin.path.display()),
        }
    }
}

/// The line of the key at `path`, or of its deepest part that exists.
/// Tables and arrays (of tables) are walked with toml's spanned document,
/// which keeps the position of every key.
fn locate(text: &str, path: &[&str]) -> Option<usize> {
    use toml::de::{DeTable, DeValue};
    let root = DeTable::parse(text).ok()?;
    let mut offset = None;
    let mut table = Some(root.get_ref());
    let mut array: Option<&[toml::Spanned<DeValue<'_>>]> = None;
    for part in path {
        let value = if let Some(t) = table {
            let Some((key, value)) = t.iter().find(|(k, _)| k.get_ref() == part) else {
                break;
            };
            offset = Some(key.span().start);
            value
        } else if let Some(items) = array {
            let Some(value) = part.parse::<usize>().ok().and_then(|i| items.get(i)) else {
                break;
            };
            offset = Some(value.span().start);
            value
        } else {
            break;
        };
        (table, array) = match value.get_ref() {
            DeValue::Table(t) => (Some(t), None),
            DeValue::Array(a) => (None, Some(a.as_ref())),
            _ => (None, None),
        };
    }
    offset.map(|o| text[..o.min(text.len())].matches('\n').count() + 1)
}

/// Rewrites serde's wording into memsoak's: keys, not fields, and the table
/// they are in.
fn describe(message: &str, text: &str, line: usize) -> String {
    let message = message.trim();
    let table = table_at(text, line);
    if let Some(rest) = message.strip_prefix("unknown field `") {
        if let Some((key, expected)) = rest.split_once('`') {
            let expected = expected
                .trim_start_matches(", ")
                .replace("expected one of ", "expected one of: ")
                .replace('`', "");
            let header = text
                .lines()
                .nth(line - 1)
                .is_some_and(|l| l.trim_start().starts_with('['));
            if header {
                return format!("unknown table [{key}] ({expected})");
            }
            return format!("unknown key '{key}' in {table} ({expected})");
        }
    }
    if let Some(rest) = message.strip_prefix("unknown variant `") {
        if let Some((value, expected)) = rest.split_once('`') {
            let key = key_on_line(text, line).unwrap_or_default();
            let expected = expected.trim_start_matches(", ").replace('`', "");
            return format!("invalid value '{value}' for '{key}' in {table} ({expected})");
        }
    }
    match key_on_line(text, line) {
        Some(key) if !message.contains("expected `") && !message.contains("key with no value") => {
            format!("invalid value for '{key}' in {table}: {message}")
        }
        _ => message.to_string(),
    }
}

/// The `[table]` a line belongs to, for messages.
fn table_at(text: &str, line: usize) -> String {
    text.lines()
        .take(line)
        .filter_map(|l| {
            let l = l.trim();
            l.starts_with('[').then(|| l.to_string())
        })
        .last()
        .unwrap_or_else(|| "the top level".to_string())
}

/// The key assigned on a line, if the line is `key = value`.
fn key_on_line(text: &str, line: usize) -> Option<String> {
    let l = text.lines().nth(line.checked_sub(1)?)?;
    let (key, _) = l.split_once('=')?;
    let key = key.trim();
    (!key.is_empty() && !key.starts_with('[')).then(|| key.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        Profile::parse(text, Path::new("p.toml"))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn quickstart_parses() {
        let p = Profile::parse(QUICKSTART, Path::new("quickstart.toml")).unwrap();
        assert!(p.target.command.is_some());
    }

    #[test]
    fn unknown_key_names_line_key_and_table() {
        let e = err("[run]\nduration = \"1m\"\n\nduraton = \"5m\"\n");
        assert!(
            e.starts_with("p.toml:4: unknown key 'duraton' in [run]"),
            "{e}"
        );
        assert!(e.contains("duration"), "{e}");
    }

    #[test]
    fn bad_values_name_the_key() {
        let e = err("[run]\nduration = \"5 parsecs\"\n");
        assert!(
            e.starts_with("p.toml:2: invalid value for 'duration' in [run]"),
            "{e}"
        );
        assert!(e.contains("5 parsecs"), "{e}");
        let e = err("[limits]\nmetric = \"vss\"\n");
        assert!(
            e.starts_with("p.toml:2: invalid value 'vss' for 'metric' in [limits]"),
            "{e}"
        );
        let e = err("[run]\ninterval = 5\n");
        assert!(e.starts_with("p.toml:2:"), "{e}");
    }

    #[test]
    fn values_found_wrong_later_are_placed_on_their_line() {
        let text = "[run]\nduration = \"5m\"\nwarmup = \"10m\"\n\n[[workload]]\nkind = \"collab\"\n\n[[workload]]\nkind = \"agent\"\n\n[[workload.step]]\npath = \"/a\"\n\n[[workload.step]]\nurl = \"x\"\n";
        let p = Profile::parse(text, Path::new("p.toml")).unwrap();
        assert_eq!(p.at(&["run", "warmup"]), "p.toml:3: ");
        assert_eq!(p.at(&["workload", "1", "kind"]), "p.toml:9: ");
        assert_eq!(p.at(&["workload", "1", "step", "1", "url"]), "p.toml:15: ");
        // The deepest part that exists: the workload's header.
        assert_eq!(p.at(&["workload", "0", "url"]), "p.toml:5: ");
        assert_eq!(p.at(&["limits", "max_rss"]), "p.toml: ");
        assert_eq!(Profile::default().at(&["run"]), "");
    }

    #[test]
    fn syntax_errors_have_a_line() {
        let e = err("[run]\nduration = \"1m\nwarmup = \"2s\"\n");
        assert!(e.starts_with("p.toml:2:"), "{e}");
    }
}
