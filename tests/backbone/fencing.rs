//! Projectors are fenced: while events are appended, two projectors of the
//! same projection run side by side and the leader's PostgreSQL connection is
//! terminated over and over (`pg_terminate_backend`, as a database restart or
//! an idle timeout would). Whoever leads next must neither lose what the
//! deposed leader had pulled nor let the deposed leader commit: afterwards
//! the read model equals, row for row, a rebuild from the log.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use pod_events::domain::trend::TrendCommand;
use pod_events::store::CommandBus;
use pod_events::{AggregateId, EventMeta, TenantId};
use pod_projections::{Projector, RunOptions, projection_named};
use rand::Rng;

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deposed_projector_loses_nothing_and_commits_nothing() {
    let env = Env::new().await;
    let options = RunOptions {
        batch_size: 50,
        idle_wait: Duration::from_millis(200),
        lease: Duration::from_secs(2),
        standby_poll: Duration::from_millis(100),
        restart_min: Duration::from_millis(100),
        restart_max: Duration::from_millis(800),
        ..Default::default()
    };
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let projectors: Vec<_> = (0..2)
        .map(|_| {
            let p = Projector::new(
                env.pool.clone(),
                env.client.clone(),
                env.ns.clone(),
                projection_named("trends").unwrap(),
            );
            let (options, mut stop) = (options.clone(), stop_rx.clone());
            tokio::spawn(async move {
                p.run_supervised(&options, async move {
                    let _ = stop.wait_for(|v| *v).await;
                })
                .await
            })
        })
        .collect();

    let appended = Arc::new(AtomicBool::new(false));
    // In bursts with pauses, so the leader is often idle, waiting on a pull,
    // when its connection goes: the moment a deposed leader may still take
    // deliveries it will never apply.
    let appender = async {
        let bus = CommandBus::new(env.store().await, ());
        let mut n = 0u64;
        for burst in 0..40u64 {
            for c in 0..15u64 {
                let i = burst * 15 + c;
                let tenant = TenantId::parse(if i % 4 == 0 { "beta" } else { "acme" }).unwrap();
                let keyword = format!("keyword {}", i % 60);
                let cmd = TrendCommand::ObserveMany {
                    keyword: keyword.clone(),
                    niche: "pets".into(),
                    product_types: vec!["t-shirt".into()],
                    observations: (0..4).map(|k| observation(i * 4 + k)).collect(),
                };
                let id = AggregateId::derived(tenant, "trend", &keyword);
                bus.execute(&id, cmd, &EventMeta::with_command_id(format!("burst-{i}"))).await.unwrap();
                n += 4;
            }
            tokio::time::sleep(Duration::from_millis(rand::rng().random_range(50..350))).await;
        }
        appended.store(true, Ordering::SeqCst);
        n
    };
    let killer = async {
        let mut terminated = 0u64;
        let mut rounds = 0;
        while rounds < 30 || !appended.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(rand::rng().random_range(50..300))).await;
            let n: i64 = sqlx::query_scalar(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                 WHERE datname = current_database() AND application_name = 'pod-projection-trends'",
            )
            .fetch_one(&env.pool)
            .await
            .unwrap();
            terminated += n as u64;
            rounds += 1;
        }
        terminated
    };
    let (n, terminated) = tokio::join!(appender, killer);
    assert_eq!(n, 2400);
    assert!(terminated >= 20, "only {terminated} leader connections were terminated");

    // Let whoever leads now catch up with the log.
    let js = async_nats::jetstream::new(env.client.clone());
    let last = js.get_stream(env.ns.events_stream()).await.unwrap().info().await.unwrap().state.last_sequence;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let cp: i64 = sqlx::query_scalar("SELECT last_seq FROM projection_checkpoints WHERE projection = 'trends'")
            .fetch_one(&env.pool)
            .await
            .unwrap();
        if cp as u64 >= last {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the projection did not catch up: {cp} of {last}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let _ = stop_tx.send(true);
    for p in projectors {
        p.await.unwrap();
    }

    // Leadership changed hands, and each commit carried its leader's epoch.
    let epoch: i64 = sqlx::query_scalar("SELECT epoch FROM projection_leases WHERE projection = 'trends'")
        .fetch_one(&env.pool)
        .await
        .unwrap();
    assert!(epoch > 5, "the lease changed hands only {epoch} times");

    let live_trends = env.dump("trends", "tenant, trend_id").await;
    let live_observations = env.dump("trend_observations", "tenant, trend_id, observed_at, stream_seq").await;
    assert_eq!(live_observations.len(), 2400, "every observation is in the read model once");
    env.run_pod(&["projections", "rebuild", "trends"]);
    assert_eq!(env.dump("trends", "tenant, trend_id").await, live_trends);
    assert_eq!(env.dump("trend_observations", "tenant, trend_id, observed_at, stream_seq").await, live_observations);
}
