//! After the listing: submitting for publishing (dry runs, shops), the
//! publish queue, analytics over orders, pipeline runs, more ideas and
//! replacements, and the dashboard pages that show them.

use axum::http::StatusCode;
use pod_api::auth::Role;
use pod_events::domain::listing::ListingCommand;
use pod_events::domain::order::{LineItem, OrderCommand, OrderPaid, OrderReceived};
use pod_events::domain::shop::{Marketplace, ShopCommand, ShopConnected};
use pod_events::{AggregateId, EventMeta, TenantId};

use crate::support::Api;

impl Api {
    async fn post(&self, uri: &str, body: &str) -> (StatusCode, serde_json::Value) {
        let auth = format!("Bearer {}", self.acme_editor);
        let headers = [("authorization", auth.as_str()), ("content-type", "application/json")];
        let (status, _, text) = self.send("POST", uri, &headers, body.to_owned()).await;
        (status, serde_json::from_str(&text).unwrap_or(serde_json::Value::Null))
    }
    async fn get(&self, uri: &str) -> serde_json::Value {
        let (status, _, body) = self.call("GET", uri, Some(&self.acme_viewer), &[]).await;
        assert_eq!(status, StatusCode::OK, "{uri}: {body}");
        body
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approved_listings_are_submitted_dry_or_to_a_connected_shop_and_queue_up() {
    let api = Api::new().await;
    let listing = api.seeded.acme_listing;
    let submit = format!("/api/v1/listings/{listing}/submit");
    // Not approved yet: refused by the aggregate.
    let (status, body) = api.post(&submit, "").await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("a draft"), "{body}");
    let (status, _) = api.post(&format!("/api/v1/listings/{listing}/approve"), "").await;
    assert_eq!(status, StatusCode::ACCEPTED);

    // For real without a shop, or with a shop that is not this tenant's: named.
    let (status, body) = api.post(&submit, r#"{"dry_run": false}"#).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["errors"][0]["field"], "shop_id", "{body}");
    let stranger = uuid::Uuid::new_v4();
    let (status, body) = api.post(&submit, &format!(r#"{{"shop_id": "{stranger}"}}"#)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("no such shop"), "{body}");
    let (status, body) = api.post(&submit, r#"{"dry_run": "yes"}"#).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");

    // A dry run: queued.
    let (status, body) = api.post(&submit, "").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["follow"], format!("/api/v1/listings/{listing}"));
    api.project().await;
    let queue = api.get("/api/v1/publish-queue?state=queued").await;
    let items = queue["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{queue}");
    assert_eq!(items[0]["listing_id"], listing.to_string());
    assert_eq!(items[0]["dry_run"], true);
    assert!(items[0]["submitted_at"].is_string());
    assert_eq!(api.get("/api/v1/publish-queue?state=published").await["items"], serde_json::json!([]));
    let (status, _, body) = api.call("GET", "/api/v1/publish-queue?state=stuck", Some(&api.acme_viewer), &[]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    // Queued listings are frozen.
    let (status, _) = api.post(&submit, "").await;
    assert_eq!(status, StatusCode::CONFLICT);

    // A connected shop: listed, and a real submission to it is queued.
    let shop = AggregateId::generate(TenantId::parse("acme").unwrap());
    let connected = ShopConnected {
        marketplace: Marketplace::Printify,
        external_shop_id: "4242".into(),
        display_name: "Cat Mom Tees".into(),
        token_expires_at: None,
        listing_defaults: Default::default(),
        sales_channel: None,
    };
    api.shops().await.execute(&shop, ShopCommand::Connect(connected), &EventMeta::new_command()).await.unwrap();
    api.project().await;
    let shops = api.get("/api/v1/shops").await;
    assert_eq!(shops[0]["display_name"], "Cat Mom Tees", "{shops}");
    assert_eq!(shops[0]["marketplace"], "printify");
    assert_eq!(shops[0]["connected"], true);
    let (_, _, beta_shops) = api.call("GET", "/api/v1/shops", Some(&api.beta_editor), &[]).await;
    assert_eq!(beta_shops, serde_json::json!([]), "another tenant's shops are not listed");
    // Beta cannot use acme's shop either.
    let (status, _, _) = api
        .send(
            "POST",
            &submit,
            &[("authorization", &format!("Bearer {}", api.beta_editor)), ("content-type", "application/json")],
            format!(r#"{{"shop_id": "{}", "dry_run": false}}"#, shop.id),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    // A disconnected shop is refused with why.
    let disconnect =
        ShopCommand::Disconnect { reason: pod_events::domain::text::Note::parse("token revoked").unwrap() };
    api.shops().await.execute(&shop, disconnect, &EventMeta::new_command()).await.unwrap();
    api.project().await;
    let other = AggregateId::generate(TenantId::parse("acme").unwrap());
    let listings = api.listings().await;
    let mut drafted = api.seeded_draft();
    drafted.title = "Proud Dog Dad Shirt".into();
    listings
        .execute(&other, ListingCommand::Draft(drafted.try_into().unwrap()), &EventMeta::new_command())
        .await
        .unwrap();
    let by = pod_events::domain::Actor::System;
    listings.execute(&other, ListingCommand::Approve { by }, &EventMeta::new_command()).await.unwrap();
    let other = other.id;
    let (status, body) = api
        .post(
            &format!("/api/v1/listings/{other}/submit"),
            &format!(r#"{{"shop_id": "{}", "dry_run": false}}"#, shop.id),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("disconnected"), "{body}");

    // Connected again: a real submission to it is queued, with its shop.
    let again = ShopConnected {
        marketplace: Marketplace::Printify,
        external_shop_id: "4242".into(),
        display_name: "Cat Mom Tees".into(),
        token_expires_at: None,
        listing_defaults: Default::default(),
        sales_channel: None,
    };
    api.shops().await.execute(&shop, ShopCommand::Connect(again), &EventMeta::new_command()).await.unwrap();
    api.project().await;
    let body = format!(r#"{{"shop_id": "{}", "dry_run": false}}"#, shop.id);
    let (status, answer) = api.post(&format!("/api/v1/listings/{other}/submit"), &body).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    api.project().await;
    let queue = api.get("/api/v1/publish-queue").await;
    let real = queue["items"].as_array().unwrap().iter().find(|i| i["listing_id"] == other.to_string()).unwrap();
    assert_eq!(
        (real["dry_run"].as_bool(), real["shop_id"].as_str()),
        (Some(false), Some(shop.id.to_string().as_str()))
    );
    assert_eq!(queue["items"].as_array().unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analytics_sums_orders_per_currency_and_day_and_names_the_best_sellers() {
    let api = Api::new().await;
    let acme = TenantId::parse("acme").unwrap();
    let orders = api.orders().await;
    let shop = uuid::Uuid::new_v4();
    let order = |ext: &str, qty: u32, price: u64, currency: &str| OrderReceived {
        shop_id: shop,
        marketplace: Marketplace::Etsy,
        external_order_id: ext.into(),
        line_items: vec![LineItem {
            listing_id: Some(api.seeded.acme_listing),
            external_listing_id: "etsy-1".into(),
            quantity: qty,
            price_cents: price,
        }],
        total_cents: qty as u64 * price,
        currency: currency.into(),
        placed_at: None,
    };
    let paid = AggregateId::generate(acme.clone());
    orders
        .execute(&paid, OrderCommand::Receive(order("A-1", 2, 2499, "USD")), &EventMeta::new_command())
        .await
        .unwrap();
    let payment = OrderPaid { amount_cents: 4998, cost_cents: Some(2200), fees_cents: Some(500) };
    orders.execute(&paid, OrderCommand::RecordPayment(payment), &EventMeta::new_command()).await.unwrap();
    let unpaid = AggregateId::generate(acme.clone());
    orders
        .execute(&unpaid, OrderCommand::Receive(order("A-2", 1, 2499, "USD")), &EventMeta::new_command())
        .await
        .unwrap();
    let euro = AggregateId::generate(acme.clone());
    orders
        .execute(&euro, OrderCommand::Receive(order("A-3", 1, 1999, "EUR")), &EventMeta::new_command())
        .await
        .unwrap();
    // A sale placed long ago, brought in only now (a shop's first poll).
    let old = OrderReceived { placed_at: "2020-01-15T12:00:00Z".parse().ok(), ..order("A-4", 1, 1000, "USD") };
    let late = AggregateId::generate(acme);
    orders.execute(&late, OrderCommand::Receive(old), &EventMeta::new_command()).await.unwrap();
    api.project().await;

    let summary = api.get("/api/v1/analytics/summary").await;
    let usd = &summary["totals"][0];
    assert_eq!(usd["currency"], "USD", "{summary}");
    assert_eq!((usd["orders"].as_i64(), usd["units"].as_i64()), (Some(2), Some(3)));
    assert_eq!(usd["revenue_cents"], 3 * 2499);
    assert_eq!(usd["cost_cents"], 2200);
    assert_eq!(usd["fees_cents"], 500);
    assert_eq!(usd["profit_cents"], 3 * 2499 - 2200 - 500, "profit after what the payments reported");
    assert_eq!(summary["totals"][1]["currency"], "EUR");
    assert_eq!(summary["totals"].as_array().unwrap().len(), 2);
    let series = summary["series"].as_array().unwrap();
    assert_eq!(series.len(), 2, "one bucket per currency today: {summary}");
    let usd_day = series.iter().find(|p| p["currency"] == "USD").unwrap();
    assert_eq!((usd_day["orders"].as_i64(), usd_day["revenue_cents"].as_i64()), (Some(2), Some(3 * 2499)));
    let top = &summary["top_listings"][0];
    assert_eq!(top["listing_id"], api.seeded.acme_listing.to_string());
    assert_eq!(top["title"], "Proud Cat Mom Shirt, Cat Mom Gift");
    assert_eq!((top["units"].as_i64(), top["currency"].as_str()), (Some(3), Some("USD")), "{summary}");
    assert_eq!(summary["top_listings"][1]["currency"], "EUR", "currencies are not added together");
    assert_eq!(summary["funnel"]["listings"], 1);
    assert_eq!(summary["funnel"]["ideas"], 1);

    // A period before any of it: nothing but the sale placed then.
    let then = api.get("/api/v1/analytics/summary?from=2020-01-01T00:00:00Z&to=2020-02-01T00:00:00Z").await;
    assert_eq!(then["totals"].as_array().unwrap().len(), 1, "{then}");
    assert_eq!(
        (then["totals"][0]["orders"].as_i64(), then["totals"][0]["revenue_cents"].as_i64()),
        (Some(1), Some(1000))
    );
    let empty = api.get("/api/v1/analytics/summary?from=2019-01-01T00:00:00Z&to=2019-02-01T00:00:00Z").await;
    assert_eq!(empty["totals"], serde_json::json!([]));
    for bad in ["?bucket=month", "?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z", "?from=2020-01-01T00:00:00Z"] {
        let (status, _, body) =
            api.call("GET", &format!("/api/v1/analytics/summary{bad}"), Some(&api.acme_viewer), &[]).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert!(body["detail"].is_string(), "{body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_is_one_run_and_runs_list_newest_first() {
    let api = Api::new().await;
    let csv = "keyword,score\naxolotl mom,80\nbeekeeper,75\ncrochet,60\n";
    let (status, headers, body) = api
        .send(
            "POST",
            "/api/v1/trends/import?source=upload",
            &[("authorization", &format!("Bearer {}", api.acme_editor)), ("content-type", "text/csv")],
            csv,
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert!(headers.contains_key("location"));
    let report: serde_json::Value = serde_json::from_str(&body).unwrap();
    let run = report["run"].as_str().expect("the report names its run").to_owned();
    api.project().await;
    let one = api.get(&format!("/api/v1/runs/{run}")).await;
    assert_eq!(one["observations"], 3, "{one}");
    assert_eq!(one["started_by"], "TrendObserved");
    assert_eq!(one["source"], "upload");
    let imports = api.get("/api/v1/runs?kind=imports&limit=2").await;
    assert_eq!(imports["items"][0]["run_id"], run, "newest first: {imports}");
    assert!(imports["next"].is_string(), "six imports-like runs (five seeded trends and this one) make pages");
    let rest =
        api.get(&format!("/api/v1/runs?kind=imports&limit=200&cursor={}", imports["next"].as_str().unwrap())).await;
    assert_eq!(rest["items"].as_array().unwrap().len(), 4);
    let (status, _, _) = api.call("GET", "/api/v1/runs?kind=weird", Some(&api.acme_viewer), &[]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _, _) = api.call("GET", "/api/v1/runs/nope", Some(&api.acme_viewer), &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // The same list again is the same run, counted once.
    let (_, _, again) = api
        .send(
            "POST",
            "/api/v1/trends/import?source=upload",
            &[("authorization", &format!("Bearer {}", api.acme_editor)), ("content-type", "text/csv")],
            csv,
        )
        .await;
    assert_eq!(serde_json::from_str::<serde_json::Value>(&again).unwrap()["run"], run);
    api.project().await;
    assert_eq!(api.get(&format!("/api/v1/runs/{run}")).await["observations"], 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_ideas_and_replacements_are_asked_of_the_trend() {
    let api = Api::new().await;
    let trend = api.seeded.acme_trends[1];
    let (status, body) = api.post(&format!("/api/v1/trends/{trend}/ideas"), r#"{"count": 2}"#).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["follow"], format!("/api/v1/trends/{trend}"));
    for bad in [r#"{"count": 0}"#, r#"{"count": 7}"#, r#"{"many": 2}"#] {
        let (status, body) = api.post(&format!("/api/v1/trends/{trend}/ideas"), bad).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {body}");
    }
    let idea = api.seeded.acme_idea;
    let (status, body) = api.post(&format!("/api/v1/ideas/{idea}/regenerate"), "").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let asked: Vec<_> = api.log().await.into_iter().filter(|e| e.event_type == "TrendIdeasRequested").collect();
    assert_eq!(asked.len(), 2);
    assert_eq!((asked[0].payload["round"].as_u64(), asked[0].payload["count"].as_u64()), (Some(1), Some(2)));
    assert!(asked[0].payload["replacing"].is_null());
    assert!(asked[1].aggregate_id.ends_with(&api.seeded.acme_trends[0].to_string()), "the idea's own trend");
    assert_eq!(asked[1].payload["replacing"], idea.to_string());
    assert_eq!(asked[1].payload["by"]["kind"], "policy", "a token is a program");

    // An approved idea has its design: it is not replaced.
    let (status, _) = api.post(&format!("/api/v1/ideas/{idea}/approve"), "").await;
    assert_eq!(status, StatusCode::ACCEPTED);
    api.project().await;
    let (status, body) = api.post(&format!("/api/v1/ideas/{idea}/regenerate"), "").await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_publishing_analytics_and_integrations_pages_show_the_read_models() {
    let api = Api::new().await;
    let person = api.person("acme", Role::Editor).await;
    let page = |path: &'static str| {
        let cookie = person.cookie.clone();
        let api = &api;
        async move {
            let (status, _, html) = api.send("GET", path, &[("cookie", &cookie)], "").await;
            assert_eq!(status, StatusCode::OK, "{path}: {html}");
            html
        }
    };
    let (status, _) = api.post(&format!("/api/v1/listings/{}/approve", api.seeded.acme_listing), "").await;
    assert_eq!(status, StatusCode::ACCEPTED);
    api.project().await;
    let publishing = page("/publishing").await;
    assert!(publishing.contains("Ready to submit") && publishing.contains("Proud Cat Mom Shirt"), "{publishing}");
    assert!(publishing.contains("Dry run"));
    // The button's action, through the page's session.
    let (status, _, fragment) = api
        .send(
            "POST",
            &format!("/listings/{}/submit", api.seeded.acme_listing),
            &[
                ("cookie", &person.cookie),
                ("x-csrf-token", &person.csrf),
                ("origin", "http://127.0.0.1:8080"),
                ("host", "127.0.0.1:8080"),
                ("content-type", "application/x-www-form-urlencoded"),
            ],
            "dry_run=true",
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{fragment}");
    assert!(fragment.contains("Queued for a dry run"), "{fragment}");
    api.project().await;
    let queued = page("/publishing?state=queued").await;
    assert!(queued.contains("waiting for the publishing worker"), "{queued}");

    let analytics = page("/analytics").await;
    assert!(analytics.contains("Sales per day") && analytics.contains("Recent runs"), "{analytics}");
    assert!(analytics.contains("seed"), "the seeded import's source is a run: {analytics}");
    let integrations = page("/integrations").await;
    assert!(integrations.contains("No marketplace connected"), "{integrations}");
    assert!(integrations.contains("typographic"), "the renderer the designs recorded: {integrations}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shop_whose_tokens_are_refused_takes_nothing_until_it_is_connected_again() {
    use pod_events::domain::text::Note;
    let api = Api::new().await;
    let listing = api.seeded.acme_listing;
    let (status, _) = api.post(&format!("/api/v1/listings/{listing}/approve"), "").await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let shop = AggregateId::generate(TenantId::parse("acme").unwrap());
    let connected = || ShopConnected {
        marketplace: Marketplace::Etsy,
        external_shop_id: "8080".into(),
        display_name: "Dog Dad Goods".into(),
        token_expires_at: None,
        listing_defaults: Default::default(),
        sales_channel: None,
    };
    let shops = api.shops().await;
    shops.execute(&shop, ShopCommand::Connect(connected()), &EventMeta::new_command()).await.unwrap();
    let reason = Note::parse("invalid_grant: the refresh token was revoked").unwrap();
    shops.execute(&shop, ShopCommand::MarkNeedsReconnect { reason }, &EventMeta::new_command()).await.unwrap();
    api.project().await;

    let listed = api.get("/api/v1/shops").await;
    assert_eq!((listed[0]["connected"].as_bool(), listed[0]["needs_reconnect"].as_bool()), (Some(true), Some(true)));
    assert_eq!(listed[0]["needs_reconnect_reason"], "invalid_grant: the refresh token was revoked");
    let body = format!(r#"{{"shop_id": "{}", "dry_run": false}}"#, shop.id);
    let (status, answer) = api.post(&format!("/api/v1/listings/{listing}/submit"), &body).await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    assert!(answer["detail"].as_str().unwrap().contains("connect it again"), "{answer}");
    let person = api.person("acme", Role::Viewer).await;
    let (status, _, page) = api.send("GET", "/integrations", &[("cookie", &person.cookie)], "").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("needs reconnecting: invalid_grant"), "the seller is told: {page}");

    // Connected again: it takes the submission.
    shops.execute(&shop, ShopCommand::Connect(connected()), &EventMeta::new_command()).await.unwrap();
    api.project().await;
    assert_eq!(api.get("/api/v1/shops").await[0]["needs_reconnect"], false);
    let (status, answer) = api.post(&format!("/api/v1/listings/{listing}/submit"), &body).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
}
