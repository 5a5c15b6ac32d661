//! Configured trend sources, refreshed on a schedule. Each source has a
//! fallback chain (rendered page → simpler selectors → its RSS/Atom feed),
//! a circuit breaker that stops hammering a source that keeps failing, a
//! rate limit per host, and an audit of every refresh.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use pod_events::domain::trend::Observation;
use serde::{Deserialize, Serialize};

use crate::provider::ProviderError;
use pod_trendlists::parse::{Format, ParseError, TrendRecord, parse};

/// What a source is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// A web page rendered in Chromium and read with CSS selectors.
    Page,
    /// An RSS or Atom feed.
    Feed,
    /// A JSON list over HTTP.
    Json,
    /// A CSV list over HTTP.
    Csv,
}

/// CSS selectors that find trend items on a rendered page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Selectors {
    /// Each trend item.
    pub item: String,
    /// The keyword inside an item (the item's own text when absent).
    #[serde(default)]
    pub keyword: Option<String>,
    /// The rank inside an item (the item's position when absent).
    #[serde(default)]
    pub rank: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceSettings {
    /// Recorded as every observation's source.
    pub name: String,
    pub kind: SourceKind,
    pub url: String,
    /// Page sources: the primary selectors.
    #[serde(default)]
    pub selectors: Option<Selectors>,
    /// Page sources: simpler selectors tried when the primary ones find nothing.
    #[serde(default)]
    pub simple_selectors: Option<Selectors>,
    /// Page sources: a "next page" link followed up to `pages` pages.
    #[serde(default)]
    pub next_selector: Option<String>,
    #[serde(default = "one")]
    pub pages: u32,
    /// The source's RSS/Atom feed, the last step of the chain.
    #[serde(default)]
    pub feed_url: Option<String>,
    /// Overrides the worker's refresh interval.
    #[serde(default)]
    pub refresh_secs: Option<u64>,
}

fn one() -> u32 {
    1
}

/// One way of reading a source.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Rendered { url: String, selectors: Selectors, next: Option<String>, pages: u32 },
    Fetch { url: String, format: Option<Format> },
}

impl Step {
    pub fn describe(&self) -> String {
        match self {
            Step::Rendered { url, selectors, .. } => format!("page {url} ({})", selectors.item),
            Step::Fetch { url, .. } => format!("fetch {url}"),
        }
    }
}

/// The fallback chain of a source, in the order to try.
pub fn chain(s: &SourceSettings) -> Vec<Step> {
    let mut steps = Vec::new();
    match s.kind {
        SourceKind::Page => {
            for sel in [&s.selectors, &s.simple_selectors].into_iter().flatten() {
                steps.push(Step::Rendered {
                    url: s.url.clone(),
                    selectors: sel.clone(),
                    next: s.next_selector.clone(),
                    pages: s.pages.max(1),
                });
            }
        }
        SourceKind::Feed => steps.push(Step::Fetch { url: s.url.clone(), format: Some(Format::Feed) }),
        SourceKind::Json => steps.push(Step::Fetch { url: s.url.clone(), format: Some(Format::Json) }),
        SourceKind::Csv => steps.push(Step::Fetch { url: s.url.clone(), format: Some(Format::Csv) }),
    }
    if let Some(feed) = &s.feed_url
        && !steps.iter().any(|st| matches!(st, Step::Fetch { url, .. } if url == feed))
    {
        steps.push(Step::Fetch { url: feed.clone(), format: Some(Format::Feed) });
    }
    steps
}

/// A circuit breaker: after `threshold` consecutive failures the source is
/// left alone for `cooldown`, then one trial refresh decides.
#[derive(Debug, Clone, PartialEq)]
pub struct Breaker {
    threshold: u32,
    cooldown: chrono::Duration,
    failures: u32,
    open_until: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

impl BreakerState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open => "open",
            Self::HalfOpen => "half_open",
        }
    }
}

