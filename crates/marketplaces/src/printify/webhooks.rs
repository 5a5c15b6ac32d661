//! Printify's webhooks as they arrive: `X-Pfy-Signature: sha256=<hex>`, the
//! HMAC-SHA256 of the raw body under the shop's webhook secret, checked in
//! constant time before anything in the body is believed; then the body,
//! which names the delivery, its topic and the resource it is about.

use ring::hmac;
use serde::Deserialize;

use crate::Secret;

/// The header Printify signs with.
pub const SIGNATURE_HEADER: &str = "x-pfy-signature";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WebhookError {
    #[error("the {SIGNATURE_HEADER} header is missing")]
    Unsigned,
    #[error("the {SIGNATURE_HEADER} header is not `sha256=<64 hex digits>`")]
    MalformedSignature,
    #[error("the signature does not match the body")]
    BadSignature,
    #[error("the body is not a Printify webhook: {0}")]
    Body(String),
}

/// Checks that `signature` (the header's value) signs `body` with `secret`.
pub fn verify(secret: &Secret, body: &[u8], signature: Option<&str>) -> Result<(), WebhookError> {
    let signature = signature.ok_or(WebhookError::Unsigned)?.trim();
    let hex = signature.strip_prefix("sha256=").ok_or(WebhookError::MalformedSignature)?;
    let tag = hex::decode(hex).ok().filter(|t| t.len() == 32).ok_or(WebhookError::MalformedSignature)?;
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.expose().as_bytes());
    hmac::verify(&key, body, &tag).map_err(|_| WebhookError::BadSignature)
}

/// The signature header's value for `body` under `secret` (what Printify
/// sends; the stand-ins sign with it).
pub fn sign(secret: &Secret, body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.expose().as_bytes());
    format!("sha256={}", hex::encode(hmac::sign(&key, body).as_ref()))
}

/// A delivery: what happened, to what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Printify's id of this delivery (a redelivery keeps it).
    pub id: String,
    pub topic: String,
    /// The order, product or shop it is about.
    pub resource_id: String,
}

#[derive(Deserialize)]
struct Raw {
    id: String,
    #[serde(rename = "type")]
    topic: String,
    resource: RawResource,
}

#[derive(Deserialize)]
struct RawResource {
    id: String,
}

/// Reads a verified body.
pub fn parse(body: &[u8]) -> Result<Delivery, WebhookError> {
    let raw: Raw = serde_json::from_slice(body).map_err(|e| WebhookError::Body(e.to_string()))?;
    let sane = |what: &str, v: &str| {
        if super::is_id(v) { Ok(()) } else { Err(WebhookError::Body(format!("{what} is not an id"))) }
    };
    sane("id", &raw.id)?;
    sane("resource.id", &raw.resource.id)?;
    sane("type", &raw.topic)?;
    Ok(Delivery { id: raw.id, topic: raw.topic, resource_id: raw.resource.id })
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] =
        br#"{"id":"d-1","type":"order:created","resource":{"id":"5a96f649b2439217d070f507","type":"order"}}"#;

    #[test]
    fn a_signed_body_verifies_and_anything_else_does_not() {
        let secret = Secret::new("0f".repeat(32));
        let good = sign(&secret, BODY);
        assert!(good.starts_with("sha256=") && good.len() == 7 + 64, "{good}");
        assert_eq!(verify(&secret, BODY, Some(&good)), Ok(()));
        assert_eq!(verify(&secret, BODY, None), Err(WebhookError::Unsigned));
        assert_eq!(verify(&secret, BODY, Some("md5=abc")), Err(WebhookError::MalformedSignature));
        assert_eq!(verify(&secret, BODY, Some("sha256=zz")), Err(WebhookError::MalformedSignature));
        assert_eq!(verify(&secret, BODY, Some("sha256=é1")), Err(WebhookError::MalformedSignature));
        let mut altered = BODY.to_vec();
        altered[10] ^= 1;
        assert_eq!(verify(&secret, &altered, Some(&good)), Err(WebhookError::BadSignature));
        assert_eq!(verify(&Secret::new("another"), BODY, Some(&good)), Err(WebhookError::BadSignature));
    }

    #[test]
    fn a_delivery_names_its_id_topic_and_resource() {
        let d = parse(BODY).unwrap();
        assert_eq!(
            d,
            Delivery {
                id: "d-1".into(),
                topic: "order:created".into(),
                resource_id: "5a96f649b2439217d070f507".into()
            }
        );
        assert!(parse(b"not json").is_err());
        let nul = br#"{"id":"d\u0000","type":"order:created","resource":{"id":"1"}}"#;
        assert!(parse(nul).is_err(), "a NUL in an id");
        let long = format!(r#"{{"id":"{}","type":"order:created","resource":{{"id":"1"}}}}"#, "x".repeat(100_000));
        assert!(parse(long.as_bytes()).is_err(), "a 100 kB id");
    }
}
