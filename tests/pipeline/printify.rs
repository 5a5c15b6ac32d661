//! Publishing to a connected Printify shop through the `pod` binary: the
//! publishing worker killed with SIGKILL between "product made" and
//! "published" (one product, published once), and the whole way from a
//! trend to an order whose sale and profit analytics shows.

use std::time::{Duration, Instant};

use pod_events::domain::Actor;
use pod_events::domain::listing::{Listing, ListingCommand};
use pod_events::domain::shop::{Marketplace, Shop, ShopCommand, ShopConnected};
use pod_events::store::{CommandBus, JetStreamStore, StoreConfig};
use pod_events::{AggregateId, EventMeta, TenantId};
use pod_marketplaces::credentials::{self, Credential, Kind};
use pod_marketplaces::printify::PrintifyShop;
use pod_marketplaces::printify::api::{LineMetadata, PrintifyLineItem, PrintifyOrder};
use pod_marketplaces::standin::printify::PrintifyStandIn;
use pod_marketplaces::{Keyring, Secret};

use crate::common::*;

const TOKEN: &str = "printify-token-of-acme";
const WEBHOOK_SECRET: &str = "5f0c2a9e-acme-webhook-secret";
const PRINTIFY_SHOP: u64 = 4_242;

async fn bus<A>(p: &Pipeline) -> CommandBus<A>
where
    A: cqrs_es::Aggregate<Services = ()> + pod_events::domain::StateVersion + Clone,
    A::Event: pod_events::EventCodec,
    A::Command: Clone,
{
    let config = StoreConfig { namespace: p.env.ns.clone(), ..Default::default() };
    CommandBus::new(JetStreamStore::open(p.env.client.clone(), config).await.unwrap(), ())
}

fn acme() -> TenantId {
    TenantId::parse("acme".to_owned()).unwrap()
}

/// A pipeline whose processes reach the stand-in, with acme's Printify shop
/// connected (its event, its sealed token and webhook secret); the shop's id.
async fn with_printify_shop(printify: &PrintifyStandIn) -> (Pipeline, uuid::Uuid) {
    let mut p = Pipeline::new().await;
    let key = Keyring::new_entry("k1").unwrap();
    p.set("POD__VAULT__KEYS", &key);
    p.set("POD__MARKETPLACES__PRINTIFY__BASE_URL", &printify.url);
    // Failing publishes are retried for longer than these tests run.
    p.set("POD__WORKERS__MAX_DELIVERIES", "100");
    let shop_id = uuid::Uuid::new_v4();
    let connect = ShopCommand::Connect(ShopConnected {
        marketplace: Marketplace::Printify,
        external_shop_id: PRINTIFY_SHOP.to_string(),
        display_name: "Acme Tees".into(),
        token_expires_at: None,
        listing_defaults: Default::default(),
        sales_channel: Some("etsy".into()),
    });
    let shops = bus::<Shop>(&p).await;
    shops.execute(&AggregateId::new(acme(), shop_id), connect, &EventMeta::new_command()).await.unwrap();
    let keys = Keyring::parse(&key).unwrap();
    for (kind, secret) in [(Kind::ApiToken, TOKEN), (Kind::WebhookSecret, WEBHOOK_SECRET)] {
        let credential = Credential { secret: Secret::new(secret), expires_at: None };
        credentials::store(&p.env.pool, &keys, &acme(), shop_id, kind, &credential).await.unwrap();
    }
    (p, shop_id)
}

async fn stand_in() -> PrintifyStandIn {
    let shop = PrintifyShop { id: PRINTIFY_SHOP, title: "Acme Tees".into(), sales_channel: "etsy".into() };
    PrintifyStandIn::start(TOKEN, vec![shop]).await.unwrap()
}