impl Breaker {
    pub fn new(threshold: u32, cooldown: Duration) -> Self {
        Self {
            threshold: threshold.max(1),
            cooldown: chrono::Duration::from_std(cooldown).unwrap_or(chrono::Duration::hours(1)),
            failures: 0,
            open_until: None,
        }
    }
    pub fn state(&self, now: DateTime<Utc>) -> BreakerState {
        match self.open_until {
            Some(t) if now < t => BreakerState::Open,
            Some(_) => BreakerState::HalfOpen,
            None => BreakerState::Closed,
        }
    }
    pub fn allows(&self, now: DateTime<Utc>) -> bool {
        self.state(now) != BreakerState::Open
    }
    pub fn success(&mut self) {
        self.failures = 0;
        self.open_until = None;
    }
    pub fn failure(&mut self, now: DateTime<Utc>) {
        self.failures += 1;
        // A failed trial re-opens at once; otherwise open at the threshold.
        if self.open_until.is_some() || self.failures >= self.threshold {
            self.open_until = Some(now + self.cooldown);
        }
    }
}

/// Renders pages and reads items with selectors (headless Chromium).
#[async_trait::async_trait]
pub trait PageScraper: Send + Sync {
    /// Item texts (keyword, rank) of up to `pages` pages.
    async fn scrape(
        &self,
        url: &str,
        selectors: &Selectors,
        next: Option<&str>,
        pages: u32,
    ) -> Result<Vec<(String, Option<u32>)>, FetchError>;
}

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The source refused us: captcha, 403, 429. Counted as blocked.
    #[error("blocked: {0}")]
    Blocked(String),
    #[error("{0}")]
    Failed(String),
    #[error("nothing found: {0}")]
    Empty(String),
    #[error(transparent)]
    Parse(#[from] ParseError),
}

impl From<FetchError> for ProviderError {
    fn from(e: FetchError) -> Self {
        ProviderError::transient(e)
    }
}

/// Words on a page that mean "you are a robot, go away".
pub fn looks_blocked(status: u16, body: &str) -> bool {
    if matches!(status, 403 | 429 | 503) {
        return true;
    }
    let b = body.to_lowercase();
    ["captcha", "are you a robot", "unusual traffic", "access denied", "verify you are human"]
        .iter()
        .any(|w| b.contains(w))
}

/// Fetches over HTTP with a per-host rate limit.
pub struct HttpFetcher {
    client: reqwest::Client,
    limiter: Arc<DefaultKeyedRateLimiter<String>>,
}

impl HttpFetcher {
    pub fn new(host_interval: Duration) -> Result<Self, FetchError> {
        let client = reqwest::Client::builder()
            .user_agent(concat!("pod-automator/", env!("CARGO_PKG_VERSION"), " (+trend research)"))
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| FetchError::Failed(e.to_string()))?;
        let quota = Quota::with_period(host_interval.max(Duration::from_millis(1)))
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
            .allow_burst(NonZeroU32::MIN);
        Ok(Self { client, limiter: Arc::new(RateLimiter::keyed(quota)) })
    }

    /// Waits for the host's turn.
    pub async fn pace(&self, url: &str) {
        let host = url::Url::parse(url).ok().and_then(|u| u.host_str().map(str::to_owned)).unwrap_or_default();
        self.limiter.until_key_ready(&host).await;
    }

    pub async fn get(&self, url: &str) -> Result<Vec<u8>, FetchError> {
        self.pace(url).await;
        let resp = self.client.get(url).send().await.map_err(|e| FetchError::Failed(format!("GET {url}: {e}")))?;
        let status = resp.status().as_u16();
        let body = resp.bytes().await.map_err(|e| FetchError::Failed(format!("GET {url}: {e}")))?;
        if looks_blocked(status, &String::from_utf8_lossy(&body[..body.len().min(4096)])) {
            return Err(FetchError::Blocked(format!("GET {url}: HTTP {status}")));
        }
        if status >= 400 {
            return Err(FetchError::Failed(format!("GET {url}: HTTP {status}")));
        }
        Ok(body.to_vec())
    }
}

/// What a refresh of one source did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RefreshAudit {
    pub source: String,
    pub at: DateTime<Utc>,
    /// The step that delivered, if any.
    pub used: Option<String>,
    pub collected: usize,
    pub persisted: usize,
    pub duplicates: usize,
    pub failed: usize,
    pub blocked: usize,
    pub breaker: BreakerState,
    pub errors: Vec<String>,
}

