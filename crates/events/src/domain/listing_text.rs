//! Etsy's rules for listing text, as types: a [`Title`] or a [`Tag`] that
//! exists is one Etsy accepts. Shared by the listing composer, the Listing
//! aggregate and the API's live validation, so all three say the same thing.
//!
//! The rules (Etsy Open API v3, `createDraftListing`):
//! - title: 1–140 characters of letters, digits, punctuation, math symbols,
//!   spaces and ™©®; each of `% : & +` at most once;
//! - tag: 1–20 characters of letters, digits, spaces, `-`, `'` and ™©®;
//!   at most 13 per listing.
//!
//! [`seo_report`] scores a listing's text against what helps it be found,
//! with a reason for every point given or withheld.

use serde::{Deserialize, Serialize};

pub const MAX_TITLE_CHARS: usize = 140;
pub const MAX_TAGS: usize = 13;
pub const MAX_TAG_CHARS: usize = 20;
/// Characters Etsy allows at most once in a title.
pub const ONCE_ONLY: [char; 4] = ['%', ':', '&', '+'];
/// What every description of an AI-assisted design must say.
pub const AI_DISCLOSURE: &str = "This design was created with the help of AI tools and finished by our studio.";

/// Why a piece of listing text breaks Etsy's rules. Every variant names what
/// is wrong so a seller can fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum TextError {
    #[error("title is empty")]
    TitleEmpty,
    #[error("title has {chars} characters; Etsy allows at most {MAX_TITLE_CHARS}")]
    TitleTooLong { chars: usize },
    #[error(
        "title contains {ch:?} at character {at}; Etsy allows letters, digits, punctuation, math symbols, spaces and ™©®"
    )]
    TitleCharacter { ch: char, at: usize },
    #[error("title uses {ch:?} {count} times; Etsy allows each of % : & + at most once")]
    TitleRepeats { ch: char, count: usize },
    #[error("a tag is empty")]
    TagEmpty,
    #[error("tag {tag:?} has {chars} characters; Etsy allows at most {MAX_TAG_CHARS}")]
    TagTooLong { tag: String, chars: usize },
    #[error("tag {tag:?} contains {ch:?}; tags allow letters, digits, spaces, - ' and ™©®")]
    TagCharacter { tag: String, ch: char },
    #[error("{count} tags; Etsy allows at most {MAX_TAGS}")]
    TooManyTags { count: usize },
    #[error("tag {tag:?} appears twice")]
    DuplicateTag { tag: String },
}

fn is_trademark_sign(c: char) -> bool {
    matches!(c, '™' | '©' | '®')
}

/// Unicode punctuation (P*) and math symbols (Sm) outside ASCII that sellers
/// actually type; ASCII is classified exactly below.
const EXTRA_PUNCT_AND_MATH: &str = "–—‘’‚“”„…•·‹›«»¡¿§¶†‡′″×÷±≤≥≠≈∞√∑−";

fn title_char_allowed(c: char) -> bool {
    if c.is_ascii() {
        // ASCII: letters, digits, space, and punctuation/math except the
        // currency sign `$` and the modifier symbols `^` and `` ` `` (Sc, Sk).
        return c.is_ascii_alphanumeric() || c == ' ' || (c.is_ascii_punctuation() && !matches!(c, '$' | '^' | '`'));
    }
    is_letter(c) || is_trademark_sign(c) || EXTRA_PUNCT_AND_MATH.contains(c)
}

/// A letter (Unicode L*) — not a number like ½ or ², which Etsy refuses;
/// digits are ASCII (checked by the callers).
fn is_letter(c: char) -> bool {
    c.is_alphabetic() && !c.is_numeric()
}

fn tag_char_allowed(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || (!c.is_ascii() && is_letter(c))
        || matches!(c, ' ' | '-' | '\'')
        || is_trademark_sign(c)
}

