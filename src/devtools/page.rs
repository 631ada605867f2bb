//! What memsoak does to a page: open a URL and wait for it to load, run a
//! script, click, type and press keys as a person would. A run's first
//! navigation and the steps of a `browser` workload go through here.
//!
//! Clicks and keys are real input events (`Input.dispatchMouseEvent`,
//! `Input.dispatchKeyEvent`: `isTrusted` in the page, bubbling through
//! the handlers an application installs), not `element.click()`; text is
//! inserted as an input method would (`Input.insertText`), which fires
//! `beforeinput` and `input` like typing. A navigation is over when the
//! new document has loaded: memsoak marks the old document's `window`
//! before navigating and waits for a `complete` document without the mark,
//! so the old page still showing `complete` is never taken for the new.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{CdpError, Session};

/// How often a wait looks again.
const POLL: Duration = Duration::from_millis(50);

/// What went wrong on a page.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PageError {
    /// No element matches the selector.
    #[error("no element matches '{0}'")]
    NoElement(String),
    /// The element is there but has no size on the screen.
    #[error("'{0}' matches an element with no size on the page (hidden?)")]
    Invisible(String),
    /// The page's script threw.
    #[error("the page's script threw: {0}")]
    Script(String),
    /// The browser could not open the URL.
    #[error("could not open {url}: {why}")]
    Navigation {
        /// The URL.
        url: String,
        /// The browser's reason (`net::ERR_CONNECTION_REFUSED`).
        why: String,
    },
    /// Not done in time.
    #[error("{0}")]
    Timeout(String),
    /// The protocol failed (the page gone, a method refused).
    #[error(transparent)]
    Cdp(#[from] CdpError),
}

/// Runs `expression` in the page (awaiting a promise it returns) and
/// returns its value.
pub async fn evaluate(
    s: &Session,
    expression: &str,
    timeout: Duration,
) -> Result<Value, PageError> {
    let _acting = s.acting();
    let answer = s
        .call(
            "Runtime.evaluate",
            json!({
                "expression": expression,
                "awaitPromise": true,
                "returnByValue": true,
                "userGesture": true,
                "timeout": timeout.as_millis() as u64,
            }),
            timeout + Duration::from_secs(1),
        )
        .await?;
    if let Some(ex) = answer.get("exceptionDetails") {
        let text = ex
            .pointer("/exception/description")
            .or_else(|| ex.get("text"))
            .and_then(Value::as_str)
            .unwrap_or("an exception");
        // The first line names the error; the stack follows.
        return Err(PageError::Script(
            text.lines().next().unwrap_or(text).to_string(),
        ));
    }
    Ok(answer
        .pointer("/result/value")
        .cloned()
        .unwrap_or(Value::Null))
}

/// A JavaScript string literal of `text`.
fn literal(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| "\"\"".into())
}

/// Opens `url` and waits until it has loaded.
pub async fn navigate(s: &Session, url: &str, timeout: Duration) -> Result<(), PageError> {
    let _acting = s.acting();
    let deadline = Instant::now() + timeout;
    mark(s, timeout).await;
    let answer = s
        .call("Page.navigate", json!({ "url": url }), timeout)
        .await?;
    if let Some(why) = answer.get("errorText").and_then(Value::as_str) {
        return Err(PageError::Navigation {
            url: url.to_string(),
            why: why.to_string(),
        });
    }
    loaded(s, deadline, &format!("{url} did not finish loading")).await
}

/// Reloads the page and waits until it has loaded.
pub async fn reload(s: &Session, timeout: Duration) -> Result<(), PageError> {
    let _acting = s.acting();
    let deadline = Instant::now() + timeout;
    mark(s, timeout).await;
    s.call("Page.reload", json!({}), timeout).await?;
    loaded(s, deadline, "the page did not finish reloading").await
}

/// Marks the current document, so the wait after a navigation knows it
/// from the next one. A page that cannot be marked (nothing loaded yet)
/// needs no mark.
async fn mark(s: &Session, timeout: Duration) {
    let _ = evaluate(s, "window.__memsoakLeaving = true", timeout).await;
}

async fn loaded(s: &Session, deadline: Instant, what: &str) -> Result<(), PageError> {
    let probe = "document.readyState === 'complete' && !window.__memsoakLeaving";
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(PageError::Timeout(what.to_string()));
        }
        match evaluate(s, probe, left.min(Duration::from_secs(5))).await {
            Ok(Value::Bool(true)) => return Ok(()),
            // Between documents there may be no context to evaluate in.
            Ok(_) | Err(PageError::Script(_)) | Err(PageError::Cdp(CdpError::Protocol { .. })) => {}
            Err(e) => return Err(e),
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Waits until an element matches `selector`.
pub async fn wait_for(s: &Session, selector: &str, timeout: Duration) -> Result<(), PageError> {
    let deadline = Instant::now() + timeout;
    let probe = format!("document.querySelector({}) !== null", literal(selector));
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(PageError::NoElement(selector.to_string()));
        }
        if evaluate(s, &probe, left).await? == Value::Bool(true) {
            return Ok(());
        }
        tokio::time::sleep(POLL.min(left)).await;
    }
}

