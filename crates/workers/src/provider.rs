//! What every provider (ideas, images, marketplaces) may answer besides
//! success, in the terms the worker runtime acts on.

use std::time::Duration;

use crate::runtime::HandlerError;

#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// Rate limited, overloaded, unreachable: try again later, not before
    /// `retry_after` when the provider said so.
    #[error("{reason}")]
    Transient { reason: String, retry_after: Option<Duration> },
    /// Refused or answered nonsense: retrying the same request will not help.
    #[error("{reason}")]
    Permanent { reason: String },
}

impl ProviderError {
    pub fn permanent(reason: impl std::fmt::Display) -> Self {
        Self::Permanent { reason: reason.to_string() }
    }
    pub fn transient(reason: impl std::fmt::Display) -> Self {
        Self::Transient { reason: reason.to_string(), retry_after: None }
    }
}

impl pod_events::Transient for ProviderError {
    fn is_transient(&self) -> bool {
        matches!(self, ProviderError::Transient { .. })
    }
}

impl From<ProviderError> for HandlerError {
    fn from(e: ProviderError) -> Self {
        match e {
            ProviderError::Transient { reason, retry_after } => HandlerError::Transient { reason, retry_after },
            ProviderError::Permanent { reason } => HandlerError::Permanent { reason },
        }
    }
}
