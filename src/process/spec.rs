//! What to measure and how to know it is ready: the process layer's own
//! description of a target, built by the configuration and consumed by
//! [`super::Target`] and [`super::wait_ready`].

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// What to measure.
#[derive(Debug, Clone, PartialEq)]
pub enum TargetSpec {
    /// Start this command and measure it and its descendants.
    Launch(LaunchSpec),
    /// Measure this running process and its descendants; never signal it.
    Attach {
        /// The process id.
        pid: u32,
    },
    /// No process: the memory source (a cgroup, Prometheus) names what is
    /// measured, and something else runs the backend.
    None,
}

/// A command to launch, without a shell.
#[derive(Debug, Clone, PartialEq)]
pub struct LaunchSpec {
    /// Program, looked up in PATH when it has no slash.
    pub program: String,
    /// Arguments.
    pub args: Vec<String>,
    /// Working directory; memsoak's own when absent.
    pub cwd: Option<PathBuf>,
    /// Extra environment variables.
    pub env: BTreeMap<String, String>,
    /// A cgroup's `cgroup.procs` the target moves itself into before it
    /// runs the command (`--cgroup new`); set when the run starts.
    pub cgroup_procs: Option<std::ffi::CString>,
}

/// How memsoak knows the target is ready to be measured.
#[derive(Debug, Clone, PartialEq)]
pub enum Readiness {
    /// A GET on this URL returns 2xx.
    Http(String),
    /// A TCP connection to this `host:port` succeeds.
    Tcp(String),
}

impl TargetSpec {
    /// Whether memsoak starts the target or attaches to it.
    pub fn mode(&self) -> TargetMode {
        match self {
            TargetSpec::Launch(_) => TargetMode::Launch,
            TargetSpec::Attach { .. } => TargetMode::Attach,
            TargetSpec::None => TargetMode::None,
        }
    }

    /// The command line of a launched target; empty when attached.
    pub fn command_line(&self) -> Vec<String> {
        match self {
            TargetSpec::Launch(l) => std::iter::once(l.program.clone())
                .chain(l.args.iter().cloned())
                .collect(),
            TargetSpec::Attach { .. } | TargetSpec::None => Vec::new(),
        }
    }
}

/// How memsoak got hold of the target: `launch` or `attach` in outputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TargetMode {
    /// memsoak started it and stops it at the end.
    Launch,
    /// It was running already; memsoak never signals it.
    Attach,
    /// No process: only the memory source (a cgroup, Prometheus) is read.
    None,
}

impl fmt::Display for TargetMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TargetMode::Launch => "launch",
            TargetMode::Attach => "attach",
            TargetMode::None => "none",
        })
    }
}
