//! Values that must never be written: every `${NAME}` memsoak expanded
//! from its environment (tokens in workload headers, URLs, bodies), and the
//! expansion itself ([`expand_env`], [`check_env`]).
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

/// Whether the file at `path` holds a remembered value, as written or as
/// JSON escapes it (a heap snapshot holds every string of a page, and a
/// value memsoak gave the page may be among them). Streams the file with
/// an overlap between reads, so a value across two reads is found too.
pub fn appear_in(path: &std::path::Path) -> std::io::Result<bool> {
    use std::io::Read;
    let forms: Vec<Vec<u8>> = SECRETS
        .lock()
        .map(|s| s.iter().flat_map(|v| json_forms(v)).collect())
        .unwrap_or_default();
    let Some(longest) = forms.iter().map(Vec::len).max() else {
        return Ok(false);
    };
    let finders: Vec<memchr::memmem::Finder<'_>> =
        forms.iter().map(memchr::memmem::Finder::new).collect();
    let mut file = std::fs::File::open(path)?;
    let mut buf = vec![0u8; (1 << 20) + longest];
    let mut kept = 0;
    loop {
        let n = file.read(&mut buf[kept..])?;
        if n == 0 {
            return Ok(false);
        }
        let filled = kept + n;
        if finders.iter().any(|f| f.find(&buf[..filled]).is_some()) {
            return Ok(true);
        }
        // The last bytes may begin a value the next read completes.
        kept = (longest - 1).min(filled);
        buf.copy_within(filled - kept..filled, 0);
    }
}

/// A value as it may appear in JSON: as is, escaped by serde_json, and
/// with every character beyond ASCII as `\uXXXX` (V8's heap snapshot
/// writer).
fn json_forms(value: &str) -> Vec<Vec<u8>> {
    let serde = serde_json::to_string(value).unwrap_or_default();
    let serde = serde.trim_matches('"').to_string();
    let mut ascii = String::new();
    for c in serde.chars() {
        if c.is_ascii() {
            ascii.push(c);
        } else {
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                ascii.push_str(&format!("\\u{:04x}", u));
            }
        }
    }
    let mut forms = vec![
        value.as_bytes().to_vec(),
        serde.into_bytes(),
        ascii.into_bytes(),
    ];
    forms.sort();
    forms.dedup();
    forms
}

/// `text` with every remembered value replaced by `<redacted>`.
pub fn redact(text: &str) -> String {
    let mut out = text.to_string();
    if let Ok(s) = SECRETS.lock() {
        for v in s.iter() {
            if out.contains(v.as_str()) {
                out = out.replace(v.as_str(), "<redacted>");
            }
            // As it travels in a URL's query, too.
            let encoded = percent_encoded(v);
            if encoded != *v && out.contains(encoded.as_str()) {
                out = out.replace(encoded.as_str(), "<redacted>");
            }
        }
    }
    out
}

/// `value` as a URL carries it: every byte but the unreserved ones
/// (RFC 3986) as `%XX`. Six lines, not a dependency, for the one use.
fn percent_encoded(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A `${NAME}` that cannot be expanded. The message names the variable,
/// never a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvError {
    /// The variable is not set.
    #[error("environment variable {0} is not set (referenced as ${{{0}}})")]
    Unset(String),
}

/// Names of the `${NAME}` environment variables a text refers to.
pub fn env_refs(text: &str) -> Vec<&str> {
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("${") {
        let after = &rest[i + 2..];
        match after.find('}') {
            Some(end) => {
                names.push(&after[..end]);
                rest = &after[end + 1..];
            }
            None => break,
        }
    }
    names
}

/// Replaces every `${NAME}` by the environment variable's value, and
/// remembers the value as a secret.
pub fn expand_env(text: &str) -> Result<String, EnvError> {
    let mut out = text.to_string();
    for name in env_refs(text) {
        let value = std::env::var(name).map_err(|_| EnvError::Unset(name.to_string()))?;
        remember(&value);
        out = out.replace(&format!("${{{name}}}"), &value);
    }
    Ok(out)
}

/// Every `${NAME}` must be set when the run starts (checked without
/// reading the value into any message).
pub fn check_env(text: &str) -> Result<(), EnvError> {
    match env_refs(text)
        .into_iter()
        .find(|name| std::env::var_os(name).is_none())
    {
        Some(name) => Err(EnvError::Unset(name.to_string())),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::{env_refs, expand_env};

    #[test]
    fn a_value_is_found_in_a_file_across_reads_and_escaped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("snap.heapsnapshot");
        super::remember("tök\"en-9f2c1a");
        let mut text = "x".repeat((1 << 20) - 5);
        // Across the first read's end, escaped as V8 writes it.
        text.push_str(r#""t\u00f6k\"en-9f2c1a""#);
        std::fs::write(&path, &text).unwrap();
        assert!(super::appear_in(&path).unwrap());
        std::fs::write(&path, "nothing of it here").unwrap();
        assert!(!super::appear_in(&path).unwrap());
    }

    #[test]
    fn remembered_values_are_redacted() {
        super::remember("s3cr3t-token-for-a-test");
        super::remember("on");
        assert_eq!(
            super::redact("server --token s3cr3t-token-for-a-test --debug on"),
            "server --token <redacted> --debug on"
        );
        // As a URL's query carries it, too.
        super::remember("pa ss/w+rd-77x");
        assert_eq!(
            super::redact("/page?t=pa%20ss%2Fw%2Brd-77x and pa ss/w+rd-77x"),
            "/page?t=<redacted> and <redacted>"
        );
    }

    #[test]
    fn env_references() {
        assert_eq!(
            env_refs("Bearer ${TOKEN} and ${OTHER}"),
            vec!["TOKEN", "OTHER"]
        );
        assert!(expand_env("${MEMSOAK_SURELY_UNSET_VAR}")
            .unwrap_err()
            .to_string()
            .contains("MEMSOAK_SURELY_UNSET_VAR"));
        assert_eq!(expand_env("plain").unwrap(), "plain");
    }
}
