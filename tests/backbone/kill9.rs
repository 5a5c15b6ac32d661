use std::time::Duration;

use rand::Rng;

use crate::support::*;

/// While 10,000 events are appended, two projector processes run — one
/// active, one standby behind the leader lock — and one of them, chosen at
/// random, is killed with SIGKILL at random moments (≥ 20 times) and
/// restarted, so the standby keeps taking over mid-stream. Afterwards the
/// read models equal, row for row, those of a clean rebuild.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn projections_are_effectively_once_under_kill_9() {
    let env = Env::new().await;
    let args = ["projections", "run", "trends", "activity", "--batch-size", "250"];
    // 2,000 commands × 5 observations, appended while the killer works.
    let appender = append_trends(&env, 150, 2000, 5);
    let killer = async {
        let mut kills = 0;
        let mut checkpoints = Vec::new();
        let mut children = [env.spawn_pod(&args), env.spawn_pod(&args)];
        // Keep killing until the appender is done and we have killed enough.
        loop {
            let wait = rand::rng().random_range(50..400);
            tokio::time::sleep(Duration::from_millis(wait)).await;
            let victim = rand::rng().random_range(0..2);
            children[victim].kill().expect("SIGKILL"); // Child::kill sends SIGKILL on Unix
            children[victim].wait().expect("reaping the projector");
            kills += 1;
            let cp: Option<i64> =
                sqlx::query_scalar("SELECT last_seq FROM projection_checkpoints WHERE projection = 'trends'")
                    .fetch_optional(&env.pool)
                    .await
                    .unwrap();
            checkpoints.push(cp.unwrap_or(0));
            if kills >= 20 && APPENDED.load(std::sync::atomic::Ordering::SeqCst) {
                break;
            }
            children[victim] = env.spawn_pod(&args);
        }
        for mut c in children {
            let _ = c.kill();
            let _ = c.wait();
        }
        (kills, checkpoints)
    };
    let (appended, (kills, checkpoints)) = tokio::join!(
        async {
            let n = appender.await;
            APPENDED.store(true, std::sync::atomic::Ordering::SeqCst);
            n
        },
        killer
    );
    assert_eq!(appended, 10_000);
    assert!(kills >= 20, "killed {kills} times");
    // The kills landed while work was going on, not only around start-up.
    let mut progress = checkpoints.clone();
    progress.dedup();
    assert!(progress.len() >= 5, "the checkpoint moved between kills only {} times: {checkpoints:?}", progress.len());
    assert!(checkpoints.windows(2).all(|w| w[0] <= w[1]), "the checkpoint never goes back: {checkpoints:?}");

    // Let the last instance finish the tail.
    env.run_pod(&["projections", "run", "trends", "activity", "--until-caught-up"]);
    let status = env.run_pod(&["projections", "status", "--json"]);
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    for name in ["trends", "activity"] {
        let row = status.as_array().unwrap().iter().find(|r| r["projection"] == name).unwrap();
        assert_eq!(row["lag_seq"], 0, "{name} caught up: {row}");
        assert_eq!(row["pending_events"], 0, "{name} has nothing pending: {row}");
        assert_eq!(row["checkpoint"], row["stream_last_seq"]);
    }
    let ideas = status.as_array().unwrap().iter().find(|r| r["projection"] == "ideas").unwrap();
    assert_eq!(ideas["checkpoint"], 0, "the ideas projection never ran: {ideas}");
    let trends = env.dump("trends", "tenant, trend_id").await;
    let observations = env.dump("trend_observations", "stream_seq").await;
    let activity = env.dump("activity", "tenant, stream_seq").await;
    assert_eq!(observations.len(), 10_000, "every observation projected once");
    assert_eq!(activity.len(), 10_000, "every event in the activity feed once");
    let total: i64 = trends.iter().map(|t| t["observations"].as_i64().unwrap()).sum();
    assert_eq!(total, 10_000, "trend totals count each observation once");

    // A clean rebuild gives the same rows.
    env.run_pod(&["projections", "rebuild", "trends"]);
    env.run_pod(&["projections", "rebuild", "activity"]);
    assert_eq!(env.dump("trends", "tenant, trend_id").await, trends);
    assert_eq!(env.dump("trend_observations", "stream_seq").await, observations);
    assert_eq!(env.dump("activity", "tenant, stream_seq").await, activity);
}

static APPENDED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
