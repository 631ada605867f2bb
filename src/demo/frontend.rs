//! The demo backend's pages, for frontend soaks in a real browser:
//!
//! - `/editor?doc=NAME` (add `&leak=1` to make it leak): the collaborative
//!   editor of the FastAPI example, the frontend of `/collab/{doc_id}`
//!   (`examples/fastapi-collab/frontend/editor.html` says what it does).
//! - `/frontend/leak`: every 100 ms adds an event listener that is never
//!   removed (its closure holds an 8 KB array) and a DOM subtree that is
//!   removed from the page but kept in an array: the textbook missing
//!   cleanup.
//! - `/frontend/clean`: the same work, cleaned up: the listener removed,
//!   the subtree dropped.

use axum::response::Html;

/// The `/frontend/*` pages' shared script: one tick every 100 ms.
const TICKS: &str = r#"
const kept = [];
let n = 0;
setInterval(() => {
  n++;
  const panel = document.createElement('div');
  panel.className = 'panel';
  for (let i = 0; i < 20; i++) {
    const item = document.createElement('span');
    item.textContent = 'item ' + n + '.' + i;
    panel.appendChild(item);
  }
  document.body.appendChild(panel);
  const state = new Array(2000).fill(n);
  const onResize = () => { panel.dataset.width = String(state.length + window.innerWidth); };
  window.addEventListener('resize', onResize);
  panel.remove();
  if (LEAK) {
    kept.push(panel);
  } else {
    window.removeEventListener('resize', onResize);
  }
  document.getElementById('count').textContent = String(n);
}, 100);
"#;

/// `?session=S`: the page names its session in its title, as pages that
/// show who is signed in do (and memsoak must not write it out when it
/// came from a secret).
#[derive(Debug, serde::Deserialize)]
pub(super) struct PageQuery {
    session: Option<String>,
}

fn ticking_page(leak: bool, q: &PageQuery) -> Html<String> {
    let kind = if leak { "leak" } else { "clean" };
    let session = q.session.as_deref().map_or(String::new(), |s| {
        let escaped = s
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;");
        format!(" (session {escaped})")
    });
    let title = format!("{kind}{session}");
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>memsoak frontend: {title}</title></head>\
<body><h1>memsoak frontend: {kind}</h1><p>ticks: <span id=\"count\">0</span></p>\
<script>const LEAK = {leak};{TICKS}</script></body></html>"
    ))
}

/// `GET /frontend/leak`.
pub(super) async fn leaking(
    axum::extract::Query(q): axum::extract::Query<PageQuery>,
) -> Html<String> {
    ticking_page(true, &q)
}

/// `GET /frontend/clean`.
pub(super) async fn clean(
    axum::extract::Query(q): axum::extract::Query<PageQuery>,
) -> Html<String> {
    ticking_page(false, &q)
}

/// The editor page of the FastAPI example (`examples/fastapi-collab`),
/// served here too so a frontend soak needs no Python: one page, two
/// backends.
const EDITOR: &str = include_str!("../../examples/fastapi-collab/frontend/editor.html");

/// `GET /editor?doc=NAME[&leak=1]` (the page reads both from its URL).
pub(super) async fn editor() -> Html<&'static str> {
    Html(EDITOR)
}
