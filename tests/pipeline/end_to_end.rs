use std::time::Duration;

use pod_events::domain::listing_text::{Title, parse_tags};

use crate::common::*;

/// A trend source served on 127.0.0.1 is polled by the trends worker;
/// stored, print-ready PNGs and Etsy-valid draft listings come out, each of
/// the five stages in its own process, all through events.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trend_source_becomes_draft_listings_with_stored_artwork() {
    let mut p = Pipeline::new().await;
    let app = axum::Router::new().route("/trends.csv", axum::routing::get(|| async { FIXTURE }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let config = p.write_fixture(
        "pod.toml",
        &format!(
            "[workers.trends]\ntenant = \"acme\"\n\n[[workers.trends.sources]]\nname = \"fixture-list\"\n\
             kind = \"csv\"\nurl = \"http://{addr}/trends.csv\"\n"
        ),
    );
    p.set("POD_CONFIG", config.to_str().unwrap());
    p.start_all();
    p.spawn("trends", &["worker", "trends"]);

    // 4 trends reach the score: 12 ideas; Disney's 3 screen red; 9 designs, 9 listings.
    p.wait_for("listings", "SELECT count(*) FROM listings", 9, Duration::from_secs(180)).await;
    // Each read model is its own projection, at its own pace: the designs
    // projection may still be applying the renders the listings came from.
    p.wait_for("designs", "SELECT count(*) FROM designs WHERE status = 'rendered'", 9, Duration::from_secs(60)).await;

    assert_eq!(p.count("SELECT count(*) FROM trends WHERE ideas = 3").await, 4);
    assert_eq!(p.count("SELECT count(*) FROM trends WHERE keyword = 'quantum chromodynamics' AND ideas = 0").await, 1);
    assert_eq!(p.count("SELECT count(*) FROM ideas").await, 12);
    assert_eq!(p.count("SELECT count(*) FROM ideas WHERE verdict = 'red' AND status = 'screened'").await, 3);
    assert_eq!(p.count("SELECT count(*) FROM ideas WHERE verdict = 'red' AND phrase ILIKE '%disney%'").await, 3);
    assert_eq!(p.count("SELECT count(*) FROM ideas WHERE verdict = 'green' AND status = 'approved'").await, 9);
    assert_eq!(p.count("SELECT count(*) FROM designs WHERE status = 'rendered'").await, 9);
    // The composed text was screened too, and is clean.
    assert_eq!(p.count("SELECT count(*) FROM listings WHERE verdict = 'green'").await, 9);

    // Every artwork is in the blob store, as the event says: checksum, size, dimensions, 300 DPI.
    let designs: Vec<(String, i32, i32, serde_json::Value, serde_json::Value)> =
        sqlx::query_as("SELECT product_type, width, height, artwork, preview FROM designs")
            .fetch_all(&p.env.pool)
            .await
            .unwrap();
    for (product, width, height, artwork, preview) in designs {
        let key = artwork["key"].as_str().unwrap();
        let path = p.assets.join(key);
        assert_eq!(sha256_file(&path), artwork["sha256"].as_str().unwrap(), "{key}");
        assert_eq!(std::fs::metadata(&path).unwrap().len(), artwork["bytes"].as_u64().unwrap());
        let reader =
            png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&path).unwrap())).read_info().unwrap();
        let info = reader.info();
        assert_eq!((info.width as i32, info.height as i32), (width, height), "{product}");
        assert_eq!(info.color_type, png::ColorType::Rgba, "transparent artwork");
        assert_eq!(info.pixel_dims.map(|d| d.xppu), Some(11811), "300 DPI");
        let expected = pod_workers::designs::print_area(&product);
        assert_eq!((width as u32, height as u32), (expected.width, expected.height), "{product}");
        assert!(p.assets.join(preview["key"].as_str().unwrap()).is_file());
    }

    // Every listing obeys Etsy's rules and carries a price and an SEO audit.
    let listings: Vec<(String, Vec<String>, i64, i32, serde_json::Value, String)> =
        sqlx::query_as("SELECT title, tags, price_cents, seo_score, seo_checks, description FROM listings")
            .fetch_all(&p.env.pool)
            .await
            .unwrap();
    for (title, tags, price, score, checks, description) in listings {
        Title::parse(&title).unwrap_or_else(|e| panic!("{title:?}: {e}"));
        parse_tags(&tags).unwrap_or_else(|e| panic!("{tags:?}: {e}"));
        assert!(tags.len() >= 12, "{tags:?}");
        assert!(price > 0 && price % 100 == 99, "{price}");
        assert!(score > 0 && checks.as_array().is_some_and(|c| c.len() == 8), "{score} {checks}");
        assert!(description.contains("created with the help of AI"), "{description}");
    }

    // All of it travelled as events, each exactly once.
    let sources: Vec<String> =
        sqlx::query_scalar("SELECT DISTINCT source FROM trend_observations").fetch_all(&p.env.pool).await.unwrap();
    assert_eq!(sources, ["fixture"], "provenance: the source column of the list");
    // The refresh left its audit.
    let audit: (String, Option<String>, i64, i64, i64, String) = sqlx::query_as(
        "SELECT source, used, collected, persisted, blocked, breaker FROM source_refreshes WHERE tenant = 'acme'",
    )
    .fetch_one(&p.env.pool)
    .await
    .unwrap();
    assert_eq!(audit.0, "fixture-list");
    assert!(audit.1.as_deref().is_some_and(|u| u.ends_with("/trends.csv")), "{audit:?}");
    assert_eq!((audit.2, audit.3, audit.4, audit.5.as_str()), (5, 5, 0, "closed"));
    for (event_type, n) in [
        ("TrendObserved", 5),
        ("TrendIdeated", 4),
        ("IdeaGenerated", 12),
        ("IdeaScreened", 12),
        ("IdeaApproved", 9),
        ("DesignRequested", 9),
        ("DesignRendered", 9),
        ("ListingDrafted", 9),
    ] {
        let got: i64 = sqlx::query_scalar("SELECT count(*) FROM activity WHERE event_type = $1")
            .bind(event_type)
            .fetch_one(&p.env.pool)
            .await
            .unwrap();
        assert_eq!(got, n, "{event_type}");
    }

    // Another take of one design: the designs worker renders it again in the
    // next layout; the listing keeps its text and shows the new artwork.
    let (design, tenant, layout, old_key): (uuid::Uuid, String, String, String) =
        sqlx::query_as("SELECT design_id, tenant, layout, artwork->>'key' FROM designs ORDER BY design_id LIMIT 1")
            .fetch_one(&p.env.pool)
            .await
            .unwrap();
    let config = pod_events::store::StoreConfig { namespace: p.env.ns.clone(), ..Default::default() };
    let designs = pod_events::store::CommandBus::new(
        pod_events::store::JetStreamStore::<pod_events::domain::design::Design>::open(p.env.client.clone(), config)
            .await
            .unwrap(),
        (),
    );
    let id = pod_events::AggregateId::new(pod_events::TenantId::parse(tenant).unwrap(), design);
    let by = pod_events::domain::Actor::User { user_id: uuid::Uuid::nil() };
    let again = pod_events::domain::design::DesignCommand::Regenerate { by, layout: None, palette: None };
    designs.execute(&id, again, &pod_events::EventMeta::new_command()).await.unwrap();
    p.wait_for(
        "the second render",
        "SELECT count(*) FROM activity WHERE event_type = 'DesignRendered'",
        10,
        Duration::from_secs(120),
    )
    .await;
    p.wait_for(
        "the design rendered again",
        "SELECT count(*) FROM designs WHERE status = 'rendered'",
        9,
        Duration::from_secs(60),
    )
    .await;
    let (new_layout, new_key, status): (String, String, String) =
        sqlx::query_as("SELECT layout, artwork->>'key', status FROM designs WHERE design_id = $1")
            .bind(design)
            .fetch_one(&p.env.pool)
            .await
            .unwrap();
    assert_eq!(status, "rendered");
    assert_ne!(new_layout, layout, "another layout");
    assert_ne!(new_key, old_key, "new artwork, stored under its own content key");
    assert!(p.assets.join(&new_key).exists(), "the new artwork is stored");
    assert_eq!(p.count("SELECT count(*) FROM listings").await, 9, "no second listing for the same design");

    // The whole import is one pipeline run: every stage's events counted under it.
    p.wait_for(
        "the import's run",
        "SELECT count(*) FROM pipeline_runs WHERE source = 'fixture' AND observations = 5 AND ideas = 12
                AND ideas_red = 3 AND designs >= 9 AND listings = 9",
        1,
        Duration::from_secs(60),
    )
    .await;

    // A listing approved and submitted as a dry run: the publishing worker
    // checks it (text, screening, the stored artwork) and records it published.
    let config = pod_events::store::StoreConfig { namespace: p.env.ns.clone(), ..Default::default() };
    let listings = pod_events::store::CommandBus::new(
        pod_events::store::JetStreamStore::<pod_events::domain::listing::Listing>::open(
            p.env.client.clone(),
            config.clone(),
        )
        .await
        .unwrap(),
        (),
    );
    let (listing, tenant): (uuid::Uuid, String) =
        sqlx::query_as("SELECT listing_id, tenant FROM listings ORDER BY listing_id LIMIT 1")
            .fetch_one(&p.env.pool)
            .await
            .unwrap();
    let listing = pod_events::AggregateId::new(pod_events::TenantId::parse(tenant.clone()).unwrap(), listing);
    let person = pod_events::domain::Actor::User { user_id: uuid::Uuid::nil() };
    use pod_events::domain::listing::ListingCommand;
    for command in [
        ListingCommand::Approve { by: person.clone() },
        ListingCommand::Submit { by: person.clone(), shop_id: None, dry_run: true },
    ] {
        listings.execute(&listing, command, &pod_events::EventMeta::new_command()).await.unwrap();
    }
    p.wait_for(
        "the dry run",
        "SELECT count(*) FROM listings WHERE status = 'published' AND dry_run AND published_at IS NOT NULL",
        1,
        Duration::from_secs(60),
    )
    .await;

    // A new idea in place of a red one: one more idea from its trend, and
    // the red one rejected once the new one exists.
    let (red, trend): (uuid::Uuid, uuid::Uuid) =
        sqlx::query_as("SELECT idea_id, trend_id FROM ideas WHERE verdict = 'red' ORDER BY idea_id LIMIT 1")
            .fetch_one(&p.env.pool)
            .await
            .unwrap();
    let trends = pod_events::store::CommandBus::new(
        pod_events::store::JetStreamStore::<pod_events::domain::trend::Trend>::open(p.env.client.clone(), config)
            .await
            .unwrap(),
        (),
    );
    let trend_id = pod_events::AggregateId::new(pod_events::TenantId::parse(tenant).unwrap(), trend);
    let replace = pod_events::domain::trend::TrendCommand::RequestIdeas { count: 1, replacing: Some(red), by: person };
    trends.execute(&trend_id, replace, &pod_events::EventMeta::new_command()).await.unwrap();
    p.wait_for("the replacement", "SELECT count(*) FROM ideas", 13, Duration::from_secs(60)).await;
    p.wait_for(
        "the red idea stepping aside",
        "SELECT count(*) FROM ideas WHERE status = 'rejected'",
        1,
        Duration::from_secs(60),
    )
    .await;
    let rejected: uuid::Uuid =
        sqlx::query_scalar("SELECT idea_id FROM ideas WHERE status = 'rejected'").fetch_one(&p.env.pool).await.unwrap();
    assert_eq!(rejected, red);

    let dead = p.run(&["dlq", "list", "--json"]);
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&dead.stdout).unwrap(), serde_json::json!([]));
}
