//! Rows in PostgreSQL's COPY text format: tab-separated, `\N` for NULL,
//! backslash escapes for the characters that would break a row.

use std::fmt::{Display, Write};

pub enum Field<'a> {
    /// Any text: escaped.
    Text(&'a str),
    /// Numbers, ids, booleans: their text never needs escaping.
    Display(&'a dyn Display),
    Null,
}

impl<'a> Field<'a> {
    pub fn opt<T: Display>(v: Option<&'a T>) -> Self {
        match v {
            Some(v) => Field::Display(v),
            None => Field::Null,
        }
    }
}

fn escape(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
}

/// Appends one row to `out`.
pub fn row(out: &mut String, fields: &[&Field<'_>]) {
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push('\t');
        }
        match f {
            Field::Text(s) => escape(out, s),
            Field::Display(d) => {
                let _ = write!(out, "{d}");
            }
            Field::Null => out.push_str("\\N"),
        }
    }
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_escape_what_would_break_them() {
        let mut out = String::new();
        row(&mut out, &[&Field::Text("a\tb\\c\nd"), &Field::Null, &Field::Display(&1.5), &Field::opt(Some(&7))]);
        assert_eq!(out, "a\\tb\\\\c\\nd\t\\N\t1.5\t7\n");
    }
}
