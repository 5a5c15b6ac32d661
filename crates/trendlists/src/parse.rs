//! Reading trend lists: CSV, JSON, and RSS/Atom feeds (Google Trends'
//! daily RSS among them). Pure: bytes in, records or a precise error out.

use chrono::{DateTime, NaiveDate, Utc};
use pod_events::domain::text::{FreeTextError, Keyword, SourceName};
use pod_events::domain::trend::Observation;
use serde::Deserialize;

/// One observation of one keyword, as a source reported it.
#[derive(Debug, Clone, PartialEq)]
pub struct TrendRecord {
    pub keyword: String,
    pub observation: Observation,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Json,
    Feed,
}

impl Format {
    /// Guesses from a file name or URL, then from the first bytes.
    pub fn detect(name: &str, bytes: &[u8]) -> Self {
        let lower = name.to_lowercase();
        let path = lower.split(['?', '#']).next().unwrap_or_default();
        if path.ends_with(".csv") {
            return Self::Csv;
        }
        if path.ends_with(".json") {
            return Self::Json;
        }
        if path.ends_with(".xml") || path.ends_with(".rss") || path.ends_with(".atom") || lower.contains("/rss") {
            return Self::Feed;
        }
        let head = String::from_utf8_lossy(&bytes[..bytes.len().min(256)]).trim_start().to_owned();
        if head.starts_with('<') {
            Self::Feed
        } else if head.starts_with('[') || head.starts_with('{') {
            Self::Json
        } else {
            Self::Csv
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ParseError {
    #[error("row {row}: field `{field}`: {reason}")]
    Field { row: usize, field: &'static str, reason: String },
    #[error("CSV: {0}")]
    Csv(String),
    #[error("JSON: {0}")]
    Json(String),
    #[error("feed: {0}")]
    Feed(String),
    #[error("no trends found")]
    Empty,
    #[error("{0}")]
    Source(FreeTextError),
}

/// A score estimated from a rank on a top-N list: the top is 100, each
/// place below costs 4 points, never below 5.
pub fn score_from_rank(rank: u32) -> f64 {
    (100.0 - (rank.saturating_sub(1) as f64) * 4.0).max(5.0)
}

/// A score estimated from a search volume: logarithmic, 2,000 → 70,
/// 20,000 → 85, 200,000 → 100.
pub fn score_from_volume(volume: u64) -> f64 {
    if volume == 0 {
        return 0.0;
    }
    (15.0 * (volume as f64).log10() + 20.5).clamp(0.0, 100.0)
}

/// "200,000+", "2K+", "1.5M" → a number.
pub fn parse_volume(s: &str) -> Option<u64> {
    let t = s.trim().trim_end_matches('+').replace([',', ' ', '_'], "");
    let (num, mult) = match t.chars().last()? {
        'k' | 'K' => (&t[..t.len() - 1], 1_000.0),
        'm' | 'M' => (&t[..t.len() - 1], 1_000_000.0),
        _ => (t.as_str(), 1.0),
    };
    let v: f64 = num.parse().ok()?;
    (v.is_finite() && v >= 0.0).then(|| (v * mult).round() as u64)
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.to_utc());
    }
    if let Ok(t) = DateTime::parse_from_rfc2822(s) {
        return Some(t.to_utc());
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok().and_then(|d| d.and_hms_opt(0, 0, 0)).map(|d| d.and_utc())
}

/// A row of a CSV or JSON list. Only `keyword` is required.
#[derive(Debug, Deserialize)]
struct Row {
    #[serde(alias = "term", alias = "query", alias = "title")]
    keyword: Option<String>,
    source: Option<String>,
    #[serde(alias = "date", alias = "observed")]
    observed_at: Option<String>,
    rank: Option<String>,
    #[serde(alias = "traffic", alias = "searches")]
    volume: Option<String>,
    score: Option<String>,
    estimated: Option<String>,
    confidence: Option<String>,
}

fn field<T>(
    row: usize,
    name: &'static str,
    v: &Option<String>,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<Option<T>, ParseError> {
    match v.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => parse(s).map(Some).ok_or_else(|| ParseError::Field {
            row,
            field: name,
            reason: format!("cannot read {s:?}"),
        }),
    }
}

/// A keyword or a source as free text every layer downstream can take.
fn text_field<T>(
    row: usize,
    field: &'static str,
    raw: &str,
    parse: fn(&str) -> Result<T, FreeTextError>,
) -> Result<T, ParseError> {
    parse(raw).map_err(|e| ParseError::Field { row, field, reason: e.to_string() })
}

fn record_of(row: usize, r: Row, default_source: &str, now: DateTime<Utc>) -> Result<TrendRecord, ParseError> {
    let keyword = r.keyword.as_deref().map(str::trim).unwrap_or_default().to_owned();
    if keyword.is_empty() {
        return Err(ParseError::Field { row, field: "keyword", reason: "missing or empty".into() });
    }
    let keyword = text_field(row, "keyword", &keyword, Keyword::parse)?.into_string();
    let source = match r.source.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(s) => text_field(row, "source", s, SourceName::parse)?.into_string(),
        None => default_source.to_owned(),
    };
    let rank = field(row, "rank", &r.rank, |s| s.parse::<u32>().ok().filter(|r| *r > 0))?;
    let volume = field(row, "volume", &r.volume, parse_volume)?;
    let score = field(row, "score", &r.score, |s| s.parse::<f64>().ok().filter(|v| (0.0..=100.0).contains(v)))?;
    let observed_at = field(row, "observed_at", &r.observed_at, parse_time)?.unwrap_or(now);
    let estimated_flag = field(row, "estimated", &r.estimated, |s| match s.to_lowercase().as_str() {
        "true" | "yes" | "1" => Some(true),
        "false" | "no" | "0" => Some(false),
        _ => None,
    })?;
    let confidence =
        field(row, "confidence", &r.confidence, |s| s.parse::<f64>().ok().filter(|v| (0.0..=1.0).contains(v)))?;
    // A measured score is trusted; one derived from rank or volume is an estimate.
    let (score, estimated, default_conf) = match (score, volume, rank) {
        (Some(s), _, _) => (s, false, 0.9),
        (None, Some(v), _) => (score_from_volume(v), true, 0.7),
        (None, None, Some(r)) => (score_from_rank(r), true, 0.6),
        (None, None, None) => (50.0, true, 0.3),
    };
    Ok(TrendRecord {
        keyword,
        observation: Observation {
            source,
            observed_at,
            rank,
            volume,
            score,
            estimated: estimated_flag.unwrap_or(estimated),
            confidence: confidence.unwrap_or(default_conf),
        },
    })
}

pub fn parse_csv(bytes: &[u8], source: &str, now: DateTime<Utc>) -> Result<Vec<TrendRecord>, ParseError> {
    let mut rd = csv::ReaderBuilder::new().trim(csv::Trim::All).flexible(true).from_reader(bytes);
    let headers = rd.headers().map_err(|e| ParseError::Csv(e.to_string()))?.clone();
    let lower: csv::StringRecord = headers.iter().map(|h| h.to_lowercase()).collect();
    rd.set_headers(lower);
    let mut out = Vec::new();
    for (i, row) in rd.deserialize::<Row>().enumerate() {
        let row_no = i + 2; // the header is row 1
        let r = row.map_err(|e| ParseError::Csv(format!("row {row_no}: {e}")))?;
        out.push(record_of(row_no, r, source, now)?);
    }
    if out.is_empty() { Err(ParseError::Empty) } else { Ok(out) }
}

/// JSON: an array of rows, or an object with the rows under `trends` or `items`.
/// Numbers and strings are both accepted in every field.
pub fn parse_json(bytes: &[u8], source: &str, now: DateTime<Utc>) -> Result<Vec<TrendRecord>, ParseError> {
    let v: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| ParseError::Json(e.to_string()))?;
    let rows = match &v {
        serde_json::Value::Array(a) => a.clone(),
        serde_json::Value::Object(o) => match o.get("trends").or_else(|| o.get("items")) {
            Some(serde_json::Value::Array(a)) => a.clone(),
            _ => return Err(ParseError::Json("expected an array, or an object with `trends` or `items`".into())),
        },
        _ => return Err(ParseError::Json("expected an array of trends".into())),
    };
    let mut out = Vec::with_capacity(rows.len());
    for (i, row) in rows.into_iter().enumerate() {
        let serde_json::Value::Object(map) = row else {
            return Err(ParseError::Field { row: i + 1, field: "keyword", reason: "row is not an object".into() });
        };
        let as_text: serde_json::Map<String, serde_json::Value> = map
            .into_iter()
            .map(|(k, v)| {
                let t = match v {
                    serde_json::Value::String(s) => serde_json::Value::String(s),
                    serde_json::Value::Null => serde_json::Value::Null,
                    other => serde_json::Value::String(other.to_string()),
                };
                (k.to_lowercase(), t)
            })
            .collect();
        let r: Row = serde_json::from_value(serde_json::Value::Object(as_text))
            .map_err(|e| ParseError::Json(format!("row {}: {e}", i + 1)))?;
        out.push(record_of(i + 1, r, source, now)?);
    }
    if out.is_empty() { Err(ParseError::Empty) } else { Ok(out) }
}

/// `ht:approx_traffic` of each item, in order (Google Trends' RSS).
fn approx_traffic(bytes: &[u8]) -> Vec<Option<u64>> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_reader(bytes);
    let mut buf = Vec::new();
    let mut out: Vec<Option<u64>> = Vec::new();
    let mut in_traffic = false;
    loop {
        match reader.read_event_into(&mut buf) {
            Ok(Event::Start(e)) => {
                let name = e.name();
                let local = name.as_ref();
                if local == b"item" || local == b"entry" {
                    out.push(None);
                }
                in_traffic = local == b"ht:approx_traffic";
            }
            Ok(Event::Text(t)) if in_traffic => {
                if let (Some(slot), Ok(text)) = (out.last_mut(), t.decode())
                    && slot.is_none()
                {
                    *slot = parse_volume(&text);
                }
            }
            Ok(Event::End(_)) => in_traffic = false,
            Ok(Event::Eof) | Err(_) => break,
            _ => {}
        }
        buf.clear();
    }
    out
}

