//! memsoak: memory soak testing and leak profiling for long-lived backends.
//!
//! Three layers, dependencies pointing down (see README, "Architecture"):
//! - **bottom**: `units`, `secrets` (values never written), `helpers`
//!   (memsoak's own child processes, never measured), `analysis`
//!   (robust growth with an honest interval, the verdict, fail-fast looks,
//!   attribution and hints), `linux_proc` (cheap `/proc` reads: a tree
//!   found from the tree, files kept open, smaps and socket tables);
//! - **middle**: `profile` (TOML as written), `samples` and `breakdown`
//!   (the `samples.csv`, `breakdown.csv` and `processes.csv` schemas),
//!   `process` (launch or attach, stop, watchdog), `profiler` (an
//!   allocation profiler handed the judged window: `leaks.json`), `sampler` (the
//!   process tree's memory on a fixed schedule), `workload` (WebSocket
//!   collab clients, HTTP agents), `output` (the typed `summary.json`, the
//!   report view and one renderer per format), `demo` (the reference
//!   backend);
//! - **top**: `cli` (the flags as typed), `config` (flags + profile → one
//!   validated `RunConfig`), `live` (the live view and logging) and
//!   `commands` (one file per subcommand, and the exit codes).

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
pub mod units;
pub mod workload;

pub use commands::{execute, exit, Failure};
