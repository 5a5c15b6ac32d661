//! The listing composer, pure: from an idea (and the trend's keyword) to a
//! title, description and 13 tags that obey Etsy's rules, scored for SEO.

use pod_events::domain::listing_text::{
    AI_DISCLOSURE, MAX_TAGS, MAX_TITLE_CHARS, ONCE_ONLY, SeoReport, Tag, TextError, Title, seo_report,
};

use crate::ideation::offline::{suggest_tags, title_case};

/// What the composer starts from.
#[derive(Debug, Clone)]
pub struct ListingBrief<'a> {
    pub phrase: &'a str,
    pub keyword: &'a str,
    pub niche: &'a str,
    pub product_type: &'a str,
    pub style: &'a str,
    pub audience: &'a str,
    pub tags: &'a [String],
}

#[derive(Debug, Clone, PartialEq)]
pub struct ComposedListing {
    pub title: Title,
    pub description: String,
    pub tags: Vec<Tag>,
    pub seo: SeoReport,
}

/// How a product type is named in titles.
fn product_name(product_type: &str) -> &'static str {
    match product_type {
        "t-shirt" => "Shirt",
        "sweatshirt" => "Sweatshirt",
        "hoodie" => "Hoodie",
        "onesie" => "Baby Onesie",
        "mug" => "Coffee Mug",
        "tumbler" => "Tumbler",
        "sticker" => "Vinyl Sticker",
        "tote bag" => "Tote Bag",
        "hat" => "Dad Hat",
        "ornament" => "Ornament",
        "poster" | "print" => "Art Print",
        "phone case" => "Phone Case",
        _ => "Gift",
    }
}

fn product_details(product_type: &str) -> &'static str {
    match product_type {
        "t-shirt" => {
            "Soft, lightweight cotton-blend tee with a classic unisex fit and shoulder-to-shoulder taping. Sizes run true; size up for a relaxed look."
        }
        "sweatshirt" | "hoodie" => {
            "Cosy mid-weight fleece with ribbed cuffs and waistband, pre-shrunk for a fit that lasts. Unisex sizing."
        }
        "mug" => {
            "Glossy white ceramic mug, dishwasher and microwave safe, printed on both sides so the design faces you whichever hand you drink with."
        }
        "tumbler" => "Double-wall stainless steel tumbler with a lid that keeps coffee hot and drinks cold for hours.",
        "sticker" => {
            "Durable, waterproof vinyl sticker with a matte finish. Made for laptops, water bottles and notebooks."
        }
        "tote bag" => {
            "Sturdy cotton tote with reinforced handles, roomy enough for books, groceries and everything in between."
        }
        "onesie" => "Soft baby bodysuit with envelope shoulders and snap closures for quick changes.",
        _ => "Printed to order with vivid, long-lasting inks.",
    }
}

/// Drops characters Etsy refuses in titles and keeps only the first of
/// each character allowed once.
fn clean_title_part(part: &str, used: &mut Vec<char>) -> String {
    let mut out = String::new();
    for c in part.chars() {
        if ONCE_ONLY.contains(&c) {
            if used.contains(&c) {
                continue;
            }
            used.push(c);
        }
        let probe = format!("a{c}");
        if c == ' ' || Title::parse(&probe).is_ok() {
            out.push(c);
        }
    }
    out
}

/// How a lettering style reads to a buyer.
fn style_words(style: &str) -> &'static str {
    match style {
        "varsity" => "College Style",
        "stamp" => "Vintage Badge",
        "script" => "Elegant Script",
        "groovy" => "Groovy 70s",
        "retro" => "Retro Sunset",
        _ => "Classic",
    }
}

/// Builds a title from the phrase, product and keyword, as long as fits.
pub fn compose_title(b: &ListingBrief<'_>) -> Result<Title, TextError> {
    let product = product_name(b.product_type);
    let kw = title_case(b.keyword);
    let parts = [
        format!("{} {product}", b.phrase),
        format!("{kw} Gift"),
        format!("{} {kw} {product}", style_words(b.style)),
        format!("Gift for {}", title_case(b.audience.split(" and ").next().unwrap_or(b.audience))),
        "Birthday Present".to_owned(),
    ];
    let mut used = Vec::new();
    let mut title = String::new();
    for (i, part) in parts.iter().enumerate() {
        let mut part = clean_title_part(part, &mut used);
        if i == 0 && part.chars().count() > MAX_TITLE_CHARS {
            // A very long phrase: keep whole words up to the limit.
            part = shorten_at_word(&part, MAX_TITLE_CHARS);
        }
        let candidate = if title.is_empty() { part } else { format!("{title}, {part}") };
        if candidate.chars().count() > MAX_TITLE_CHARS {
            break;
        }
        title = candidate;
    }
    Title::parse(&title)
}