/// RSS or Atom: each item's title is a keyword, its position its rank.
pub fn parse_feed(bytes: &[u8], source: &str, now: DateTime<Utc>) -> Result<Vec<TrendRecord>, ParseError> {
    let feed = feed_rs::parser::parse(bytes).map_err(|e| ParseError::Feed(e.to_string()))?;
    let traffic = approx_traffic(bytes);
    let mut out = Vec::new();
    for (i, entry) in feed.entries.iter().enumerate() {
        let Some(title) = entry.title.as_ref().map(|t| t.content.trim().to_owned()).filter(|t| !t.is_empty()) else {
            continue;
        };
        let keyword = text_field(i + 1, "title", &title, Keyword::parse)?.into_string();
        let rank = (i + 1) as u32;
        let volume = traffic.get(i).copied().flatten();
        let (score, confidence) = match volume {
            Some(v) => (score_from_volume(v), 0.7),
            None => (score_from_rank(rank), 0.6),
        };
        out.push(TrendRecord {
            keyword,
            observation: Observation {
                source: source.to_owned(),
                observed_at: entry.published.or(entry.updated).or(feed.updated).unwrap_or(now),
                rank: Some(rank),
                volume,
                score,
                estimated: true,
                confidence,
            },
        });
    }
    if out.is_empty() { Err(ParseError::Empty) } else { Ok(out) }
}

