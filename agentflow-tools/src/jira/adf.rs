//! The small part of the Atlassian Document Format (ADF) the tools need: writing plain text as
//! a document (REST v3 requires ADF for descriptions and comment bodies) and flattening a
//! document back to text for the model.

use serde::Serialize;
use serde_json::{Map, Value, json};

/// An ADF document (`{"type":"doc","version":1,"content":[...]}`), checked at its top level.
///
/// ```
/// use agentflow_tools::jira::AdfDoc;
///
/// let doc = AdfDoc::from_text("First line\nsecond line\n\nNew paragraph");
/// let value = doc.as_value();
/// assert_eq!(value["type"], "doc");
/// assert_eq!(value["content"].as_array().map(Vec::len), Some(2));
/// assert_eq!(value["content"][0]["content"][1]["type"], "hardBreak");
/// assert_eq!(doc.to_plain_text(), "First line\nsecond line\n\nNew paragraph");
///
/// let raw = serde_json::json!({"type": "doc", "version": 1, "content": []});
/// assert!(AdfDoc::from_value(raw).is_ok());
/// assert!(AdfDoc::from_value(serde_json::json!("plain text")).is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(transparent)]
pub struct AdfDoc(Value);

/// Why a value is not an ADF document.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not an ADF document: {0}")]
pub struct AdfError(String);

impl AdfDoc {
    /// A document from plain text: blank lines separate paragraphs, single line breaks become
    /// `hardBreak` nodes. Empty text gives a document with no content.
    pub fn from_text(text: &str) -> Self {
        let mut paragraphs = Vec::new();
        let mut lines: Vec<&str> = Vec::new();
        for line in text.lines() {
            if line.trim().is_empty() {
                push_paragraph(&mut paragraphs, &mut lines);
            } else {
                lines.push(line);
            }
        }
        push_paragraph(&mut paragraphs, &mut lines);
        AdfDoc(json!({"type": "doc", "version": 1, "content": paragraphs}))
    }

    /// Accepts a document built elsewhere (headings, lists, mentions...). Only the top level is
    /// checked (`type` is `doc`, `version` is 1, `content` an array of typed nodes); Jira
    /// validates the rest.
    pub fn from_value(value: Value) -> Result<Self, AdfError> {
        let Some(map) = value.as_object() else {
            return Err(AdfError("expected a JSON object".into()));
        };
        if map.get("type").and_then(Value::as_str) != Some("doc") {
            return Err(AdfError("`type` must be \"doc\"".into()));
        }
        if map.get("version").and_then(Value::as_u64) != Some(1) {
            return Err(AdfError("`version` must be 1".into()));
        }
        let Some(content) = map.get("content").and_then(Value::as_array) else {
            return Err(AdfError("`content` must be an array".into()));
        };
        if content
            .iter()
            .any(|node| node.get("type").and_then(Value::as_str).is_none())
        {
            return Err(AdfError("every node in `content` needs a `type`".into()));
        }
        Ok(AdfDoc(value))
    }

    /// The document as JSON.
    pub fn as_value(&self) -> &Value {
        &self.0
    }

    /// The document as JSON, owned.
    pub fn into_value(self) -> Value {
        self.0
    }

    /// The document's text (see [`to_plain_text`]).
    pub fn to_plain_text(&self) -> String {
        to_plain_text(&self.0)
    }
}

impl TryFrom<Value> for AdfDoc {
    type Error = AdfError;

    fn try_from(value: Value) -> Result<Self, AdfError> {
        AdfDoc::from_value(value)
    }
}

impl From<&str> for AdfDoc {
    fn from(text: &str) -> Self {
        AdfDoc::from_text(text)
    }
}

fn push_paragraph(paragraphs: &mut Vec<Value>, lines: &mut Vec<&str>) {
    if lines.is_empty() {
        return;
    }
    let mut content = Vec::with_capacity(lines.len() * 2);
    for (i, line) in lines.drain(..).enumerate() {
        if i > 0 {
            content.push(json!({"type": "hardBreak"}));
        }
        // ADF rejects empty text nodes; `line` is never blank here.
        content.push(json!({"type": "text", "text": line}));
    }
    paragraphs.push(json!({"type": "paragraph", "content": content}));
}

/// True when `value` looks like an ADF document (an object with `type: "doc"` and a `content`
/// array).
pub fn is_doc(value: &Value) -> bool {
    value.get("type").and_then(Value::as_str) == Some("doc")
        && value.get("content").is_some_and(Value::is_array)
}

/// Flattens ADF to text, depth first: text nodes as they are, `hardBreak` as a line break,
/// blocks on their own lines (top-level blocks separated by a blank line), list items prefixed
/// with `- `, mentions as their display text. A plain string is returned as is (webhooks and
/// REST v2 send strings), anything else unknown gives its text nodes.
pub fn to_plain_text(value: &Value) -> String {
    let mut out = String::new();
    write_node(value, &mut out);
    out.trim_end().to_owned()
}