/// The centre of the element `selector` matches, scrolled into view.
async fn centre(s: &Session, selector: &str, timeout: Duration) -> Result<(f64, f64), PageError> {
    let script = format!(
        "(() => {{ const e = document.querySelector({}); if (!e) return null; \
         e.scrollIntoView({{block: 'center', inline: 'center'}}); \
         const r = e.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2, r.width * r.height]; }})()",
        literal(selector)
    );
    match evaluate(s, &script, timeout).await? {
        Value::Array(v) if v.len() == 3 => {
            let n = |i: usize| v[i].as_f64().unwrap_or(0.0);
            if n(2) <= 0.0 {
                return Err(PageError::Invisible(selector.to_string()));
            }
            Ok((n(0), n(1)))
        }
        _ => Err(PageError::NoElement(selector.to_string())),
    }
}

/// Clicks the element `selector` matches with the left mouse button.
pub async fn click(s: &Session, selector: &str, timeout: Duration) -> Result<(), PageError> {
    let _acting = s.acting();
    let (x, y) = centre(s, selector, timeout).await?;
    for (kind, buttons) in [("mouseMoved", 0), ("mousePressed", 1), ("mouseReleased", 0)] {
        s.call(
            "Input.dispatchMouseEvent",
            json!({"type": kind, "x": x, "y": y, "button": if kind == "mouseMoved" { "none" } else { "left" },
                   "buttons": buttons, "clickCount": 1}),
            timeout,
        )
        .await?;
    }
    Ok(())
}

/// Types `text` into the element `selector` matches (focused first), or
/// into whatever has the focus.
pub async fn type_text(
    s: &Session,
    selector: Option<&str>,
    text: &str,
    timeout: Duration,
) -> Result<(), PageError> {
    let _acting = s.acting();
    if let Some(sel) = selector {
        let focus = format!(
            "(() => {{ const e = document.querySelector({}); if (!e) return false; e.focus(); return true; }})()",
            literal(sel)
        );
        if evaluate(s, &focus, timeout).await? != Value::Bool(true) {
            return Err(PageError::NoElement(sel.to_string()));
        }
    }
    s.call("Input.insertText", json!({ "text": text }), timeout)
        .await?;
    Ok(())
}

/// A key memsoak can press: its DOM `key`, `code`, key code and the text
/// it types.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Key {
    /// `Enter`.
    pub key: &'static str,
    /// `Enter`.
    pub code: &'static str,
    /// 13.
    pub key_code: u32,
    /// `"\r"`, or empty for keys that type nothing.
    pub text: &'static str,
}

/// The keys a `press` step knows.
pub const KEYS: [Key; 10] = [
    Key {
        key: "Enter",
        code: "Enter",
        key_code: 13,
        text: "\r",
    },
    Key {
        key: "Tab",
        code: "Tab",
        key_code: 9,
        text: "",
    },
    Key {
        key: "Escape",
        code: "Escape",
        key_code: 27,
        text: "",
    },
    Key {
        key: "Backspace",
        code: "Backspace",
        key_code: 8,
        text: "",
    },
    Key {
        key: "Delete",
        code: "Delete",
        key_code: 46,
        text: "",
    },
    Key {
        key: "ArrowUp",
        code: "ArrowUp",
        key_code: 38,
        text: "",
    },
    Key {
        key: "ArrowDown",
        code: "ArrowDown",
        key_code: 40,
        text: "",
    },
    Key {
        key: "ArrowLeft",
        code: "ArrowLeft",
        key_code: 37,
        text: "",
    },
    Key {
        key: "ArrowRight",
        code: "ArrowRight",
        key_code: 39,
        text: "",
    },
    Key {
        key: " ",
        code: "Space",
        key_code: 32,
        text: " ",
    },
];

/// The key named `name` (`Enter`, `Tab`, `Space`, …).
pub fn key(name: &str) -> Option<Key> {
    let name = if name.eq_ignore_ascii_case("space") {
        " "
    } else {
        name
    };
    KEYS.iter()
        .copied()
        .find(|k| k.key.eq_ignore_ascii_case(name))
}

/// Presses and releases `k` where the focus is.
pub async fn press(s: &Session, k: Key, timeout: Duration) -> Result<(), PageError> {
    let _acting = s.acting();
    let mut down = json!({"type": if k.text.is_empty() { "rawKeyDown" } else { "keyDown" },
        "key": k.key, "code": k.code, "windowsVirtualKeyCode": k.key_code});
    if !k.text.is_empty() {
        down["text"] = Value::String(k.text.into());
    }
    s.call("Input.dispatchKeyEvent", down, timeout).await?;
    s.call(
        "Input.dispatchKeyEvent",
        json!({"type": "keyUp", "key": k.key, "code": k.code, "windowsVirtualKeyCode": k.key_code}),
        timeout,
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_found_by_name() {
        assert_eq!(key("enter").map(|k| k.key_code), Some(13));
        assert_eq!(key("Space").map(|k| k.text), Some(" "));
        assert!(key("F13").is_none());
        assert_eq!(literal("a'\"b"), "\"a'\\\"b\"");
    }
}
