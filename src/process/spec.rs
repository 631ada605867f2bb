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
        }
    }

    /// The command line of a launched target; empty when attached.
    pub fn command_line(&self) -> Vec<String> {
        match self {
            TargetSpec::Launch(l) => std::iter::once(l.program.clone())
                .chain(l.args.iter().cloned())
                .collect(),
            TargetSpec::Attach { .. } => Vec::new(),
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
}

impl fmt::Display for TargetMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TargetMode::Launch => "launch",
            TargetMode::Attach => "attach",
        })
    }
}
