//! Free text, as types: a reason, a description, a keyword, a source's name,
//! a person's or a shop's name. A value that exists is one every layer
//! downstream can take: PostgreSQL text (no NUL), a CSV cell, an e-mail
//! header, a page.
//!
//! Every kind refuses:
//! - NUL and the other control characters (C0, DEL, C1); a multi-line kind
//!   keeps newline and tab, and reads CRLF or CR as a newline;
//! - U+FFFD, which is what text that was not valid Unicode (a lone surrogate,
//!   broken UTF-8) turns into on its way in;
//! - bidirectional embeddings and overrides (U+202A–U+202E), which make text
//!   read differently from what it is; a single-line kind refuses every
//!   bidirectional control, and line and paragraph separators too;
//! - more characters than the kind allows.
//!
//! Titles and tags have Etsy's stricter rules in [`super::listing_text`].
//! Event payloads keep plain strings, so events recorded before a rule
//! tightened still decode; commands and the edges take these types.

use std::fmt;

use serde::Serialize;

/// Why a piece of free text was refused. Names the field and says how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum FreeTextError {
    #[error("{field} is empty")]
    Empty { field: &'static str },
    #[error("{field} has {chars} characters; at most {max} are allowed")]
    TooLong { field: &'static str, chars: usize, max: usize },
    #[error("{field} contains the control character U+{code:04X} at character {at}; remove it")]
    Control { field: &'static str, code: u32, at: usize },
    #[error(
        "{field} contains the bidirectional control U+{code:04X} at character {at}; it makes text display differently from what it is"
    )]
    Bidi { field: &'static str, code: u32, at: usize },
    #[error(
        "{field} contains U+FFFD at character {at}, the mark of text that was not valid Unicode (a lone surrogate or broken UTF-8)"
    )]
    NotUnicode { field: &'static str, at: usize },
    #[error("{field} must be one line")]
    Multiline { field: &'static str },
}

impl FreeTextError {
    /// The field the error is about.
    pub fn field(&self) -> &'static str {
        match self {
            Self::Empty { field }
            | Self::TooLong { field, .. }
            | Self::Control { field, .. }
            | Self::Bidi { field, .. }
            | Self::NotUnicode { field, .. }
            | Self::Multiline { field } => field,
        }
    }
}

/// How one kind of text is checked.
#[derive(Debug, Clone, Copy)]
pub struct TextRules {
    pub field: &'static str,
    pub max_chars: usize,
    /// Newlines and tabs allowed (and CRLF read as a newline).
    pub multiline: bool,
}

/// Embeddings and overrides: refused everywhere.
fn is_bidi_override(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}')
}

/// Every character with the Bidi_Control property.
pub fn is_bidi_control(c: char) -> bool {
    is_bidi_override(c) || matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{2066}'..='\u{2069}')
}

impl TextRules {
    /// Checks `raw` and returns it normalised: trimmed, and for multi-line
    /// text with every line break as `\n`. Empty text is refused.
    pub fn check(&self, raw: &str) -> Result<String, FreeTextError> {
        let field = self.field;
        let text = if self.multiline { raw.replace("\r\n", "\n").replace('\r', "\n") } else { raw.to_owned() };
        let text = text.trim();
        if text.is_empty() {
            return Err(FreeTextError::Empty { field });
        }
        // Count first, so a 100 kB flood is refused for its length, not for
        // whatever odd character comes first.
        let chars = text.chars().count();
        if chars > self.max_chars {
            return Err(FreeTextError::TooLong { field, chars, max: self.max_chars });
        }
        for (i, c) in text.chars().enumerate() {
            let at = i + 1;
            let code = c as u32;
            match c {
                '\n' | '\t' if self.multiline => {}
                '\n' | '\u{2028}' | '\u{2029}' if !self.multiline => return Err(FreeTextError::Multiline { field }),
                '\u{FFFD}' => return Err(FreeTextError::NotUnicode { field, at }),
                c if c.is_control() => return Err(FreeTextError::Control { field, code, at }),
                c if is_bidi_override(c) || (!self.multiline && is_bidi_control(c)) => {
                    return Err(FreeTextError::Bidi { field, code, at });
                }
                _ => {}
            }
        }
        Ok(text.to_owned())
    }
}

