//! Values that must never be written: every `${NAME}` memsoak expanded
//! from its environment (tokens in workload headers, URLs, bodies).
//!
//! What memsoak reads from the target's side can hold them too: a launcher
//! script that passes `$AGENT_API_TOKEN` on a child's command line puts
//! the token in that process's `/proc/PID/cmdline`, which `processes.csv`
//! and `summary.json` record. Every such text goes through [`redact`].
//! A process-wide list, because the values are learnt where the profile
//! is read and needed where the tree is sampled, two layers apart.

use std::sync::Mutex;

/// Shortest value redacted: shorter ones (`1`, `on`) would mangle
/// ordinary words and are not secrets.
const MIN_LEN: usize = 4;

static SECRETS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Remembers a value expanded from the environment.
pub fn remember(value: &str) {
    if value.len() < MIN_LEN {
        return;
    }
    if let Ok(mut s) = SECRETS.lock() {
        if !s.iter().any(|v| v == value) {
            s.push(value.to_string());
        }
    }
}

/// `text` with every remembered value replaced by `<redacted>`.
pub fn redact(text: &str) -> String {
    let mut out = text.to_string();
    if let Ok(s) = SECRETS.lock() {
        for v in s.iter() {
            if out.contains(v.as_str()) {
                out = out.replace(v.as_str(), "<redacted>");
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn remembered_values_are_redacted() {
        super::remember("s3cr3t-token-for-a-test");
        super::remember("on");
        assert_eq!(
            super::redact("server --token s3cr3t-token-for-a-test --debug on"),
            "server --token <redacted> --debug on"
        );
    }
}
