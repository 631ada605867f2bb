//! A small path syntax over a JSON answer, for the fields a health step
//! follows: `agents.*.restart_count`, `workers.0.status`, `uptime_s`.
//!
//! Dots separate keys; `*` matches every member of an object or element
//! of an array; a number is an array index. Each match is named by the
//! members `*` stood for — the object key, or an array element's `name`
//! or `id` when it has one (so an agent keeps its name when the array is
//! reordered), else its index — which is how restarts are counted per
//! agent. JSONPath itself (`$..[?()]`) is far more than a health answer
//! needs, and its filter expressions would be one more language for the
//! profile's reader.

use serde_json::Value;

/// One segment of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    /// An object's member.
    Key(String),
    /// An array's element.
    Index(usize),
    /// Every member or element.
    Any,
}

/// A parsed path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonPath {
    text: String,
    segments: Vec<Segment>,
}

/// A value the path reached, with the name of what `*` matched.
#[derive(Debug, Clone, PartialEq)]
pub struct Match<'a> {
    /// The members `*` stood for, joined by `.`; the path itself when it
    /// has no `*`.
    pub item: String,
    /// The value.
    pub value: &'a Value,
}

impl JsonPath {
    /// Parses `a.*.b`; an empty segment is an error.
    pub fn parse(text: &str) -> Result<JsonPath, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("an empty path".into());
        }
        let segments = text
            .split('.')
            .map(|s| match s {
                "" => Err(format!(
                    "path '{text}' has an empty segment (write keys separated by single dots)"
                )),
                "*" => Ok(Segment::Any),
                _ => Ok(s
                    .parse()
                    .map_or_else(|_| Segment::Key(s.to_string()), Segment::Index)),
            })
            .collect::<Result<_, _>>()?;
        Ok(JsonPath {
            text: text.to_string(),
            segments,
        })
    }

    /// The path as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Every value the path reaches in `root`, in document order.
    pub fn find<'a>(&self, root: &'a Value) -> Vec<Match<'a>> {
        let mut out = Vec::new();
        self.walk(root, 0, &mut Vec::new(), &mut out);
        out
    }

    fn walk<'a>(&self, v: &'a Value, at: usize, bound: &mut Vec<String>, out: &mut Vec<Match<'a>>) {
        let Some(seg) = self.segments.get(at) else {
            out.push(Match {
                item: if bound.is_empty() {
                    self.text.clone()
                } else {
                    bound.join(".")
                },
                value: v,
            });
            return;
        };
        match (seg, v) {
            (Segment::Key(k), Value::Object(o)) => {
                if let Some(next) = o.get(k) {
                    self.walk(next, at + 1, bound, out);
                }
            }
            (Segment::Index(i), Value::Array(a)) => {
                if let Some(next) = a.get(*i) {
                    self.walk(next, at + 1, bound, out);
                }
            }
            // A number names an object's member too: `{"0": …}`.
            (Segment::Index(i), Value::Object(o)) => {
                if let Some(next) = o.get(&i.to_string()) {
                    self.walk(next, at + 1, bound, out);
                }
            }
            (Segment::Any, Value::Object(o)) => {
                for (k, next) in o {
                    bound.push(k.clone());
                    self.walk(next, at + 1, bound, out);
                    bound.pop();
                }
            }
            (Segment::Any, Value::Array(a)) => {
                for (i, next) in a.iter().enumerate() {
                    bound.push(element_name(next).unwrap_or_else(|| i.to_string()));
                    self.walk(next, at + 1, bound, out);
                    bound.pop();
                }
            }
            _ => {}
        }
    }
}

/// An array element's own name: its `name` or `id` member.
fn element_name(v: &Value) -> Option<String> {
    ["name", "id"].iter().find_map(|k| match v.get(k)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    })
}

/// A followed value as one CSV cell: numbers and strings as themselves,
/// anything else as its JSON.
pub fn cell(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn items(path: &str, v: &Value) -> Vec<(String, String)> {
        JsonPath::parse(path)
            .unwrap()
            .find(v)
            .into_iter()
            .map(|m| (m.item, cell(m.value)))
            .collect()
    }

    #[test]
    fn a_star_names_each_agent() {
        let v = json!({"agents": {"writer": {"restart_count": 3, "status": "ok"},
                                  "reader": {"restart_count": 0, "status": "restarting"}}});
        assert_eq!(
            items("agents.*.restart_count", &v),
            [("reader".into(), "0".into()), ("writer".into(), "3".into())]
        );
        assert_eq!(
            items("agents.writer.status", &v),
            [("agents.writer.status".into(), "ok".into())]
        );
    }

    #[test]
    fn array_elements_go_by_their_name_or_index() {
        let v = json!({"agents": [{"name": "a", "restarts": 1}, {"restarts": 2}]});
        assert_eq!(
            items("agents.*.restarts", &v),
            [("a".into(), "1".into()), ("1".into(), "2".into())]
        );
        assert_eq!(
            items("agents.1.restarts", &v),
            [("agents.1.restarts".into(), "2".into())]
        );
        assert!(items("agents.7.restarts", &v).is_empty());
        assert!(items("missing.*", &v).is_empty());
    }

    #[test]
    fn bad_paths_are_refused() {
        assert!(JsonPath::parse("").is_err());
        assert!(JsonPath::parse("a..b")
            .unwrap_err()
            .contains("empty segment"));
    }
}
