//! Profiles: shipped ones load, broken ones are answered with one clear line
//! naming the file, the line and the key, and exit code 2.

use crate::common::*;

fn expect_profile_error(name: &str, expected: &[&str]) {
    let path = fixture(&format!("profiles/{name}"));
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let o = run(&[
        "run",
        path.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", describe(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    for e in expected {
        assert!(err.contains(e), "expected {e:?} in: {err}");
    }
    assert!(
        !err.contains("panicked") && !err.contains("RUST_BACKTRACE"),
        "{err}"
    );
    assert!(!out.exists(), "no run folder for a run that never started");
}

#[test]
fn unknown_key() {
    expect_profile_error(
        "unknown-key.toml",
        &["unknown-key.toml:7: unknown key 'duraton' in [run]"],
    );
}

#[test]
fn syntax_error() {
    expect_profile_error("bad-syntax.toml", &["bad-syntax.toml:5:"]);
}

#[test]
fn zero_interval() {
    expect_profile_error(
        "bad-duration.toml",
        &[
            "bad-duration.toml:6: invalid value for 'interval' in [run]",
            "greater than zero",
        ],
    );
}

#[test]
fn unparseable_rate() {
    expect_profile_error(
        "bad-rate.toml",
        &[
            "bad-rate.toml:5: invalid value for 'max_growth' in [limits]",
            "10 megabytes per hour",
        ],
    );
}

#[test]
fn wrong_type() {
    expect_profile_error("wrong-type.toml", &["wrong-type.toml:2:", "command"]);
}

#[test]
fn command_and_pid_together() {
    expect_profile_error("command-and-pid.toml", &["both 'command' and 'pid'"]);
}

#[test]
fn missing_profile_file() {
    let o = run(&["run", "profiles/does-not-exist.toml"]);
    assert_eq!(o.status.code(), Some(2), "{}", describe(&o));
    assert!(String::from_utf8_lossy(&o.stderr)
        .contains("could not read profile 'profiles/does-not-exist.toml'"));
}

#[test]
fn bad_flag_values_are_usage_errors() {
    for args in [
        &["run", "--duration", "soon"][..],
        &["run", "--max-growth", "10MB"][..],
        &["run", "--interval", "0s"][..],
        &["run", "--metric", "vss"][..],
    ] {
        let o = run(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", describe(&o));
    }
}

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
        ["demo-leak.toml", "quickstart.toml", "stability-8h.toml"]
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
            !text.contains("__watchdog"),
            "the internal command stays hidden"
        );
    }
}