/// Reads a list in `format`; `source` names where it came from (checked as a [`SourceName`]).
pub fn parse(format: Format, bytes: &[u8], source: &str, now: DateTime<Utc>) -> Result<Vec<TrendRecord>, ParseError> {
    let source = SourceName::parse(source).map_err(ParseError::Source)?;
    let source = source.as_str();
    match format {
        Format::Csv => parse_csv(bytes, source, now),
        Format::Json => parse_json(bytes, source, now),
        Format::Feed => parse_feed(bytes, source, now),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-27T12:00:00Z").unwrap().to_utc()
    }

    #[test]
    fn hostile_text_in_any_format_is_refused_naming_its_row_and_field() {
        let cases: [(Format, &[u8], &str); 5] = [
            (Format::Csv, b"keyword\ncat mom\n\"bad\x00idea\"\n", "row 3: field `keyword`: keyword contains the control character U+0000"),
            (Format::Csv, b"keyword,source\ncat mom,feed\xe2\x80\xae\n", "row 2: field `source`: source contains the bidirectional control U+202E"),
            (Format::Json, br#"[{"keyword": "a\u0000b"}]"#, "row 1: field `keyword`: keyword contains the control character U+0000"),
            (Format::Json, br#"[{"keyword": "\ud800x"}]"#, "JSON: "),
            (
                Format::Feed,
                b"<rss version=\"2.0\"><channel><title>t</title><item><title>ok</title></item><item><title>x\xe2\x80\xaey</title></item></channel></rss>",
                "row 2: field `title`: keyword contains the bidirectional control U+202E",
            ),
        ];
        for (format, bytes, expected) in cases {
            let err = parse(format, bytes, "test", now()).unwrap_err().to_string();
            assert!(err.starts_with(expected), "{format:?}: {err}");
        }
        let long = format!("keyword\n{}\n", "🐱".repeat(25_000));
        let err = parse(Format::Csv, long.as_bytes(), "test", now()).unwrap_err().to_string();
        assert!(err.contains("has 25000 characters; at most 100"), "{err}");
        let err = parse(Format::Csv, b"keyword\ncat\n", "up\u{0}load", now()).unwrap_err();
        assert!(matches!(err, ParseError::Source(FreeTextError::Control { .. })), "{err}");
    }

    #[test]
    fn csv_reads_every_known_column_and_names_bad_fields() {
        let csv = "Keyword,Score,Rank,Volume,Date\ncat mom,80,1,,2026-11-01\ndog dad,,3,,\nnurse life,,,\"12,000+\",\n";
        let r = parse_csv(csv.as_bytes(), "legacy-csv", now()).unwrap();
        assert_eq!(r.len(), 3);
        assert_eq!((r[0].observation.score, r[0].observation.estimated, r[0].observation.rank), (80.0, false, Some(1)));
        assert_eq!(r[0].observation.observed_at.to_rfc3339(), "2026-11-01T00:00:00+00:00");
        assert_eq!((r[1].observation.score, r[1].observation.estimated), (92.0, true));
        assert_eq!(r[2].observation.volume, Some(12_000));
        assert_eq!(r[2].observation.observed_at, now());
        let bad = parse_csv(b"keyword,score\ncat mom,high\n", "x", now());
        assert_eq!(bad, Err(ParseError::Field { row: 2, field: "score", reason: "cannot read \"high\"".into() }));
        let missing = parse_csv(b"keyword,score\n,3\n", "x", now());
        assert!(matches!(missing, Err(ParseError::Field { field: "keyword", .. })));
    }

    #[test]
    fn json_takes_arrays_or_wrapped_arrays_with_numbers_or_strings() {
        let j = br#"{"trends":[{"keyword":"cat mom","score":81.5,"source":"curated"},{"term":"dog dad","rank":"2"}]}"#;
        let r = parse_json(j, "json", now()).unwrap();
        assert_eq!(r[0].observation.score, 81.5);
        assert_eq!(r[0].observation.source, "curated");
        assert_eq!((r[1].keyword.as_str(), r[1].observation.rank), ("dog dad", Some(2)));
        assert!(matches!(parse_json(b"42", "json", now()), Err(ParseError::Json(_))));
    }

    #[test]
    fn google_trends_rss_gives_traffic_and_rank() {
        let rss = br#"<?xml version="1.0" encoding="UTF-8"?>
<rss xmlns:ht="https://trends.google.com/trending/rss" version="2.0"><channel><title>Daily Search Trends</title>
<item><title>pickleball paddles</title><ht:approx_traffic>200,000+</ht:approx_traffic><pubDate>Thu, 26 Nov 2026 20:00:00 -0800</pubDate></item>
<item><title>ugly christmas sweater</title><ht:approx_traffic>20,000+</ht:approx_traffic></item>
<item><title>cat mom</title></item>
</channel></rss>"#;
        let r = parse_feed(rss, "google-trends-rss", now()).unwrap();
        assert_eq!(r.len(), 3);
        assert_eq!((r[0].observation.volume, r[0].observation.rank), (Some(200_000), Some(1)));
        assert!(
            r[0].observation.score > 99.0 && r[1].observation.score > 84.0 && r[1].observation.score < 86.0,
            "{r:?}"
        );
        assert_eq!(r[0].observation.observed_at.to_rfc3339(), "2026-11-27T04:00:00+00:00");
        assert_eq!((r[2].observation.volume, r[2].observation.score), (None, 92.0));
        assert_eq!(Format::detect("https://trends.google.com/trending/rss?geo=US", b""), Format::Feed);
        assert_eq!(Format::detect("list.txt", b"  [{\"keyword\":1}]"), Format::Json);
    }

    #[test]
    fn volumes_and_scores() {
        assert_eq!(parse_volume("200,000+"), Some(200_000));
        assert_eq!(parse_volume("2K+"), Some(2_000));
        assert_eq!(parse_volume("1.5M"), Some(1_500_000));
        assert_eq!(parse_volume("lots"), None);
        assert_eq!(score_from_rank(1), 100.0);
        assert_eq!(score_from_rank(50), 5.0);
    }
}
