//! User-supplied text in log lines: truncated and escaped, so a request
//! can neither forge log lines nor make one long.

use std::fmt;

/// The most characters of one user-supplied value a log line shows.
pub const LOG_TEXT_MAX_CHARS: usize = 64;

/// A user-supplied value as it is logged: quoted, control characters (and
/// quotes and backslashes) escaped, at most [`LOG_TEXT_MAX_CHARS`]
/// characters followed by how many bytes were left out.
pub struct LogText<'a>(&'a str);

/// Wraps `text` for a log line; see [`LogText`].
pub fn log_text(text: &str) -> LogText<'_> {
    LogText(text)
}

impl fmt::Display for LogText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"")?;
        let mut shown = 0;
        for (n, c) in self.0.char_indices().take(LOG_TEXT_MAX_CHARS) {
            write!(f, "{}", c.escape_debug())?;
            shown = n + c.len_utf8();
        }
        f.write_str("\"")?;
        if shown < self.0.len() {
            write!(f, "…(+{} bytes)", self.0.len() - shown)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_is_cut_and_control_characters_escaped() {
        assert_eq!(log_text("admin").to_string(), "\"admin\"");
        assert_eq!(
            log_text("a\"b\nc\u{1b}[31m").to_string(),
            "\"a\\\"b\\nc\\u{1b}[31m\""
        );
        let long = "x".repeat(60 * 1024);
        let shown = log_text(&long).to_string();
        assert_eq!(
            shown,
            format!("\"{}\"…(+{} bytes)", "x".repeat(64), 60 * 1024 - 64)
        );
        let worst = "\u{1}".repeat(10_000);
        assert!(log_text(&worst).to_string().len() < 64 * 10 + 32);
        assert_eq!(log_text("é").to_string(), "\"é\"");
    }
}
