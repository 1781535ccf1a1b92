//! The YAML of a unit file as a tree that keeps every node's line and
//! column, and serde-saphyr's errors in words for whoever wrote the file.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

/// A YAML value with the position of every node.
#[derive(Debug, Clone)]
pub(super) enum Node {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Spanned<Node>>),
    Map(Vec<(Spanned<String>, Spanned<Node>)>),
}

impl Node {
    pub(super) fn describe(&self) -> &'static str {
        match self {
            Node::Null => "nothing",
            Node::Bool(_) => "a boolean",
            Node::Int(_) | Node::Float(_) => "a number",
            Node::Str(_) => "a string",
            Node::Seq(_) => "a list",
            Node::Map(_) => "a mapping",
        }
    }

    /// A scalar as text (for env values, signals, durations).
    pub(super) fn scalar_text(&self) -> Option<String> {
        match self {
            Node::Str(s) => Some(s.clone()),
            Node::Int(n) => Some(n.to_string()),
            Node::Float(x) => Some(x.to_string()),
            Node::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Node, D::Error> {
        struct NodeVisitor;
        impl<'de> Visitor<'de> for NodeVisitor {
            type Value = Node;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a YAML value")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Node, E> {
                Ok(Node::Null)
            }
            fn visit_none<E: de::Error>(self) -> Result<Node, E> {
                Ok(Node::Null)
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Node, E> {
                Ok(Node::Bool(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Node, E> {
                Ok(Node::Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Node, E> {
                Ok(i64::try_from(v)
                    .map(Node::Int)
                    .unwrap_or(Node::Float(v as f64)))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Node, E> {
                Ok(Node::Float(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Node, E> {
                Ok(Node::Str(v.to_string()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Node, E> {
                Ok(Node::Str(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<Spanned<Node>>()? {
                    items.push(item);
                }
                Ok(Node::Seq(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
                let mut entries = Vec::new();
                while let Some(key) = map.next_key::<Spanned<String>>()? {
                    let value = map.next_value::<Spanned<Node>>()?;
                    entries.push((key, value));
                }
                Ok(Node::Map(entries))
            }
        }
        d.deserialize_any(NodeVisitor)
    }
}

/// What serde-saphyr found wrong, in words for whoever wrote the file:
/// its own texts name its API ("set DuplicateKeyPolicy in Options", "use
/// from_str_multiple", "use Option<String>", Rust type names, a `Debug`
/// dump of its limits), which a user can do nothing with. The scanner's
/// messages about the text itself ("unclosed quote", "mapping values are
/// not allowed in this context") are YAML's own words and kept.
pub(super) fn yaml_message(e: &serde_saphyr::Error) -> String {
    use serde_saphyr::{Error as E, MessageFormatter as _};
    let text: &str = match e.without_snippet() {
        E::AliasError { error, .. } => return yaml_message(error),
        E::WithSnippet { error, .. } => return yaml_message(error),
        E::MultipleDocuments { .. } => "a unit file holds one YAML document",
        // Not reached (duplicates are passed through and reported by
        // `unique`), but never with serde-saphyr's advice.
        E::DuplicateMappingKey { key: Some(k), .. } => return format!("duplicate key `{k}`"),
        E::DuplicateMappingKey { key: None, .. } => "duplicate key",
        E::NullIntoString { .. } | E::InvalidCharNull { .. } => {
            "a key is a name such as `command`, found nothing (`~` or `null`)"
        }
        // The tree asks for a string only for a mapping's key.
        E::Unexpected { .. } => "a key is a name such as `command`, not a list or a mapping",
        E::Budget { .. }
        | E::AliasReplayCounterOverflow { .. }
        | E::AliasReplayLimitExceeded { .. }
        | E::AliasExpansionLimitExceeded { .. }
        | E::AliasReplayStackDepthExceeded { .. } => {
            "too large or too complex for a unit file (too many values, aliases or levels of nesting)"
        }
        E::RecursiveReferencesRequireWeakTypes { .. } => {
            "an alias (*name) inside the value its anchor (&name) names"
        }
        E::UnknownAnchor { .. } => "an alias (*name) with no anchor (&name) before it",
        E::NonFiniteFloat { value, .. } => {
            return format!("`{value}` is not a finite number (quote it to use it as text)");
        }
        E::InvalidScalar { .. } => "a value that its tag (such as `!!int`) does not fit",
        E::BinaryNotUtf8 { .. } => "a `!!binary` value that is not UTF-8 text",
        E::InvalidBinaryBase64 { .. } => "a `!!binary` value that is not base64",
        E::MergeValueNotMapOrSeqOfMaps { .. } => {
            "a merge (`<<:`) takes a mapping or a list of mappings"
        }
        E::Eof { .. } => "the file ends in the middle of a value",
        E::IndentationError { .. } => "wrong indentation",
        E::InvalidUtf8Input => "not UTF-8 text",
        E::ExternalMessage { msg, .. } if msg == "recursion limit exceeded" => {
            "nested too deeply for a unit file"
        }
        other => {
            let message = serde_saphyr::UserMessageFormatter.format_message(other);
            return message.lines().next().unwrap_or("invalid YAML").to_string();
        }
    };
    text.to_string()
}
