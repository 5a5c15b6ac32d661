//! What the OpenAI providers share: settings, the async-openai client with
//! an HTTP layer that keeps the provider's `retry-after` (async-openai
//! reports the status but drops the headers), a request-rate limit, and
//! the mapping of API errors onto retry decisions.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::error::OpenAIError;
use async_openai::middleware::HttpRequestFactory;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use serde::{Deserialize, Serialize};

use crate::backoff::parse_retry_after;
use crate::provider::ProviderError;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OpenAiSettings {
    /// The API key; without one the offline providers are used.
    pub api_key: Option<String>,
    /// Any OpenAI-compatible server (`https://api.openai.com/v1` by default).
    pub base_url: String,
    /// Chat model for ideation.
    pub chat_model: String,
    /// Micro-dollars per million input and output tokens of the chat model.
    pub chat_input_micros_per_mtok: u64,
    pub chat_output_micros_per_mtok: u64,
    /// Image model for designs (`gpt-image-1` is retired: configure its successor).
    pub image_model: String,
    /// `low`, `medium` or `high`.
    pub image_quality: String,
    /// Micro-dollars per 1024² image at each quality.
    pub image_micros_low: u64,
    pub image_micros_medium: u64,
    pub image_micros_high: u64,
    /// Monthly budget per tenant for paid calls, in micro-dollars (0: none).
    pub monthly_budget_micros: u64,
    /// Requests per minute this process sends at most.
    pub requests_per_minute: u32,
    pub timeout_secs: u64,
}

impl Default for OpenAiSettings {
    fn default() -> Self {
        Self {
            api_key: None,
            base_url: "https://api.openai.com/v1".into(),
            chat_model: "gpt-4o-mini".into(),
            chat_input_micros_per_mtok: 150_000,
            chat_output_micros_per_mtok: 600_000,
            image_model: "gpt-image-1.5".into(),
            image_quality: "medium".into(),
            image_micros_low: 11_000,
            image_micros_medium: 42_000,
            image_micros_high: 167_000,
            monthly_budget_micros: 20_000_000,
            requests_per_minute: 60,
            timeout_secs: 120,
        }
    }
}

/// What the HTTP layer saw of the last failed response: status and `retry-after`.
#[derive(Debug, Clone, Copy, Default)]
struct Seen {
    status: Option<u16>,
    retry_after: Option<Duration>,
}

tokio::task_local! {
    /// The last failed response seen by this task's call.
    static SEEN: std::cell::Cell<Seen>;
}

/// An async-openai client bound to the settings, plus the rate limit.
#[derive(Clone)]
pub struct OpenAi {
    pub client: Client<OpenAIConfig>,
    pub settings: OpenAiSettings,
    limiter: Arc<DefaultDirectRateLimiter>,
}

impl OpenAi {
    pub fn new(settings: OpenAiSettings) -> Result<Self, ProviderError> {
        let key = settings.api_key.clone().unwrap_or_default();
        let config = OpenAIConfig::new().with_api_key(key).with_api_base(settings.base_url.trim_end_matches('/'));
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(settings.timeout_secs.max(1)))
            .build()
            .map_err(|e| ProviderError::permanent(format!("building the HTTP client: {e}")))?;
        // Execute requests ourselves so the response headers can be read.
        let service = tower::service_fn(move |factory: HttpRequestFactory| {
            let http = http.clone();
            async move {
                let request = factory.build().await?;
                let response = http.execute(request).await.map_err(OpenAIError::Reqwest)?;
                let status = response.status().as_u16();
                if status >= 400 {
                    let retry_after = response
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| parse_retry_after(v, chrono::Utc::now()));
                    let _ = SEEN.try_with(|c| c.set(Seen { status: Some(status), retry_after }));
                }
                Ok::<_, OpenAIError>(response)
            }
        });
        let client = Client::with_config(config).with_http_service(service);
        let per_minute = NonZeroU32::new(settings.requests_per_minute.max(1)).unwrap_or(NonZeroU32::MIN);
        let limiter = Arc::new(RateLimiter::direct(Quota::per_minute(per_minute)));
        Ok(Self { client, settings, limiter })
    }

    /// Runs one API call: waits for the rate limit, then maps failures
    /// onto retry decisions with the provider's `retry-after`.
    pub async fn call<T, F>(&self, what: &str, call: F) -> Result<T, ProviderError>
    where
        F: Future<Output = Result<T, OpenAIError>>,
    {
        self.limiter.until_ready().await;
        let (result, seen) = SEEN
            .scope(std::cell::Cell::new(Seen::default()), async {
                let r = call.await;
                (r, SEEN.with(|c| c.get()))
            })
            .await;
        result.map_err(|e| classify(what, e, seen.status, seen.retry_after))
    }
}

fn retryable(status: u16) -> bool {
    matches!(status, 408 | 409 | 429 | 500..=599)
}

/// Which failures are worth retrying. `status` is what the HTTP layer saw:
/// a 429 whose body is not OpenAI's JSON (a proxy's, a compatible
/// server's) is still a 429.
pub fn classify(what: &str, e: OpenAIError, status: Option<u16>, retry_after: Option<Duration>) -> ProviderError {
    if let Some(s) = status.filter(|s| retryable(*s))
        && !matches!(e, OpenAIError::ApiError(_))
    {
        return ProviderError::Transient { reason: format!("{what}: HTTP {s}: {e}"), retry_after };
    }
    match e {
        OpenAIError::ApiError(resp) => {
            let status = resp.status_code.as_u16();
            let reason = format!("{what}: HTTP {status}: {}", resp.api_error);
            if retryable(status) {
                ProviderError::Transient { reason, retry_after }
            } else {
                ProviderError::Permanent { reason }
            }
        }
        OpenAIError::Reqwest(e) => ProviderError::Transient { reason: format!("{what}: {e}"), retry_after },
        OpenAIError::JSONDeserialize(e, _) => ProviderError::permanent(format!("{what}: unreadable response: {e}")),
        other => ProviderError::permanent(format!("{what}: {other}")),
    }
}

/// Micro-dollars for a number of tokens at a price per million.
pub fn token_cost(tokens: u64, micros_per_mtok: u64) -> u64 {
    (tokens as u128 * micros_per_mtok as u128).div_ceil(1_000_000) as u64
}
