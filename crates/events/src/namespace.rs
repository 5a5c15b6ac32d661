//! Names on NATS. One [`Namespace`] per installation: its prefix is put in
//! front of every subject, stream, KV bucket and consumer, so several
//! installations (and every test) can share one NATS server.

use crate::ids::TenantId;

/// The default prefix: subjects `pod.evt.…`, stream `POD_EVENTS`.
pub const DEFAULT_PREFIX: &str = "pod";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Namespace {
    prefix: String,
}

impl Namespace {
    /// `prefix` must be a lowercase subject token (`a–z`, `0–9`, `_`, `-`).
    pub fn new(prefix: impl Into<String>) -> Result<Self, crate::IdError> {
        let prefix = prefix.into();
        TenantId::parse(prefix.clone())?;
        Ok(Self { prefix })
    }
    pub fn prefix(&self) -> &str {
        &self.prefix
    }
    fn upper(&self) -> String {
        self.prefix.to_ascii_uppercase().replace('-', "_")
    }
    /// The event log.
    pub fn events_stream(&self) -> String {
        format!("{}_EVENTS", self.upper())
    }
    /// Dead letters of workers and projections.
    pub fn dlq_stream(&self) -> String {
        format!("{}_DLQ", self.upper())
    }
    /// Aggregate snapshots (a KV bucket).
    pub fn snapshot_bucket(&self) -> String {
        format!("{}_SNAPSHOTS", self.upper())
    }
    /// `<prefix>.evt.>`: every event.
    pub fn all_events(&self) -> String {
        format!("{}.evt.>", self.prefix)
    }
    /// `<prefix>.evt.<aggregate>.>`: every event of one aggregate type.
    pub fn aggregate_events(&self, aggregate_type: &str) -> String {
        format!("{}.evt.{}.>", self.prefix, aggregate_type)
    }
    /// `<prefix>.evt.<aggregate>.<tenant>.>`.
    pub fn tenant_events(&self, aggregate_type: &str, tenant: &TenantId) -> String {
        format!("{}.evt.{}.{}.>", self.prefix, aggregate_type, tenant)
    }
    /// Events of one aggregate type and/or one tenant (any, where `None`).
    pub fn events_filter(&self, aggregate_type: Option<&str>, tenant: Option<&TenantId>) -> String {
        match (aggregate_type, tenant) {
            (None, None) => self.all_events(),
            (Some(a), None) => self.aggregate_events(a),
            (a, Some(t)) => self.tenant_events(a.unwrap_or("*"), t),
        }
    }
    /// `<prefix>.evt.<aggregate>.<tenant>.<id>`: one aggregate instance.
    pub fn aggregate_subject(&self, aggregate_type: &str, aggregate_id: &crate::AggregateId) -> String {
        format!("{}.evt.{}.{}.{}", self.prefix, aggregate_type, aggregate_id.tenant, aggregate_id.id)
    }
    /// `<prefix>.dlq.dead.<worker>.<tenant>`: where a worker puts an event it gave up on.
    pub fn dead_letter_subject(&self, worker: &str, tenant: &str) -> String {
        format!("{}.dlq.dead.{}.{}", self.prefix, worker, tenant)
    }
    /// Dead letters of one worker kind, or of all.
    pub fn dead_letters_filter(&self, worker: Option<&str>) -> String {
        format!("{}.dlq.dead.{}.>", self.prefix, worker.unwrap_or("*"))
    }
    /// Dead letters of one tenant, of every worker kind.
    pub fn tenant_dead_letters_filter(&self, tenant: &crate::TenantId) -> String {
        format!("{}.dlq.dead.*.{}", self.prefix, tenant)
    }
    /// `<prefix>.dlq.retry.<worker>.<tenant>`: a dead letter sent back to its worker.
    pub fn retry_subject(&self, worker: &str, tenant: &str) -> String {
        format!("{}.dlq.retry.{}.{}", self.prefix, worker, tenant)
    }
    /// Retries addressed to one worker kind.
    pub fn retries_filter(&self, worker: &str) -> String {
        format!("{}.dlq.retry.{}.>", self.prefix, worker)
    }
    /// Consumer names are prefixed too, e.g. `pod_proj_trends`.
    pub fn consumer(&self, name: &str) -> String {
        format!("{}_{}", self.prefix.replace('-', "_"), name)
    }
    /// Parses `<prefix>.evt.<aggregate>.<tenant>.<id>` into its parts.
    pub fn parse_subject<'a>(&self, subject: &'a str) -> Option<SubjectParts<'a>> {
        let rest = subject.strip_prefix(self.prefix.as_str())?.strip_prefix(".evt.")?;
        let mut it = rest.splitn(3, '.');
        let aggregate_type = it.next()?;
        let tenant = it.next()?;
        let id = it.next()?;
        Some(SubjectParts { aggregate_type, tenant, id })
    }
}

impl Default for Namespace {
    fn default() -> Self {
        Self { prefix: DEFAULT_PREFIX.to_owned() }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubjectParts<'a> {
    pub aggregate_type: &'a str,
    pub tenant: &'a str,
    pub id: &'a str,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_prefix() {
        let ns = Namespace::new("t-42").unwrap();
        assert_eq!(ns.events_stream(), "T_42_EVENTS");
        assert_eq!(ns.aggregate_events("trend"), "t-42.evt.trend.>");
        let parts = ns.parse_subject("t-42.evt.idea.acme.0193").unwrap();
        assert_eq!(parts, SubjectParts { aggregate_type: "idea", tenant: "acme", id: "0193" });
        assert!(ns.parse_subject("pod.evt.idea.acme.0193").is_none());
        assert!(Namespace::new("Bad.Prefix").is_err());
        let acme = TenantId::parse("acme").unwrap();
        assert_eq!(ns.events_filter(None, None), "t-42.evt.>");
        assert_eq!(ns.events_filter(Some("idea"), None), "t-42.evt.idea.>");
        assert_eq!(ns.events_filter(None, Some(&acme)), "t-42.evt.*.acme.>");
        assert_eq!(ns.events_filter(Some("idea"), Some(&acme)), "t-42.evt.idea.acme.>");
    }
}
