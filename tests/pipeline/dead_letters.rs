use std::time::Duration;

use crate::common::*;

/// A stage that cannot do its job moves the events to the dead letters,
/// where `pod dlq list` shows them with the error; once the cause is fixed,
/// `pod dlq retry` sends them back and the pipeline completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_are_listed_retried_and_discarded_from_the_cli() {
    let mut p = Pipeline::new().await;
    for stage in ["ideation", "screening", "designs"] {
        p.spawn(stage, &["worker", stage]);
    }
    p.spawn("projections", &["projections", "run"]);
    // A margin the fees make impossible: every listing is refused.
    p.set("POD__WORKERS__PRICING__TARGET_MARGIN", "0.95");
    p.spawn("listings", &["worker", "listings"]);
    let fixture = p.write_fixture("trends.csv", "keyword,score\ncat mom,88\n");
    p.run(&["trends", "import", fixture.to_str().unwrap(), "--tenant", "acme"]);
    p.wait_for(
        "rendered designs",
        "SELECT count(*) FROM designs WHERE status = 'rendered'",
        3,
        Duration::from_secs(120),
    )
    .await;

    let mut letters = serde_json::Value::Null;
    for _ in 0..150 {
        let out = p.run(&["dlq", "list", "--json"]);
        letters = serde_json::from_slice(&out.stdout).unwrap();
        if letters.as_array().is_some_and(|a| a.len() == 3) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let list = letters.as_array().expect("a JSON array");
    assert_eq!(list.len(), 3, "{letters:#}");
    for l in list {
        assert_eq!(l["worker"], "listings");
        assert_eq!(l["event_type"], "DesignRendered");
        assert_eq!(l["tenant"], "acme");
        assert!(l["error"].as_str().unwrap().contains("lower the margin"), "{l}");
    }
    assert_eq!(p.count("SELECT count(*) FROM listings").await, 0);

    // Fix the cause, restart the stage, retry two and discard one.
    p.kill("listings");
    p.set("POD__WORKERS__PRICING__TARGET_MARGIN", "0.3");
    p.spawn("listings", &["worker", "listings"]);
    let seq = |i: usize| list[i]["dlq_seq"].as_u64().unwrap().to_string();
    let out = p.run(&["dlq", "retry", &seq(0), &seq(1)]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 2);
    p.run(&["dlq", "discard", &seq(2)]);
    p.wait_for("listings", "SELECT count(*) FROM listings", 2, Duration::from_secs(60)).await;
    let left = p.run(&["dlq", "list", "--json"]);
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&left.stdout).unwrap(), serde_json::json!([]));

    // Asking for a letter that is not there is a clear error, not a panic.
    let missing = p.command(&["dlq", "retry", &seq(2)]).output().unwrap();
    assert!(!missing.status.success());
    let err = String::from_utf8_lossy(&missing.stderr);
    assert!(err.contains(&format!("no dead letter has sequence {}", seq(2))), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}
