//! The screening index: protected terms (brands, characters, teams,
//! celebrities, live word marks) and policy phrases, searchable by exact,
//! phrase and fuzzy match over folded text.
//!
//! Lookups are hashed, not scanned, so the index holds a USPTO import as
//! well as the curated list: phrases by their first word, run-together
//! spellings by their compact form, and near-misses by a symmetric-delete
//! table (every term with one letter dropped).

use std::collections::{HashMap, HashSet};

use pod_events::domain::idea::Verdict;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::normalize::words;

/// The curated list bundled with the binary.
const CURATED: &str = include_str!("../data/curated.tsv");

/// Fuzzy matching starts at this many letters: shorter words have too many
/// innocent neighbours.
const FUZZY_MIN_LEN: usize = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchKind {
    /// The whole text is the term.
    Exact,
    /// The term's words appear together in the text.
    Phrase,
    /// A near spelling (one or two letters off).
    Fuzzy,
}

impl MatchKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Exact => "exact",
            Self::Phrase => "phrase",
            Self::Fuzzy => "fuzzy",
        }
    }
}

#[derive(Debug, Clone)]
struct Entry {
    term: String,
    source: String,
    severity: Verdict,
    /// Nice classes the protection covers; empty: all.
    classes: Vec<u16>,
    words: Vec<String>,
    compact: String,
    fuzzy: bool,
}

/// A match of the text against one index entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hit {
    pub term: String,
    pub kind: MatchKind,
    /// The words of the text that matched, folded.
    pub matched: String,
    pub source: String,
    pub severity: Verdict,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum IndexError {
    #[error("line {line}: {reason}")]
    Line { line: usize, reason: String },
}

#[derive(Debug, Default)]
pub struct ScreeningIndex {
    entries: Vec<Entry>,
    by_first_word: HashMap<String, Vec<usize>>,
    by_compact: HashMap<String, Vec<usize>>,
    by_delete: HashMap<String, Vec<usize>>,
    seen: HashSet<(String, String)>,
}

fn deletes(s: &str) -> Vec<String> {
    let chars: Vec<char> = s.chars().collect();
    (0..chars.len()).map(|i| chars.iter().enumerate().filter(|(j, _)| *j != i).map(|(_, c)| c).collect()).collect()
}

fn allowed_distance(len: usize) -> usize {
    if len >= 9 { 2 } else { 1 }
}

fn parse_severity(s: &str) -> Option<Verdict> {
    match s {
        "red" => Some(Verdict::Red),
        "amber" => Some(Verdict::Amber),
        _ => None,
    }
}

impl ScreeningIndex {
    /// The bundled curated list of famous brands, characters, teams and
    /// celebrities, and the policy phrases marketplaces refuse.
    pub fn curated() -> Self {
        let mut idx = Self::default();
        // The bundled file is checked by a test; a bad line here is a build defect.
        if let Err(e) = idx.load_tsv(CURATED, "curated") {
            tracing::error!(error = %e, "the bundled screening list stopped loading at a bad line");
        }
        idx
    }

    /// Loads `term<TAB>category<TAB>red|amber[<TAB>class,class…]` lines.
    /// `#` starts a comment. Sources are `<origin>:<category>`.
    pub fn load_tsv(&mut self, text: &str, origin: &str) -> Result<usize, IndexError> {
        let mut n = 0;
        for (i, line) in text.lines().enumerate() {
            let line = line.trim_end();
            // Comments start at the first column; " #1 mom" is a term.
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = |reason: &str| IndexError::Line { line: i + 1, reason: reason.to_owned() };
            let cols: Vec<&str> = line.split('\t').collect();
            if cols.len() < 3 {
                return Err(bad("expected term, category and severity separated by tabs"));
            }
            let severity = parse_severity(cols[2].trim()).ok_or_else(|| bad("severity must be red or amber"))?;
            let classes = match cols.get(3).map(|c| c.trim()).filter(|c| !c.is_empty()) {
                None => Vec::new(),
                Some(c) => c
                    .split(',')
                    .map(|x| x.trim().parse::<u16>().map_err(|_| bad("classes must be numbers separated by commas")))
                    .collect::<Result<_, _>>()?,
            };
            let category = cols[1].trim();
            // Ordinary words that are also marks (Apple, Coach) are amber and
            // never matched fuzzily: too many innocent neighbours.
            // Bulk marks (USPTO) are too many and too ordinary for near-miss matching.
            let fuzzy = severity == Verdict::Red && category != "policy" && !category.starts_with("uspto");
            if self.add(cols[0].trim(), &format!("{origin}:{category}"), severity, classes, fuzzy) {
                n += 1;
            }
        }
        Ok(n)
    }

