//! A browser memsoak launches for a frontend soak (`--browser URL`): a
//! headless Chromium-family browser on a fresh profile, kept by memsoak's
//! keeper process ([`crate::process::keeper`]) so it is closed on every
//! exit path: `Browser.close` at the end of a run, the keeper's SIGTERM
//! and SIGKILL after that, and the same from the keeper alone if memsoak
//! is killed. A browser memsoak did not start (`--cdp`) is never closed.
//!
//! The flags are those of a browser left to run for hours without a
//! person: no first-run pages, no background networking (updates, sync,
//! safe browsing: this machine's closed network refuses them and they add
//! memory of their own), no timer throttling of a page nobody looks at
//! (a hidden page's timers would otherwise fire once a minute, and its
//! leak with them).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::endpoint::{Endpoint, Version};
use super::Session;
use crate::process::keeper::Kept;

/// Browsers looked for in `PATH`, in order, when none is given.
pub const CANDIDATES: [&str; 6] = [
    "chromium",
    "chromium-browser",
    "google-chrome",
    "google-chrome-stable",
    "chrome",
    "microsoft-edge",
];

/// The browser's log in the run folder.
pub const LOG: &str = "browser.log";

/// What to launch.
#[derive(Debug, Clone, PartialEq)]
pub struct BrowserSpec {
    /// The executable; `None` looks for [`CANDIDATES`] in `PATH`.
    pub executable: Option<PathBuf>,
    /// Headless (the default) or with a window.
    pub headless: bool,
    /// More flags, after memsoak's own.
    pub args: Vec<String>,
}

