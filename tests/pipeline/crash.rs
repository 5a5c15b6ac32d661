use std::time::Duration;

use rand::Rng;

use crate::common::*;

const KEYWORDS: [&str; 12] = [
    "cat mom",
    "dog dad",
    "nurse life",
    "teacher",
    "pickleball",
    "fishing",
    "camping",
    "gardening",
    "grandma",
    "coffee",
    "yoga",
    "hiking",
];

/// Worker processes are killed with SIGKILL at random moments mid-run and
/// restarted; the run still completes with every idea, design and listing
/// made exactly once, no dead letters, and nothing left in flight.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_workers_resume_without_duplicates_or_losses() {
    let mut p = Pipeline::new().await;
    let csv: String = std::iter::once("keyword,score".to_owned())
        .chain(KEYWORDS.iter().enumerate().map(|(i, k)| format!("{k},{}", 60 + i * 3)))
        .collect::<Vec<_>>()
        .join("\n");
    let fixture = p.write_fixture("trends.csv", &csv);
    p.start_all();
    p.run(&["trends", "import", fixture.to_str().unwrap(), "--tenant", "acme"]);

    let want = (KEYWORDS.len() * 3) as i64;
    let mut kills = 0;
    let mut killed_while_working = 0;
    while kills < 8 {
        tokio::time::sleep(Duration::from_millis(rand::rng().random_range(300..1200))).await;
        let stage = STAGES[rand::rng().random_range(0..STAGES.len())];
        let drafted = p.count("SELECT count(*) FROM listings").await;
        p.kill(stage);
        kills += 1;
        if drafted < want {
            killed_while_working += 1;
        }
        p.spawn(stage, &["worker", stage]);
    }
    p.wait_for("listings", "SELECT count(*) FROM listings", want, Duration::from_secs(300)).await;
    // Importing the same list again stores nothing twice.
    let again = p.run(&["trends", "import", fixture.to_str().unwrap(), "--tenant", "acme"]);
    let said = String::from_utf8_lossy(&again.stdout);
    assert!(said.contains("0 observations stored, 12 already stored"), "{said}");
    assert!(killed_while_working >= 3, "only {killed_while_working} of the kills landed mid-run");

    // Exactly once, per event type and per aggregate.
    for (event_type, n) in [
        ("TrendIdeated", KEYWORDS.len() as i64),
        ("IdeaGenerated", want),
        ("IdeaScreened", want),
        ("IdeaApproved", want),
        ("DesignRequested", want),
        ("DesignRendered", want),
        ("ListingDrafted", want),
    ] {
        let got: i64 = sqlx::query_scalar("SELECT count(*) FROM activity WHERE event_type = $1")
            .bind(event_type)
            .fetch_one(&p.env.pool)
            .await
            .unwrap();
        assert_eq!(got, n, "{event_type} after {kills} kills");
    }
    let repeated = p
        .count(
            "SELECT count(*) FROM (SELECT aggregate_id, event_type FROM activity GROUP BY 1, 2 HAVING count(*) > 1) r",
        )
        .await;
    assert_eq!(repeated, 0, "no aggregate got the same event twice");
    assert_eq!(p.count("SELECT count(DISTINCT design_id) FROM listings").await, want);

    // Nothing stuck: no dead letters, and every worker consumer drained and acknowledged.
    let dead = p.run(&["dlq", "list", "--json"]);
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&dead.stdout).unwrap(), serde_json::json!([]));
    // Messages a killed process had received but not acknowledged come back
    // after the consumers' ack_wait (30 s), are found done, and are acked.
    let mut in_flight = p.in_flight().await;
    for _ in 0..250 {
        if in_flight.iter().all(|(_, pending, acks)| *pending == 0 && *acks == 0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        in_flight = p.in_flight().await;
    }
    assert!(in_flight.iter().all(|(_, pending, acks)| *pending == 0 && *acks == 0), "{in_flight:?}");
}
