//! The bad-input corpus under `tests/bad-input/`: broken profiles and
//! command lines. Each is answered with one clear line naming the problem
//! and its place (`file:line:` for a profile), exit 2 (usage) or 3
//! (target), never a panic or a backtrace, and no run folder for a run
//! that never started. Adding a case is adding a file or a line.

use std::path::{Path, PathBuf};

use crate::common::*;

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bad-input")
}

/// The checks every bad input gets; returns the error line.
fn assert_clear_error(
    what: &str,
    o: &std::process::Output,
    exit: i32,
    wanted: &[String],
) -> String {
    assert_eq!(o.status.code(), Some(exit), "{what}: {}", describe(o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !err.contains("panicked") && !err.to_lowercase().contains("backtrace"),
        "{what}: {err}"
    );
    let errors: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("memsoak: error: ") || l.starts_with("error: "))
        .collect();
    assert_eq!(errors.len(), 1, "{what}: one error line in: {err}");
    for w in wanted {
        assert!(
            errors[0].contains(w.as_str()),
            "{what}: expected {w:?} in: {err}"
        );
    }
    errors[0].to_string()
}

#[test]
fn every_broken_profile_is_named_with_its_line() {
    let mut seen = 0;
    let mut files: Vec<_> = std::fs::read_dir(corpus().join("profiles"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    for path in files {
        let bytes = std::fs::read(&path).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        let wanted: Vec<String> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# expect: "))
            .map(String::from)
            .collect();
        let line = text
            .lines()
            .position(|l| l.ends_with("# <- error"))
            .unwrap_or_else(|| panic!("{}: no '# <- error' marker", path.display()))
            + 1;
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        let o = memsoak()
            .arg("run")
            .arg(&path)
            .arg("--out")
            .arg(&out)
            .env_remove("MEMSOAK_SURELY_UNSET_TOKEN")
            .output()
            .unwrap();
        let what = path.file_name().unwrap().to_string_lossy();
        let error = assert_clear_error(&what, &o, 2, &wanted);
        let place = format!("memsoak: error: {}:{line}: ", path.display());
        assert!(
            error.starts_with(&place),
            "{what}: expected {place:?} in: {error}"
        );
        assert!(
            !out.exists(),
            "{what}: a run folder for a run that never started"
        );
        seen += 1;
    }
    assert!(seen >= 20, "{seen} profiles in the corpus");
}

#[test]
fn every_broken_command_line_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("scratch");
    std::fs::create_dir(&dir).unwrap();
    let file = tmp.path().join("other-tool.csv");
    std::fs::write(&file, "t,vm\n0,1\n").unwrap();
    let samples = tmp.path().join("samples.csv");
    let rows: String = (0..60)
        .map(|t| format!("{t},{}\n", 1_000_000 + t))
        .collect();
    std::fs::write(&samples, format!("elapsed_s,rss_bytes\n{rows}")).unwrap();
    // A port bound but not listening for the whole test: refused for sure.
    let closed_port = ClosedPort::new();
    let closed = closed_port.port.to_string();
    let fill = |s: &str| {
        s.replace("{dir}", dir.to_str().unwrap())
            .replace("{file}", file.to_str().unwrap())
            .replace("{samples}", samples.to_str().unwrap())
            .replace("{closed}", &closed)
    };
    let cases = std::fs::read_to_string(corpus().join("arguments.txt")).unwrap();
    let mut seen = 0;
    for case in cases
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
    {
        let mut parts = case.splitn(3, " | ");
        let (Some(exit), Some(wanted), Some(args)) = (parts.next(), parts.next(), parts.next())
        else {
            panic!("malformed case: {case}");
        };
        let exit: i32 = exit.trim().parse().unwrap();
        let mut args: Vec<String> = args.split_whitespace().map(fill).collect();
        let out = tmp.path().join(format!("out-{seen}"));
        if args[0] == "run" && !args.iter().any(|a| a.starts_with("--out")) {
            args.insert(1, "--out".into());
            args.insert(2, out.to_string_lossy().into_owned());
        }
        let o = memsoak().args(&args).output().unwrap();
        assert_clear_error(case, &o, exit, &[fill(wanted)]);
        if exit == 2 {
            assert!(!out.exists(), "{case}: a run folder for a usage error");
        }
        seen += 1;
    }
    assert!(seen >= 25, "{seen} command lines in the corpus");
}
