//! memsoak's own log lines: `-v`/`-q` and `RUST_LOG` decide what is
//! shown; every line goes to stderr around the live view (a line never
//! tears the progress display), through [`crate::live::suspend`].

use std::io::{IsTerminal, Write};

use crate::live::suspend;

/// Installs the tracing subscriber: `-v` info, `-vv` debug, `-vvv` trace;
/// default warnings (errors only with `--quiet`). `RUST_LOG` overrides, in
/// the `target=level,level` form. Log lines go to stderr around the
/// progress display.
///
/// `Targets` parses `RUST_LOG` without the regex engine `EnvFilter` needs;
/// memsoak has a handful of targets, so span and field filters add nothing.
pub(crate) fn init_logging(verbose: u8, quiet: bool) {
    use tracing_subscriber::filter::{LevelFilter, Targets};
    use tracing_subscriber::prelude::*;
    let level = match (quiet, verbose) {
        (true, _) => LevelFilter::ERROR,
        (false, 0) => LevelFilter::WARN,
        (false, 1) => LevelFilter::INFO,
        (false, 2) => LevelFilter::DEBUG,
        (false, _) => LevelFilter::TRACE,
    };
    let from_env = std::env::var("RUST_LOG")
        .ok()
        .filter(|v| !v.trim().is_empty());
    let (filter, bad_env) = match from_env.as_deref().map(str::parse::<Targets>) {
        Some(Ok(t)) => (t, None),
        Some(Err(e)) => (Targets::new().with_default(level), Some(e)),
        None => (Targets::new().with_default(level), None),
    };
    let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let layer = tracing_subscriber::fmt::layer()
        .with_ansi(ansi)
        .with_target(verbose >= 2)
        .with_writer(|| LogWriter(Vec::new()));
    // A second initialisation (tests calling `execute` twice) is harmless.
    let _ = tracing_subscriber::registry()
        .with(layer.with_filter(filter))
        .try_init();
    if let Some(e) = bad_env {
        tracing::warn!("RUST_LOG ignored: {e} (expected e.g. 'debug' or 'memsoak=debug')");
    }
}

/// Buffers one log event and writes it to stderr around the progress display.
struct LogWriter(Vec<u8>);

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LogWriter {
    fn drop(&mut self) {
        if !self.0.is_empty() {
            let bytes = std::mem::take(&mut self.0);
            suspend(|| {
                let _ = std::io::stderr().lock().write_all(&bytes);
            });
        }
    }
}
