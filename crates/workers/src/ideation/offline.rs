//! The offline ideation engine: turns a trend's keyword and niche into
//! varied, sellable product ideas without calling anyone. Deterministic: the
//! same trend and round always give the same ideas (seeded by the trend id),
//! so a redelivered event regenerates exactly what it generated before; a
//! later round walks on through the templates where the earlier ones
//! stopped, and the engine runs out (gives fewer ideas, then none) once
//! every template has been used on every product type.

use pod_events::domain::listing_text::Tag;
use sha2::{Digest, Sha256};

use super::{IdeaDraft, IdeaProvider, IdeaRequest, Ideas, ProviderError};

/// Phrase templates with their lettering style; `{K}` is the keyword in
/// title case, `{a}` its article.
type Template = (&'static str, &'static str);

/// Keywords that are already a slogan ("world's okayest nurse") read best
/// close to as they are.
const SLOGAN_TEMPLATES: &[Template] = &[
    ("{K}", "varsity"),
    ("Retro {K}", "retro"),
    ("{K} Club", "stamp"),
    ("Vintage {K}", "script"),
    ("Official {K}", "classic"),
    ("{K} Vibes", "groovy"),
];

fn templates(niche: &str, keyword: &str) -> &'static [Template] {
    if keyword.split_whitespace().count() >= 3 {
        return SLOGAN_TEMPLATES;
    }
    match niche {
        "holidays" => &[
            ("{K} Vibes", "groovy"),
            ("{K} Season Is Here", "retro"),
            ("Official {K} Squad", "varsity"),
            ("Merry and Bright {K}", "classic"),
            ("{K} Crew", "varsity"),
            ("All I Want Is {K}", "script"),
        ],
        "pets" => &[
            ("Proud {K}", "classic"),
            ("Official {K} Club", "varsity"),
            ("{K} Era", "groovy"),
            ("Certified {K}", "stamp"),
            ("Life Is Better as {a} {K}", "script"),
            ("{K} Mode: On", "retro"),
        ],
        "professions" => &[
            ("World's Okayest {K}", "classic"),
            ("Certified {K}", "stamp"),
            ("Trust Me, I'm {a} {K}", "retro"),
            ("{K} Off Duty", "varsity"),
            ("Proud {K}", "classic"),
            ("{K} Era", "groovy"),
        ],
        "hobbies" => &[
            ("Eat Sleep {K} Repeat", "varsity"),
            ("Life Is Better with {K}", "script"),
            ("Weekend Forecast: {K}", "retro"),
            ("Official {K} Club", "varsity"),
            ("{K} Era", "groovy"),
            ("Powered by {K}", "stamp"),
        ],
        "family" => &[
            ("Proud {K}", "classic"),
            ("World's Best {K}", "varsity"),
            ("{K} Era", "groovy"),
            ("Promoted to {K}", "stamp"),
            ("Official {K} Club", "retro"),
            ("Blessed {K}", "script"),
        ],
        "humour" => &[
            ("Professional {K}", "stamp"),
            ("{K} Is My Cardio", "varsity"),
            ("Certified {K}", "stamp"),
            ("{K} Mode: On", "retro"),
            ("Powered by {K}", "classic"),
            ("{K} Era", "groovy"),
        ],
        _ => &[
            ("{K} Era", "groovy"),
            ("Official {K} Club", "varsity"),
            ("Retro {K}", "retro"),
            ("Certified {K}", "stamp"),
            ("{K} Vibes Only", "script"),
            ("Powered by {K}", "classic"),
        ],
    }
}

fn audience(niche: &str, keyword: &str) -> String {
    match niche {
        "holidays" => format!("holiday shoppers celebrating {keyword}"),
        "pets" => "pet owners and the people who buy them gifts".into(),
        "professions" => format!("{keyword}s, their colleagues and the people who thank them"),
        "hobbies" => format!("{keyword} enthusiasts"),
        "family" => "families and gift-givers".into(),
        "humour" => "people who like a laugh on their shirt".into(),
        _ => format!("fans of {keyword}"),
    }
}

