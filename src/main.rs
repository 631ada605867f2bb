//! The `memsoak` executable: parses the command line and hands it to
//! [`memsoak::execute`]; errors print with their cause chain and map to the
//! documented exit codes.

use std::process::ExitCode;

use clap::Parser;

// With `--features dhat-heap`, memsoak profiles its own heap and writes
// dhat-heap.json when it exits (for contributors hunting memsoak's own
// allocations; see README).
#[cfg(feature = "dhat-heap")]
#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

fn main() -> ExitCode {
    #[cfg(feature = "dhat-heap")]
    let _profiler = dhat::Profiler::new_heap();
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if memsoak::process::watchdog::run_if_requested(&args) {
        return ExitCode::SUCCESS;
    }
    let cli = memsoak::cli::Cli::parse();
    match memsoak::execute(cli) {
        Ok(code) => exit(code),
        Err(e) => {
            eprintln!("memsoak: error: {e}");
            exit(e.exit_code())
        }
    }
}

fn exit(code: i32) -> ExitCode {
    ExitCode::from(u8::try_from(code).unwrap_or(u8::MAX))
}
