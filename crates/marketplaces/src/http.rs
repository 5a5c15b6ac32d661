//! The HTTP client marketplace calls go through, and the adapter that lets
//! the `oauth2` crate use it (the crate's own reqwest integration pins an
//! older reqwest).

use std::time::Duration;

/// A client that follows no redirects (a token or API endpoint that
/// redirects is an attack surface: SSRF, a token sent elsewhere) and gives
/// up after `timeout`.
pub fn client(timeout: Duration) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).timeout(timeout).build()
}

/// A 429's `retry-after` in seconds (marketplaces send no dates):
/// `missing` when absent or unreadable, between 1 s and an hour.
pub fn retry_after(headers: &reqwest::header::HeaderMap, missing: Duration) -> Duration {
    let said = headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
        .unwrap_or(missing);
    said.clamp(Duration::from_secs(1), Duration::from_secs(3600))
}

/// The longest message kept from a marketplace's error answer.
pub const MAX_MESSAGE: usize = 300;

/// What a marketplace's error answer says, fit to keep and show: the
/// message `pick` finds in its JSON, or else the start of the body; see
/// [`one_line`].
pub fn message_of(body: &str, pick: impl FnOnce(&serde_json::Value) -> Option<String>) -> String {
    let said =
        serde_json::from_str::<serde_json::Value>(body).ok().and_then(|v| pick(&v)).unwrap_or_else(|| body.to_owned());
    one_line(&said)
}

/// Text from outside fit to keep and show: one line without control or
/// bidirectional control characters, at most [`MAX_MESSAGE`] characters.
pub fn one_line(said: &str) -> String {
    let line: String = said
        .chars()
        .filter(|c| !c.is_control() && !pod_events::domain::text::is_bidi_control(*c))
        .take(MAX_MESSAGE)
        .collect();
    line.trim().to_owned()
}

/// `oauth2`'s requests sent with our reqwest client.
#[derive(Debug, Clone)]
pub struct OAuthHttp(pub reqwest::Client);

impl<'c> oauth2::AsyncHttpClient<'c> for OAuthHttp {
    type Error = reqwest::Error;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<oauth2::HttpResponse, reqwest::Error>> + Send + Sync + 'c>,
    >;

    fn call(&'c self, request: oauth2::HttpRequest) -> Self::Future {
        Box::pin(send(&self.0, request))
    }
}

async fn send(client: &reqwest::Client, req: oauth2::HttpRequest) -> Result<oauth2::HttpResponse, reqwest::Error> {
    let (parts, body) = req.into_parts();
    let resp = client.request(parts.method, parts.uri.to_string()).headers(parts.headers).body(body).send().await?;
    let mut out = oauth2::HttpResponse::new(Vec::new());
    *out.status_mut() = resp.status();
    *out.headers_mut() = resp.headers().clone();
    *out.body_mut() = resp.bytes().await?.to_vec();
    Ok(out)
}

/// An `oauth2` client with its authorize and token endpoints set: the
/// authorization-code grant (and refresh) with the standard answers.
pub type CodeClient = oauth2::Client<
    oauth2::basic::BasicErrorResponse,
    oauth2::basic::BasicTokenResponse,
    oauth2::basic::BasicTokenIntrospectionResponse,
    oauth2::StandardRevocableToken,
    oauth2::basic::BasicRevocationErrorResponse,
    oauth2::EndpointSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointSet,
>;
