//! The profile loader on arbitrary bytes: TOML parsing, the schema, error
//! placement, and the validation that builds a run. Any input must end in
//! a configuration or an error message, never a panic.
#![no_main]

use std::path::Path;
use std::sync::OnceLock;

use clap::Parser;
use libfuzzer_sys::fuzz_target;
use memsoak::cli::{Cli, Command, RunArgs};
use memsoak::config::RunConfig;
use memsoak::profile::Profile;

fn args() -> &'static RunArgs {
    static ARGS: OnceLock<RunArgs> = OnceLock::new();
    ARGS.get_or_init(|| match Cli::parse_from(["memsoak", "run", "fuzz.toml"]).command {
        Command::Run(a) => a,
        _ => unreachable!("parsed a run command"),
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Profile::parse(text, Path::new("fuzz.toml")) {
        Ok(profile) => {
            let _ = profile.at(&["run", "warmup"]);
            let _ = profile.at(&["workload", "0", "step", "0", "url"]);
            let _ = RunConfig::from_profile(args(), profile);
        }
        Err(e) => {
            // Every message names the file.
            assert!(e.to_string().starts_with("fuzz.toml"), "{e}");
        }
    }
});