    /// Adds one term; false when it folds to nothing or is already there.
    pub fn add(&mut self, term: &str, source: &str, severity: Verdict, classes: Vec<u16>, fuzzy: bool) -> bool {
        let w = words(term);
        if w.is_empty() || !self.seen.insert((w.join(" "), source.to_owned())) {
            return false;
        }
        let compact: String = w.concat();
        let idx = self.entries.len();
        self.by_first_word.entry(w[0].clone()).or_default().push(idx);
        self.by_compact.entry(compact.clone()).or_default().push(idx);
        let fuzzy = fuzzy && compact.chars().count() >= FUZZY_MIN_LEN;
        if fuzzy {
            self.by_delete.entry(compact.clone()).or_default().push(idx);
            for d in deletes(&compact) {
                self.by_delete.entry(d).or_default().push(idx);
            }
        }
        self.entries.push(Entry {
            term: term.to_owned(),
            source: source.to_owned(),
            severity,
            classes,
            words: w,
            compact,
            fuzzy,
        });
        true
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// A short digest of the index's contents, recorded with every result so
    /// it can be re-checked against the same index.
    pub fn version(&self) -> String {
        let mut h = Sha256::new();
        for e in &self.entries {
            h.update(e.compact.as_bytes());
            h.update([0, e.severity as u8]);
            h.update(e.source.as_bytes());
            for c in &e.classes {
                h.update(c.to_be_bytes());
            }
        }
        format!("idx-{}-{}", self.entries.len(), &hex::encode(h.finalize())[..12])
    }

    fn covers(e: &Entry, class: Option<u16>) -> bool {
        match class {
            Some(c) => e.classes.is_empty() || e.classes.contains(&c),
            None => true,
        }
    }

    /// Every entry the text matches, strongest match per entry.
    pub fn screen(&self, text: &str, class: Option<u16>) -> Vec<Hit> {
        let w = words(text);
        let mut best: HashMap<usize, (MatchKind, String)> = HashMap::new();
        let mut note = |idx: usize, kind: MatchKind, matched: String| {
            let slot = best.entry(idx).or_insert((kind, matched.clone()));
            let rank = |k: MatchKind| match k {
                MatchKind::Exact => 0,
                MatchKind::Phrase => 1,
                MatchKind::Fuzzy => 2,
            };
            if rank(kind) < rank(slot.0) {
                *slot = (kind, matched);
            }
        };
        for i in 0..w.len() {
            // The term's words, in order.
            for &idx in self.by_first_word.get(&w[i]).into_iter().flatten() {
                let e = &self.entries[idx];
                if w[i..].starts_with(&e.words) {
                    let kind = if e.words.len() == w.len() { MatchKind::Exact } else { MatchKind::Phrase };
                    note(idx, kind, e.words.join(" "));
                }
            }
            // Run together or split differently (`mine craft`, `minecraft`).
            for len in 1..=4.min(w.len() - i) {
                let window = &w[i..i + len];
                let compact: String = window.concat();
                let chars = compact.chars().count();
                if chars >= FUZZY_MIN_LEN {
                    for &idx in self.by_compact.get(&compact).into_iter().flatten() {
                        let kind = if len == w.len() { MatchKind::Exact } else { MatchKind::Phrase };
                        note(idx, kind, window.join(" "));
                    }
                }
                // Near spellings.
                if chars >= FUZZY_MIN_LEN && len <= 3 {
                    let mut probes = deletes(&compact);
                    probes.push(compact.clone());
                    for p in probes {
                        for &idx in self.by_delete.get(&p).into_iter().flatten() {
                            let e = &self.entries[idx];
                            if !e.fuzzy || e.compact.chars().next() != compact.chars().next() {
                                continue;
                            }
                            let d = strsim::damerau_levenshtein(&compact, &e.compact);
                            if d > 0 && d <= allowed_distance(e.compact.chars().count()) {
                                note(idx, MatchKind::Fuzzy, window.join(" "));
                            }
                        }
                    }
                }
            }
        }
        let mut hits: Vec<Hit> = best
            .into_iter()
            .filter(|(idx, _)| Self::covers(&self.entries[*idx], class))
            .map(|(idx, (kind, matched))| {
                let e = &self.entries[idx];
                // A near spelling of a red term is for a person to judge.
                let severity = if kind == MatchKind::Fuzzy { Verdict::Amber } else { e.severity };
                Hit { term: e.term.clone(), kind, matched, source: e.source.clone(), severity }
            })
            .collect();
        hits.sort_by(|a, b| {
            (b.severity == Verdict::Red, &a.term, a.kind as u8).cmp(&(
                a.severity == Verdict::Red,
                &b.term,
                b.kind as u8,
            ))
        });
        hits
    }
}

/// Red if any hit is red, amber if any is amber, green otherwise.
pub fn verdict(hits: &[Hit]) -> Verdict {
    Verdict::worst(hits.iter().map(|h| h.severity))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> Verdict {
        verdict(&ScreeningIndex::curated().screen(text, None))
    }

    #[test]
    fn the_bundled_list_loads_whole() {
        let mut idx = ScreeningIndex::default();
        let n = idx.load_tsv(CURATED, "curated").expect("every line of curated.tsv parses");
        assert!(n > 200, "only {n} entries");
        assert_eq!(ScreeningIndex::curated().len(), n);
    }

    #[test]
    fn famous_marks_are_caught_in_spite_of_disguise() {
        for text in [
            "Disney Princess Mom",
            "DISNEY princess mom",
            "Dísnéy Princess",
            "Dіsnеy Princess", // Cyrillic і and е
            "D1sney Vibes",
            "Just a Girl Who Loves Pokémon",
            "POKEMON trainer dad",
            "Harry Potter Fan Club",
            "harry-potter",
            "Mine Craft Birthday Boy",
            "Hello Kitty Nurse",
            "Taylor Swift Eras Tour",
            "Dallas Cowboys Grandma",
            "Coca-Cola Retro",
            "cocacola retro",
        ] {
            assert_eq!(v(text), Verdict::Red, "{text}: {:#?}", ScreeningIndex::curated().screen(text, None));
        }
    }

    #[test]
    fn near_spellings_wait_for_a_person() {
        let idx = ScreeningIndex::curated();
        let hits = idx.screen("Pokemn Trainer", None);
        assert_eq!(verdict(&hits), Verdict::Amber, "{hits:#?}");
        assert!(hits.iter().any(|h| h.kind == MatchKind::Fuzzy && h.term == "Pokémon"), "{hits:#?}");
        assert_eq!(v("Starbuck's Coffee Lover"), Verdict::Red);
        assert_eq!(v("Starbuks Coffee Lover"), Verdict::Amber);
    }

    #[test]
    fn ordinary_phrases_pass() {
        for text in [
            "Crazy Cat Mom Club",
            "World's Okayest Nurse",
            "Eat Sleep Fishing Repeat",
            "Merry and Bright Christmas Vibes",
            "Proud Dog Dad",
            "Retro Sunset Pickleball",
            "Trust Me, I'm an Engineer",
            "Weekend Forecast: Camping",
            "Class of 2026 Graduate",
            "Certified Plant Lady",
        ] {
            let hits = ScreeningIndex::curated().screen(text, None);
            assert_eq!(verdict(&hits), Verdict::Green, "{text}: {hits:#?}");
        }
    }

    #[test]
    fn ordinary_words_that_are_marks_are_amber_and_policy_phrases_count() {
        assert_eq!(v("Vintage Polaroid Vibes"), Verdict::Amber);
        assert_eq!(v("Soccer Coach Life"), Verdict::Green);
        assert_eq!(v("Designer Bag Dupe"), Verdict::Red);
        assert_eq!(v("Inspired by a famous band"), Verdict::Amber);
        assert_eq!(v("Replica Jersey"), Verdict::Red);
    }

    #[test]
    fn classes_limit_marks_that_name_them() {
        let mut idx = ScreeningIndex::default();
        idx.add("Sunny Paws", "uspto:123", Verdict::Red, vec![25], false);
        assert_eq!(verdict(&idx.screen("Sunny Paws Tee", Some(25))), Verdict::Red);
        assert_eq!(verdict(&idx.screen("Sunny Paws Mug", Some(21))), Verdict::Green);
        assert_eq!(verdict(&idx.screen("Sunny Paws Mug", None)), Verdict::Red);
        let exact = idx.screen("sunny   paws", None);
        assert_eq!(exact[0].kind, MatchKind::Exact);
    }

    #[test]
    fn the_version_changes_with_the_contents() {
        let mut a = ScreeningIndex::default();
        a.add("Sunny Paws", "uspto:1", Verdict::Red, vec![], false);
        let v1 = a.version();
        a.add("Moon Tails", "uspto:2", Verdict::Red, vec![], false);
        assert_ne!(v1, a.version());
        assert!(!a.add("SUNNY paws", "uspto:1", Verdict::Red, vec![], false), "duplicates are ignored");
    }
}
