//! Compact JSON that survives JavaScript's `JSON.stringify(JSON.parse(body))`
//! byte for byte.
//!
//! Webhook receivers written in JavaScript (Next.js API routes in particular)
//! often parse the body, re-serialize it with `JSON.stringify` and HMAC the
//! result instead of the raw bytes. Their signature check only passes if the
//! bytes we sign and send are already exactly what V8 would print, so this
//! module parses JSON with `JSON.parse` semantics and writes it back with
//! `JSON.stringify` semantics:
//!
//! * no whitespace;
//! * every number goes through an IEEE-754 double and is printed like
//!   `Number.prototype.toString` (`100.0` → `100`, `1e21` → `1e+21`,
//!   `-0` → `0`, `12345678901234567890` → `12345678901234567000`);
//! * strings escape only `"`, `\`, and the C0 controls (short forms
//!   `\b \f \n \r \t`, otherwise `\u00xx` in lowercase hex); everything else,
//!   including `/`, DEL, U+2028/U+2029 and all non-ASCII, is written raw;
//! * object members come out in JavaScript's own-property order: keys that are
//!   array indices (`"0"` … `"4294967294"`) first in ascending numeric order,
//!   then every other key in first-insertion order. A duplicate key keeps the
//!   position of its first occurrence and the value of its last.
//!
//! The parser is hand written (it still produces [`serde_json::Value`])
//! because serde_json without its `float_roundtrip` feature rounds about one
//! in five arbitrary doubles to a neighbouring value (for example
//! `1938.0598938059702` becomes `1938.0598938059704`), which would silently
//! change numbers a JavaScript sender produced. Here numbers are parsed with
//! the standard library's correctly rounded `f64` parser, exactly like
//! `JSON.parse`.

use serde_json::{Map, Number, Value};

/// Hard upper bound on nesting that [`parse`] accepts, whatever `max_depth`
/// the caller asks for.
///
/// Parsing, [`write_compact`] and even dropping a [`Value`] recurse once per
/// nesting level, so an unbounded depth would let a request body overflow the
/// stack of a worker thread. 512 levels stay far below a 2 MiB thread stack
/// even in debug builds, and no real webhook payload comes close.
pub const DEPTH_CEILING: usize = 512;

/// Why a body was refused by [`parse`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The body is not valid JSON text (or not valid UTF-8, or uses something
    /// JSON allows but a Rust string cannot hold, such as a lone surrogate
    /// escape). The message names the problem and its byte offset.
    #[error("invalid JSON: {0}")]
    Syntax(String),
    /// Arrays and objects are nested deeper than the limit in force. `max` is
    /// the effective limit: the caller's `max_depth` capped at
    /// [`DEPTH_CEILING`].
    #[error("JSON is nested deeper than {max} levels")]
    TooDeep {
        /// The nesting limit that was exceeded.
        max: usize,
    },
}

/// Parses a JSON document with `JSON.parse` semantics.
///
/// * Invalid UTF-8 and malformed JSON are [`WireError::Syntax`].
/// * Object key order is kept; a duplicate key keeps its first position and
///   its last value, as in JavaScript.
/// * Integers that fit `u64`/`i64` stay integers in the [`Value`] (so
///   `as_u64()` keeps working for callers); all other numbers are parsed to
///   the nearest `f64` with correct rounding. A number whose magnitude is too
///   large for an `f64` (`1e400`) is refused, because `JSON.parse` would turn
///   it into `Infinity`, which JSON cannot carry.
/// * A lone surrogate escape such as `"\ud800"` is refused: `JSON.parse`
///   accepts it but a Rust `String` cannot represent it.
/// * Depth counts enclosing arrays and objects: `1` has depth 0, `[]` and
///   `{}` depth 1, `[[1]]` depth 2. Anything deeper than
///   `min(max_depth, DEPTH_CEILING)` is [`WireError::TooDeep`].
///
/// The top-level value may be of any type.
pub fn parse(bytes: &[u8], max_depth: usize) -> Result<Value, WireError> {
    // Validating the whole input up front lets the parser slice string
    // contents straight out of a `&str` without re-checking each run.
    let text = std::str::from_utf8(bytes)
        .map_err(|e| WireError::Syntax(format!("invalid UTF-8 at byte {}", e.valid_up_to())))?;
    let mut parser = Parser {
        text,
        bytes,
        pos: 0,
        depth: 0,
        max_depth: max_depth.min(DEPTH_CEILING),
    };
    parser.skip_ws();
    let value = parser.value()?;
    parser.skip_ws();
    if parser.pos != bytes.len() {
        return Err(parser.syntax("unexpected data after the JSON value"));
    }
    Ok(value)
}