/// "cat mom" → "Cat Mom"; keeps short connecting words lower-case.
pub fn title_case(s: &str) -> String {
    s.split_whitespace()
        .enumerate()
        .map(|(i, w)| {
            if i > 0 && matches!(w, "a" | "an" | "and" | "of" | "the" | "in" | "on" | "for" | "to" | "or") {
                return w.to_owned();
            }
            let mut c = w.chars();
            match c.next() {
                Some(f) => f.to_uppercase().chain(c).collect(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn article(word: &str) -> &'static str {
    match word.chars().next().map(|c| c.to_ascii_lowercase()) {
        Some('a' | 'e' | 'i' | 'o' | 'u') => "an",
        _ => "a",
    }
}

/// Up to 13 tags: the keyword and its long-tail variants, then the niche's.
pub fn suggest_tags(keyword: &str, niche: &str, product_type: &str, style: &str) -> Vec<String> {
    let product = product_type.replace("t-shirt", "shirt");
    let candidates = [
        keyword.to_owned(),
        format!("{keyword} {product}"),
        format!("{keyword} gift"),
        format!("funny {keyword}"),
        format!("{keyword} lover"),
        format!("gift for {keyword}"),
        format!("{style} {product}"),
        format!("{niche} gift"),
        format!("{keyword} present"),
        format!("{product} for her"),
        format!("{product} for him"),
        format!("cute {keyword}"),
        format!("{keyword} tee"),
        "birthday gift".to_owned(),
        "gift idea".to_owned(),
    ];
    let mut out: Vec<String> = Vec::new();
    for c in candidates {
        if let Some(tag) = Tag::coerce(&c)
            && !out.iter().any(|t| t == tag.as_str())
        {
            out.push(tag.as_str().to_owned());
        }
        if out.len() == pod_events::domain::listing_text::MAX_TAGS {
            break;
        }
    }
    out
}

/// The deterministic engine.
#[derive(Debug, Default, Clone)]
pub struct OfflineIdeas;

impl OfflineIdeas {
    /// The ideas for a request, pure.
    pub fn generate(req: &IdeaRequest) -> Vec<IdeaDraft> {
        let seed = Sha256::digest(format!("{}/{}", req.trend_id, req.keyword).as_bytes());
        let pick = u64::from_be_bytes([seed[0], seed[1], seed[2], seed[3], seed[4], seed[5], seed[6], seed[7]]);
        let keyword = req.keyword.trim().to_lowercase();
        let kw_title = title_case(&keyword);
        let pool = templates(&req.niche, &keyword);
        let products: Vec<&str> = if req.product_types.is_empty() {
            vec!["t-shirt"]
        } else {
            req.product_types.iter().map(String::as_str).collect()
        };
        let count = req.count.min(pool.len());
        // Start somewhere in the pool chosen by the seed and walk it with a
        // stride coprime to its length: distinct templates, varied per trend.
        // Round r continues the walk; once the pool is used up, the phrases
        // come back on the next product type.
        let start = (pick % pool.len() as u64) as usize;
        let stride = if pool.len().is_multiple_of(5) { 1 } else { 5 };
        // Distinct (template, product) pairs: k and k + pool size share a
        // template and differ in product while the product count is not a
        // multiple of 7 (the pool size plus one).
        let distinct = pool.len() * products.len();
        (req.skip..(req.skip + count).min(distinct))
            .map(|k| {
                let tpl = &pool[(start + k * stride) % pool.len()];
                let phrase = tpl.0.replace("{a}", article(&keyword)).replace("{K}", &kw_title);
                let product_type = products[(k + k / pool.len()) % products.len()].to_owned();
                let tags = suggest_tags(&keyword, &req.niche, &product_type, tpl.1);
                IdeaDraft {
                    phrase,
                    niche: req.niche.clone(),
                    product_type,
                    style: tpl.1.to_owned(),
                    audience: audience(&req.niche, &keyword),
                    tags,
                }
            })
            .collect()
    }
}

#[async_trait::async_trait]
impl IdeaProvider for OfflineIdeas {
    fn name(&self) -> &'static str {
        "offline"
    }
    async fn ideas(&self, req: &IdeaRequest) -> Result<Ideas, ProviderError> {
        Ok(Ideas { drafts: Self::generate(req), model: None, cost_micros: 0 })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pod_events::domain::listing_text::parse_tags;
    use uuid::Uuid;

    fn req(keyword: &str, niche: &str) -> IdeaRequest {
        IdeaRequest {
            trend_id: Uuid::new_v5(&Uuid::NAMESPACE_URL, keyword.as_bytes()),
            keyword: keyword.into(),
            niche: niche.into(),
            product_types: vec!["t-shirt".into(), "mug".into()],
            count: 3,
            round: 0,
            skip: 0,
        }
    }

    #[test]
    fn same_trend_same_ideas_and_they_vary() {
        let a = OfflineIdeas::generate(&req("cat mom", "pets"));
        assert_eq!(a, OfflineIdeas::generate(&req("cat mom", "pets")));
        assert_eq!(a.len(), 3);
        let phrases: std::collections::HashSet<_> = a.iter().map(|d| d.phrase.clone()).collect();
        assert_eq!(phrases.len(), 3, "{a:#?}");
        assert!(a.iter().all(|d| d.phrase.contains("Cat Mom")), "{a:#?}");
        assert_eq!(a[0].product_type, "t-shirt");
        assert_eq!(a[1].product_type, "mug");
    }

    #[test]
    fn articles_and_tags_are_right() {
        let all = OfflineIdeas::generate(&IdeaRequest { count: 6, ..req("engineer", "professions") });
        let trust = all.iter().find(|d| d.phrase.starts_with("Trust Me")).expect("the trust-me template");
        assert_eq!(trust.phrase, "Trust Me, I'm an Engineer");
        for d in &all {
            assert!(!d.tags.is_empty() && d.tags.len() <= 13);
            parse_tags(&d.tags).expect("every suggested tag is a valid Etsy tag");
            assert_eq!(d.tags[0], "engineer");
        }
    }

    #[test]
    fn slogans_are_kept_whole() {
        let all = OfflineIdeas::generate(&IdeaRequest { count: 6, ..req("world's okayest nurse", "professions") });
        assert!(all.iter().all(|d| d.phrase.contains("World's Okayest Nurse")), "{all:#?}");
        assert!(all.iter().all(|d| !d.phrase.contains("Trust Me")), "{all:#?}");
        let distinct: std::collections::HashSet<_> = all.iter().map(|d| &d.phrase).collect();
        assert_eq!(distinct.len(), 6);
    }

    #[test]
    fn later_rounds_give_other_ideas_until_every_pair_is_used() {
        let key = |d: &IdeaDraft| (d.phrase.clone(), d.product_type.clone());
        for products in [vec!["t-shirt"], vec!["t-shirt", "mug"], vec!["t-shirt", "mug", "sticker"]] {
            let base = IdeaRequest {
                product_types: products.iter().map(|p| p.to_string()).collect(),
                ..req("cat mom", "pets")
            };
            let mut seen = std::collections::HashSet::new();
            let mut skip = 0;
            // Rounds of 3, then 6, then 1, … as people ask.
            for (round, count) in [3, 6, 1, 6, 6].into_iter().enumerate() {
                let r = IdeaRequest { round: round as u32, count, skip, ..base.clone() };
                let ideas = OfflineIdeas::generate(&r);
                assert_eq!(ideas, OfflineIdeas::generate(&r), "deterministic");
                for d in &ideas {
                    assert!(seen.insert(key(d)), "{d:?} again, with {products:?} in round {round}");
                }
                skip += count;
            }
            assert_eq!(seen.len(), (6 * products.len()).min(22), "every pair once, then no more: {products:?}");
        }
    }

    #[test]
    fn title_case_keeps_small_words_small() {
        assert_eq!(title_case("king of the grill"), "King of the Grill");
        assert_eq!(title_case("cat"), "Cat");
    }
}
