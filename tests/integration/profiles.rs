//! Profiles: the shipped ones build a valid run (broken ones are in the
//! bad-input corpus, `bad_input.rs`); shell completions.

use crate::common::*;

#[test]
fn shipped_profiles_build_a_valid_run() {
    // stability-8h.toml reads its agent token from the environment.
    std::env::set_var("AGENT_API_TOKEN", "unused-in-this-test");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles");
    let mut seen = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path().to_string_lossy().into_owned();
        let cli =
            <memsoak::cli::Cli as clap::Parser>::try_parse_from(["memsoak", "run", &path]).unwrap();
        let memsoak::cli::Command::Run(args) = cli.command else {
            unreachable!()
        };
        let config = memsoak::config::RunConfig::from_args(&args);
        assert!(config.is_ok(), "{path}: {}", config.unwrap_err());
        seen.push(entry.file_name().to_string_lossy().into_owned());
    }
    seen.sort();
    assert_eq!(
        seen,
        [
            "demo-leak.toml",
            "frontend-editor.toml",
            "quickstart.toml",
            "stability-8h.toml"
        ]
    );
}

#[test]
fn shell_completions_are_printed() {
    for (shell, marker) in [
        ("bash", "_memsoak()"),
        ("zsh", "#compdef memsoak"),
        ("fish", "complete -c memsoak"),
    ] {
        let o = run(&["completions", shell]);
        assert_eq!(o.status.code(), Some(0), "{}", describe(&o));
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(
            text.contains(marker) && text.contains("demo-backend"),
            "{shell}: {text:.200}"
        );
        assert!(
            !text.contains("__watchdog") && !text.contains("__keeper"),
            "the internal commands stay hidden"
        );
    }
}