/// Appends `value` to `out` as compact JSON, exactly as JavaScript's
/// `JSON.stringify(value)` would print the value `JSON.parse` makes of it.
///
/// See the module documentation for the number, string and key-order rules.
/// Recursion is one level per nesting level; values from [`parse`] are
/// bounded by [`DEPTH_CEILING`].
pub fn write_compact(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => write_number(n, out),
        Value::String(s) => write_json_string(s, out),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_compact(item, out);
            }
            out.push(b']');
        }
        Value::Object(map) => write_object(map, out),
    }
}

/// Returns `value` as a compact JSON string; see [`write_compact`].
pub fn to_compact_string(value: &Value) -> String {
    let mut out = Vec::new();
    write_compact(value, &mut out);
    // The writer only ever emits whole UTF-8 sequences copied from `String`s
    // plus ASCII, so this conversion cannot fail; the lossy fallback merely
    // avoids a panic path.
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

fn write_number(n: &Number, out: &mut Vec<u8>) {
    // JavaScript has a single number type, so every value is first brought to
    // the double it would become in `JSON.parse`. `u64 as f64` rounds to
    // nearest-even, which is what JS does with the same decimal integer.
    let f = if let Some(u) = n.as_u64() {
        u as f64
    } else if let Some(i) = n.as_i64() {
        i as f64
    } else {
        n.as_f64().unwrap_or(f64::NAN)
    };
    if !f.is_finite() {
        // serde_json numbers are always finite; this mirrors JSON.stringify
        // (which prints non-finite numbers as null) should that ever change.
        out.extend_from_slice(b"null");
    } else if f == 0.0 {
        // Covers -0 too: JSON.stringify(-0) is "0".
        out.push(b'0');
    } else {
        let mut buf = ryu_js::Buffer::new();
        out.extend_from_slice(buf.format_finite(f).as_bytes());
    }
}

/// Short escapes that JSON.stringify uses for C0 controls; 0 means "use
/// `\u00xx`".
const SHORT_ESCAPE: [u8; 32] = {
    let mut t = [0u8; 32];
    t[0x08] = b'b';
    t[0x09] = b't';
    t[0x0a] = b'n';
    t[0x0c] = b'f';
    t[0x0d] = b'r';
    t
};

const HEX_LOWER: &[u8; 16] = b"0123456789abcdef";

/// Writes `s` as a JSON string literal, escaped exactly as JSON.stringify does.
pub fn write_json_string(s: &str, out: &mut Vec<u8>) {
    out.reserve(s.len() + 2);
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut run_start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        // Every byte that needs escaping is ASCII, and ASCII bytes never occur
        // inside a multi-byte UTF-8 sequence, so a byte scan is safe and copies
        // all non-ASCII text through untouched.
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            0x00..=0x1f => &[],
            _ => continue,
        };
        out.extend_from_slice(&bytes[run_start..i]);
        run_start = i + 1;
        if !escape.is_empty() {
            out.extend_from_slice(escape);
        } else if SHORT_ESCAPE[usize::from(b)] != 0 {
            out.extend_from_slice(&[b'\\', SHORT_ESCAPE[usize::from(b)]]);
        } else {
            out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX_LOWER[usize::from(b >> 4)],
                HEX_LOWER[usize::from(b & 0x0f)],
            ]);
        }
    }
    out.extend_from_slice(&bytes[run_start..]);
    out.push(b'"');
}

