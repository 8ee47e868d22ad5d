//! JSON Schemas of custom event types: which schemas are accepted, and
//! whether a payload matches one.
//!
//! Compiling is pure: the validator never resolves a remote or file
//! `$ref` (the `jsonschema` crate is built without its HTTP and file
//! resolvers, and is told to stay offline), so a schema can make Herald
//! fetch nothing. Its cost is bounded: a schema is at most
//! [`MAX_SCHEMA_BYTES`] of compact JSON, and `pattern` /
//! `patternProperties` run on the `regex` engine, which cannot backtrack
//! (linear in the input), with a bound on each compiled expression.

use jsonschema::{PatternOptions, Validator};
use serde_json::Value;

use super::endpoint::FieldError;

/// The largest schema accepted, as compact JSON.
pub const MAX_SCHEMA_BYTES: usize = 64 * 1024;
/// The compiled size bound of one `pattern` (the `regex` crate's own
/// default is 10 MiB; a schema's patterns are small).
const MAX_PATTERN_BYTES: usize = 1 << 20;
/// How much of a validator's message an answer quotes.
const MAX_MESSAGE_CHARS: usize = 300;

/// A compiled schema.
pub struct Schema {
    validator: Validator,
}

impl std::fmt::Debug for Schema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Schema")
    }
}

/// Why a payload does not match its schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// Where in the payload, as a JSON Pointer (`/object/amount`; `` for
    /// the payload itself).
    pub path: String,
    /// Why, without quoting the payload's values (bounded).
    pub message: String,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let path = if self.path.is_empty() {
            "/"
        } else {
            &self.path
        };
        write!(f, "at {path}: {}", self.message)
    }
}

fn bounded(s: &str) -> String {
    if s.chars().count() <= MAX_MESSAGE_CHARS {
        return s.to_string();
    }
    let mut out: String = s.chars().take(MAX_MESSAGE_CHARS).collect();
    out.push('…');
    out
}

/// The compact JSON text of a schema, if it is one Herald accepts: a JSON
/// object of at most [`MAX_SCHEMA_BYTES`] that compiles ([`compile`]).
pub fn validate_schema(schema: &Value) -> Result<String, FieldError> {
    if !schema.is_object() {
        return Err(FieldError::new(
            "schema",
            "must be a JSON object (a JSON Schema), or null for none",
        ));
    }
    let text = schema.to_string();
    if text.len() > MAX_SCHEMA_BYTES {
        return Err(FieldError::new(
            "schema",
            format!(
                "is {} bytes as compact JSON; the limit is {MAX_SCHEMA_BYTES}",
                text.len()
            ),
        ));
    }
    compile(schema)?;
    Ok(text)
}

/// Compiles `schema` (any draft the `jsonschema` crate knows, 2020-12 by
/// default), checking it against its meta-schema; refuses references it
/// would have to fetch.
pub fn compile(schema: &Value) -> Result<Schema, FieldError> {
    let validator = jsonschema::options()
        .offline()
        .with_pattern_options(PatternOptions::regex().size_limit(MAX_PATTERN_BYTES))
        .build(schema)
        .map_err(|e| {
            FieldError::new(
                "schema",
                format!("is not a valid JSON Schema: {}", bounded(&e.to_string())),
            )
        })?;
    Ok(Schema { validator })
}

/// Compiles a schema stored as JSON text.
pub fn compile_text(text: &str) -> Result<Schema, FieldError> {
    let v: Value = serde_json::from_str(text)
        .map_err(|e| FieldError::new("schema", format!("is not JSON: {e}")))?;
    compile(&v)
}

impl Schema {
    /// Whether `payload` matches; the first mismatch otherwise.
    pub fn check(&self, payload: &Value) -> Result<(), Mismatch> {
        match self.validator.validate(payload) {
            Ok(()) => Ok(()),
            Err(e) => Err(Mismatch {
                path: bounded(e.instance_path().as_str()),
                // Masked: the message names the rule broken, not the
                // value (a payload may be large, or private).
                message: bounded(&e.masked().to_string()),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn invoice() -> Value {
        json!({
            "type": "object",
            "required": ["object"],
            "properties": {
                "object": {
                    "type": "object",
                    "required": ["amount"],
                    "properties": {
                        "amount": { "type": "integer", "minimum": 0 },
                        "code": { "type": "string", "pattern": "^[A-Z]{3}$" }
                    }
                }
            }
        })
    }

    #[test]
    fn checks_payloads_and_names_the_path() {
        let s = compile(&invoice()).unwrap();
        assert!(s
            .check(&json!({"object": {"amount": 5, "code": "EUR"}}))
            .is_ok());
        let m = s.check(&json!({"object": {"amount": "five"}})).unwrap_err();
        assert_eq!(m.path, "/object/amount");
        assert!(m.message.contains("integer"), "{m}");
        assert!(!m.message.contains("five"), "values are not quoted: {m}");
        let m = s.check(&json!({"object": {}})).unwrap_err();
        assert_eq!(m.path, "/object");
        assert!(m.message.contains("amount"), "{m}");
        let m = s.check(&json!({"nope": 1})).unwrap_err();
        assert_eq!(m.to_string().split(':').next(), Some("at /"));
        let m = s
            .check(&json!({"object": {"amount": 1, "code": "eur"}}))
            .unwrap_err();
        assert_eq!(m.path, "/object/code");
    }

    #[test]
    fn refuses_what_is_not_a_bounded_valid_schema() {
        assert_eq!(validate_schema(&invoice()).unwrap(), invoice().to_string());
        for bad in [
            json!([1]),
            json!("string"),
            json!({"type": "nonsense"}),
            json!({"minimum": "zero"}),
        ] {
            let e = validate_schema(&bad).unwrap_err();
            assert_eq!(e.field, "schema", "{bad}");
        }
        let big = json!({ "description": "x".repeat(MAX_SCHEMA_BYTES) });
        assert!(validate_schema(&big).unwrap_err().message.contains("limit"));
        // Nothing is fetched: a remote or file reference does not compile.
        for r in ["https://example.com/s.json", "file:///etc/passwd"] {
            assert!(compile(&json!({ "$ref": r })).is_err(), "{r}");
        }
        // Look-around needs a backtracking engine, which is not used.
        assert!(compile(&json!({"type": "string", "pattern": "(?=a)a"})).is_err());
        // A local reference works.
        let local = json!({
            "$defs": { "n": { "type": "integer" } },
            "properties": { "x": { "$ref": "#/$defs/n" } }
        });
        let s = compile(&local).unwrap();
        assert!(s.check(&json!({"x": 1})).is_ok());
        assert_eq!(s.check(&json!({"x": "1"})).unwrap_err().path, "/x");
        assert!(compile_text(&local.to_string()).is_ok());
        assert!(compile_text("{").is_err());
        // Reference cycles compile and a check of them ends.
        for cyclic in [
            json!({"$ref": "#"}),
            json!({"$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"$ref": "#/$defs/a"}}, "$ref": "#/$defs/a"}),
        ] {
            assert!(compile(&cyclic).unwrap().check(&json!({"x": [1]})).is_ok());
        }
    }
}
