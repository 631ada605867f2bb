//! `memsoak demo-backend`: the flags turned into the demo's options.

use super::Failure;
use crate::cli::DemoArgs;
use crate::demo;

/// Serves the demo backend until SIGTERM or Ctrl-C.
pub(crate) fn demo_backend(args: &DemoArgs) -> Result<(), Failure> {
    demo::run(&demo::Options {
        port: args.port,
        leak: args.leak.clone(),
        leak_per_message: args.leak_per_message.unwrap_or(0),
        leak_per_connection: args.leak_per_connection.unwrap_or(0),
        agent_token: args.agent_token.clone(),
        leak_fds: args.leak_fds.map(|r| r.0),
        leak_threads: args.leak_threads.map(|r| r.0),
        leak_mmap: args.leak_mmap.clone(),
        restart_agent_every: args.restart_agent_every,
    })
    .map_err(Failure::Usage)
}
