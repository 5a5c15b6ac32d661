//! Publishing to a connected Printify shop through `pod worker publishing`,
//! killed with SIGKILL between "product made" and "published": one
//! product, published once.

use std::time::{Duration, Instant};

use pod_events::domain::Actor;
use pod_events::domain::listing::{Listing, ListingCommand};
use pod_events::domain::shop::{Marketplace, Shop, ShopCommand, ShopConnected};
use pod_events::store::{CommandBus, JetStreamStore, StoreConfig};
use pod_events::{AggregateId, EventMeta, TenantId};
use pod_marketplaces::credentials::{self, Credential, Kind};
use pod_marketplaces::printify::PrintifyShop;
use pod_marketplaces::standin::printify::PrintifyStandIn;
use pod_marketplaces::{Keyring, Secret};

use crate::common::*;

const TOKEN: &str = "printify-token-of-acme";
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publishing_worker_killed_after_making_the_product_publishes_it_once_after_restart() {
    let printify = PrintifyStandIn::start(
        TOKEN,
        vec![PrintifyShop { id: PRINTIFY_SHOP, title: "Acme Tees".into(), sales_channel: "etsy".into() }],
    )
    .await
    .unwrap();
    let mut p = Pipeline::new().await;
    let key = Keyring::new_entry("k1").unwrap();
    p.set("POD__VAULT__KEYS", &key);
    p.set("POD__MARKETPLACES__PRINTIFY__BASE_URL", &printify.url);
    // Failing publishes are retried for longer than this test runs.
    p.set("POD__WORKERS__MAX_DELIVERIES", "100");
    let acme = TenantId::parse("acme".to_owned()).unwrap();

    // Acme's Printify shop, connected: its event, its sealed token.
    let shop_id = uuid::Uuid::new_v4();
    let connect = ShopCommand::Connect(ShopConnected {
        marketplace: Marketplace::Printify,
        external_shop_id: PRINTIFY_SHOP.to_string(),
        display_name: "Acme Tees".into(),
        token_expires_at: None,
    });
    let shops = bus::<Shop>(&p).await;
    shops.execute(&AggregateId::new(acme.clone(), shop_id), connect, &EventMeta::new_command()).await.unwrap();
    let keys = Keyring::parse(&key).unwrap();
    let token = Credential { secret: Secret::new(TOKEN), expires_at: None };
    credentials::store(&p.env.pool, &keys, &acme, shop_id, Kind::ApiToken, &token).await.unwrap();

    // A listing from a trend, through every stage.
    let fixture = p.write_fixture("trends.csv", "keyword,score\ncat mom,88\n");
    p.start_all();
    p.run(&["trends", "import", fixture.to_str().unwrap(), "--tenant", "acme"]);
    p.wait_for("listings", "SELECT count(*) FROM listings", 3, Duration::from_secs(180)).await;
    let listing_id: uuid::Uuid = sqlx::query_scalar("SELECT listing_id FROM listings ORDER BY listing_id LIMIT 1")
        .fetch_one(&p.env.pool)
        .await
        .unwrap();
    let listing = AggregateId::new(acme.clone(), listing_id);
    let listings = bus::<Listing>(&p).await;
    let by = Actor::User { user_id: uuid::Uuid::from_u128(1) };
    // Approved by a person unless the policy approved it already.
    let _ = listings.execute(&listing, ListingCommand::Approve { by: by.clone() }, &EventMeta::new_command()).await;

    // Printify takes the product but fails every publish for now.
    printify.fail_publishes(u32::MAX);
    let submit = ListingCommand::Submit { by, shop_id: Some(shop_id), dry_run: false };
    listings.execute(&listing, submit, &EventMeta::new_command()).await.unwrap();
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
