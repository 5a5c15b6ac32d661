//! Budget: what a tenant's paid provider calls (OpenAI chat and images)
//! cost in one calendar month, against the limit configured for it. One
//! aggregate per tenant and month (id derived from `YYYY-MM`).
//!
//! Every charge is an event; crossing the limit adds `BudgetExhausted`,
//! which announces the pause. The pause itself is [`Budget::allows`]: paid
//! calls wait while the month's total is at or above the configured limit,
//! until the month ends or the limit is raised.

use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::event_enum;
use crate::codec::EventCodec;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CostRecorded {
    /// `openai`.
    pub provider: String,
    /// What was bought: `chat`, `image`.
    pub what: String,
    /// Millionths of a US dollar.
    pub cost_micros: u64,
    /// The month's total after this charge.
    pub total_micros: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BudgetExhausted {
    pub limit_micros: u64,
    pub total_micros: u64,
}

event_enum! {
    /// Events of the Budget aggregate.
    pub enum BudgetEvent {
        CostRecorded(CostRecorded) = 1,
        BudgetExhausted(BudgetExhausted) = 1,
    }
}

impl EventCodec for BudgetEvent {
    const TYPES: &'static [(&'static str, u32)] = Self::ALL;
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum BudgetCommand {
    /// Records a paid call's cost; `limit_micros` is the month's configured limit.
    Charge { provider: String, what: String, cost_micros: u64, limit_micros: u64 },
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum BudgetError {
    #[error("a charge of nothing")]
    ZeroCharge,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Budget {
    pub total_micros: u64,
    /// The limit that was last reached (None: never). A raised limit that
    /// is reached again is announced again.
    pub exhausted_at: Option<u64>,
}

impl Budget {
    /// Whether paid calls may go on under `limit_micros` (0: no limit).
    pub fn allows(&self, limit_micros: u64) -> bool {
        limit_micros == 0 || self.total_micros < limit_micros
    }
}

impl super::StateVersion for Budget {
    const STATE_VERSION: u32 = 1;
}

impl Aggregate for Budget {
    const TYPE: &'static str = "budget";
    type Command = BudgetCommand;
    type Event = BudgetEvent;
    type Error = BudgetError;
    type Services = ();

    async fn handle(&mut self, command: BudgetCommand, _: &(), sink: &EventSink<Self>) -> Result<(), BudgetError> {
        let BudgetCommand::Charge { provider, what, cost_micros, limit_micros } = command;
        if cost_micros == 0 {
            return Err(BudgetError::ZeroCharge);
        }
        let total = self.total_micros.saturating_add(cost_micros);
        sink.write(BudgetEvent::CostRecorded(CostRecorded { provider, what, cost_micros, total_micros: total }), self)
            .await;
        if limit_micros > 0 && total >= limit_micros && self.exhausted_at != Some(limit_micros) {
            sink.write(BudgetEvent::BudgetExhausted(BudgetExhausted { limit_micros, total_micros: total }), self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: BudgetEvent) {
        match event {
            BudgetEvent::CostRecorded(e) => self.total_micros = e.total_micros,
            BudgetEvent::BudgetExhausted(e) => self.exhausted_at = Some(e.limit_micros),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cqrs_es::test::TestFramework;

    type T = TestFramework<Budget>;

    fn charge(cost: u64, limit: u64) -> BudgetCommand {
        BudgetCommand::Charge {
            provider: "openai".into(),
            what: "image".into(),
            cost_micros: cost,
            limit_micros: limit,
        }
    }
    fn recorded(cost: u64, total: u64) -> BudgetEvent {
        BudgetEvent::CostRecorded(CostRecorded {
            provider: "openai".into(),
            what: "image".into(),
            cost_micros: cost,
            total_micros: total,
        })
    }

    fn exhausted(limit: u64, total: u64) -> BudgetEvent {
        BudgetEvent::BudgetExhausted(BudgetExhausted { limit_micros: limit, total_micros: total })
    }

    #[test]
    fn a_charge_is_recorded_with_the_months_total() {
        T::with(()).given_no_previous_events().when(charge(40, 100)).then_expect_events(vec![recorded(40, 40)]);
    }

    #[test]
    fn reaching_the_limit_says_so() {
        T::with(())
            .given(vec![recorded(40, 40)])
            .when(charge(60, 100))
            .then_expect_events(vec![recorded(60, 100), exhausted(100, 100)]);
    }

    #[test]
    fn a_charge_past_the_limit_is_recorded_without_saying_so_again() {
        T::with(())
            .given(vec![recorded(100, 100), exhausted(100, 100)])
            .when(charge(5, 100))
            .then_expect_events(vec![recorded(5, 105)]);
    }

    #[test]
    fn a_raised_limit_reached_again_is_announced_again() {
        T::with(())
            .given(vec![recorded(100, 100), exhausted(100, 100)])
            .when(charge(100, 200))
            .then_expect_events(vec![recorded(100, 200), exhausted(200, 200)]);
    }

    #[test]
    fn a_charge_of_nothing_is_refused() {
        T::with(()).given_no_previous_events().when(charge(0, 100)).then_expect_error(BudgetError::ZeroCharge);
    }

    #[test]
    fn no_limit_means_no_pause() {
        let b = Budget { total_micros: 1_000_000_000, exhausted_at: None };
        assert!(b.allows(0));
        assert!(!b.allows(1_000_000_000));
        assert!(b.allows(1_000_000_001));
    }
}
