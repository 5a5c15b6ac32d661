use chrono::{DateTime, Duration, Utc};
use pod_events::domain::trend::{Observation, TrendCommand};
use pod_events::store::CommandBus;
use pod_events::{AggregateId, EventMeta, TenantId};
use pod_projections::read::trends::{momentum, seasonality};

use crate::support::*;

fn obs(at: DateTime<Utc>, score: f64) -> Observation {
    Observation {
        source: "fixture".into(),
        observed_at: at,
        rank: None,
        volume: None,
        score,
        estimated: false,
        confidence: 0.9,
    }
}

/// Momentum and seasonality come from the projected observations: a riser,
/// a faller, a Christmas trend with two years of history, and a newcomer
/// with too little history to call seasonal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn momentum_and_seasonality_from_projected_observations() {
    let env = Env::new().await;
    let bus = CommandBus::new(env.store().await, ());
    let acme = TenantId::parse("acme").unwrap();
    let end = DateTime::parse_from_rfc3339("2026-11-27T00:00:00Z").unwrap().to_utc();
    let day = |d: i64| end - Duration::days(d);
    let observe = async |kw: &str, points: Vec<Observation>| {
        let id = AggregateId::derived(acme.clone(), "trend", kw);
        let cmd = TrendCommand::ObserveMany {
            keyword: kw.into(),
            niche: "pets".into(),
            product_types: vec![],
            observations: points,
        };
        bus.execute(&id, cmd, &EventMeta::new_command()).await.unwrap();
        id
    };
    // Rising: 40 two weeks ago, 60 this week (+50 %); 30 a month before that.
    let rising = observe(
        "cat mom",
        (0..14)
            .map(|d| obs(day(d), if d < 7 { 60.0 } else { 40.0 }))
            .chain((31..60).map(|d| obs(day(d), 30.0)))
            .collect(),
    )
    .await;
    // Falling: 80 → 40 (−50 %).
    let falling = observe("dog dad", (0..14).map(|d| obs(day(d), if d < 7 { 40.0 } else { 80.0 })).collect()).await;
    // Christmas: two years, weekly, peaking in December.
    let xmas: Vec<Observation> = (0..104)
        .map(|w| {
            let at = day(w * 7);
            let month = at.format("%m").to_string();
            obs(
                at,
                if month == "12" {
                    95.0
                } else if month == "11" {
                    60.0
                } else {
                    10.0
                },
            )
        })
        .collect();
    let christmas = observe("ugly christmas sweater", xmas).await;
    env.run_pod(&["projections", "run", "trends", "--until-caught-up"]);

    let m = momentum(&env.pool, &acme, 10).await.unwrap();
    assert_eq!(m[0].trend_id, rising.id, "the fastest riser first: {m:#?}");
    let close = |a: Option<f64>, b: f64| a.is_some_and(|a| (a - b).abs() < 1e-9);
    assert!(close(m[0].growth_7d, 0.5), "{:?}", m[0]);
    let f = m.iter().find(|r| r.trend_id == falling.id).unwrap();
    assert!(close(f.growth_7d, -0.5), "{f:?}");
    assert_eq!(f.growth_30d, None, "no observations before 30 days: no 30-day growth");
    assert!(momentum(&env.pool, &TenantId::parse("beta").unwrap(), 10).await.unwrap().is_empty(), "tenants never mix");

    let s = seasonality(&env.pool, &acme, christmas.id).await.unwrap().expect("two years of history");
    assert_eq!(s.peak_month, 12);
    assert_eq!(s.years, 2, "two Decembers: the pattern rests on two cycles");
    assert!(s.strength > 1.0, "{s:?}");
    assert_eq!(seasonality(&env.pool, &acme, rising.id).await.unwrap(), None, "two months are not a season");
}

/// Paid calls' costs add up per tenant and month, with the moment the
/// budget ran out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn budgets_add_up_per_tenant_and_month() {
    use pod_events::domain::budget::{Budget, BudgetCommand};
    let env = Env::new().await;
    let config = pod_events::store::StoreConfig { namespace: env.ns.clone(), snapshot_every: 0, cache_capacity: 10 };
    let bus = CommandBus::new(
        pod_events::store::JetStreamStore::<Budget>::open(env.client.clone(), config).await.unwrap(),
        (),
    );
    let acme = TenantId::parse("acme").unwrap();
    let id = AggregateId::derived(acme, "budget", "2026-11");
    for (what, cost) in [("chat", 300_000u64), ("image", 400_000), ("image", 400_000)] {
        let cmd = BudgetCommand::Charge {
            provider: "openai".into(),
            what: what.into(),
            cost_micros: cost,
            limit_micros: 1_000_000,
        };
        bus.execute(&id, cmd, &EventMeta::new_command()).await.unwrap();
    }
    env.run_pod(&["projections", "run", "budgets", "--until-caught-up"]);
    let row: (String, i64, i64, i64, i64, Option<i64>, bool) = sqlx::query_as(
        "SELECT month, total_micros, calls, chat_micros, image_micros, limit_micros, exhausted_at IS NOT NULL
         FROM budget_months WHERE tenant = 'acme'",
    )
    .fetch_one(&env.pool)
    .await
    .unwrap();
    let month = chrono::Utc::now().format("%Y-%m").to_string();
    assert_eq!(row, (month, 1_100_000, 3, 300_000, 800_000, Some(1_000_000), true));
}
