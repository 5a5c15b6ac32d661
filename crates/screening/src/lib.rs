//! Trademark and policy screening: text folded the way a buyer reads it,
//! matched against an index of protected terms (a bundled curated list, USPTO
//! word marks, policy phrases) exactly, by phrase and by near spelling.
//! Pure and shared: the screening worker screens ideas and composed
//! listings with it, the API screens a person's edits with it.

pub mod index;
pub mod normalize;
pub mod uspto;

use std::path::Path;

use pod_events::domain::idea::{ScreeningHit, Verdict};

pub use index::{Hit, IndexError, MatchKind, ScreeningIndex, verdict};

#[derive(Debug, thiserror::Error)]
pub enum ListError {
    #[error("screening list {path}: {reason}")]
    Unreadable { path: String, reason: String },
}

/// The bundled list, plus the USPTO list if it exists, plus every extra list
/// (which must exist).
pub fn load_index(trademarks_list: &Path, extra_lists: &[std::path::PathBuf]) -> Result<ScreeningIndex, ListError> {
    let mut index = ScreeningIndex::curated();
    let lists = extra_lists.iter().map(|p| p.as_path()).chain(trademarks_list.is_file().then_some(trademarks_list));
    for path in lists {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| ListError::Unreadable { path: shown.clone(), reason: e.to_string() })?;
        index.load_tsv(&text, "list").map_err(|e| ListError::Unreadable { path: shown, reason: e.to_string() })?;
    }
    Ok(index)
}

/// The Nice class of the goods a product type is printed on.
pub fn nice_class(product_type: &str) -> Option<u16> {
    let p = product_type.to_lowercase();
    Some(match p.as_str() {
        "t-shirt" | "shirt" | "sweatshirt" | "hoodie" | "tank top" | "onesie" | "hat" | "socks" => 25,
        "mug" | "tumbler" | "water bottle" => 21,
        "sticker" | "poster" | "print" | "card" | "notebook" => 16,
        "tote bag" | "backpack" => 18,
        "phone case" => 9,
        "ornament" => 28,
        _ => return None,
    })
}

/// Screens each field of an idea and records which field each hit came from.
/// Each entry is matched on its own: pass tags one by one, so that no match
/// spans two of them.
pub fn screen_fields(index: &ScreeningIndex, fields: &[(&str, &str)], class: Option<u16>) -> Vec<ScreeningHit> {
    let mut out: Vec<ScreeningHit> = Vec::new();
    for (field, text) in fields {
        for h in index.screen(text, class) {
            if out.iter().any(|o| o.term == h.term && o.field == *field) {
                continue;
            }
            out.push(ScreeningHit {
                term: h.term,
                match_kind: h.kind.as_str().to_owned(),
                matched: h.matched,
                field: (*field).to_owned(),
                source: h.source,
                severity: h.severity,
            });
        }
    }
    out
}

/// The overall verdict of recorded hits.
pub fn verdict_of(hits: &[ScreeningHit]) -> Verdict {
    Verdict::worst(hits.iter().map(|h| h.severity))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_match_never_spans_two_tags() {
        let index = ScreeningIndex::curated();
        let apart = [("tag", "tote bag"), ("tag", "bunny lover")];
        assert!(screen_fields(&index, &apart, Some(25)).is_empty());
        let joined = [("tag", "tote bag, bunny lover")];
        assert_eq!(verdict_of(&screen_fields(&index, &joined, Some(25))), Verdict::Amber, "the window across tags");
        let hits = screen_fields(&index, &[("phrase", "Hello Kitty Nurse"), ("tag", "hello kitty")], None);
        assert_eq!(hits.iter().map(|h| h.field.as_str()).collect::<Vec<_>>(), ["phrase", "tag"]);
        assert_eq!(verdict_of(&hits), Verdict::Red);
    }

    #[test]
    fn product_types_map_to_nice_classes() {
        assert_eq!(nice_class("t-shirt"), Some(25));
        assert_eq!(nice_class("Mug"), Some(21));
        assert_eq!(nice_class("sticker"), Some(16));
        assert_eq!(nice_class("tote bag"), Some(18));
        assert_eq!(nice_class("phone case"), Some(9));
        assert_eq!(nice_class("spaceship"), None);
    }
}