/// Collapses runs of whitespace into one space and trims the ends.
pub fn squash_spaces(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A listing title Etsy accepts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Title(String);

impl Title {
    /// Squashes whitespace, then checks every rule.
    pub fn parse(raw: &str) -> Result<Self, TextError> {
        let t = squash_spaces(raw);
        if t.is_empty() {
            return Err(TextError::TitleEmpty);
        }
        let chars = t.chars().count();
        if chars > MAX_TITLE_CHARS {
            return Err(TextError::TitleTooLong { chars });
        }
        if let Some((at, ch)) = t.chars().enumerate().find(|(_, c)| !title_char_allowed(*c)) {
            return Err(TextError::TitleCharacter { ch, at: at + 1 });
        }
        for ch in ONCE_ONLY {
            let count = t.chars().filter(|c| *c == ch).count();
            if count > 1 {
                return Err(TextError::TitleRepeats { ch, count });
            }
        }
        Ok(Self(t))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Title {
    type Error = TextError;
    fn try_from(s: String) -> Result<Self, TextError> {
        Title::parse(&s)
    }
}
impl From<Title> for String {
    fn from(t: Title) -> String {
        t.0
    }
}
impl std::fmt::Display for Title {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// One listing tag Etsy accepts, lower-cased (Etsy matches tags without case).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Tag(String);

impl Tag {
    pub fn parse(raw: &str) -> Result<Self, TextError> {
        let t = squash_spaces(raw).to_lowercase();
        if t.is_empty() {
            return Err(TextError::TagEmpty);
        }
        let chars = t.chars().count();
        if chars > MAX_TAG_CHARS {
            return Err(TextError::TagTooLong { tag: t, chars });
        }
        if let Some(ch) = t.chars().find(|c| !tag_char_allowed(*c)) {
            return Err(TextError::TagCharacter { tag: t, ch });
        }
        Ok(Self(t))
    }

    /// Turns free text into a tag where it can: drops the characters tags do
    /// not allow and shortens it at a word boundary. `None` when nothing is left.
    pub fn coerce(raw: &str) -> Option<Self> {
        let cleaned: String =
            raw.chars().map(|c| if tag_char_allowed(c) { c } else { ' ' }).collect::<String>().to_lowercase();
        let mut out = String::new();
        for word in cleaned.split_whitespace() {
            let extra = if out.is_empty() { 0 } else { 1 };
            if out.chars().count() + extra + word.chars().count() > MAX_TAG_CHARS {
                break;
            }
            if extra == 1 {
                out.push(' ');
            }
            out.push_str(word);
        }
        Tag::parse(&out).ok()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Tag {
    type Error = TextError;
    fn try_from(s: String) -> Result<Self, TextError> {
        Tag::parse(&s)
    }
}
impl From<Tag> for String {
    fn from(t: Tag) -> String {
        t.0
    }
}

/// A listing's tags: each valid, none repeated, at most 13.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(try_from = "Vec<String>", into = "Vec<String>")]
pub struct Tags(Vec<Tag>);

impl Tags {
    /// The first rule the tags break, if any.
    pub fn parse<S: AsRef<str>>(raw: &[S]) -> Result<Self, TextError> {
        parse_tags(raw).map(Self)
    }

    /// Every rule the tags break, each with the position of the tag that
    /// breaks it (`None`: the list as a whole), for a form to show at once.
    pub fn parse_all<S: AsRef<str>>(raw: &[S]) -> Result<Self, Vec<(Option<usize>, TextError)>> {
        let mut errors = Vec::new();
        if raw.len() > MAX_TAGS {
            errors.push((None, TextError::TooManyTags { count: raw.len() }));
        }
        let mut out: Vec<Tag> = Vec::with_capacity(raw.len());
        for (i, r) in raw.iter().enumerate() {
            match Tag::parse(r.as_ref()) {
                Ok(t) if out.contains(&t) => errors.push((Some(i), TextError::DuplicateTag { tag: t.0 })),
                Ok(t) => out.push(t),
                Err(e) => errors.push((Some(i), e)),
            }
        }
        if errors.is_empty() { Ok(Self(out)) } else { Err(errors) }
    }

    /// Tags already parsed one by one, checked as a list.
    pub fn from_tags(tags: Vec<Tag>) -> Result<Self, TextError> {
        if tags.len() > MAX_TAGS {
            return Err(TextError::TooManyTags { count: tags.len() });
        }
        for (i, t) in tags.iter().enumerate() {
            if tags[..i].contains(t) {
                return Err(TextError::DuplicateTag { tag: t.0.clone() });
            }
        }
        Ok(Self(tags))
    }

    pub fn as_slice(&self) -> &[Tag] {
        &self.0
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Tag> {
        self.0.iter()
    }

    pub fn first(&self) -> Option<&Tag> {
        self.0.first()
    }
}

impl TryFrom<Vec<String>> for Tags {
    type Error = TextError;
    fn try_from(raw: Vec<String>) -> Result<Self, TextError> {
        Tags::parse(&raw)
    }
}
impl From<Tags> for Vec<String> {
    fn from(t: Tags) -> Vec<String> {
        t.0.into_iter().map(String::from).collect()
    }
}

/// Parses a listing's tags: each must be valid, none repeated, at most 13.
pub fn parse_tags<S: AsRef<str>>(raw: &[S]) -> Result<Vec<Tag>, TextError> {
    if raw.len() > MAX_TAGS {
        return Err(TextError::TooManyTags { count: raw.len() });
    }
    let mut out: Vec<Tag> = Vec::with_capacity(raw.len());
    for r in raw {
        let tag = Tag::parse(r.as_ref())?;
        if out.contains(&tag) {
            return Err(TextError::DuplicateTag { tag: tag.0 });
        }
        out.push(tag);
    }
    Ok(out)
}

/// One line of an SEO audit: what was checked, the points earned out of the
/// points possible, and advice when points were withheld.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SeoCheck {
    pub check: String,
    pub points: u8,
    pub max: u8,
    pub advice: Option<String>,
}

/// A listing's SEO score (0–100) and the checks behind it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeoReport {
    pub score: u8,
    pub checks: Vec<SeoCheck>,
}

fn check(name: &str, ok: bool, max: u8, partial: Option<u8>, advice: &str) -> SeoCheck {
    let points = if ok { max } else { partial.unwrap_or(0) };
    SeoCheck { check: name.to_owned(), points, max, advice: if points < max { Some(advice.to_owned()) } else { None } }
}

/// Scores listing text for search. `keyword` is the phrase buyers search
/// for (the trend's keyword). Pure: the same text always gets the same score.
pub fn seo_report(title: &Title, description: &str, tags: &[Tag], keyword: &str) -> SeoReport {
    let keyword = squash_spaces(keyword).to_lowercase();
    let title_lc = title.as_str().to_lowercase();
    let title_len = title.as_str().chars().count();
    let first_40: String = title_lc.chars().take(40).collect();
    let desc_lc = description.to_lowercase();
    let first_160: String = desc_lc.chars().take(160).collect();
    let multi_word = tags.iter().filter(|t| t.as_str().contains(' ')).count();
    let keyword_tagged = !keyword.is_empty() && tags.iter().any(|t| t.as_str().contains(keyword.as_str()));
    // Words in capitals: more than three characters, letters in them, none lower-case.
    let shouting = title
        .as_str()
        .split_whitespace()
        .filter(|w| w.chars().count() > 3 && w.chars().any(char::is_uppercase) && !w.chars().any(char::is_lowercase))
        .count();

    let checks = vec![
        check(
            "title uses the space Etsy gives",
            (70..=MAX_TITLE_CHARS).contains(&title_len),
            15,
            (40..70).contains(&title_len).then_some(8),
            "write a title of 70–140 characters: product, audience and occasion",
        ),
        check(
            "keyword at the start of the title",
            !keyword.is_empty() && first_40.contains(&keyword),
            20,
            title_lc.contains(&keyword).then_some(10),
            "put the search phrase within the first 40 characters of the title",
        ),
        check(
            "all 13 tags used",
            tags.len() == MAX_TAGS,
            20,
            Some((tags.len() * 20 / MAX_TAGS) as u8),
            "use all 13 tags: every empty slot is a search you cannot be found by",
        ),
        check(
            "long-tail tags",
            multi_word >= 8,
            15,
            Some((multi_word.min(8) * 15 / 8) as u8),
            "make at least 8 tags phrases of two or more words",
        ),
        check("keyword among the tags", keyword_tagged, 10, None, "add the search phrase itself as a tag"),
        check(
            "description opens with the keyword",
            !keyword.is_empty() && first_160.contains(&keyword),
            10,
            desc_lc.contains(&keyword).then_some(5),
            "mention the search phrase in the first 160 characters of the description",
        ),
        check(
            "description is substantial",
            description.chars().count() >= 300,
            5,
            None,
            "describe the product in at least 300 characters: fit, material, care, gifting",
        ),
        check(
            "title is not shouting",
            shouting == 0,
            5,
            None,
            "avoid words in capitals: Etsy's guidelines and buyers both dislike them",
        ),
    ];
    let score = checks.iter().map(|c| c.points as u32).sum::<u32>().min(100) as u8;
    SeoReport { score, checks }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_obey_etsy() {
        assert_eq!(Title::parse("  Cat  Mom   Shirt ").unwrap().as_str(), "Cat Mom Shirt");
        assert_eq!(Title::parse("   "), Err(TextError::TitleEmpty));
        let long = "a".repeat(141);
        assert_eq!(Title::parse(&long), Err(TextError::TitleTooLong { chars: 141 }));
        assert!(Title::parse(&"a".repeat(140)).is_ok());
        assert_eq!(Title::parse("Cat $ Mom"), Err(TextError::TitleCharacter { ch: '$', at: 5 }));
        assert_eq!(Title::parse("Cat Mom 🐱"), Err(TextError::TitleCharacter { ch: '🐱', at: 9 }));
        assert_eq!(Title::parse("Mom & Dad & Kids"), Err(TextError::TitleRepeats { ch: '&', count: 2 }));
        assert!(Title::parse("Mom & Dad: Matching 100% Cotton + Gift™, Café Édition").is_ok());
        assert!(Title::parse("Größe – “Nurse” Life ×2").is_ok());
        assert_eq!(Title::parse("Mug ½ Price"), Err(TextError::TitleCharacter { ch: '½', at: 5 }));
        assert_eq!(Title::parse("Size²"), Err(TextError::TitleCharacter { ch: '²', at: 5 }));
    }

    #[test]
    fn tags_obey_etsy() {
        assert_eq!(Tag::parse(" Cat  MOM ").unwrap().as_str(), "cat mom");
        assert_eq!(Tag::parse("cat mom!"), Err(TextError::TagCharacter { tag: "cat mom!".into(), ch: '!' }));
        assert_eq!(
            Tag::parse("funny cat mom shirt gift"),
            Err(TextError::TagTooLong { tag: "funny cat mom shirt gift".into(), chars: 24 })
        );
        assert!(Tag::parse("mother's day-gift™").is_ok());
        assert!(Tag::parse("café größe").is_ok());
        assert_eq!(Tag::parse("½ off"), Err(TextError::TagCharacter { tag: "½ off".into(), ch: '½' }));
        assert_eq!(Tag::parse(""), Err(TextError::TagEmpty));
        let tags: Vec<String> = (0..14).map(|i| format!("tag {i}")).collect();
        assert_eq!(parse_tags(&tags), Err(TextError::TooManyTags { count: 14 }));
        assert_eq!(parse_tags(&["Cat", "cat"]), Err(TextError::DuplicateTag { tag: "cat".into() }));
    }

    #[test]
    fn a_forms_tags_are_checked_all_at_once_each_error_at_its_place() {
        let mut raw: Vec<String> = vec!["cat mom".into(), "Cat Mom".into(), "a tag that is far too long".into()];
        raw.extend((0..11).map(|i| format!("tag {i}")));
        let errors = Tags::parse_all(&raw).unwrap_err();
        assert_eq!(
            errors,
            vec![
                (None, TextError::TooManyTags { count: 14 }),
                (Some(1), TextError::DuplicateTag { tag: "cat mom".into() }),
                (Some(2), TextError::TagTooLong { tag: "a tag that is far too long".into(), chars: 26 }),
            ]
        );
        let tags = Tags::parse_all(&["Cat Mom", "cat lover"]).unwrap();
        assert_eq!(Vec::<String>::from(tags.clone()), ["cat mom", "cat lover"]);
        assert_eq!(Tags::parse(&["Cat Mom", "cat lover"]), Ok(tags));
        let cat = Tag::parse("cat mom").unwrap();
        assert_eq!(Tags::from_tags(vec![cat.clone(), cat]), Err(TextError::DuplicateTag { tag: "cat mom".into() }));
    }

    #[test]
    fn coerce_makes_a_tag_of_free_text() {
        assert_eq!(Tag::coerce("Funny Cat-Mom Shirt, for Gifts!").unwrap().as_str(), "funny cat-mom shirt");
        assert_eq!(Tag::coerce("!!!"), None);
        assert_eq!(Tag::coerce("supercalifragilisticexpialidocious"), None);
    }

    #[test]
    fn serde_refuses_invalid_text() {
        assert!(serde_json::from_str::<Title>("\"Mom && Dad\"").is_err());
        assert_eq!(serde_json::from_str::<Tag>("\"Cat Mom\"").unwrap().as_str(), "cat mom");
    }

    #[test]
    fn seo_rewards_what_helps_and_explains_what_is_missing() {
        let tags: Vec<Tag> = [
            "cat mom",
            "cat mom shirt",
            "cat lover gift",
            "crazy cat lady",
            "cat mama",
            "pet mom tee",
            "funny cat shirt",
            "cat owner gift",
            "kitten mom",
            "cat shirt women",
            "cat lover",
            "meow",
            "gift for her",
        ]
        .iter()
        .map(|t| Tag::parse(t).unwrap())
        .collect();
        let title =
            Title::parse("Cat Mom Shirt, Funny Cat Lover Gift for Her, Crazy Cat Lady Tee, Pet Mama T-Shirt").unwrap();
        let desc =
            format!("Cat mom shirt for every proud cat mama. {} {}", "Soft, light cotton. ".repeat(15), AI_DISCLOSURE);
        let good = seo_report(&title, &desc, &tags, "Cat Mom");
        assert_eq!(good.score, 100, "{good:#?}");
        assert!(good.checks.iter().all(|c| c.advice.is_none()));

        // Numbers are not shouting; a tag that is only part of the keyword is not the keyword.
        let plain = seo_report(&Title::parse("Cat Mom Shirt 2026 100%").unwrap(), &desc, &tags[3..6], "cat mom");
        assert!(plain.checks.iter().any(|c| c.check == "title is not shouting" && c.advice.is_none()));
        assert!(plain.checks.iter().any(|c| c.check == "keyword among the tags" && c.advice.is_some()), "{plain:#?}");
        let bare = seo_report(&Title::parse("SHIRT").unwrap(), "A shirt.", &tags[..3], "cat mom");
        assert!(bare.score < 40, "{bare:#?}");
        let advice: Vec<_> = bare.checks.iter().filter_map(|c| c.advice.as_deref()).collect();
        assert!(advice.iter().any(|a| a.contains("13 tags")));
        assert!(advice.iter().any(|a| a.contains("first 40 characters")));
    }
}
