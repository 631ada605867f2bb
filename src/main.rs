use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
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