/// Returns the numeric value of `key` if JavaScript treats it as an array
/// index: the canonical decimal form of an integer in `0..=2^32 - 2`.
/// Such keys are enumerated before all others, in ascending numeric order.
fn array_index(key: &str) -> Option<u32> {
    let b = key.as_bytes();
    if b.is_empty() || b.len() > 10 || (b.len() > 1 && b[0] == b'0') {
        return None;
    }
    let mut n: u64 = 0;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        n = n * 10 + u64::from(c - b'0');
    }
    // 2^32 - 1 itself is not an array index (it is the maximum length).
    u32::try_from(n).ok().filter(|&n| n != u32::MAX)
}

fn write_member(key: &str, value: &Value, first: &mut bool, out: &mut Vec<u8>) {
    if !*first {
        out.push(b',');
    }
    *first = false;
    write_json_string(key, out);
    out.push(b':');
    write_compact(value, out);
}

fn write_object(map: &Map<String, Value>, out: &mut Vec<u8>) {
    out.push(b'{');
    let mut first = true;
    // Index-like keys are rare in webhook payloads, so only pay for sorting
    // when one is present.
    if map.keys().any(|k| array_index(k).is_some()) {
        let mut indexed: Vec<(u32, &String, &Value)> = map
            .iter()
            .filter_map(|(k, v)| array_index(k).map(|n| (n, k, v)))
            .collect();
        // Keys are unique, so the numeric values are too: an unstable sort is
        // deterministic here.
        indexed.sort_unstable_by_key(|&(n, _, _)| n);
        for (_, k, v) in indexed {
            write_member(k, v, &mut first, out);
        }
        for (k, v) in map.iter().filter(|(k, _)| array_index(k).is_none()) {
            write_member(k, v, &mut first, out);
        }
    } else {
        for (k, v) in map {
            write_member(k, v, &mut first, out);
        }
    }
    out.push(b'}');
}

/// Recursive-descent JSON parser over input already validated as UTF-8.
struct Parser<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
    depth: usize,
    max_depth: usize,
}