/// At most `max` characters, cut at a word boundary.
fn shorten_at_word(s: &str, max: usize) -> String {
    let mut out = String::new();
    for word in s.split_whitespace() {
        let extra = usize::from(!out.is_empty());
        if out.chars().count() + extra + word.chars().count() > max {
            break;
        }
        if extra == 1 {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// A description that opens with the keyword, says what the product is,
/// and discloses the use of AI.
pub fn compose_description(b: &ListingBrief<'_>) -> String {
    let product = product_name(b.product_type).to_lowercase();
    format!(
        "{phrase}: a {kw} {product} for {audience}.\n\n\
         {details}\n\n\
         Why you'll love it:\n\
         - The \"{phrase}\" design is printed crisp and bold, made to be noticed.\n\
         - A thoughtful gift for birthdays, holidays or just because.\n\
         - Made to order for you by our print partner, so nothing is wasted.\n\n\
         Care: wash cold inside out, tumble dry low, do not iron the print.\n\n\
         {AI_DISCLOSURE}",
        phrase = b.phrase,
        kw = b.keyword,
        audience = b.audience,
        details = product_details(b.product_type),
    )
}

/// The idea's tags first, topped up to 13 with variants of the keyword.
pub fn compose_tags(b: &ListingBrief<'_>) -> Vec<Tag> {
    let mut out: Vec<Tag> = Vec::new();
    let extra = suggest_tags(b.keyword, b.niche, b.product_type, b.style);
    let more = [
        format!("{} gift", b.niche),
        format!("{} {}", b.style, b.keyword),
        format!("{} lover gift", b.keyword),
        "unique gift".to_owned(),
    ];
    for raw in b.tags.iter().chain(extra.iter()).chain(more.iter()) {
        if out.len() == MAX_TAGS {
            break;
        }
        if let Some(t) = Tag::coerce(raw)
            && !out.contains(&t)
        {
            out.push(t);
        }
    }
    out
}

pub fn compose(b: &ListingBrief<'_>) -> Result<ComposedListing, TextError> {
    let title = compose_title(b)?;
    let description = compose_description(b);
    let tags = compose_tags(b);
    let seo = seo_report(&title, &description, &tags, b.keyword);
    Ok(ComposedListing { title, description, tags, seo })
}

#[cfg(test)]
mod tests {
    use super::*;
    use pod_events::domain::listing_text::parse_tags;

    fn brief<'a>(phrase: &'a str, tags: &'a [String]) -> ListingBrief<'a> {
        ListingBrief {
            phrase,
            keyword: "cat mom",
            niche: "pets",
            product_type: "t-shirt",
            style: "retro",
            audience: "pet owners and the people who buy them gifts",
            tags,
        }
    }

    #[test]
    fn a_composed_listing_obeys_etsy_and_scores_well() {
        let tags = vec!["cat mom".to_string(), "cat mom shirt".to_string()];
        let l = compose(&brief("Proud Cat Mom", &tags)).unwrap();
        assert!(l.title.as_str().starts_with("Proud Cat Mom Shirt, Cat Mom Gift"), "{}", l.title);
        assert!(l.title.as_str().chars().count() <= 140);
        assert_eq!(l.tags.len(), 13);
        let raw: Vec<String> = l.tags.iter().map(|t| t.as_str().to_owned()).collect();
        parse_tags(&raw).unwrap();
        assert!(l.description.starts_with("Proud Cat Mom: a cat mom shirt"));
        assert!(l.description.contains(AI_DISCLOSURE));
        assert!(l.seo.score >= 80, "{:#?}", l.seo);
    }

    #[test]
    fn a_very_long_phrase_is_cut_at_a_word() {
        let phrase = "Proud ".repeat(40);
        let l = compose(&brief(phrase.trim(), &[])).unwrap();
        assert!(l.title.as_str().chars().count() <= 140);
        assert!(l.title.as_str().ends_with("Proud"), "{}", l.title);
    }

    #[test]
    fn characters_etsy_refuses_are_cleaned_and_once_only_ones_kept_once() {
        let tags = vec![];
        let l = compose(&brief("Cat Mom: Mode On $ & Coffee & Naps: 100% 🐱", &tags)).unwrap();
        let t = l.title.as_str();
        assert_eq!(t.matches(':').count(), 1, "{t}");
        assert_eq!(t.matches('&').count(), 1, "{t}");
        assert!(!t.contains('$') && !t.contains('🐱'), "{t}");
    }
}
