//! memsoak: memory soak testing and leak profiling for long-lived backends.
//!
//! Three layers, dependencies pointing down (see docs/architecture.md;
//! no cycle between top-level modules):
//! - **bottom**: `units` (durations, sizes, rates), `secrets` (`${ENV}`
//!   expanded and never written), `tls` (what memsoak trusts over TLS), `helper_processes` (memsoak's own child
//!   processes, never measured), `analysis` (robust growth with an honest
//!   interval, the verdict, fail-fast looks, attribution and hints);
//! - **middle**: `recording` (the `samples.csv`, `breakdown.csv` and
//!   `processes.csv` schemas), `sampler` (a process tree's memory on a
//!   fixed schedule; its `/proc` readers under `sampler::linux::proc`),
//!   `process` (launch or attach, stop, watchdog, the browser's keeper),
//!   `allocations` (an allocation profiler handed the judged window:
//!   `leaks.json`), `devtools` (the DevTools protocol client), `source`
//!   (memory sources as sessions: the tree, a cgroup, Prometheus, a
//!   browser page), `profile` (the TOML as written), `workload` (WebSocket
//!   collab clients, HTTP agents, a scripted person), `output` (the typed
//!   `summary.json`, the report view and one renderer per format), `demo`
//!   (the reference backend);
//! - **top**: `cli` (the flags as typed), `config` (flags + profile → the
//!   validated configurations of `run`, `report` and `compare`), `live`
//!   (the live view), `logging` and `commands` (one module per subcommand,
//!   `run` in phases, and the exit codes).

pub mod allocations;
pub mod analysis;
pub mod cli;
pub mod commands;
pub mod config;
pub(crate) mod demo;
pub mod devtools;
pub mod helper_processes;
pub(crate) mod live;
pub(crate) mod logging;
pub mod output;
pub mod process;
pub mod profile;
pub mod recording;
pub mod sampler;
pub mod secrets;
pub mod source;
pub mod tls;
pub mod units;
pub mod workload;

pub use commands::{execute, exit, Failure};
