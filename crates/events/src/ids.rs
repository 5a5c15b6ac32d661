//! Identifiers. Tenants and aggregate ids become NATS subject tokens, so they
//! are validated once, here, and carried as types afterwards.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IdError {
    #[error("tenant id must be 1–64 characters of a–z, 0–9, '-' or '_', got {0:?}")]
    BadTenant(String),
    #[error("aggregate id must look like '<tenant>.<uuid>', got {0:?}")]
    BadAggregateId(String),
}

/// A tenant (a shop owner's workspace). Safe to use as one subject token.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TenantId(String);

impl TenantId {
    pub fn parse(raw: impl Into<String>) -> Result<Self, IdError> {
        let raw = raw.into();
        let ok = !raw.is_empty()
            && raw.len() <= 64
            && raw.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if ok { Ok(Self(raw)) } else { Err(IdError::BadTenant(raw)) }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for TenantId {
    type Error = IdError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(value)
    }
}
impl From<TenantId> for String {
    fn from(value: TenantId) -> Self {
        value.0
    }
}
impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for TenantId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// A tenant is a text column in the read models: it binds as text, and a
/// stored one that is not a valid id fails to decode (it never was written).
#[cfg(feature = "sqlx")]
mod sql {
    use sqlx::encode::IsNull;
    use sqlx::error::BoxDynError;
    use sqlx::postgres::{PgArgumentBuffer, PgTypeInfo, PgValueRef};
    use sqlx::{Decode, Encode, Postgres, Type};

    use super::TenantId;

    impl Type<Postgres> for TenantId {
        fn type_info() -> PgTypeInfo {
            <String as Type<Postgres>>::type_info()
        }
        fn compatible(ty: &PgTypeInfo) -> bool {
            <String as Type<Postgres>>::compatible(ty)
        }
    }

    impl Encode<'_, Postgres> for TenantId {
        fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
            <&str as Encode<Postgres>>::encode(self.as_str(), buf)
        }
    }

    impl<'r> Decode<'r, Postgres> for TenantId {
        fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
            Ok(TenantId::parse(<String as Decode<Postgres>>::decode(value)?)?)
        }
    }
}

/// The id cqrs-es sees for an aggregate instance: `<tenant>.<uuid>`.
/// It maps one-to-one onto the last two tokens of the aggregate's subject.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AggregateId {
    pub tenant: TenantId,
    pub id: Uuid,
}

impl AggregateId {
    pub fn new(tenant: TenantId, id: Uuid) -> Self {
        Self { tenant, id }
    }
    /// A fresh, time-ordered id.
    pub fn generate(tenant: TenantId) -> Self {
        Self { tenant, id: Uuid::now_v7() }
    }
    /// A deterministic id: the same tenant, kind and natural key always give
    /// the same aggregate (used for trends keyed by keyword, and by workers
    /// that derive their targets from the triggering event).
    pub fn derived(tenant: TenantId, kind: &str, natural_key: &str) -> Self {
        let name = format!("{}/{}/{}", tenant.as_str(), kind, natural_key);
        Self { tenant, id: Uuid::new_v5(&Uuid::NAMESPACE_URL, name.as_bytes()) }
    }
}

impl fmt::Display for AggregateId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.tenant, self.id)
    }
}

impl FromStr for AggregateId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (tenant, id) = s.split_once('.').ok_or_else(|| IdError::BadAggregateId(s.into()))?;
        let tenant = TenantId::parse(tenant).map_err(|_| IdError::BadAggregateId(s.into()))?;
        let id = Uuid::parse_str(id).map_err(|_| IdError::BadAggregateId(s.into()))?;
        Ok(Self { tenant, id })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_ids_are_subject_safe() {
        for ok in ["acme", "shop-1", "a_b"] {
            assert!(TenantId::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "Acme", "a.b", "a b", "a*", "a>", &"x".repeat(65)] {
            assert!(TenantId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn aggregate_id_round_trips_and_derives_deterministically() {
        let t = TenantId::parse("acme").unwrap();
        let a = AggregateId::derived(t.clone(), "trend", "cat mom");
        let b = AggregateId::derived(t.clone(), "trend", "cat mom");
        assert_eq!(a, b);
        assert_ne!(a, AggregateId::derived(t, "trend", "dog dad"));
        let parsed: AggregateId = a.to_string().parse().unwrap();
        assert_eq!(parsed, a);
        assert!("nodot".parse::<AggregateId>().is_err());
        assert!("acme.not-a-uuid".parse::<AggregateId>().is_err());
    }
}
