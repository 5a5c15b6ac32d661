use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use pod_projections::{Projector, RunOptions, projection_named};

use crate::support::*;

/// A reader polling the trend model during a rebuild only ever sees the
/// complete model: the old one before the swap, the new one after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_never_see_a_partial_model_during_rebuild() {
    let env = Env::new().await;
    let events = append_trends(&env, 40, 600, 5).await;
    let projector =
        Projector::new(env.pool.clone(), env.client.clone(), env.ns.clone(), projection_named("trends").unwrap());
    let options = RunOptions { stop_when_idle: true, ..Default::default() };
    assert_eq!(projector.run(&options, std::future::pending()).await.unwrap(), events);

    let expected: (i64, i64, i64) = (40, events as i64, events as i64);
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let pool = env.pool.clone();
        let done = done.clone();
        tokio::spawn(async move {
            let mut polls = 0u64;
            while !done.load(Ordering::SeqCst) {
                let seen: (i64, i64, i64) = sqlx::query_as(
                    "SELECT (SELECT count(*) FROM trends), (SELECT coalesce(sum(observations), 0)::bigint FROM trends),
                            (SELECT count(*) FROM trend_observations)",
                )
                .fetch_one(&pool)
                .await
                .expect("reads keep working during a rebuild");
                assert_eq!(seen, expected, "poll {polls} saw a partial model");
                polls += 1;
            }
            polls
        })
    };
    let p = projection_named("trends").unwrap();
    let report =
        pod_projections::rebuild::rebuild(&env.pool, env.client.clone(), &env.ns, p.as_ref(), 200).await.unwrap();
    // Keep reading a moment after the swap.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    done.store(true, Ordering::SeqCst);
    let polls = reader.await.unwrap();
    assert!(polls > 10, "the reader polled during the rebuild ({polls} polls)");
    assert_eq!(report.events, events);
    let generation: i32 =
        sqlx::query_scalar("SELECT generation FROM projection_checkpoints WHERE projection = 'trends'")
            .fetch_one(&env.pool)
            .await
            .unwrap();
    assert_eq!(generation, 2, "the swap bumped the generation");
    // The live projector carries on from the swapped checkpoint without re-applying.
    assert_eq!(projector.run(&options, std::future::pending()).await.unwrap(), 0);
}

/// A rebuild that cannot reach what the live model already holds refuses to
/// swap, and leaves the live model as it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebuild_that_falls_short_of_the_live_model_does_not_swap() {
    let env = Env::new().await;
    let events = append_trends(&env, 5, 20, 2).await;
    let projector =
        Projector::new(env.pool.clone(), env.client.clone(), env.ns.clone(), projection_named("trends").unwrap());
    let options = RunOptions { stop_when_idle: true, ..Default::default() };
    assert_eq!(projector.run(&options, std::future::pending()).await.unwrap(), events);
    let before = env.dump("trends", "tenant, trend_id").await;
    // Pretend the live model has seen far more than the log holds.
    sqlx::query("UPDATE projection_checkpoints SET last_seq = 1000000 WHERE projection = 'trends'")
        .execute(&env.pool)
        .await
        .unwrap();
    let p = projection_named("trends").unwrap();
    let err =
        pod_projections::rebuild::rebuild(&env.pool, env.client.clone(), &env.ns, p.as_ref(), 100).await.unwrap_err();
    assert!(matches!(err, pod_projections::ProjectionError::Rebuild { .. }), "{err}");
    assert_eq!(env.dump("trends", "tenant, trend_id").await, before);
    let generation: i32 =
        sqlx::query_scalar("SELECT generation FROM projection_checkpoints WHERE projection = 'trends'")
            .fetch_one(&env.pool)
            .await
            .unwrap();
    assert_eq!(generation, 1, "nothing was swapped");
    let shadow: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'rebuild_trends')")
            .fetch_one(&env.pool)
            .await
            .unwrap();
    assert!(!shadow, "the half-built shadow schema was removed");
}
