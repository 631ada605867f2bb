//! The live view: a redrawn display on a terminal (and NO_COLOR), plain
//! status lines off one, `--quiet`, and `-v`/`RUST_LOG` logging.

use std::io::Read;
use std::process::Stdio;

use crate::common::*;

/// Runs a short soak with stderr on a pseudo-terminal; returns what the
/// terminal received and the captured stdout.
fn soak_on_a_terminal(no_color: bool) -> (String, String, Option<i32>) {
    let size = nix::pty::Winsize {
        ws_row: 40,
        ws_col: 200,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    let pty = nix::pty::openpty(Some(&size), None).expect("a pseudo-terminal");
    let tmp = tempfile::tempdir().unwrap();
    let mut cmd = memsoak();
    cmd.args([
        "run",
        "--duration",
        "7s",
        "--warmup",
        "2s",
        "--interval",
        "250ms",
        "--max-growth",
        "100GB/h",
        "--out",
    ])
    .arg(tmp.path().join("run"))
    .args(["--", "sleep", "30"])
    .env("TERM", "xterm-256color")
    .env_remove("NO_COLOR")
    .env_remove("CLICOLOR")
    .env_remove("CLICOLOR_FORCE")
    .stdout(Stdio::piped())
    .stderr(Stdio::from(pty.slave));
    if no_color {
        cmd.env("NO_COLOR", "1");
    }
    let child = cmd.spawn().expect("memsoak starts");
    // Our copy of the slave end went into the command, which is dropped
    // here, so reading the master ends when memsoak exits.
    drop(cmd);
    let reader = std::thread::spawn(move || {
        let mut master = std::fs::File::from(pty.master);
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        // Linux answers EIO once the last slave is closed.
        while let Ok(n) = master.read(&mut buf) {
            if n == 0 {
                break;
            }
            seen.extend_from_slice(&buf[..n]);
        }
        String::from_utf8_lossy(&seen).into_owned()
    });
    let out = child.wait_with_output().unwrap();
    let terminal = reader.join().unwrap();
    (
        terminal,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        out.status.code(),
    )
}

#[test]
fn on_a_terminal_the_display_is_redrawn_and_no_color_is_honoured() {
    let (terminal, stdout, code) = soak_on_a_terminal(false);
    assert_eq!(code, Some(0), "{terminal}\n{stdout}");
    // Redrawn in place: cursor movement, the time, the memory and the
    // judgement so far.
    assert!(terminal.contains("\x1b["), "{terminal:?}");
    assert!(terminal.contains(" of 7s ("), "{terminal:?}");
    assert!(terminal.contains("rss "), "{terminal:?}");
    assert!(terminal.contains("warming up"), "{terminal:?}");
    // Ten judged samples make a slope: from 4.5 s, shown within two
    // seconds (the sampler publishes once a second, the view redraws once
    // a second).
    assert!(terminal.contains("vs limit 100 GB/h"), "{terminal:?}");
    assert!(terminal.contains("\x1b[32m"), "coloured: {terminal:?}");
    // The display is gone before the summary, which goes to stdout.
    assert!(stdout.starts_with("memsoak: PASS"), "{stdout}");

    let (terminal, _, code) = soak_on_a_terminal(true);
    assert_eq!(code, Some(0), "{terminal}");
    assert!(terminal.contains(" of 7s ("), "{terminal:?}");
    // NO_COLOR: cursor movement still, but no colour (SGR 30–37/90–97).
    let coloured = terminal
        .match_indices("\x1b[")
        .any(|(i, _)| matches!(terminal.as_bytes().get(i + 2), Some(b'3' | b'9')));
    assert!(!coloured, "NO_COLOR ignored: {terminal:?}");
}

#[test]
fn off_a_terminal_one_plain_status_line_per_interval() {
    let r = soak_profile(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/profiles/quickstart.toml"
        ))
        .unwrap(),
        "--duration 7s --warmup 3s --interval 100ms --status-every 2s --max-growth 100GB/h --on-inconclusive pass",
        &[],
    );
    assert_eq!(r.code(), Some(0), "{}", r.describe());
    let err = r.stderr();
    assert!(!err.contains('\x1b'), "escape codes in a log: {err:?}");
    let lines: Vec<&str> = err.lines().filter(|l| l.contains(" of 7s (")).collect();
    // Due at 2 s, 4 s and 6 s: in warm-up at 2 s, and with the ten judged
    // samples a slope needs (from 4 s) by 6 s, with a second to spare for
    // the once-a-second publishing.
    assert_eq!(lines.len(), 3, "{err}");
    for line in &lines {
        assert!(line.starts_with("memsoak: "), "{line}");
        assert!(line.contains("load: editors "), "{line}");
        assert!(line.contains(" msg/s"), "{line}");
    }
    assert!(lines[0].contains("warming up"), "{}", lines[0]);
    assert!(lines[2].contains("vs limit 100 GB/h"), "{}", lines[2]);
}

#[test]
fn quiet_prints_the_verdict_line_only_and_verbose_logs() {
    let r = soak(
        "--quiet --duration 3s --warmup 1s --interval 250ms --status-every 1s --max-growth 100GB/h --on-inconclusive pass",
        &["--", "sleep", "30"],
    );
    assert_eq!(r.code(), Some(0), "{}", r.describe());
    assert_eq!(r.stderr(), "", "{}", r.describe());
    let out = r.stdout();
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(out.starts_with("memsoak: PASS"), "{out}");
    // `report` and `compare` are quiet the same way.
    let dir = r.dir.to_str().unwrap();
    for args in [&["-q", "report", dir][..], &["-q", "compare", dir, dir][..]] {
        let o = run(args);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", describe(&o));
        let out = String::from_utf8_lossy(&o.stdout);
        assert_eq!(out.lines().count(), 1, "{args:?}: {out}");
    }

    // -v: informational log lines about the run's decisions.
    let r = soak(
        "-v --duration 2s --warmup 1s --interval 250ms --max-growth 100GB/h --on-inconclusive pass",
        &["--", "sleep", "30"],
    );
    assert_eq!(r.code(), Some(0), "{}", r.describe());
    assert!(r.stderr().contains("INFO"), "{}", r.describe());
    assert!(r.stderr().contains("judging "), "{}", r.describe());
    assert!(!r.stderr().contains("DEBUG"), "{}", r.describe());

    // RUST_LOG overrides; a malformed one is named, not fatal.
    let mut cmd = memsoak();
    cmd.env("RUST_LOG", "memsoak=debug");
    let r = soak_with(
        cmd,
        "--duration 2s --warmup 1s --interval 250ms --max-growth 100GB/h --on-inconclusive pass",
        &["--", "sleep", "30"],
    );
    assert_eq!(r.code(), Some(0), "{}", r.describe());
    assert!(r.stderr().contains("DEBUG"), "{}", r.describe());
    let mut cmd = memsoak();
    cmd.env("RUST_LOG", "memsoak=loud");
    let r = soak_with(cmd, "--duration 1s --warmup 0s", &["--", "sleep", "30"]);
    assert!(r.stderr().contains("RUST_LOG ignored"), "{}", r.describe());
}