/// Runs a source's chain until a step yields records. Returns the records,
/// the step used, and the errors of the steps that failed.
pub async fn read_source(
    source: &SourceSettings,
    http: &HttpFetcher,
    scraper: Option<&dyn PageScraper>,
    now: DateTime<Utc>,
) -> (Vec<TrendRecord>, Option<String>, Vec<FetchError>) {
    let mut errors = Vec::new();
    for step in chain(source) {
        let result = match &step {
            Step::Fetch { url, format } => match http.get(url).await {
                Ok(bytes) => {
                    let fmt = format.unwrap_or_else(|| Format::detect(url, &bytes));
                    parse(fmt, &bytes, &source.name, now).map_err(FetchError::from)
                }
                Err(e) => Err(e),
            },
            Step::Rendered { url, selectors, next, pages } => match scraper {
                None => Err(FetchError::Failed("page scraping is not configured (no Chromium)".into())),
                Some(s) => {
                    http.pace(url).await;
                    s.scrape(url, selectors, next.as_deref(), *pages).await.and_then(|items| {
                        if items.is_empty() {
                            return Err(FetchError::Empty(format!("{} matched nothing on {url}", selectors.item)));
                        }
                        Ok(items
                            .into_iter()
                            .enumerate()
                            .map(|(i, (keyword, rank))| {
                                let rank = rank.unwrap_or(i as u32 + 1);
                                TrendRecord {
                                    keyword,
                                    observation: Observation {
                                        source: source.name.clone(),
                                        observed_at: now,
                                        rank: Some(rank),
                                        volume: None,
                                        score: pod_trendlists::parse::score_from_rank(rank),
                                        estimated: true,
                                        confidence: 0.6,
                                    },
                                }
                            })
                            .collect())
                    })
                }
            },
        };
        match result {
            Ok(records) => return (records, Some(step.describe()), errors),
            Err(e) => {
                tracing::warn!(source = %source.name, step = %step.describe(), error = %e, "source step failed; trying the next");
                errors.push(e);
            }
        }
    }
    (Vec::new(), None, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chain_goes_page_then_simpler_then_feed() {
        let s = SourceSettings {
            name: "movers".into(),
            kind: SourceKind::Page,
            url: "http://x/page".into(),
            selectors: Some(Selectors { item: "li.trend".into(), keyword: Some(".kw".into()), rank: None }),
            simple_selectors: Some(Selectors { item: "li".into(), keyword: None, rank: None }),
            next_selector: None,
            pages: 2,
            feed_url: Some("http://x/rss".into()),
            refresh_secs: None,
        };
        let c = chain(&s);
        assert_eq!(c.len(), 3);
        assert!(matches!(&c[0], Step::Rendered { selectors, pages: 2, .. } if selectors.item == "li.trend"));
        assert!(matches!(&c[1], Step::Rendered { selectors, .. } if selectors.item == "li"));
        assert!(matches!(&c[2], Step::Fetch { url, format: Some(Format::Feed) } if url == "http://x/rss"));
    }

    #[test]
    fn the_breaker_opens_cools_down_and_tries_once() {
        let t0 = DateTime::parse_from_rfc3339("2026-11-27T12:00:00Z").unwrap().to_utc();
        let mut b = Breaker::new(3, Duration::from_secs(600));
        b.failure(t0);
        b.failure(t0);
        assert_eq!(b.state(t0), BreakerState::Closed);
        b.failure(t0);
        assert_eq!(b.state(t0), BreakerState::Open);
        assert!(!b.allows(t0 + chrono::Duration::seconds(599)));
        let later = t0 + chrono::Duration::seconds(601);
        assert_eq!(b.state(later), BreakerState::HalfOpen);
        // A failed trial opens it again at once.
        b.failure(later);
        assert_eq!(b.state(later), BreakerState::Open);
        let much_later = later + chrono::Duration::seconds(601);
        b.success();
        assert_eq!(b.state(much_later), BreakerState::Closed);
    }

    #[test]
    fn blocked_pages_are_recognised() {
        assert!(looks_blocked(429, ""));
        assert!(looks_blocked(200, "<title>Robot Check</title> Enter the characters… CAPTCHA"));
        assert!(!looks_blocked(200, "<ul><li>cat mom</li></ul>"));
    }
}
