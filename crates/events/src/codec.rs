//! Turning domain events into (type, version, JSON body) and back, upcasting
//! older versions on the way in. Stored events are never rewritten.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("unknown event type {0:?}")]
    UnknownType(String),
    #[error("{event_type} v{version} is newer than this program understands (v{current}); upgrade it")]
    FromTheFuture { event_type: String, version: u32, current: u32 },
    #[error("no upcaster for {event_type} v{version}")]
    NoUpcaster { event_type: String, version: u32 },
    #[error("{event_type} v{version} payload is malformed: {source}")]
    Malformed { event_type: String, version: u32, source: serde_json::Error },
    #[error("event did not serialise as an externally tagged enum")]
    NotTagged,
    #[error("cannot serialise event: {0}")]
    Json(serde_json::Error),
}

impl CodecError {
    pub fn from_json(e: serde_json::Error) -> Self {
        Self::Json(e)
    }
}

/// The current version of `event_type` as this program knows it, for any
/// aggregate (None: a type it does not know).
pub fn known_version(event_type: &str) -> Option<u32> {
    use crate::domain::{budget, design, idea, listing, order, shop, source, trend};
    [
        trend::TrendEvent::ALL,
        idea::IdeaEvent::ALL,
        design::DesignEvent::ALL,
        listing::ListingEvent::ALL,
        shop::ShopEvent::ALL,
        order::OrderEvent::ALL,
        budget::BudgetEvent::ALL,
        source::SourceEvent::ALL,
    ]
    .iter()
    .flat_map(|all| all.iter())
    .find(|(t, _)| *t == event_type)
    .map(|(_, v)| *v)
}

/// Implemented by each aggregate's event enum (externally tagged serde enums:
/// the variant name is the event type, the variant's struct is the payload).
pub trait EventCodec: Serialize + DeserializeOwned + Sized {
    /// Every event type of this enum with its current version.
    const TYPES: &'static [(&'static str, u32)];

    /// Turns `body`, stored as `event_type` v`from`, into v`from + 1`.
    fn upcast_step(event_type: &str, from: u32, body: Value) -> Result<Value, CodecError> {
        let _ = body;
        Err(CodecError::NoUpcaster { event_type: event_type.into(), version: from })
    }

    fn current_version(event_type: &str) -> Option<u32> {
        Self::TYPES.iter().find(|(t, _)| *t == event_type).map(|(_, v)| *v)
    }

    /// (event type, current version, payload).
    fn encode(&self) -> Result<(String, u32, Value), CodecError> {
        let value = serde_json::to_value(self).map_err(|_| CodecError::NotTagged)?;
        let Value::Object(map) = value else { return Err(CodecError::NotTagged) };
        let mut it = map.into_iter();
        let (event_type, body) = it.next().ok_or(CodecError::NotTagged)?;
        let version = Self::current_version(&event_type).ok_or_else(|| CodecError::UnknownType(event_type.clone()))?;
        Ok((event_type, version, body))
    }

    /// Decodes a stored payload, upcasting it step by step to the current version.
    fn decode(event_type: &str, version: u32, mut body: Value) -> Result<Self, CodecError> {
        let current = Self::current_version(event_type).ok_or_else(|| CodecError::UnknownType(event_type.into()))?;
        if version > current {
            return Err(CodecError::FromTheFuture { event_type: event_type.into(), version, current });
        }
        for from in version..current {
            body = Self::upcast_step(event_type, from, body)?;
        }
        let mut tagged = serde_json::Map::new();
        tagged.insert(event_type.to_owned(), body);
        serde_json::from_value(Value::Object(tagged)).map_err(|source| CodecError::Malformed {
            event_type: event_type.into(),
            version,
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_aggregates_event_types_have_a_known_version() {
        assert_eq!(super::known_version("TrendObserved"), Some(2));
        assert_eq!(super::known_version("IdeaRejected"), Some(1));
        assert_eq!(super::known_version("NoSuchEvent"), None);
    }
}