/// Imports one trend, waits for its listings, and submits the first to the
/// shop; the listing.
async fn one_listing_submitted(p: &Pipeline, shop_id: uuid::Uuid) -> uuid::Uuid {
    let fixture = p.write_fixture("trends.csv", "keyword,score\ncat mom,88\n");
    p.run(&["trends", "import", fixture.to_str().unwrap(), "--tenant", "acme"]);
    p.wait_for("listings", "SELECT count(*) FROM listings", 3, Duration::from_secs(180)).await;
    let listing_id: uuid::Uuid = sqlx::query_scalar("SELECT listing_id FROM listings ORDER BY listing_id LIMIT 1")
        .fetch_one(&p.env.pool)
        .await
        .unwrap();
    let listing = AggregateId::new(acme(), listing_id);
    let listings = bus::<Listing>(p).await;
    let by = Actor::User { user_id: uuid::Uuid::from_u128(1) };
    // Approved by a person unless the policy approved it already.
    let _ = listings.execute(&listing, ListingCommand::Approve { by: by.clone() }, &EventMeta::new_command()).await;
    let submit = ListingCommand::Submit { by, shop_id: Some(shop_id), dry_run: false };
    listings.execute(&listing, submit, &EventMeta::new_command()).await.unwrap();
    listing_id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publishing_worker_killed_after_making_the_product_publishes_it_once_after_restart() {
    let printify = stand_in().await;
    let (mut p, shop_id) = with_printify_shop(&printify).await;
    p.start_all();
    // Printify takes the product but fails every publish for now.
    printify.fail_publishes(u32::MAX);
    let listing_id = one_listing_submitted(&p, shop_id).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while printify.products(PRINTIFY_SHOP).is_empty() {
        assert!(Instant::now() < deadline, "no product was made");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Made, not published: kill -9 the worker in the middle of its retries.
    tokio::time::sleep(Duration::from_millis(700)).await;
    p.kill("publishing");
    assert!(printify.publish_requests().is_empty());
    printify.fail_publishes(0);
    p.spawn("publishing", &["worker", "publishing"]);

    p.wait_for(
        "published listings",
        "SELECT count(*) FROM listings WHERE status = 'published'",
        1,
        Duration::from_secs(120),
    )
    .await;
    let products = printify.products(PRINTIFY_SHOP);
    assert_eq!(products.len(), 1, "one product: {products:#?}");
    assert_eq!(printify.publish_requests(), vec![(PRINTIFY_SHOP, products[0].id.clone())], "published once");
    let (product, url): (Option<String>, Option<String>) =
        sqlx::query_as("SELECT printify_product_id, url FROM listings WHERE listing_id = $1")
            .bind(listing_id)
            .fetch_one(&p.env.pool)
            .await
            .unwrap();
    assert_eq!(product.as_deref(), Some(products[0].id.as_str()));
    let listed = products[0].external.clone().expect("listed on the sales channel");
    assert_eq!(url.as_deref(), Some(listed.handle.as_str()), "the read model links to the live listing");
}

/// import → ideas → designs → listings → approved → published to the
/// stand-in Printify shop → an order webhook → analytics shows the sale,
/// its listing and its profit. Everything runs in one `pod up`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trend_sold_through_printify_shows_in_analytics_with_its_profit() {
    let printify = stand_in().await;
    let (mut p, shop_id) = with_printify_shop(&printify).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    p.set("POD__API_BIND", &format!("127.0.0.1:{port}"));
    p.spawn("up", &["up"]);
    let listing_id = one_listing_submitted(&p, shop_id).await;
    p.wait_for(
        "published listings",
        "SELECT count(*) FROM listings WHERE status = 'published'",
        1,
        Duration::from_secs(120),
    )
    .await;
    let product = printify.products(PRINTIFY_SHOP)[0].id.clone();

    // A buyer orders two on the sales channel; Printify tells us.
    printify.put_order(
        PRINTIFY_SHOP,
        PrintifyOrder {
            id: "5a96f649b2439217d070f507".into(),
            status: "in-production".into(),
            line_items: vec![PrintifyLineItem {
                product_id: product.clone(),
                variant_id: 12_101,
                quantity: 2,
                metadata: LineMetadata { price: 2499, title: "Cat Mom Tee".into(), sku: String::new() },
            }],
            total_price: 2350,
            total_shipping: 475,
            total_tax: 0,
            shipments: vec![],
            created_at: None,
        },
    );
    let body = format!(
        r#"{{"id":"d-1","type":"order:created","created_at":"2026-12-02 10:00:00+00:00","resource":{{"id":"5a96f649b2439217d070f507","type":"order","data":{{"shop_id":{PRINTIFY_SHOP}}}}}}}"#
    );
    let signature = pod_marketplaces::printify::webhooks::sign(&Secret::new(WEBHOOK_SECRET), body.as_bytes());
    let client = reqwest::Client::new();
    let hook = format!("http://127.0.0.1:{port}/webhooks/printify/{shop_id}");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        // The API may still be starting, or the shop not yet projected (503).
        let sent = client.post(&hook).header("x-pfy-signature", &signature).body(body.clone()).send().await;
        match sent {
            Ok(r) if r.status() == 200 => break,
            other => assert!(Instant::now() < deadline, "the webhook was never taken: {other:?}"),
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    p.wait_for(
        "order lines of the listing",
        "SELECT count(*) FROM order_lines WHERE listing_id IS NOT NULL",
        1,
        Duration::from_secs(60),
    )
    .await;
    let now = chrono::Utc::now();
    let window = pod_projections::read::analytics::Window {
        from: now - chrono::Duration::days(1),
        to: now + chrono::Duration::days(1),
        bucket: pod_projections::read::analytics::Bucket::Day,
    };
    let summary = pod_projections::read::analytics::summary(&p.env.pool, &acme(), window).await.unwrap();
    let totals = &summary.totals[0];
    assert_eq!((totals.orders, totals.units, totals.revenue_cents), (1, 2, 4998), "{totals:?}");
    assert_eq!(totals.cost_cents, 2825, "Printify's production and shipping");
    assert_eq!(totals.profit_cents, 4998 - 2825, "{totals:?}");
    let best = &summary.top_listings[0];
    assert_eq!((best.listing_id, best.units, best.revenue_cents), (listing_id, 2, 4998), "{best:?}");
}
