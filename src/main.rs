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
    let mut kept: Vec<&str> = Vec::new();
    for line in text.lines() {
        if line.trim_start().starts_with("tip: to pass '") {
            continue;
        }
        // One blank line between parts, never two.
        if line.trim().is_empty() && kept.last().is_some_and(|l| l.trim().is_empty()) {
            continue;
        }
        kept.push(line);
    }
    let mut message = kept.join("\n");
    // On the error line itself: the line a person reads, and a script greps.
    if let Some(tip) = tip(&e, &text) {
        message = match message.split_once('\n') {
            Some((head, rest)) => format!("{head}: {tip}\n{rest}"),
            None => format!("{message}: {tip}"),
        };
    }
    let message = message.strip_prefix("error: ").unwrap_or(&message);
    eprintln!("memsoak: error: {}", message.trim_end());
    exit(memsoak::exit::USAGE)
}

/// A tip clap does not give: the subcommand meant (a transposition clap's
/// similarity misses: `rnu`), or the `--` a command to launch needs.
fn tip(e: &clap::Error, rendered: &str) -> Option<String> {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    let args: Vec<String> = std::env::args().collect();
    match e.kind() {
        ErrorKind::InvalidSubcommand if !rendered.contains("similar subcommand") => {
            let Some(ContextValue::String(given)) = e.get(ContextKind::InvalidSubcommand) else {
                return None;
            };
            let cli = <memsoak::cli::Cli as clap::CommandFactory>::command();
            cli.get_subcommands()
                .map(|c| c.get_name().to_string())
                .filter(|name| strsim::osa_distance(name, given) <= 2 && !given.is_empty())
                .min_by_key(|name| strsim::osa_distance(name, given))
                .map(|name| format!("did you mean '{name}'?"))
        }
        // `memsoak run python3 -m http.server`: an unknown flag right
        // after a word that is no option's value is the command's own.
        ErrorKind::UnknownArgument
            if args.get(1).is_some_and(|a| a == "run") && !args.iter().any(|a| a == "--") =>
        {
            let Some(ContextValue::String(bad)) = e.get(ContextKind::InvalidArg) else {
                return None;
            };
            let at = args.iter().position(|a| a == bad)?;
            let word = |i: usize| args.get(i).is_some_and(|a| !a.starts_with('-'));
            let value_of_option =
                at >= 3 && args[at - 2].starts_with('-') && !args[at - 2].contains('=');
            (at >= 3 && word(at - 1) && !value_of_option).then(|| {
                "a command to launch goes after `--`: memsoak run [OPTIONS] -- COMMAND ARGS…".into()
            })
        }
        _ => None,
    }
}

fn exit(code: i32) -> ExitCode {
    ExitCode::from(u8::try_from(code).unwrap_or(u8::MAX))
}