fn write_node(node: &Value, out: &mut String) {
    match node {
        Value::String(text) => out.push_str(text),
        Value::Array(items) => write_children(items, "\n", "", out),
        Value::Object(map) => write_object(map, out),
        _ => {}
    }
}

fn write_object(map: &Map<String, Value>, out: &mut String) {
    let kind = map.get("type").and_then(Value::as_str).unwrap_or_default();
    let attr = |name: &str| map.get("attrs").and_then(|a| a.get(name)).and_then(Value::as_str);
    match kind {
        "text" => out.push_str(map.get("text").and_then(Value::as_str).unwrap_or_default()),
        "hardBreak" => out.push('\n'),
        "mention" => match attr("text") {
            Some(text) => out.push_str(text),
            None => {
                out.push('@');
                out.push_str(attr("id").unwrap_or_default());
            }
        },
        "emoji" => out.push_str(attr("text").or(attr("shortName")).unwrap_or_default()),
        "inlineCard" | "blockCard" | "embedCard" => out.push_str(attr("url").unwrap_or_default()),
        _ => {
            let children = map
                .get("content")
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or_default();
            match kind {
                "doc" => write_children(children, "\n\n", "", out),
                "bulletList" => write_children(children, "\n", "- ", out),
                "orderedList" => write_children(children, "\n", "1. ", out),
                _ if children.iter().all(is_inline) => {
                    for child in children {
                        write_node(child, out);
                    }
                }
                _ => write_children(children, "\n", "", out),
            }
        }
    }
}

/// Writes each non-empty child, `separator` between them and `prefix` before each.
fn write_children(children: &[Value], separator: &str, prefix: &str, out: &mut String) {
    let mut first = true;
    for child in children {
        let mut piece = String::new();
        write_node(child, &mut piece);
        let piece = piece.trim_end();
        if piece.is_empty() {
            continue;
        }
        if !first {
            out.push_str(separator);
        }
        out.push_str(prefix);
        out.push_str(piece);
        first = false;
    }
}

fn is_inline(node: &Value) -> bool {
    matches!(
        node.get("type").and_then(Value::as_str),
        Some("text" | "hardBreak" | "mention" | "emoji" | "inlineCard" | "date" | "status")
    ) || node.is_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_becomes_paragraphs_and_hard_breaks() {
        let doc = AdfDoc::from_text("a\r\nb\n\n  \n\nc\n");
        assert_eq!(
            doc.as_value(),
            &json!({"type": "doc", "version": 1, "content": [
                {"type": "paragraph", "content": [
                    {"type": "text", "text": "a"}, {"type": "hardBreak"}, {"type": "text", "text": "b"}
                ]},
                {"type": "paragraph", "content": [{"type": "text", "text": "c"}]}
            ]})
        );
        assert_eq!(doc.to_plain_text(), "a\nb\n\nc");
        assert_eq!(AdfDoc::from_text(" \n").as_value()["content"], json!([]));
    }

    #[test]
    fn raw_values_are_checked_at_the_top_level() {
        assert!(AdfDoc::from_value(json!({"type": "doc", "version": 2, "content": []})).is_err());
        assert!(AdfDoc::from_value(json!({"type": "doc", "version": 1})).is_err());
        assert!(AdfDoc::from_value(json!({"type": "doc", "version": 1, "content": [{}]})).is_err());
        assert!(AdfDoc::from_value(json!({"type": "paragraph", "version": 1, "content": []})).is_err());
    }

    #[test]
    fn rich_documents_flatten_to_readable_text() {
        let doc = json!({"type": "doc", "version": 1, "content": [
            {"type": "heading", "attrs": {"level": 2}, "content": [{"type": "text", "text": "Steps"}]},
            {"type": "bulletList", "content": [
                {"type": "listItem", "content": [{"type": "paragraph", "content": [{"type": "text", "text": "one"}]}]},
                {"type": "listItem", "content": [{"type": "paragraph", "content": [
                    {"type": "text", "text": "ask "},
                    {"type": "mention", "attrs": {"id": "abc", "text": "@Mia"}}
                ]}]}
            ]},
            {"type": "codeBlock", "attrs": {"language": "rust"}, "content": [{"type": "text", "text": "fn main() {}"}]}
        ]});
        assert!(is_doc(&doc));
        assert_eq!(to_plain_text(&doc), "Steps\n\n- one\n- ask @Mia\n\nfn main() {}");
        assert_eq!(to_plain_text(&json!("already text")), "already text");
        assert!(!is_doc(&json!("already text")));
    }
}
