//! Text folding for screening: what a buyer reads as the same word must
//! compare equal. Case, accents, look-alike letters from other scripts,
//! digits and symbols standing in for letters, and punctuation between
//! letters all fold away.

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// Letters from other scripts (and a few symbols) that look like Latin ones.
fn confusable(c: char) -> Option<char> {
    Some(match c {
        // Cyrillic
        'а' => 'a',
        'в' => 'b',
        'е' | 'ё' => 'e',
        'к' => 'k',
        'м' => 'm',
        'н' => 'h',
        'о' => 'o',
        'р' => 'p',
        'с' => 'c',
        'т' => 't',
        'у' => 'y',
        'х' => 'x',
        'і' | 'ї' => 'i',
        'ј' => 'j',
        'ѕ' => 's',
        'ԁ' => 'd',
        'ԛ' => 'q',
        'ԝ' => 'w',
        'ɡ' => 'g',
        // Greek
        'α' => 'a',
        'β' => 'b',
        'ε' => 'e',
        'η' => 'n',
        'ι' => 'i',
        'κ' => 'k',
        'ν' => 'v',
        'ο' => 'o',
        'ρ' => 'p',
        'τ' => 't',
        'υ' => 'u',
        'χ' => 'x',
        'ω' => 'w',
        'ζ' => 'z',
        // Latin variants NFKD leaves alone
        'ł' => 'l',
        'ø' => 'o',
        'đ' | 'ð' => 'd',
        'ħ' => 'h',
        'ı' => 'i',
        'ŧ' => 't',
        'þ' => 'p',
        _ => return None,
    })
}

/// Digits and symbols used for letters inside words (`N1ke`, `Di$ney`).
fn leet(c: char) -> Option<char> {
    Some(match c {
        '0' => 'o',
        '1' | '!' | '|' => 'i',
        '3' => 'e',
        '4' | '@' => 'a',
        '5' | '$' => 's',
        '7' => 't',
        '8' => 'b',
        '9' => 'g',
        _ => return None,
    })
}

/// Folds text into lower-case ASCII-ish words. Digits stay digits in
/// all-digit words (`2026`), and become letters inside words with letters.
pub fn words(text: &str) -> Vec<String> {
    // Decompose, drop accents, map look-alikes, lower-case.
    let folded: String = text
        .nfkd()
        .filter(|c| !is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .map(|c| confusable(c).unwrap_or(c))
        .collect::<String>()
        .replace('ß', "ss")
        .replace('æ', "ae")
        .replace('œ', "oe");
    let mut out = Vec::new();
    // Split on whitespace and on separators that are not letter stand-ins.
    for raw in folded
        .split(|c: char| c.is_whitespace() || matches!(c, ',' | ';' | '/' | '(' | ')' | '"' | '“' | '”' | '?' | '+'))
    {
        // Apostrophes vanish (`Levi's` → `levis`); hyphens and dots between
        // letters split (`Coca-Cola` → `coca cola`, `A.C.` handled by compacting).
        let raw: String = raw.chars().filter(|c| !matches!(c, '\'' | '’' | '`' | '´')).collect();
        // A stand-in counts only inside a word that has letters: `N1ke`
        // folds to `nike`, but `2026` and a trailing `!` stay what they are.
        let chars: Vec<char> = raw.chars().collect();
        let has_letter = chars.iter().any(|c| c.is_alphabetic());
        let mapped: String = chars
            .iter()
            .enumerate()
            .map(|(i, &c)| {
                let inside = i > 0 && i + 1 < chars.len();
                if has_letter && inside { leet(c).unwrap_or(c) } else { c }
            })
            .collect();
        for w in mapped.split(|c: char| !c.is_alphanumeric()) {
            if !w.is_empty() {
                out.push(w.to_owned());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_accents_and_lookalikes_fold_away() {
        assert_eq!(words("NIKE"), ["nike"]);
        assert_eq!(words("Pokémon"), ["pokemon"]);
        // Cyrillic о and е in place of Latin letters.
        assert_eq!(words("Dіsnеy Wоrld"), ["disney", "world"]);
        assert_eq!(words("N1ke Ju$t"), ["nike", "just"]);
        assert_eq!(words("Coca-Cola"), ["coca", "cola"]);
        assert_eq!(words("Levi's® jeans"), ["levis", "jeans"]);
        assert_eq!(words("Class of 2026"), ["class", "of", "2026"]);
        assert_eq!(words("Straße"), ["strasse"]);
        assert_eq!(words("Nice! 4ever"), ["nice", "4ever"]);
    }
}
