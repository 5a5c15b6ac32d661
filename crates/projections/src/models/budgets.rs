//! `budget_months`: each tenant's spending on paid provider calls per month.

use futures::future::BoxFuture;
use pod_events::RecordedEvent;
use pod_events::domain::budget::BudgetEvent;
use sqlx::PgConnection;

use super::{ApplyError, Projection, decode, uuid_of};

pub struct Budgets;

async fn apply(tx: &mut PgConnection, events: &[RecordedEvent]) -> Result<(), ApplyError> {
    for e in events {
        let id = uuid_of(e)?;
        let v = e.aggregate_seq as i64;
        match decode::<BudgetEvent>(e)? {
            BudgetEvent::CostRecorded(c) => {
                let (chat, image) = match c.what.as_str() {
                    "chat" => (c.cost_micros as i64, 0),
                    "image" => (0, c.cost_micros as i64),
                    _ => (0, 0),
                };
                sqlx::query(
                    "INSERT INTO budget_months AS b (tenant, budget_id, month, total_micros, calls, chat_micros,
                                                  image_micros, updated_at, version)
                     VALUES ($1, $2, to_char($3 AT TIME ZONE 'UTC', 'YYYY-MM'), $4, 1, $5, $6, $3, $7)
                     ON CONFLICT (tenant, budget_id) DO UPDATE SET
                        total_micros = excluded.total_micros, calls = b.calls + 1,
                        chat_micros = b.chat_micros + excluded.chat_micros,
                        image_micros = b.image_micros + excluded.image_micros,
                        updated_at = excluded.updated_at, version = excluded.version",
                )
                .bind(&e.tenant)
                .bind(id)
                .bind(e.occurred_at)
                .bind(c.total_micros as i64)
                .bind(chat)
                .bind(image)
                .bind(v)
                .execute(&mut *tx)
                .await?;
            }
            BudgetEvent::BudgetExhausted(x) => {
                sqlx::query(
                    "UPDATE budget_months SET exhausted_at = $3, limit_micros = $4, version = $5
                     WHERE tenant = $1 AND budget_id = $2",
                )
                .bind(&e.tenant)
                .bind(id)
                .bind(e.occurred_at)
                .bind(x.limit_micros as i64)
                .bind(v)
                .execute(&mut *tx)
                .await?;
            }
        }
    }
    Ok(())
}

impl Projection for Budgets {
    fn name(&self) -> &'static str {
        "budgets"
    }
    fn aggregate_types(&self) -> &'static [&'static str] {
        &["budget"]
    }
    fn tables(&self) -> &'static [&'static str] {
        &["budget_months"]
    }
    fn apply<'a>(
        &'a self,
        tx: &'a mut PgConnection,
        events: &'a [RecordedEvent],
    ) -> BoxFuture<'a, Result<(), ApplyError>> {
        Box::pin(apply(tx, events))
    }
}
