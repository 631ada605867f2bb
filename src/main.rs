//! The `memsoak` executable: parses the command line and hands it to
//! [`memsoak::execute`]; errors print with their cause chain and map to the
//! documented exit codes.

use std::process::ExitCode;

use clap::Parser as _;

// With `--features dhat-heap`, memsoak profiles its own heap and writes
// dhat-heap.json when it exits (for contributors hunting memsoak's own
// allocations; see README).
#[cfg(feature = "dhat-heap")]
#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

// With `--features mimalloc`, memsoak allocates through mimalloc; compared
// with glibc malloc under connection churn in BENCHMARKS.md.
#[cfg(all(feature = "mimalloc", not(feature = "dhat-heap")))]
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    #[cfg(feature = "dhat-heap")]
    let _profiler = dhat::Profiler::new_heap();
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if memsoak::process::watchdog::run_if_requested(&args) {
        return ExitCode::SUCCESS;
    }
    if let Some(code) = memsoak::process::keeper::run_if_requested(&args) {
        return ExitCode::from(u8::try_from(code).unwrap_or(1));
    }
    if let Some(code) = memsoak::process::undo::run_if_requested(&args) {
        return ExitCode::from(u8::try_from(code).unwrap_or(1));
    }
    let cli = match memsoak::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return command_line_error(e),
    };
    match memsoak::execute(cli) {
        Ok(code) => exit(code),
        Err(e) => {
            eprintln!("memsoak: error: {e}");
            exit(e.exit_code())
        }
    }
}

/// Help and version print as clap prints them; a mistake on the command
/// line is one `memsoak: error:` message, without clap's tip to pass the
/// flag after `--` (after `--` comes the target's command, so the tip would
/// send the flag to the target).
fn command_line_error(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        e.exit();
    }
    let text = e.render().to_string();
    let kept: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("tip: to pass '"))
        .collect();
    let message = kept.join("\n");
    let message = message.strip_prefix("error: ").unwrap_or(&message);
    eprintln!("memsoak: error: {}", message.trim_end());
    exit(memsoak::exit::USAGE)
}

fn exit(code: i32) -> ExitCode {
    ExitCode::from(u8::try_from(code).unwrap_or(u8::MAX))
}