/// Finds the browser to run: the one given (a path, or a name in `PATH`),
/// or the first of [`CANDIDATES`] in `PATH`.
pub fn find_executable(given: Option<&Path>) -> Result<PathBuf, String> {
    let path_dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    let in_path = |name: &str| {
        path_dirs
            .iter()
            .map(|d| d.join(name))
            .find(|p| is_executable(p))
    };
    match given {
        Some(p) if p.components().count() > 1 => {
            if is_executable(p) {
                Ok(p.to_path_buf())
            } else {
                Err(format!(
                    "the browser '{}' is not an executable file",
                    p.display()
                ))
            }
        }
        Some(name) => in_path(&name.to_string_lossy()).ok_or_else(|| {
            format!("the browser '{}' is not in PATH", name.display())
        }),
        None => CANDIDATES.iter().find_map(|n| in_path(n)).ok_or_else(|| {
            format!(
                "no Chromium-family browser in PATH (looked for {}): install one (Debian: apt-get install chromium) or give its path as [source.cdp] executable",
                CANDIDATES.join(", ")
            )
        }),
    }
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// memsoak's flags for a browser that runs unattended for hours.
fn flags(spec: &BrowserSpec, profile: &Path) -> Vec<String> {
    let mut f: Vec<String> = [
        "--remote-debugging-port=0",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-default-apps",
        "--disable-extensions",
        "--disable-background-timer-throttling",
        "--disable-backgrounding-occluded-windows",
        "--disable-renderer-backgrounding",
        "--mute-audio",
        "--password-store=basic",
        "--use-mock-keychain",
    ]
    .map(String::from)
    .to_vec();
    f.push(format!("--user-data-dir={}", profile.display()));
    if spec.headless {
        f.push("--headless".into());
        f.push("--disable-gpu".into());
    }
    // Chromium refuses to run as root with its sandbox on.
    if nix::unistd::geteuid().is_root() {
        f.push("--no-sandbox".into());
    }
    f.extend(spec.args.iter().cloned());
    f.push("about:blank".into());
    f
}

/// A launched browser, closed when dropped.
#[derive(Debug)]
pub struct Launched {
    kept: Kept,
    /// Its DevTools endpoint.
    pub endpoint: Endpoint,
    /// What it says it is.
    pub version: Version,
    /// The executable.
    pub executable: PathBuf,
    log: PathBuf,
}

impl Launched {
    /// Starts the browser (its output into the run folder's
    /// `browser.log`) and waits up to `timeout` for its DevTools endpoint.
    pub async fn start(
        spec: &BrowserSpec,
        run_dir: &Path,
        grace: Duration,
        timeout: Duration,
    ) -> Result<Launched, String> {
        let executable = find_executable(spec.executable.as_deref())?;
        let profile = fresh_profile_dir()
            .map_err(|e| format!("could not make a profile folder for the browser: {e}"))?;
        let log = run_dir.join(LOG);
        let mut kept = Kept::spawn(
            &executable,
            &flags(spec, &profile),
            grace,
            Some(&profile),
            &log,
        )
        .map_err(|e| {
            // No keeper took the profile over: it is removed here.
            let _ = std::fs::remove_dir_all(&profile);
            format!(
                "could not start the browser '{}': {e}",
                executable.display()
            )
        })?;
        tracing::info!(
            "launched {} as pid {} (kept by pid {})",
            executable.display(),
            kept.pid(),
            kept.keeper_pid()
        );
        // The browser writes its port into the profile once it listens.
        let active = profile.join("DevToolsActivePort");
        let deadline = Instant::now() + timeout;
        let port = loop {
            if let Some(port) = std::fs::read_to_string(&active)
                .ok()
                .and_then(|t| t.lines().next().and_then(|l| l.trim().parse::<u16>().ok()))
            {
                break port;
            }
            if kept.has_ended() {
                let status = kept.stop().map_or("ended".into(), |s| s.describe());
                return Err(format!(
                    "the browser '{}' ended before it was ready ({status}){}",
                    executable.display(),
                    log_tail(&log)
                ));
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "the browser '{}' opened no DevTools port within {}{}",
                    executable.display(),
                    humantime::format_duration(timeout),
                    log_tail(&log)
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let endpoint = Endpoint::parse(&format!("http://127.0.0.1:{port}"))?;
        let version = endpoint.version().await?;
        Ok(Launched {
            kept,
            endpoint,
            version,
            executable,
            log,
        })
    }

    /// The browser's main process.
    pub fn pid(&self) -> u32 {
        self.kept.pid()
    }

    /// The keeper's pid (one of memsoak's helpers).
    pub fn keeper_pid(&self) -> u32 {
        self.kept.keeper_pid()
    }

    /// The last lines of the browser's log, for error messages.
    pub fn log_tail(&self) -> String {
        log_tail(&self.log)
    }

    /// Closes the browser: `Browser.close` (it shuts down in order), then
    /// its keeper stops whatever is left.
    pub async fn close(mut self) {
        if !self.kept.has_ended() {
            let asked = async {
                let s =
                    Session::connect(&self.version.ws_url, "the browser", Duration::from_secs(2))
                        .await?;
                let r = s
                    .call(
                        "Browser.close",
                        serde_json::json!({}),
                        Duration::from_secs(3),
                    )
                    .await;
                s.close();
                r
            };
            if let Err(e) = asked.await {
                tracing::debug!("Browser.close: {e}");
            }
        }
        self.kept.stop();
    }
}

/// A new, empty profile folder for the browser in the temporary folder;
/// its keeper removes it when the browser has ended.
fn fresh_profile_dir() -> std::io::Result<PathBuf> {
    let template = std::env::temp_dir().join("memsoak-browser-XXXXXX");
    nix::unistd::mkdtemp(&template).map_err(std::io::Error::from)
}

/// `\n  last lines of browser.log: …`, or nothing.
fn log_tail(log: &Path) -> String {
    let lines = crate::process::tail_lines(log, 6);
    if lines.is_empty() {
        return String::new();
    }
    let mut s = format!("\n  last lines of {}:", log.display());
    for l in lines {
        s.push_str("\n    ");
        s.push_str(&l);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_browser_is_found_by_path_or_name() {
        let e = find_executable(Some(Path::new("/no/such/chromium"))).unwrap_err();
        assert!(e.contains("not an executable file"), "{e}");
        let e = find_executable(Some(Path::new("no-such-browser-here"))).unwrap_err();
        assert!(e.contains("not in PATH"), "{e}");
        assert_eq!(
            find_executable(Some(Path::new("/bin/sh"))).unwrap(),
            PathBuf::from("/bin/sh")
        );
    }

    #[test]
    fn flags_end_with_the_blank_page_and_keep_the_users() {
        let spec = BrowserSpec {
            executable: None,
            headless: true,
            args: vec!["--lang=de".into()],
        };
        let f = flags(&spec, Path::new("/tmp/p"));
        assert_eq!(f.last().map(String::as_str), Some("about:blank"));
        assert!(f.contains(&"--headless".to_string()));
        assert!(f.contains(&"--user-data-dir=/tmp/p".to_string()));
        let lang = f.iter().position(|a| a == "--lang=de").unwrap();
        let port = f
            .iter()
            .position(|a| a == "--remote-debugging-port=0")
            .unwrap();
        assert!(lang > port, "the user's flags come after memsoak's");
    }
}