impl Parser<'_> {
    fn syntax(&self, what: &str) -> WireError {
        WireError::Syntax(format!("{what} at byte {}", self.pos))
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        // JSON whitespace is exactly these four; JSON.parse rejects others
        // (including a BOM and U+00A0).
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    fn expect_literal(&mut self, word: &[u8], value: Value) -> Result<Value, WireError> {
        if self.bytes[self.pos..].starts_with(word) {
            self.pos += word.len();
            Ok(value)
        } else {
            Err(self.syntax("invalid literal"))
        }
    }

    fn value(&mut self) -> Result<Value, WireError> {
        match self.peek() {
            None => Err(self.syntax("unexpected end of input")),
            Some(b'{') => self.object(),
            Some(b'[') => self.array(),
            Some(b'"') => Ok(Value::String(self.string()?)),
            Some(b't') => self.expect_literal(b"true", Value::Bool(true)),
            Some(b'f') => self.expect_literal(b"false", Value::Bool(false)),
            Some(b'n') => self.expect_literal(b"null", Value::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(self.syntax("expected a JSON value")),
        }
    }

    fn enter(&mut self) -> Result<(), WireError> {
        if self.depth >= self.max_depth {
            return Err(WireError::TooDeep {
                max: self.max_depth,
            });
        }
        self.depth += 1;
        Ok(())
    }

    fn array(&mut self) -> Result<Value, WireError> {
        self.enter()?;
        self.pos += 1; // '['
        let mut items = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
        } else {
            loop {
                self.skip_ws();
                items.push(self.value()?);
                self.skip_ws();
                match self.peek() {
                    Some(b',') => self.pos += 1,
                    Some(b']') => {
                        self.pos += 1;
                        break;
                    }
                    _ => return Err(self.syntax("expected ',' or ']'")),
                }
            }
        }
        self.depth -= 1;
        Ok(Value::Array(items))
    }

    fn object(&mut self) -> Result<Value, WireError> {
        self.enter()?;
        self.pos += 1; // '{'
        let mut map = Map::new();
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
        } else {
            loop {
                self.skip_ws();
                if self.peek() != Some(b'"') {
                    return Err(self.syntax("expected a string key"));
                }
                let key = self.string()?;
                self.skip_ws();
                if self.peek() != Some(b':') {
                    return Err(self.syntax("expected ':'"));
                }
                self.pos += 1;
                self.skip_ws();
                let value = self.value()?;
                // With serde_json's preserve_order (an IndexMap underneath),
                // inserting an existing key replaces the value in place, which
                // is exactly JSON.parse's "first position, last value".
                map.insert(key, value);
                self.skip_ws();
                match self.peek() {
                    Some(b',') => self.pos += 1,
                    Some(b'}') => {
                        self.pos += 1;
                        break;
                    }
                    _ => return Err(self.syntax("expected ',' or '}'")),
                }
            }
        }
        self.depth -= 1;
        Ok(Value::Object(map))
    }

    fn hex4(&mut self) -> Result<u32, WireError> {
        let digits = self
            .bytes
            .get(self.pos..self.pos + 4)
            .ok_or_else(|| self.syntax("truncated \\u escape"))?;
        let mut n = 0u32;
        for &d in digits {
            let v = match d {
                b'0'..=b'9' => d - b'0',
                b'a'..=b'f' => d - b'a' + 10,
                b'A'..=b'F' => d - b'A' + 10,
                _ => return Err(self.syntax("invalid hex digit in \\u escape")),
            };
            n = n * 16 + u32::from(v);
        }
        self.pos += 4;
        Ok(n)
    }

    /// Parses a string starting at the opening quote.
    fn string(&mut self) -> Result<String, WireError> {
        self.pos += 1; // opening quote
        let mut out = String::new();
        let mut run_start = self.pos;
        loop {
            let Some(b) = self.peek() else {
                return Err(self.syntax("unterminated string"));
            };
            match b {
                b'"' => {
                    // Quote and backslash are ASCII, so these offsets are
                    // always char boundaries of the validated text.
                    out.push_str(&self.text[run_start..self.pos]);
                    self.pos += 1;
                    return Ok(out);
                }
                b'\\' => {
                    out.push_str(&self.text[run_start..self.pos]);
                    self.pos += 1;
                    self.escape(&mut out)?;
                    run_start = self.pos;
                }
                0x00..=0x1f => {
                    return Err(self.syntax("raw control character in string"));
                }
                _ => self.pos += 1,
            }
        }
    }

    /// Decodes one escape sequence; `pos` is just past the backslash.
    fn escape(&mut self, out: &mut String) -> Result<(), WireError> {
        let Some(c) = self.peek() else {
            return Err(self.syntax("unterminated escape"));
        };
        self.pos += 1;
        let decoded = match c {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let unit = self.hex4()?;
                let code = match unit {
                    0xD800..=0xDBFF => {
                        // A high surrogate only makes a character together
                        // with an immediately following low-surrogate escape.
                        if self.bytes.get(self.pos..self.pos + 2) != Some(b"\\u") {
                            return Err(self.syntax("lone surrogate in \\u escape"));
                        }
                        self.pos += 2;
                        let low = self.hex4()?;
                        if !(0xDC00..=0xDFFF).contains(&low) {
                            return Err(self.syntax("lone surrogate in \\u escape"));
                        }
                        0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
                    }
                    0xDC00..=0xDFFF => {
                        return Err(self.syntax("lone surrogate in \\u escape"));
                    }
                    _ => unit,
                };
                char::from_u32(code).ok_or_else(|| self.syntax("invalid \\u escape"))?
            }
            _ => {
                self.pos -= 1;
                return Err(self.syntax("invalid escape"));
            }
        };
        out.push(decoded);
        Ok(())
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
        self.pos - start
    }

    /// Parses a number per the JSON grammar:
    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
    fn number(&mut self) -> Result<Value, WireError> {
        let start = self.pos;
        let negative = self.peek() == Some(b'-');
        if negative {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => {
                self.pos += 1;
                // JSON.parse rejects leading zeros such as "01".
                if let Some(b'0'..=b'9') = self.peek() {
                    return Err(self.syntax("leading zero in number"));
                }
            }
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(self.syntax("expected a digit")),
        }
        let mut integer = true;
        if self.peek() == Some(b'.') {
            integer = false;
            self.pos += 1;
            if self.digits() == 0 {
                return Err(self.syntax("expected a digit after '.'"));
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            integer = false;
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return Err(self.syntax("expected a digit in exponent"));
            }
        }
        let text = &self.text[start..self.pos];
        if integer {
            // Keep integers as integers so the rest of the server can read
            // ids and amounts with as_u64/as_i64. "-0" falls through to the
            // float path so its sign is not silently dropped.
            if negative {
                if let Ok(i) = text.parse::<i64>() {
                    if i != 0 {
                        return Ok(Value::Number(i.into()));
                    }
                }
            } else if let Ok(u) = text.parse::<u64>() {
                return Ok(Value::Number(u.into()));
            }
        }
        // The text matches the JSON number grammar, which is a subset of what
        // Rust's correctly rounded f64 parser accepts, so this only fails in
        // theory; overflow yields infinity, handled below.
        let f: f64 = text
            .parse()
            .map_err(|_| WireError::Syntax(format!("invalid number at byte {start}")))?;
        Number::from_f64(f)
            .map(Value::Number)
            .ok_or_else(|| WireError::Syntax(format!("number out of range at byte {start}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn compact(input: &str) -> String {
        match parse(input.as_bytes(), 64) {
            Ok(v) => to_compact_string(&v),
            Err(e) => panic!("{input:?} failed to parse: {e}"),
        }
    }

    fn is_syntax(r: Result<Value, WireError>) -> bool {
        matches!(r, Err(WireError::Syntax(_)))
    }

    #[test]
    fn keeps_key_order() {
        assert_eq!(compact(r#"{"z":1,"a":2,"m":3}"#), r#"{"z":1,"a":2,"m":3}"#);
    }

    #[test]
    fn duplicate_key_keeps_first_position_and_last_value() {
        assert_eq!(
            compact(r#"{"a":1,"b":2,"a":3,"c":4,"b":5}"#),
            r#"{"a":3,"b":5,"c":4}"#
        );
        let v = parse(br#"{"k":[1],"k":{"x":true}}"#, 8).expect("valid");
        assert_eq!(v, json!({"k": {"x": true}}));
    }

    #[test]
    fn array_index_keys_come_first_in_numeric_order() {
        // Matches V8: integer keys up to 2^32-2 are enumerated first.
        assert_eq!(
            compact(r#"{"b":1,"4294967294":2,"4294967295":3,"1":4,"01":5,"0":6,"-1":7,"1.5":8}"#),
            r#"{"0":6,"1":4,"4294967294":2,"b":1,"4294967295":3,"01":5,"-1":7,"1.5":8}"#
        );
        assert_eq!(compact(r#"{"10":1,"9":2,"":3}"#), r#"{"9":2,"10":1,"":3}"#);
        assert_eq!(array_index("0"), Some(0));
        assert_eq!(array_index("4294967294"), Some(4_294_967_294));
        assert_eq!(array_index("4294967295"), None);
        assert_eq!(array_index("99999999999"), None);
        assert_eq!(array_index("00"), None);
        assert_eq!(array_index("+1"), None);
        assert_eq!(array_index(""), None);
    }

    #[test]
    fn rejects_invalid_utf8() {
        assert!(is_syntax(parse(b"\"\xff\"", 8)));
        assert!(is_syntax(parse(b"{\"a\xc3\":1}", 8)));
        // Overlong encoding and a UTF-8 encoded surrogate are invalid too.
        assert!(is_syntax(parse(b"\"\xc0\xaf\"", 8)));
        assert!(is_syntax(parse(b"\"\xed\xa0\x80\"", 8)));
    }

    #[test]
    fn rejects_malformed_json() {
        let bad = [
            "",
            " ",
            "{",
            "[1,]",
            "{\"a\":1,}",
            "{'a':1}",
            "{a:1}",
            "01",
            "-01",
            "1.",
            ".5",
            "+1",
            "-",
            "1e",
            "1e+",
            "NaN",
            "Infinity",
            "-Infinity",
            "tru",
            "nul",
            "[1 2]",
            "{\"a\" 1}",
            "{\"a\":1 \"b\":2}",
            "1 2",
            "\"abc",
            "\"\\x41\"",
            "\"\\u12\"",
            "\"\\u12G4\"",
            "\"a\nb\"",
            "\"\t\"",
            "\u{feff}{}",
            "\u{a0}1",
            "[1]]",
            "// c\n1",
            "\"\\ud800\"",
            "\"\\udc00\"",
            "\"\\ud800\\u0041\"",
            "1e400",
            "-1e400",
        ];
        for input in bad {
            assert!(
                is_syntax(parse(input.as_bytes(), 8)),
                "{input:?} should be a syntax error"
            );
        }
    }

    #[test]
    fn syntax_error_names_the_offset() {
        match parse(b"[1,,2]", 8) {
            Err(WireError::Syntax(msg)) => assert!(msg.contains("byte 3"), "{msg}"),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn depth_limit() {
        assert_eq!(parse(b"1", 0), Ok(json!(1)));
        assert_eq!(parse(b"[]", 0), Err(WireError::TooDeep { max: 0 }));
        assert_eq!(parse(b"[[[]]]", 3), Ok(json!([[[]]])));
        assert_eq!(parse(b"[[[[]]]]", 3), Err(WireError::TooDeep { max: 3 }));
        assert_eq!(
            parse(br#"{"a":[{"b":[]}]}"#, 3),
            Err(WireError::TooDeep { max: 3 })
        );
        assert!(parse(br#"{"a":[{"b":[]}]}"#, 4).is_ok());
        // Sibling containers do not add up; only nesting counts.
        assert!(parse(b"[[],[],{},[[]]]", 3).is_ok());
        // Brackets inside strings are text, not nesting.
        assert!(parse(br#"["[[[[{{{{"]"#, 1).is_ok());
        // Depth is checked while parsing, before a later syntax error.
        assert_eq!(parse(b"[[[[", 2), Err(WireError::TooDeep { max: 2 }));
    }

    #[test]
    fn depth_ceiling_caps_large_limits_without_overflowing_the_stack() {
        let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        let ok = parse(deep(DEPTH_CEILING).as_bytes(), usize::MAX).expect("at the ceiling");
        assert_eq!(to_compact_string(&ok), deep(DEPTH_CEILING));
        assert_eq!(
            parse(deep(DEPTH_CEILING + 1).as_bytes(), usize::MAX),
            Err(WireError::TooDeep { max: DEPTH_CEILING })
        );
        // Far beyond the ceiling must fail fast rather than recurse.
        assert_eq!(
            parse(deep(100_000).as_bytes(), usize::MAX),
            Err(WireError::TooDeep { max: DEPTH_CEILING })
        );
    }

    #[test]
    fn top_level_may_be_any_type() {
        assert_eq!(compact(" \t\r\n\"x\" \n"), "\"x\"");
        assert_eq!(compact("null"), "null");
        assert_eq!(compact("true"), "true");
        assert_eq!(compact("false"), "false");
        assert_eq!(compact("42"), "42");
        assert_eq!(compact("[ ]"), "[]");
        assert_eq!(compact("{ }"), "{}");
    }

    #[test]
    fn removes_whitespace() {
        assert_eq!(
            compact("{ \"a\" : [ 1 , 2 , { \"b\" : null } ] ,\n\t\"c\" : \"d e\" }"),
            r#"{"a":[1,2,{"b":null}],"c":"d e"}"#
        );
    }

    #[test]
    fn integers_stay_integers_in_the_value() {
        let v = parse(br#"{"a":29999,"b":-5,"c":18446744073709551615}"#, 4).expect("valid");
        assert_eq!(v["a"].as_u64(), Some(29999));
        assert_eq!(v["b"].as_i64(), Some(-5));
        assert_eq!(v["c"].as_u64(), Some(u64::MAX));
    }

    #[test]
    fn numbers_print_like_javascript() {
        // (input, what JSON.stringify(JSON.parse(input)) prints in V8)
        let table = [
            ("0", "0"),
            ("-0", "0"),
            ("-0.0", "0"),
            ("0e0", "0"),
            ("0.0e-5", "0"),
            ("100.0", "100"),
            ("1E5", "100000"),
            ("1e21", "1e+21"),
            ("1e20", "100000000000000000000"),
            ("123456789012345678901", "123456789012345680000"),
            ("1e-7", "1e-7"),
            ("0.000001", "0.000001"),
            ("1.5e-7", "1.5e-7"),
            ("123e-20", "1.23e-18"),
            ("299.99", "299.99"),
            ("-299.99", "-299.99"),
            ("0.30000000000000004", "0.30000000000000004"),
            ("0.1", "0.1"),
            ("5e-324", "5e-324"),
            ("2e-324", "0"),
            ("1.7976931348623157e308", "1.7976931348623157e+308"),
            ("9007199254740993", "9007199254740992"),
            ("-9007199254740993", "-9007199254740992"),
            ("12345678901234567890", "12345678901234567000"),
            ("18446744073709551615", "18446744073709552000"),
            ("-9223372036854775808", "-9223372036854776000"),
            ("123456789012345678901234567890", "1.2345678901234568e+29"),
            ("1938.0598938059702", "1938.0598938059702"),
            ("9885.745988574501", "9885.745988574501"),
            (
                "1.00000000000000011102230246251565404236316680908203125",
                "1",
            ),
            ("2432232314", "2432232314"),
            ("-1", "-1"),
        ];
        for (input, expected) in table {
            assert_eq!(compact(input), expected, "number {input}");
        }
    }

    #[test]
    fn floats_are_correctly_rounded() {
        // serde_json without float_roundtrip gets these wrong; JSON.parse and
        // Rust's own parser agree on the nearest double.
        for text in [
            "1938.0598938059702",
            "9885.745988574501",
            "222.01902220190001",
            "-1.81996730402717e-179",
            "3.909076791246025e-46",
            "2.2250738585072011e-308",
        ] {
            let v = parse(text.as_bytes(), 1).expect("valid number");
            let want: f64 = text.parse().expect("rust parses it");
            assert_eq!(v.as_f64().map(f64::to_bits), Some(want.to_bits()), "{text}");
        }
    }

    #[test]
    fn numbers_built_in_code_also_follow_javascript() {
        assert_eq!(to_compact_string(&json!(100.0)), "100");
        assert_eq!(to_compact_string(&json!(-0.0)), "0");
        assert_eq!(to_compact_string(&json!(0.1 + 0.2)), "0.30000000000000004");
        assert_eq!(to_compact_string(&json!(u64::MAX)), "18446744073709552000");
        assert_eq!(to_compact_string(&json!(i64::MIN)), "-9223372036854776000");
        assert_eq!(to_compact_string(&json!(1e21)), "1e+21");
    }

    #[test]
    fn string_escapes_follow_json_stringify() {
        let table = [
            ("plain", r#""plain""#),
            ("quote\"back\\slash", r#""quote\"back\\slash""#),
            ("a/b", r#""a/b""#),
            ("\u{8}\u{c}\n\r\t", r#""\b\f\n\r\t""#),
            (
                "\u{0}\u{1}\u{b}\u{e}\u{1a}\u{1f}",
                r#""\u0000\u0001\u000b\u000e\u001a\u001f""#,
            ),
            ("\u{7f}", "\"\u{7f}\""),
            ("\u{80}\u{9f}", "\"\u{80}\u{9f}\""),
            ("\u{2028}\u{2029}", "\"\u{2028}\u{2029}\""),
            ("é 日本 😀 e\u{301}", "\"é 日本 😀 e\u{301}\""),
            (
                "\u{feff}\u{fffd}\u{10ffff}",
                "\"\u{feff}\u{fffd}\u{10ffff}\"",
            ),
            ("", r#""""#),
        ];
        for (raw, expected) in table {
            assert_eq!(to_compact_string(&json!(raw)), expected, "string {raw:?}");
            // Keys go through the same escaping.
            let mut map = Map::new();
            map.insert(raw.to_owned(), Value::Null);
            assert_eq!(
                to_compact_string(&Value::Object(map)),
                format!("{{{expected}:null}}")
            );
        }
    }

    #[test]
    fn parse_decodes_every_escape() {
        let v = parse(
            br#""\"\\\/\b\f\n\r\t\u0041\u00e9\u2028\ud83d\ude00\uD83D\uDE00\u0000""#,
            0,
        )
        .expect("valid");
        assert_eq!(
            v,
            json!("\"\\/\u{8}\u{c}\n\r\t\u{41}\u{e9}\u{2028}😀😀\u{0}")
        );
        assert_eq!(
            to_compact_string(&v),
            "\"\\\"\\\\/\\b\\f\\n\\r\\t\u{41}\u{e9}\u{2028}😀😀\\u0000\""
        );
    }

    #[test]
    fn writes_nested_and_empty_containers() {
        let v = json!({"a": [], "b": {}, "c": [[], [{}], {"d": [null, true, false]}]});
        assert_eq!(
            to_compact_string(&v),
            r#"{"a":[],"b":{},"c":[[],[{}],{"d":[null,true,false]}]}"#
        );
        let mut out = b"prefix:".to_vec();
        write_compact(&json!([1]), &mut out);
        assert_eq!(out, b"prefix:[1]");
    }

    /// Each input with the exact text V8 prints for
    /// `JSON.stringify(JSON.parse(input))` (taken from Node 20). Our output
    /// must equal it, and must be a fixed point of parse + write.
    #[test]
    fn tricky_table_round_trips() {
        let table: &[(&str, &str)] = &[
            (r#"{"test": 2432232314}"#, r#"{"test":2432232314}"#),
            (
                "{\"é\":\"\\u00e9\",\"😀\":[\"\\ud83d\\ude00\"]}",
                "{\"é\":\"é\",\"😀\":[\"😀\"]}",
            ),
            (
                r#"[1.0, 2.50, -0, 1e0, 1E+2, 1e-0, 0.1e1]"#,
                r#"[1,2.5,0,1,100,1,1]"#,
            ),
            (
                r#"{"__proto__":1,"constructor":{"__proto__":[]}}"#,
                r#"{"__proto__":1,"constructor":{"__proto__":[]}}"#,
            ),
            (
                r#"{"b":{"2":1,"1":2,"a":3},"a":[{"1":0,"0":1}]}"#,
                r#"{"b":{"1":2,"2":1,"a":3},"a":[{"0":1,"1":0}]}"#,
            ),
            (r#"{"0":1,"0":2,"a":3,"1":4}"#, r#"{"0":2,"1":4,"a":3}"#),
            ("\"\\u007f\\u0080\\u2029\"", "\"\u{7f}\u{80}\u{2029}\""),
            ("\"\\u001F\\u000B\"", r#""\u001f\u000b""#),
            (r#""\/\/""#, r#""//""#),
            (
                r#"[9007199254740991,9007199254740992,9007199254740993]"#,
                r#"[9007199254740991,9007199254740992,9007199254740992]"#,
            ),
            (
                r#"[1e-6,1e-7,1.2e-7,123456789e-15,0.1234567e-6]"#,
                r#"[0.000001,1e-7,1.2e-7,1.23456789e-7,1.234567e-7]"#,
            ),
            (
                r#"[999999999999999999999,1e21,100000000000000000000]"#,
                r#"[1e+21,1e+21,100000000000000000000]"#,
            ),
            (
                "[\"\u{301}\u{200d}\u{fe0f}\"]",
                "[\"\u{301}\u{200d}\u{fe0f}\"]",
            ),
            ("{\"\":\"\"}", "{\"\":\"\"}"),
        ];
        for (input, expected) in table {
            let out = compact(input);
            assert_eq!(&out, expected, "input {input:?}");
            assert_eq!(compact(&out), out, "not a fixed point: {input:?}");
        }
    }
}