macro_rules! free_text {
    ($(#[$m:meta])* $name:ident, field = $field:literal, max = $max:expr, multiline = $ml:expr) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub const RULES: TextRules = TextRules { field: $field, max_chars: $max, multiline: $ml };
            pub const MAX_CHARS: usize = $max;

            pub fn parse(raw: &str) -> Result<Self, FreeTextError> {
                Self::RULES.check(raw).map(Self)
            }
            /// The same rules, reported under another field's name (a form's box, a CLI flag).
            pub fn parse_as(field: &'static str, raw: &str) -> Result<Self, FreeTextError> {
                TextRules { field, ..Self::RULES }.check(raw).map(Self)
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = FreeTextError;
            fn try_from(s: String) -> Result<Self, FreeTextError> {
                Self::parse(&s)
            }
        }
        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.0
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

free_text!(
    /// Why a person rejected something: one line, at most 500 characters.
    RejectReason, field = "reason", max = 500, multiline = false
);
free_text!(
    /// A listing's description: several lines, at most 20,000 characters.
    Description, field = "description", max = 20_000, multiline = true
);
free_text!(
    /// A trend's keyword as observed: one line, at most 100 characters.
    Keyword, field = "keyword", max = 100, multiline = false
);
free_text!(
    /// The name of where a trend was observed: one line, at most 100 characters.
    SourceName, field = "source", max = 100, multiline = false
);
free_text!(
    /// An idea's phrase, its audience or style: one line, at most 200 characters.
    Phrase, field = "phrase", max = 200, multiline = false
);
free_text!(
    /// A person's, a shop's or a token's name: one line, at most 100 characters.
    DisplayName, field = "name", max = 100, multiline = false
);
free_text!(
    /// A short note a system records (an error, a failure's reason): several
    /// lines, at most 2,000 characters. See [`note`] to fit any text into one.
    Note, field = "note", max = 2_000, multiline = true
);

/// Makes any text a valid [`Note`]: control characters and bidirectional
/// controls become spaces, and it is cut at 2,000 characters. For text the
/// system records about itself (a provider's error message), where refusing
/// would lose the record.
pub fn note(raw: &str) -> String {
    let cleaned: String =
        raw.chars()
            .map(|c| {
                if (c.is_control() && c != '\n' && c != '\t') || is_bidi_override(c) || c == '\u{FFFD}' {
                    ' '
                } else {
                    c
                }
            })
            .take(Note::MAX_CHARS)
            .collect();
    let trimmed = cleaned.trim();
    if trimmed.is_empty() { "(no message)".to_owned() } else { trimmed.to_owned() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(rules: TextRules, raw: &str, expected: Result<&str, FreeTextError>) {
        assert_eq!(rules.check(raw).as_deref().map_err(Clone::clone), expected, "{raw:?}");
    }

    const ONE_LINE: TextRules = TextRules { field: "reason", max_chars: 10, multiline: false };
    const LINES: TextRules = TextRules { field: "description", max_chars: 10, multiline: true };

    #[test]
    fn ordinary_text_is_kept_trimmed() {
        check(ONE_LINE, "  too red ", Ok("too red"));
        check(ONE_LINE, "زرق جدا", Ok("زرق جدا"));
        check(ONE_LINE, "🐱🐱🐱", Ok("🐱🐱🐱"));
        check(LINES, "a\r\nb\rc\td", Ok("a\nb\nc\td"));
    }

    #[test]
    fn control_characters_are_refused_with_their_position() {
        let table = [
            ("bad\u{0}idea", 4, 0x0),
            ("x\u{1b}[31m", 2, 0x1b),
            ("del\u{7f}", 4, 0x7f),
            ("c\u{85}1", 2, 0x85),
            ("tab\there", 4, 0x9),
        ];
        for (raw, at, code) in table {
            check(ONE_LINE, raw, Err(FreeTextError::Control { field: "reason", code, at }));
        }
        check(LINES, "a\u{0}", Err(FreeTextError::Control { field: "description", code: 0, at: 2 }));
    }

    #[test]
    fn line_breaks_are_refused_in_one_line_text() {
        for raw in ["a\nb", "a\u{2028}b", "a\u{2029}b"] {
            check(ONE_LINE, raw, Err(FreeTextError::Multiline { field: "reason" }));
        }
    }

    #[test]
    fn bidi_overrides_are_refused_everywhere_and_every_bidi_control_in_one_line() {
        check(ONE_LINE, "evil\u{202E}txt", Err(FreeTextError::Bidi { field: "reason", code: 0x202E, at: 5 }));
        check(LINES, "\u{202D}ab", Err(FreeTextError::Bidi { field: "description", code: 0x202D, at: 1 }));
        check(ONE_LINE, "a\u{2066}b", Err(FreeTextError::Bidi { field: "reason", code: 0x2066, at: 2 }));
        check(ONE_LINE, "a\u{200F}b", Err(FreeTextError::Bidi { field: "reason", code: 0x200F, at: 2 }));
        check(LINES, "a\u{2067}b\u{2069}", Ok("a\u{2067}b\u{2069}"));
    }

    #[test]
    fn replacement_characters_from_broken_input_are_refused() {
        let lossy = String::from_utf8_lossy(b"ab\xed\xa0\x80").into_owned();
        check(ONE_LINE, &lossy, Err(FreeTextError::NotUnicode { field: "reason", at: 3 }));
    }

    #[test]
    fn length_is_counted_in_characters_and_checked_first() {
        check(ONE_LINE, &"é".repeat(10), Ok(&"é".repeat(10)));
        check(ONE_LINE, &"🐱".repeat(11), Err(FreeTextError::TooLong { field: "reason", chars: 11, max: 10 }));
        let flood = "\u{0}".repeat(100_000);
        check(
            ONE_LINE,
            &format!("x{flood}x"),
            Err(FreeTextError::TooLong { field: "reason", chars: 100_002, max: 10 }),
        );
    }

    #[test]
    fn empty_text_is_refused() {
        for raw in ["", "   ", "\r\n"] {
            check(LINES, raw, Err(FreeTextError::Empty { field: "description" }));
        }
    }

    #[test]
    fn the_types_carry_their_own_field_and_limit() {
        assert_eq!(RejectReason::parse(&"x".repeat(501)).unwrap_err().field(), "reason");
        assert!(Description::parse(&"x\n".repeat(9_000)).is_ok());
        assert_eq!(Keyword::parse_as("row 3: keyword", "a\u{0}").unwrap_err().field(), "row 3: keyword");
        let err = serde_json::from_str::<SourceName>("\"\\u0000\"").unwrap_err();
        assert!(err.to_string().contains("control character"), "{err}");
    }

    #[test]
    fn a_note_keeps_what_it_can_of_any_text() {
        assert_eq!(note("boom\u{0}\u{202E}!"), "boom  !");
        assert_eq!(note("\u{0}"), "(no message)");
        assert_eq!(note(&"x".repeat(5000)).len(), 2000);
    }
}
