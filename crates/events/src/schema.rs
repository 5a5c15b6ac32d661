//! JSON Schemas of every event type, for analysts (`pod events schema`).

use schemars::{JsonSchema, Schema, schema_for};
use serde_json::Value;

use crate::domain::{budget, design, idea, listing, order, shop, source, trend};

/// One event type's schema with its aggregate and version.
#[derive(Debug, Clone, serde::Serialize)]
pub struct EventSchema {
    pub aggregate_type: &'static str,
    pub event_type: &'static str,
    pub version: u32,
    pub schema: Value,
}

fn entry<T: JsonSchema>(
    aggregate_type: &'static str,
    all: &'static [(&'static str, u32)],
    event_type: &'static str,
) -> EventSchema {
    let version = all.iter().find(|(t, _)| *t == event_type).map(|(_, v)| *v).unwrap_or(0);
    let mut schema: Schema = schema_for!(T);
    schema.insert("title".into(), Value::String(format!("{event_type} v{version}")));
    EventSchema { aggregate_type, event_type, version, schema: schema.to_value() }
}

/// Schemas of every event type of every aggregate.
pub fn all() -> Vec<EventSchema> {
    use budget::BudgetEvent as B;
    use design::DesignEvent as D;
    use idea::IdeaEvent as I;
    use listing::ListingEvent as L;
    use order::OrderEvent as O;
    use shop::ShopEvent as S;
    use trend::TrendEvent as T;
    vec![
        entry::<trend::TrendObserved>("trend", T::ALL, "TrendObserved"),
        entry::<trend::TrendRetired>("trend", T::ALL, "TrendRetired"),
        entry::<trend::TrendIdeated>("trend", T::ALL, "TrendIdeated"),
        entry::<trend::TrendIdeasRequested>("trend", T::ALL, "TrendIdeasRequested"),
        entry::<idea::IdeaGenerated>("idea", I::ALL, "IdeaGenerated"),
        entry::<idea::IdeaScreened>("idea", I::ALL, "IdeaScreened"),
        entry::<idea::IdeaApproved>("idea", I::ALL, "IdeaApproved"),
        entry::<idea::IdeaRejected>("idea", I::ALL, "IdeaRejected"),
        entry::<design::DesignRequested>("design", D::ALL, "DesignRequested"),
        entry::<design::DesignRendered>("design", D::ALL, "DesignRendered"),
        entry::<design::DesignFailed>("design", D::ALL, "DesignFailed"),
        entry::<design::DesignApproved>("design", D::ALL, "DesignApproved"),
        entry::<design::DesignRejected>("design", D::ALL, "DesignRejected"),
        entry::<design::DesignRegenerationRequested>("design", D::ALL, "DesignRegenerationRequested"),
        entry::<listing::ListingDrafted>("listing", L::ALL, "ListingDrafted"),
        entry::<listing::ListingRevised>("listing", L::ALL, "ListingRevised"),
        entry::<listing::ListingApproved>("listing", L::ALL, "ListingApproved"),
        entry::<listing::ListingSubmitted>("listing", L::ALL, "ListingSubmitted"),
        entry::<listing::ListingPublished>("listing", L::ALL, "ListingPublished"),
        entry::<listing::ListingPublishFailed>("listing", L::ALL, "ListingPublishFailed"),
        entry::<listing::ListingExternalIdRecorded>("listing", L::ALL, "ListingExternalIdRecorded"),
        entry::<listing::ListingPublishRequested>("listing", L::ALL, "ListingPublishRequested"),
        entry::<listing::ListingProductStarted>("listing", L::ALL, "ListingProductStarted"),
        entry::<listing::ListingMarketplaceStateChanged>("listing", L::ALL, "ListingMarketplaceStateChanged"),
        entry::<shop::ShopConnected>("shop", S::ALL, "ShopConnected"),
        entry::<shop::ShopTokenRefreshed>("shop", S::ALL, "ShopTokenRefreshed"),
        entry::<shop::ShopDisconnected>("shop", S::ALL, "ShopDisconnected"),
        entry::<shop::ShopNeedsReconnect>("shop", S::ALL, "ShopNeedsReconnect"),
        entry::<shop::ShopListingDefaultsChosen>("shop", S::ALL, "ShopListingDefaultsChosen"),
        entry::<source::SourceRefreshed>("source", source::SourceEvent::ALL, "SourceRefreshed"),
        entry::<budget::CostRecorded>("budget", B::ALL, "CostRecorded"),
        entry::<budget::BudgetExhausted>("budget", B::ALL, "BudgetExhausted"),
        entry::<order::OrderReceived>("order", O::ALL, "OrderReceived"),
        entry::<order::OrderPaid>("order", O::ALL, "OrderPaid"),
        entry::<order::OrderShipped>("order", O::ALL, "OrderShipped"),
        entry::<order::OrderCancelled>("order", O::ALL, "OrderCancelled"),
    ]
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_event_type_has_a_schema() {
        use crate::domain::*;
        let all = super::all();
        let declared: usize = [
            trend::TrendEvent::ALL.len(),
            idea::IdeaEvent::ALL.len(),
            design::DesignEvent::ALL.len(),
            listing::ListingEvent::ALL.len(),
            shop::ShopEvent::ALL.len(),
            order::OrderEvent::ALL.len(),
            budget::BudgetEvent::ALL.len(),
            source::SourceEvent::ALL.len(),
        ]
        .iter()
        .sum();
        assert_eq!(all.len(), declared);
        for s in &all {
            assert!(s.version >= 1, "{} has no version", s.event_type);
            assert!(s.schema.get("properties").is_some(), "{} schema has no properties", s.event_type);
        }
        let obs = all.iter().find(|s| s.event_type == "TrendObserved").unwrap();
        assert_eq!(obs.version, 2);
    }
}
