//! The aggregates. Each module holds one aggregate: its commands, its events
//! (with their versions and upcasters), its errors and its rules. Pure code:
//! no I/O, no clock — times arrive inside commands.

pub mod budget;
pub mod design;
pub mod idea;
pub mod listing;
pub mod listing_text;
pub mod order;
pub mod shop;
pub mod source;
pub mod text;
pub mod trend;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Every aggregate type, as it appears in subjects (`Aggregate::TYPE`).
pub const AGGREGATE_TYPES: [&str; 8] = [
    <trend::Trend as cqrs_es::Aggregate>::TYPE,
    <idea::Idea as cqrs_es::Aggregate>::TYPE,
    <design::Design as cqrs_es::Aggregate>::TYPE,
    <listing::Listing as cqrs_es::Aggregate>::TYPE,
    <shop::Shop as cqrs_es::Aggregate>::TYPE,
    <order::Order as cqrs_es::Aggregate>::TYPE,
    <budget::Budget as cqrs_es::Aggregate>::TYPE,
    <source::TrendSource as cqrs_es::Aggregate>::TYPE,
];

/// The version of an aggregate's state as a snapshot stores it. Bump it
/// whenever the state's fields or what they mean change (a field added with
/// `#[serde(default)]` included): a snapshot of another version is ignored
/// and the state is replayed from the log, never loaded with defaults in
/// place of what its events say.
pub trait StateVersion {
    const STATE_VERSION: u32;
}

/// Who did something. Only ids: names and e-mail addresses live in Postgres,
/// never in the immutable log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Actor {
    /// A person, by user id.
    User { user_id: Uuid },
    /// An automatic policy (e.g. "auto-approve green ideas").
    Policy { name: String },
    /// The pipeline itself.
    System,
}

impl Actor {
    pub fn is_person(&self) -> bool {
        matches!(self, Actor::User { .. })
    }
}

/// Declares an aggregate's event enum: each variant is one event type with
/// its current schema version. Generates the enum, its type names and the
/// cqrs-es `DomainEvent` impl; the `EventCodec` impl (with upcasters) is
/// written by hand beside it.
macro_rules! event_enum {
    ($(#[$m:meta])* pub enum $name:ident { $($(#[$vm:meta])* $variant:ident($ty:ty) = $ver:literal),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
        pub enum $name { $($(#[$vm])* $variant($ty)),* }

        impl $name {
            /// Every event type of this aggregate with its current version.
            pub const ALL: &'static [(&'static str, u32)] = &[$((stringify!($variant), $ver)),*];
            /// The event type's name, as stored in the `Pod-Event-Type` header.
            pub fn name(&self) -> &'static str {
                match self { $(Self::$variant(_) => stringify!($variant)),* }
            }
            /// The current schema version of this event's type.
            pub fn version(&self) -> u32 {
                match self { $(Self::$variant(_) => $ver),* }
            }
        }

        impl cqrs_es::DomainEvent for $name {
            fn event_type(&self) -> String { self.name().to_owned() }
            fn event_version(&self) -> String { self.version().to_string() }
        }
    };
}
pub(crate) use event_enum;
