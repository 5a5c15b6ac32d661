//! The publishing worker: a submitted listing is checked as the marketplace
//! would check it — text, screening, and the artwork's stored bytes against
//! what the design recorded — then recorded as published (a dry run) or sent
//! back to its editor with the reasons.

use std::sync::Arc;

use pod_blobs::{BlobStore, LocalBlobStore};
use pod_events::domain::Actor;
use pod_events::domain::design::{Asset, Design, DesignCommand, DesignRendered, DesignRequested, PrintArea};
use pod_events::domain::idea::{IdeaScreened, Verdict};
use pod_events::domain::listing::{Listing, ListingCommand, ListingDrafted, ListingStatus};
use pod_events::store::CommandBus;
use pod_events::store::reader::{LogReader, Start};
use pod_events::{AggregateId, EventMeta, RecordedEvent};
use pod_workers::pipeline::Pipeline;
use pod_workers::publishing::Publishing;
use pod_workers::runtime::Handler;

use crate::support::*;

/// A real PNG (one transparent pixel) standing in for the artwork's bytes.
const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4, 0x89, 0x00, 0x00, 0x00, 0x0b, 0x49,
    0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x60, 0x00, 0x02, 0x00, 0x00, 0x05, 0x00, 0x01, 0x7a, 0x5e, 0xab, 0x3f, 0x00,
    0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

struct Shop {
    env: TestNats,
    blobs: Arc<LocalBlobStore>,
    listings: CommandBus<Listing>,
    designs: CommandBus<Design>,
    handler: Publishing,
}

impl Shop {
    async fn new() -> Self {
        let env = TestNats::new().await;
        let dir = std::env::temp_dir().join(format!("pod-publishing-{}", uuid::Uuid::new_v4().simple()));
        let blobs = Arc::new(LocalBlobStore::new(dir));
        let pipeline = Arc::new(Pipeline::open(env.client.clone(), &env.ns).await.unwrap());
        let handler = Publishing::new(pipeline, blobs.clone());
        let listings = CommandBus::new(env.store_of::<Listing>().await, ());
        let designs = CommandBus::new(env.store_of::<Design>().await, ());
        Self { env, blobs, listings, designs, handler }
    }

    /// A rendered design, an approved green listing of it, submitted; returns
    /// the listing, its artwork's key, and the `ListingSubmitted` event.
    async fn submitted(
        &self,
        title: &str,
        shop: Option<uuid::Uuid>,
        dry_run: bool,
    ) -> (AggregateId, String, RecordedEvent, AggregateId) {
        self.submitted_as(title, "t-shirt", shop, dry_run).await
    }

    /// The same, of a design for `product_type`.
    async fn submitted_as(
        &self,
        title: &str,
        product_type: &str,
        shop: Option<uuid::Uuid>,
        dry_run: bool,
    ) -> (AggregateId, String, RecordedEvent, AggregateId) {
        let design = AggregateId::generate(tenant());
        let area = PrintArea::default();
        let request = DesignRequested {
            idea_id: uuid::Uuid::nil(),
            phrase: "Proud Cat Mom".into(),
            niche: "pets".into(),
            product_type: product_type.into(),
            layout: "classic".into(),
            palette: "pawprint".into(),
            print_area: area,
        };
        self.designs.execute(&design, DesignCommand::Request(request), &EventMeta::new_command()).await.unwrap();
        let stored = self.blobs.put("artwork", "png", "image/png", PNG.to_vec()).await.unwrap();
        let asset = |key: String, sha256: String, bytes: u64, (width, height): (u32, u32)| Asset {
            key,
            sha256,
            bytes,
            width,
            height,
            content_type: "image/png".into(),
        };
        let artwork = asset(stored.key.clone(), stored.sha256.clone(), stored.bytes, (area.width, area.height));
        let preview = asset(stored.key.clone(), stored.sha256, stored.bytes, (1, 1));
        let rendered = DesignRendered { artwork, preview, renderer: "typographic".into(), cost_micros: 0, attempt: 0 };
        self.designs.execute(&design, DesignCommand::RecordRender(rendered), &EventMeta::new_command()).await.unwrap();
        let listing = AggregateId::generate(tenant());
        let drafted = ListingDrafted {
            idea_id: uuid::Uuid::nil(),
            design_id: design.id,
            title: title.into(),
            description: "A soft tee for proud cat moms.".into(),
            tags: vec!["cat mom".into(), "cat lover gift".into()],
            price_cents: 2499,
            currency: "USD".into(),
            seo_score: 70,
            seo_checks: vec![],
            screening: Some(IdeaScreened { verdict: Verdict::Green, hits: vec![], index_version: "t".into() }),
        };
        let by = Actor::User { user_id: uuid::Uuid::from_u128(9) };
        for command in [
            ListingCommand::Draft(drafted.try_into().unwrap()),
            ListingCommand::Approve { by: by.clone() },
            ListingCommand::Submit { by, shop_id: shop, dry_run },
        ] {
            self.listings.execute(&listing, command, &EventMeta::new_command()).await.unwrap();
        }
        let event = self
            .log()
            .await
            .into_iter()
            .rfind(|e| e.event_type == "ListingSubmitted" && e.aggregate_id == listing.to_string())
            .unwrap();
        (listing, stored.key, event, design)
    }

    async fn log(&self) -> Vec<RecordedEvent> {
        let subjects = vec![self.env.ns.all_events()];
        let mut all = LogReader::open(self.env.client.clone(), &self.env.ns, subjects, Start::All).await.unwrap();
        all.next_batch(500).await.unwrap()
    }

    async fn outcome(&self, listing: &AggregateId) -> (ListingStatus, Vec<(String, serde_json::Value)>) {
        let state = self.env.store_of::<Listing>().await.load_fresh(listing).await.unwrap().aggregate;
        let after: Vec<_> = self
            .log()
            .await
            .into_iter()
            .filter(|e| e.aggregate_id == listing.to_string() && e.event_type.starts_with("ListingPublish"))
            .map(|e| (e.event_type, e.payload))
            .collect();
        (state.status, after)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_that_passes_every_check_is_recorded_published_once() {
    let shop = Shop::new().await;
    let (listing, _, submitted, _) = shop.submitted("Proud Cat Mom Shirt, Cat Lover Gift", None, true).await;
    shop.handler.handle(&submitted).await.unwrap();
    shop.handler.handle(&submitted).await.unwrap();
    let (status, events) = shop.outcome(&listing).await;
    assert_eq!(status, ListingStatus::Published);
    assert_eq!(events.len(), 1, "a redelivery publishes nothing twice: {events:?}");
    assert_eq!(events[0].0, "ListingPublished");
    assert_eq!(events[0].1["dry_run"], true);
    assert!(events[0].1["etsy_listing_id"].is_null(), "nothing was created anywhere");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn artwork_that_is_not_what_the_design_recorded_sends_the_listing_back() {
    let shop = Shop::new().await;
    let (listing, key, submitted, _) = shop.submitted("Proud Cat Mom Shirt, Cat Lover Gift", None, true).await;
    // The stored file changed under the design's feet.
    std::fs::write(shop.blobs.root().join(&key), b"not the artwork").unwrap();
    shop.handler.handle(&submitted).await.unwrap();
    let (status, events) = shop.outcome(&listing).await;
    assert_eq!(status, ListingStatus::Draft, "back to its editor");
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].0, "ListingPublishFailed");
    let reason = events[0].1["reason"].as_str().unwrap();
    assert!(reason.contains("checksum") && reason.contains(&key), "{reason}");
    assert_eq!(events[0].1["retryable"], false);

    // Gone altogether: named as missing.
    let (listing, key, submitted, _) = shop.submitted("Proud Cat Mom Shirt, Cat Lover Gift", None, true).await;
    std::fs::remove_file(shop.blobs.root().join(&key)).unwrap();
    shop.handler.handle(&submitted).await.unwrap();
    let (_, events) = shop.outcome(&listing).await;
    assert!(events[0].1["reason"].as_str().unwrap().contains("missing from the blob store"), "{events:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_submission_to_a_shop_that_was_never_connected_is_sent_back_with_why() {
    let shop = Shop::new().await;
    let (listing, _, submitted, _) =
        shop.submitted("Proud Cat Mom Shirt, Cat Lover Gift", Some(uuid::Uuid::from_u128(5)), false).await;
    shop.handler.handle(&submitted).await.unwrap();
    let (status, events) = shop.outcome(&listing).await;
    assert_eq!(status, ListingStatus::Draft);
    assert!(events[0].1["reason"].as_str().unwrap().contains("is not connected"), "{events:?}");
}

#[test]
fn preflight_names_every_problem_at_once() {
    use pod_events::domain::listing::ListingContent;
    use pod_workers::publishing::{Preflight, preflight};
    let content = ListingContent {
        idea_id: uuid::Uuid::nil(),
        design_id: uuid::Uuid::nil(),
        title: "Cat & Dog & Bird Shirt".into(),
        description: " ".into(),
        tags: vec!["a tag that is far too long for etsy".into()],
        price_cents: 0,
        currency: "USD".into(),
    };
    let artwork = Asset {
        key: "artwork/ab/x.png".into(),
        sha256: pod_blobs::sha256_hex(PNG),
        bytes: PNG.len() as u64,
        width: 100,
        height: 100,
        content_type: "image/png".into(),
    };
    let problems = preflight(&Preflight {
        content: &content,
        verdict: Some(Verdict::Red),
        print_area: Some(PrintArea::default()),
        artwork: Some(&artwork),
        artwork_bytes: Some(PNG),
        design_current: true,
    });
    let fields: Vec<&str> = problems.iter().map(|p| p.split(':').next().unwrap()).collect();
    assert_eq!(fields, ["title", "tags", "description", "price", "screening", "artwork"], "{problems:#?}");
    assert!(problems[5].contains("print area"), "{}", problems[5]);
    let clean = ListingContent {
        title: "Cat Mom Shirt".into(),
        description: "Soft.".into(),
        tags: vec!["cat mom".into()],
        price_cents: 100,
        ..content
    };
    let artwork = Asset { width: 4500, height: 5400, ..artwork };
    let ok = preflight(&Preflight {
        content: &clean,
        verdict: Some(Verdict::Green),
        print_area: Some(PrintArea::default()),
        artwork: Some(&artwork),
        artwork_bytes: Some(PNG),
        design_current: true,
    });
    assert_eq!(ok, Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_design_is_not_published() {
    let shop = Shop::new().await;
    let (listing, _, submitted, design) = shop.submitted("Proud Cat Mom Shirt, Cat Lover Gift", None, true).await;
    let by = Actor::User { user_id: uuid::Uuid::from_u128(9) };
    let reason = pod_events::domain::text::RejectReason::parse("blurry").unwrap();
    let reject = DesignCommand::Reject { by, reason };
    shop.designs.execute(&design, reject, &EventMeta::new_command()).await.unwrap();
    shop.handler.handle(&submitted).await.unwrap();
    let (status, events) = shop.outcome(&listing).await;
    assert_eq!(status, ListingStatus::Draft);
    assert!(events[0].1["reason"].as_str().unwrap().starts_with("design:"), "{events:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_old_submission_redelivered_settles_the_current_one_by_its_own_settings() {
    let shop = Shop::new().await;
    // A dry run that failed (the artwork changed), then fixed and submitted
    // again, this time for real to a shop.
    let (listing, key, first, _) = shop.submitted("Proud Cat Mom Shirt, Cat Lover Gift", None, true).await;
    let good = std::fs::read(shop.blobs.root().join(&key)).unwrap();
    std::fs::write(shop.blobs.root().join(&key), b"not the artwork").unwrap();
    shop.handler.handle(&first).await.unwrap();
    std::fs::write(shop.blobs.root().join(&key), good).unwrap();
    let by = Actor::User { user_id: uuid::Uuid::from_u128(9) };
    let real = ListingCommand::Submit { by: by.clone(), shop_id: Some(uuid::Uuid::from_u128(5)), dry_run: false };
    for command in [ListingCommand::Approve { by }, real] {
        shop.listings.execute(&listing, command, &EventMeta::new_command()).await.unwrap();
    }
    // The first submission's event comes again before the second's.
    shop.handler.handle(&first).await.unwrap();
    let (status, events) = shop.outcome(&listing).await;
    assert_eq!(status, ListingStatus::Draft);
    assert_eq!(events.len(), 2, "{events:?}");
    assert!(
        events[1].1["reason"].as_str().unwrap().contains("is not connected"),
        "settled as the real submission it now is, not as a dry run: {events:?}"
    );
}

/// Why the listing's last publish failed, as recorded.
fn reason_of(events: &[(String, serde_json::Value)]) -> String {
    events.iter().rfind(|(t, _)| t == "ListingPublishFailed").map(|(_, p)| p["reason"].to_string()).unwrap_or_default()
}

mod printify {
    //! A submission to a connected Printify shop, against the Printify
    //! stand-in: the product made once, published once, settled when
    //! listed; rate limits, outages and refusals on the way.

    use std::time::Duration;

    use pod_events::domain::shop::{Marketplace, Shop as ShopAggregate, ShopCommand, ShopConnected};
    use pod_marketplaces::credentials::{self, Credential, Kind};
    use pod_marketplaces::printify::PrintifyShop;
    use pod_marketplaces::standin::printify::PrintifyStandIn;
    use pod_marketplaces::{Keyring, PrintifySettings, Secret};
    use pod_workers::publishing::printify::PrintifyPublisher;
    use pod_workers::runtime::HandlerError;
    use sqlx::PgPool;

    use crate::shared_db::{drop_db, fresh_db};

    use super::*;

    const TOKEN: &str = "printify-personal-access-token";
    const PRINTIFY_SHOP: u64 = 8_812_345;

    /// A connected Printify shop: its Shop aggregate, its token sealed in a
    /// database of the test's own, the stand-in behind it.
    struct Connected {
        shop: Shop,
        printify: PrintifyStandIn,
        shop_id: uuid::Uuid,
        pool: PgPool,
        db: String,
        admin: String,
    }

    impl Connected {
        async fn new() -> Self {
            Self::with(|_| {}).await
        }

        async fn with(tune: impl FnOnce(&mut PrintifySettings)) -> Self {
            let (pool, admin, db) = fresh_db().await;
            let keys = Arc::new(Keyring::parse(&Keyring::new_entry("t1").unwrap()).unwrap());
            let printify = PrintifyStandIn::start(
                TOKEN,
                vec![PrintifyShop { id: PRINTIFY_SHOP, title: "Cat Shop".into(), sales_channel: "etsy".into() }],
            )
            .await
            .unwrap();
            let mut settings = PrintifySettings { base_url: printify.url.clone(), ..Default::default() };
            tune(&mut settings);
            let mut shop = Shop::new().await;
            let publisher = PrintifyPublisher::new(&settings, pool.clone(), keys.clone()).unwrap();
            let pipeline = Arc::new(Pipeline::open(shop.env.client.clone(), &shop.env.ns).await.unwrap());
            shop.handler = Publishing::new(pipeline, shop.blobs.clone()).with_printify(publisher);
            let shop_id = uuid::Uuid::new_v4();
            let shops = CommandBus::new(shop.env.store_of::<ShopAggregate>().await, ());
            let connect = ShopCommand::Connect(ShopConnected {
                marketplace: Marketplace::Printify,
                external_shop_id: PRINTIFY_SHOP.to_string(),
                display_name: "Cat Shop".into(),
                token_expires_at: None,
                listing_defaults: Default::default(),
                sales_channel: None,
            });
            let id = AggregateId::new(tenant(), shop_id);
            shops.execute(&id, connect, &EventMeta::new_command()).await.unwrap();
            let token = Credential { secret: Secret::new(TOKEN), expires_at: None };
            credentials::store(&pool, &keys, &tenant(), shop_id, Kind::ApiToken, &token).await.unwrap();
            Self { shop, printify, shop_id, pool, db, admin }
        }

        async fn submitted(&self) -> (AggregateId, RecordedEvent) {
            let (listing, _, event, _) =
                self.shop.submitted("Proud Cat Mom Shirt, Cat Lover Gift", Some(self.shop_id), false).await;
            (listing, event)
        }

        async fn shop_state(&self) -> ShopAggregate {
            let id = AggregateId::new(tenant(), self.shop_id);
            self.shop.env.store_of::<ShopAggregate>().await.load_fresh(&id).await.unwrap().aggregate
        }

        async fn done(self) {
            drop_db(self.pool, &self.admin, &self.db).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_submission_becomes_one_product_published_once_and_listed() {
        let c = Connected::new().await;
        let (listing, submitted) = c.submitted().await;
        c.shop.handler.handle(&submitted).await.unwrap();
        // Redelivered after it settled: nothing more happens.
        c.shop.handler.handle(&submitted).await.unwrap();

        let products = c.printify.products(PRINTIFY_SHOP);
        assert_eq!(products.len(), 1, "{products:#?}");
        let product = &products[0];
        assert_eq!(product.title, "Proud Cat Mom Shirt, Cat Lover Gift");
        assert_eq!(product.variants.len(), 4, "every size the catalog offers");
        assert!(product.variants.iter().all(|v| v.price == 2499 && v.sku.starts_with("pod-")), "{product:?}");
        assert_eq!(c.printify.publish_requests(), vec![(PRINTIFY_SHOP, product.id.clone())]);

        let (status, events) = c.shop.outcome(&listing).await;
        assert_eq!(status, ListingStatus::Published);
        let published = events.iter().filter(|(t, _)| t == "ListingPublished").collect::<Vec<_>>();
        assert_eq!(published.len(), 1, "{events:?}");
        let p = &published[0].1;
        assert_eq!(p["printify_product_id"], product.id.as_str());
        assert_eq!(p["dry_run"], false);
        let external = product.id.clone();
        let listed = c.printify.products(PRINTIFY_SHOP)[0].external.clone().expect("listed on the channel");
        assert_eq!(p["url"], listed.handle.as_str(), "links to the live listing");
        assert_eq!(p["etsy_listing_id"], listed.id.as_str());
        let recorded: Vec<_> =
            c.shop.log().await.into_iter().filter(|e| e.event_type == "ListingExternalIdRecorded").collect();
        assert_eq!(recorded.len(), 1);
        assert_eq!(recorded[0].payload["id"], external.as_str());
        c.done().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_publish_that_fails_after_the_product_is_made_carries_on_with_that_product() {
        let c = Connected::new().await;
        let (listing, submitted) = c.submitted().await;
        c.printify.fail_publishes(1);
        let first = c.shop.handler.handle(&submitted).await;
        assert!(matches!(first, Err(HandlerError::Transient { .. })), "{first:?}");
        let state = c.shop.env.store_of::<Listing>().await.load_fresh(&listing).await.unwrap().aggregate;
        let made = c.printify.products(PRINTIFY_SHOP);
        assert_eq!(made.len(), 1);
        assert_eq!(
            state.submission.unwrap().printify_product_id.as_deref(),
            Some(made[0].id.as_str()),
            "recorded at once"
        );
        c.shop.handler.handle(&submitted).await.unwrap();
        assert_eq!(c.printify.products(PRINTIFY_SHOP).len(), 1, "one product");
        assert_eq!(c.printify.publish_requests().len(), 1, "published once");
        assert_eq!(c.shop.outcome(&listing).await.0, ListingStatus::Published);
        c.done().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_product_made_by_a_run_that_died_before_recording_it_is_found_by_its_sku() {
        use pod_marketplaces::printify::PrintifyApi;
        use pod_marketplaces::printify::catalog::default_templates;
        use pod_workers::publishing::printify::{new_product, sku_prefix};
        let c = Connected::new().await;
        let (listing, submitted) = c.submitted().await;
        // What an earlier run made before kill -9 took it, with nothing recorded.
        let api =
            PrintifyApi::new(&PrintifySettings { base_url: c.printify.url.clone(), ..Default::default() }).unwrap();
        let token = Secret::new(TOKEN);
        let upload = api.upload_image(&token, "earlier.png", PNG).await.unwrap();
        let content = pod_events::domain::listing::ListingContent {
            title: "Proud Cat Mom Shirt, Cat Lover Gift".into(),
            price_cents: 2499,
            ..Default::default()
        };
        let prefix = sku_prefix(&tenant(), listing.id, 1);
        let earlier = new_product(&content, &default_templates()["t-shirt"], &[12_100], &upload.id, &prefix);
        let earlier = api.create_product(&token, PRINTIFY_SHOP, &earlier).await.unwrap();
        // Another submission's product in the same shop is not mistaken for it.
        let other = new_product(
            &content,
            &default_templates()["t-shirt"],
            &[12_100],
            &upload.id,
            &sku_prefix(&tenant(), listing.id, 2),
        );
        api.create_product(&token, PRINTIFY_SHOP, &other).await.unwrap();
        // The earlier run had said it was making one.
        let started = ListingCommand::RecordProductStarted { submission: 1, started_at: chrono::Utc::now() };
        c.shop.listings.execute(&listing, started, &EventMeta::new_command()).await.unwrap();

        c.shop.handler.handle(&submitted).await.unwrap();
        assert_eq!(c.printify.products(PRINTIFY_SHOP).len(), 2, "nothing made again");
        assert_eq!(c.printify.publish_requests(), vec![(PRINTIFY_SHOP, earlier.id.clone())]);
        let (status, events) = c.shop.outcome(&listing).await;
        assert_eq!(status, ListingStatus::Published);
        let published = events.iter().find(|(t, _)| t == "ListingPublished").unwrap();
        assert_eq!(published.1["printify_product_id"], earlier.id.as_str());
        c.done().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_runs_of_one_submission_at_once_leave_one_product() {
        let c = Connected::new().await;
        let (listing, submitted) = c.submitted().await;
        // Both look for the product before either has made it.
        c.printify.slow_creates(Duration::from_millis(500));
        let (a, b) = tokio::join!(c.shop.handler.handle(&submitted), c.shop.handler.handle(&submitted));
        for r in [&a, &b] {
            assert!(matches!(r, Ok(()) | Err(HandlerError::Deferred { .. })), "{r:?}");
        }
        let products = c.printify.products(PRINTIFY_SHOP);
        assert_eq!(products.len(), 1, "the extra product was deleted: {products:#?}");
        let state = c.shop.env.store_of::<Listing>().await.load_fresh(&listing).await.unwrap().aggregate;
        assert_eq!(state.submission.unwrap().printify_product_id.as_deref(), Some(products[0].id.as_str()));
        c.shop.handler.handle(&submitted).await.unwrap();
        assert_eq!(c.shop.outcome(&listing).await.0, ListingStatus::Published);
        c.done().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_listing_whose_product_is_under_way_is_not_sent_back_for_a_design_changed_since() {
        let c = Connected::new().await;
        let (listing, submitted) = c.submitted().await;
        c.printify.hold_publishing();
        let first = c.shop.handler.handle(&submitted).await;
        assert!(matches!(first, Err(HandlerError::Deferred { .. })), "{first:?}");
        // The stored artwork changes meanwhile: the product has its copy.
        let design = c.shop.log().await.into_iter().find(|e| e.event_type == "DesignRendered").unwrap();
        let key = design.payload["artwork"]["key"].as_str().unwrap().to_owned();
        std::fs::write(c.shop.blobs.root().join(&key), b"changed").unwrap();
        c.printify.release();
        c.shop.handler.handle(&submitted).await.unwrap();
        assert_eq!(c.shop.outcome(&listing).await.0, ListingStatus::Published);
        c.done().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_product_type_with_no_template_names_the_setting_to_add() {
        let c = Connected::new().await;
        let (listing, _, submitted, _) =
            c.shop.submitted_as("Proud Cat Mom Onesie, Cat Lover Gift", "onesie", Some(c.shop_id), false).await;
        c.shop.handler.handle(&submitted).await.unwrap();
        let reason = reason_of(&c.shop.outcome(&listing).await.1);
        assert!(
            reason.contains(r#"has no Printify template; set marketplaces.printify.products.\"onesie\""#),
            "{reason}"
        );
        assert!(c.printify.products(PRINTIFY_SHOP).is_empty());
        c.done().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn rate_limits_defer_the_work_for_as_long_as_printify_asks() {
        let c = Connected::new().await;
        let (listing, submitted) = c.submitted().await;
        c.printify.throttle(1, 42);
        match c.shop.handler.handle(&submitted).await {
            Err(HandlerError::Deferred { wait, .. }) => assert_eq!(wait, Duration::from_secs(42)),
            other => panic!("expected a deferral, got {other:?}"),
        }
        assert_eq!(c.shop.outcome(&listing).await.0, ListingStatus::Queued, "still queued, not failed");
        c.shop.handler.handle(&submitted).await.unwrap();
        assert_eq!(c.shop.outcome(&listing).await.0, ListingStatus::Published);
        c.done().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_outage_is_retried_and_then_succeeds() {
        let c = Connected::new().await;
        let (listing, submitted) = c.submitted().await;
        c.printify.fail(1);
        let first = c.shop.handler.handle(&submitted).await;
        assert!(matches!(first, Err(HandlerError::Transient { .. })), "{first:?}");
        c.shop.handler.handle(&submitted).await.unwrap();
        assert_eq!(c.shop.outcome(&listing).await.0, ListingStatus::Published);
        assert_eq!(c.printify.products(PRINTIFY_SHOP).len(), 1);
        c.done().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_spent_publish_budget_queues_the_next_listing_instead_of_failing_it() {
        let c = Connected::with(|s| s.publishes_per_half_hour = 1).await;
        let (first, submitted_first) = c.submitted().await;
        let (second, submitted_second) = c.submitted().await;
        c.shop.handler.handle(&submitted_first).await.unwrap();
        match c.shop.handler.handle(&submitted_second).await {
            Err(HandlerError::Deferred { wait, .. }) => assert!(wait > Duration::from_secs(60), "{wait:?}"),
            other => panic!("expected a deferral, got {other:?}"),
        }
        assert_eq!(c.shop.outcome(&first).await.0, ListingStatus::Published);
        let (status, events) = c.shop.outcome(&second).await;
        assert_eq!(status, ListingStatus::Queued, "{events:?}");
        assert_eq!(c.printify.publish_requests().len(), 1);
        c.done().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_product_still_publishing_is_looked_at_again_and_settles_when_listed() {
        let c = Connected::new().await;
        let (listing, submitted) = c.submitted().await;
        c.printify.hold_publishing();
        let first = c.shop.handler.handle(&submitted).await;
        assert!(matches!(first, Err(HandlerError::Deferred { .. })), "{first:?}");
        let (status, events) = c.shop.outcome(&listing).await;
        assert_eq!(status, ListingStatus::Queued);
        assert!(events.iter().any(|(t, _)| t == "ListingPublishRequested"), "{events:?}");
        // Looked at again while Printify still works on it: not asked twice.
        let again = c.shop.handler.handle(&submitted).await;
        assert!(matches!(again, Err(HandlerError::Deferred { .. })), "{again:?}");
        c.printify.release();
        c.shop.handler.handle(&submitted).await.unwrap();
        assert_eq!(c.shop.outcome(&listing).await.0, ListingStatus::Published);
        assert_eq!(c.printify.publish_requests().len(), 1);
        c.done().await;
    }

    /// What a custom sales channel's integration tells Printify of a
    /// product it was asked to publish (`publishing_succeeded.json` or
    /// `publishing_failed.json`), as that integration would.
    async fn channel_confirms(c: &Connected, product: &str, outcome: &str, body: serde_json::Value) {
        let url = format!("{}/v1/shops/{PRINTIFY_SHOP}/products/{product}/{outcome}.json", c.printify.url);
        let answer = reqwest::Client::new()
            .post(url)
            .bearer_auth(TOKEN)
            .header("user-agent", "the-channels-integration")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(answer.status().is_success(), "{}", answer.text().await.unwrap());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_publish_the_channel_confirms_settles_published_and_one_it_fails_goes_back_to_the_editor() {
        let c = Connected::with(|s| s.publish_deadline_mins = 0).await;
        c.printify.hold_publishing();
        let (listed, submitted) = c.submitted().await;
        let (refused, refused_submitted) = c.submitted().await;
        for s in [&submitted, &refused_submitted] {
            let first = c.shop.handler.handle(s).await;
            assert!(matches!(first, Err(HandlerError::Deferred { .. })), "locked, publishing: {first:?}");
        }
        let products = c.printify.products(PRINTIFY_SHOP);
        assert_eq!(products.len(), 2);
        let product_of = |listing: &AggregateId| {
            let prefix = pod_workers::publishing::printify::sku_prefix(&tenant(), listing.id, 1);
            products.iter().find(|p| p.variants[0].sku.starts_with(&prefix)).unwrap().id.clone()
        };
        let (made, unmade) = (product_of(&listed), product_of(&refused));
        let handle = "https://shop.example.com/products/proud-cat-mom";
        channel_confirms(
            &c,
            &made,
            "publishing_succeeded",
            serde_json::json!({"external": {"id": "cat-mom-1", "handle": handle}}),
        )
        .await;
        channel_confirms(
            &c,
            &unmade,
            "publishing_failed",
            serde_json::json!({"reason": "Tags refused by the channel"}),
        )
        .await;

        c.shop.handler.handle(&submitted).await.unwrap();
        let (status, events) = c.shop.outcome(&listed).await;
        assert_eq!(status, ListingStatus::Published);
        let p: Vec<_> = events.iter().filter(|(t, _)| t == "ListingPublished").map(|(_, p)| p).collect();
        assert_eq!((p[0]["url"].as_str(), p[0]["printify_product_id"].as_str()), (Some(handle), Some(made.as_str())));
        assert!(p[0]["etsy_listing_id"].is_null(), "not an Etsy listing");

        c.shop.handler.handle(&refused_submitted).await.unwrap();
        let (status, events) = c.shop.outcome(&refused).await;
        assert_eq!(status, ListingStatus::Draft, "back to its editor");
        let reason = reason_of(&events);
        assert!(reason.contains(&unmade) && reason.contains("without listing it"), "{reason}");
        assert_eq!(c.printify.publish_requests().len(), 2, "each asked once");
        c.done().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_refused_publish_goes_back_to_the_editor_with_printifys_reason() {
        let c = Connected::new().await;
        let (listing, submitted) = c.submitted().await;
        c.printify.refuse_publishing(Some("The shop's sales channel is disconnected."));
        c.shop.handler.handle(&submitted).await.unwrap();
        let (status, events) = c.shop.outcome(&listing).await;
        assert_eq!(status, ListingStatus::Draft);
        let reason = reason_of(&events);
        assert!(reason.contains("the publish request") && reason.contains("sales channel is disconnected"), "{reason}");
        c.done().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_refused_token_marks_the_shop_for_reconnecting() {
        let c = Connected::new().await;
        let (listing, submitted) = c.submitted().await;
        c.printify.revoke();
        c.shop.handler.handle(&submitted).await.unwrap();
        let (status, events) = c.shop.outcome(&listing).await;
        assert_eq!(status, ListingStatus::Draft);
        assert!(reason_of(&events).contains("connect the shop again"), "{events:?}");
        assert!(c.shop_state().await.needs_reconnect);
        // The next submission is told without calling Printify.
        let before = c.printify.requests();
        let (listing, submitted) = c.submitted().await;
        c.shop.handler.handle(&submitted).await.unwrap();
        assert!(reason_of(&c.shop.outcome(&listing).await.1).contains("needs reconnecting"));
        assert_eq!(c.printify.requests(), before);
        c.done().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_template_whose_variants_the_catalog_does_not_offer_is_named() {
        let c = Connected::with(|s| {
            // A configured type that Printify's catalog does not offer.
            s.products.insert(
                "t-shirt".into(),
                pod_marketplaces::printify::catalog::ProductTemplate {
                    blueprint_id: 6,
                    print_provider_id: 99,
                    variants: vec![1],
                    position: "front".into(),
                },
            );
        })
        .await;
        let (listing, submitted) = c.submitted().await;
        c.shop.handler.handle(&submitted).await.unwrap();
        let reason = reason_of(&c.shop.outcome(&listing).await.1);
        assert!(reason.contains("offers none of the variants") && reason.contains("blueprint 6"), "{reason}");
        assert!(c.printify.products(PRINTIFY_SHOP).is_empty());
        c.done().await;
    }
}

mod etsy {
    //! A submission straight to a connected Etsy shop, against the Etsy
    //! stand-in: one draft, its image, made active; expiring and revoked
    //! tokens, refused fields, outages and a crash between Etsy's answer
    //! and its recording on the way.

    use pod_events::domain::shop::{ListingDefaults, Marketplace, Shop as ShopAggregate, ShopCommand, ShopConnected};
    use pod_marketplaces::etsy::{self as etsy_api, EtsyOAuth};
    use pod_marketplaces::standin::etsy::{self as standin, EtsyStandIn};
    use pod_marketplaces::{EtsySettings, Keyring};
    use pod_workers::publishing::etsy::EtsyPublisher;
    use pod_workers::runtime::HandlerError;
    use sqlx::PgPool;

    use crate::shared_db::{drop_db, fresh_db};

    use super::*;

    const APP: &str = "pod-publishing-test-app";
    const REDIRECT: &str = "http://127.0.0.1:9/integrations/etsy/callback";
    const TITLE: &str = "Proud Cat Mom Shirt, Cat Lover Gift";

    /// A connected Etsy shop: its Shop aggregate (with the stand-in's
    /// shipping profile and return policy), its tokens sealed in a
    /// database of the test's own, the stand-in behind it.
    struct Connected {
        shop: Shop,
        etsy: EtsyStandIn,
        settings: EtsySettings,
        keys: Arc<Keyring>,
        shop_id: uuid::Uuid,
        pool: PgPool,
        db: String,
        admin: String,
    }

    impl Connected {
        async fn new() -> Self {
            Self::with(|_| {}, Some(standin::SHIPPING_PROFILE_ID)).await
        }

        async fn with(tune: impl FnOnce(&mut EtsySettings), shipping_profile_id: Option<u64>) -> Self {
            Self::with_shop(tune, shipping_profile_id, "USD").await
        }

        async fn with_shop(
            tune: impl FnOnce(&mut EtsySettings),
            shipping_profile_id: Option<u64>,
            currency: &str,
        ) -> Self {
            let (pool, admin, db) = fresh_db().await;
            let keys = Arc::new(Keyring::parse(&Keyring::new_entry("t1").unwrap()).unwrap());
            let etsy = EtsyStandIn::start(APP).await.unwrap();
            let mut settings = EtsySettings {
                base_url: etsy.url.clone(),
                authorize_url: etsy.authorize_url(),
                token_url: etsy.token_url(),
                keystring: Some(APP.into()),
                ..EtsySettings::default()
            };
            tune(&mut settings);
            let shop_id = uuid::Uuid::new_v4();
            // The seller's consent, and the tokens it gave kept.
            let tokens = etsy.consent(&EtsyOAuth::new(&settings, REDIRECT).unwrap()).await.unwrap();
            etsy_api::tokens::keep(&pool, &keys, &tenant(), shop_id, &tokens).await.unwrap();

            let mut shop = Shop::new().await;
            let publisher = EtsyPublisher::new(&settings, REDIRECT, pool.clone(), keys.clone()).unwrap();
            let pipeline = Arc::new(Pipeline::open(shop.env.client.clone(), &shop.env.ns).await.unwrap());
            shop.handler = Publishing::new(pipeline, shop.blobs.clone()).with_etsy(publisher);
            let shops = CommandBus::new(shop.env.store_of::<ShopAggregate>().await, ());
            let connect = ShopCommand::Connect(ShopConnected {
                marketplace: Marketplace::Etsy,
                external_shop_id: standin::SHOP_ID.to_string(),
                display_name: standin::SHOP_NAME.into(),
                token_expires_at: Some(tokens.expires_at),
                listing_defaults: ListingDefaults {
                    shipping_profile_id,
                    return_policy_id: Some(standin::RETURN_POLICY_ID),
                    currency: Some(currency.into()),
                    ..ListingDefaults::default()
                },
                sales_channel: None,
            });
            shops.execute(&AggregateId::new(tenant(), shop_id), connect, &EventMeta::new_command()).await.unwrap();
            Self { shop, etsy, settings, keys, shop_id, pool, db, admin }
        }

        async fn submitted(&self) -> (AggregateId, RecordedEvent) {
            let (listing, _, event, _) = self.shop.submitted(TITLE, Some(self.shop_id), false).await;
            (listing, event)
        }

        async fn shop_state(&self) -> ShopAggregate {
            let id = AggregateId::new(tenant(), self.shop_id);
            self.shop.env.store_of::<ShopAggregate>().await.load_fresh(&id).await.unwrap().aggregate
        }

        async fn shop_events(&self) -> Vec<String> {
            let id = AggregateId::new(tenant(), self.shop_id).to_string();
            self.shop.log().await.into_iter().filter(|e| e.aggregate_id == id).map(|e| e.event_type).collect()
        }

        async fn done(self) {
            drop_db(self.pool, &self.admin, &self.db).await;
        }
    }

    fn published(events: &[(String, serde_json::Value)]) -> Vec<serde_json::Value> {
        events.iter().filter(|(t, _)| t == "ListingPublished").map(|(_, p)| p.clone()).collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_submission_is_drafted_with_the_shops_policies_given_its_image_and_made_active_once() {
        let c = Connected::new().await;
        let (listing, submitted) = c.submitted().await;
        c.shop.handler.handle(&submitted).await.unwrap();
        // Redelivered after it settled: nothing more happens.
        c.shop.handler.handle(&submitted).await.unwrap();

        let made = c.etsy.listings();
        assert_eq!(made.len(), 1, "{made:#?}");
        let l = &made[0];
        assert_eq!(l.state, "active");
        let f = &l.drafted;
        assert_eq!(f["title"], TITLE);
        assert_eq!(f["price"], "24.99");
        assert_eq!(f["taxonomy_id"], "482", "a t-shirt's category");
        assert_eq!(f["shipping_profile_id"], standin::SHIPPING_PROFILE_ID.to_string());
        assert_eq!(f["return_policy_id"], standin::RETURN_POLICY_ID.to_string());
        assert_eq!((f["who_made"].as_str(), f["when_made"].as_str()), ("i_did", "made_to_order"));
        assert_eq!(f["tags[]"], "cat mom|cat lover gift");
        assert_eq!(l.image_bytes, vec![PNG.to_vec()], "the artwork, byte for byte");

        let (status, events) = c.shop.outcome(&listing).await;
        assert_eq!(status, ListingStatus::Published);
        let published = published(&events);
        assert_eq!(published.len(), 1, "{events:?}");
        assert_eq!(published[0]["etsy_listing_id"], l.listing_id.to_string());
        assert_eq!(published[0]["url"], format!("https://www.etsy.com/listing/{}", l.listing_id));
        let recorded: Vec<_> =
            c.shop.log().await.into_iter().filter(|e| e.event_type == "ListingExternalIdRecorded").collect();
        assert_eq!(recorded.len(), 1);
        assert_eq!(
            (recorded[0].payload["kind"].as_str(), recorded[0].payload["id"].as_str()),
            (Some("etsy_listing"), Some(l.listing_id.to_string().as_str()))
        );
        c.done().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_listing_ships_with_the_profile_the_seller_chose_for_its_product_type() {
        let c = Connected::new().await;
        c.etsy.set_policies(vec![standin::SHIPPING_PROFILE_ID, 777], vec![standin::RETURN_POLICY_ID]);
        let choose = ShopCommand::ChooseListingDefaults {
            shipping_profile_id: standin::SHIPPING_PROFILE_ID,
            return_policy_id: None,
            shipping_profile_by_type: [("T-Shirt".to_owned(), 777)].into(),
            by: pod_events::domain::Actor::System,
        };
        let shops = CommandBus::new(c.shop.env.store_of::<ShopAggregate>().await, ());
        shops.execute(&AggregateId::new(tenant(), c.shop_id), choose, &EventMeta::new_command()).await.unwrap();
        let (listing, submitted) = c.submitted().await;
        c.shop.handler.handle(&submitted).await.unwrap();
        assert_eq!(c.shop.outcome(&listing).await.0, ListingStatus::Published);
        let f = &c.etsy.listings()[0].drafted;
        assert_eq!(f["shipping_profile_id"], "777", "a t-shirt's own profile");
        assert!(!f.contains_key("return_policy_id"), "no return policy chosen: {f:?}");
        c.done().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_token_that_expires_mid_publish_is_refreshed_and_the_request_tried_once_more() {
        let c = Connected::new().await;
        let (listing, submitted) = c.submitted().await;
        c.etsy.expire_access_tokens();
        c.shop.handler.handle(&submitted).await.unwrap();
        assert_eq!(c.etsy.refreshes(), 1, "one refresh");
        assert_eq!(c.etsy.listings().len(), 1);
        assert_eq!(c.shop.outcome(&listing).await.0, ListingStatus::Published);
        assert!(c.shop_events().await.contains(&"ShopTokenRefreshed".to_owned()), "the refresh is recorded");
        assert!(!c.shop_state().await.needs_reconnect);
        c.done().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_revoked_grant_marks_the_shop_for_reconnecting_and_sends_the_listing_back() {
        let c = Connected::new().await;
        let (listing, submitted) = c.submitted().await;
        c.etsy.revoke_all();
        c.shop.handler.handle(&submitted).await.unwrap();
        assert!(c.shop_state().await.needs_reconnect, "the shop needs reconnecting");
        let (status, events) = c.shop.outcome(&listing).await;
        assert_eq!(status, ListingStatus::Draft, "back to its editor");
        assert!(reason_of(&events).contains("connect the shop again"), "{events:?}");
        assert!(c.etsy.listings().is_empty());
        c.done().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_field_etsy_refuses_is_named_in_the_editor() {
        let c = Connected::new().await;
        let (listing, submitted) = c.submitted().await;
        c.etsy.refuse_drafts(Some("Invalid taxonomy_id: 482 is not a valid taxonomy node for this shop"));
        c.shop.handler.handle(&submitted).await.unwrap();
        let (status, events) = c.shop.outcome(&listing).await;
        assert_eq!(status, ListingStatus::Draft);
        let reason = reason_of(&events);
        assert!(reason.contains("Etsy refused the draft (400): Invalid taxonomy_id"), "{reason}");
        c.done().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_draft_made_by_a_run_that_died_before_recording_it_is_found_not_made_again() {
        let c = Connected::new().await;
        let (listing, submitted) = c.submitted().await;
        // A draft of the same title made long before: another listing's.
        let older = c.etsy.add_draft(TITLE, chrono::Utc::now().timestamp() - 86_400);
        // The earlier run said it was starting, and Etsy made its draft;
        // then kill -9, before the draft's id was recorded.
        let started = ListingCommand::RecordProductStarted { submission: 1, started_at: chrono::Utc::now() };
        c.shop.listings.execute(&listing, started, &EventMeta::new_command()).await.unwrap();
        let earlier = c.etsy.add_draft(TITLE, chrono::Utc::now().timestamp());

        c.shop.handler.handle(&submitted).await.unwrap();
        let all = c.etsy.listings();
        assert_eq!(all.len(), 2, "nothing drafted again: {all:#?}");
        let found = all.iter().find(|l| l.listing_id == earlier).unwrap();
        assert_eq!((found.state.as_str(), found.images.len()), ("active", 1));
        let untouched = all.iter().find(|l| l.listing_id == older).unwrap();
        assert_eq!((untouched.state.as_str(), untouched.images.len()), ("draft", 0));
        let (status, events) = c.shop.outcome(&listing).await;
        assert_eq!(status, ListingStatus::Published);
        assert_eq!(published(&events)[0]["etsy_listing_id"], earlier.to_string());
        c.done().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_draft_whose_answer_was_lost_is_found_by_the_retry_not_made_again() {
        let c = Connected::new().await;
        let (listing, submitted) = c.submitted().await;
        // Etsy makes the draft; its answer never arrives.
        c.etsy.lose_draft_answers(1);
        let first = c.shop.handler.handle(&submitted).await;
        assert!(matches!(first, Err(HandlerError::Transient { .. })), "{first:?}");
        assert_eq!(c.etsy.listings().len(), 1);
        c.shop.handler.handle(&submitted).await.unwrap();
        let all = c.etsy.listings();
        assert_eq!(all.len(), 1, "found, not drafted again: {all:#?}");
        assert_eq!((all[0].state.as_str(), all[0].images.len()), ("active", 1));
        assert_eq!(c.shop.outcome(&listing).await.0, ListingStatus::Published);
        c.done().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_outage_before_the_draft_is_retried_and_then_succeeds_with_one_draft() {
        let c = Connected::new().await;
        let (listing, submitted) = c.submitted().await;
        c.etsy.fail_after(0, 1);
        let first = c.shop.handler.handle(&submitted).await;
        assert!(matches!(first, Err(HandlerError::Transient { .. })), "{first:?}");
        assert!(c.etsy.listings().is_empty());
        c.shop.handler.handle(&submitted).await.unwrap();
        assert_eq!(c.etsy.listings().len(), 1);
        assert_eq!(c.shop.outcome(&listing).await.0, ListingStatus::Published);
        c.done().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_runs_of_one_submission_at_once_make_one_listing_with_one_image() {
        let c = Connected::new().await;
        let (listing, submitted) = c.submitted().await;
        let (a, b) = tokio::join!(c.shop.handler.handle(&submitted), c.shop.handler.handle(&submitted));
        for r in [&a, &b] {
            assert!(matches!(r, Ok(()) | Err(HandlerError::Deferred { .. })), "{r:?}");
        }
        // The one deferred carries on later and finds the listing settled.
        c.shop.handler.handle(&submitted).await.unwrap();
        let all = c.etsy.listings();
        assert_eq!(all.len(), 1, "{all:#?}");
        assert_eq!((all[0].state.as_str(), all[0].images.len()), ("active", 1));
        let (status, events) = c.shop.outcome(&listing).await;
        assert_eq!(status, ListingStatus::Published);
        assert_eq!(published(&events).len(), 1);
        c.done().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_drafts_that_may_each_be_the_lost_one_send_the_listing_back_naming_both() {
        let c = Connected::new().await;
        let (listing, submitted) = c.submitted().await;
        let started = ListingCommand::RecordProductStarted { submission: 1, started_at: chrono::Utc::now() };
        c.shop.listings.execute(&listing, started, &EventMeta::new_command()).await.unwrap();
        let now = chrono::Utc::now().timestamp();
        let (one, two) = (c.etsy.add_draft(TITLE, now), c.etsy.add_draft(TITLE, now + 1));
        c.shop.handler.handle(&submitted).await.unwrap();
        let (status, events) = c.shop.outcome(&listing).await;
        assert_eq!(status, ListingStatus::Draft);
        let reason = reason_of(&events);
        assert!(reason.contains(&one.to_string()) && reason.contains(&two.to_string()), "{reason}");
        assert!(c.etsy.listings().iter().all(|l| l.state == "draft"), "neither activated");
        c.done().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_outage_after_the_image_carries_on_with_that_draft_and_does_not_upload_it_again() {
        let c = Connected::new().await;
        let (listing, submitted) = c.submitted().await;
        // The draft is made, its image uploaded, and the activation fails.
        c.etsy.fail_after(2, 1);
        let first = c.shop.handler.handle(&submitted).await;
        assert!(matches!(first, Err(HandlerError::Transient { .. })), "{first:?}");
        let drafted = c.etsy.listings();
        assert_eq!((drafted.len(), drafted[0].state.as_str(), drafted[0].images.len()), (1, "draft", 1));
        c.shop.handler.handle(&submitted).await.unwrap();
        let done = c.etsy.listings();
        assert_eq!((done.len(), done[0].state.as_str(), done[0].images.len()), (1, "active", 1), "one image");
        assert_eq!(c.shop.outcome(&listing).await.0, ListingStatus::Published);
        c.done().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn etsys_rate_limit_defers_the_work_for_as_long_as_etsy_asks() {
        let c = Connected::with(|s| s.requests_per_second = 1000, Some(standin::SHIPPING_PROFILE_ID)).await;
        let (listing, submitted) = c.submitted().await;
        // Two a second: the draft and its image go, the activation is refused.
        c.etsy.limit_per_second(2);
        let mut deferred = None;
        for _ in 0..10 {
            match c.shop.handler.handle(&submitted).await {
                Ok(()) => break,
                Err(HandlerError::Deferred { wait, .. }) => {
                    deferred = Some(wait);
                    tokio::time::sleep(wait).await;
                }
                Err(e) => panic!("{e:?}"),
            }
        }
        assert_eq!(deferred, Some(std::time::Duration::from_secs(1)), "deferred as long as retry-after says");
        assert!(c.etsy.throttled() >= 1);
        assert_eq!(c.etsy.listings().len(), 1, "one draft all the same");
        assert_eq!(c.shop.outcome(&listing).await.0, ListingStatus::Published);
        c.done().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_tenant_spends_only_its_share_of_the_apps_day_counted_across_processes_and_the_headroom_is_kept() {
        let c = Connected::with(|s| s.tenant_requests_per_day = 2, Some(standin::SHIPPING_PROFILE_ID)).await;
        // Another tenant has spent far more today: that is its own share.
        sqlx::query(
            "INSERT INTO marketplace_usage (tenant, marketplace, day, requests)
             VALUES ('globex', 'etsy', (now() AT TIME ZONE 'UTC')::date, 900)",
        )
        .execute(&c.pool)
        .await
        .unwrap();
        let (listing, submitted) = c.submitted().await;
        // The draft and its image: the share is spent before the
        // activation, which waits for the next UTC day.
        match c.shop.handler.handle(&submitted).await {
            Err(HandlerError::Deferred { wait, reason }) => {
                assert!(reason.contains("share") && wait >= std::time::Duration::from_secs(60), "{reason} {wait:?}")
            }
            other => panic!("expected a deferral for the share, got {other:?}"),
        }
        assert_eq!(c.etsy.listings().len(), 1, "drafted as far as the share went");
        assert_ne!(c.shop.outcome(&listing).await.0, ListingStatus::Published);
        let spent: Vec<(String, i64)> =
            sqlx::query_as("SELECT tenant, requests FROM marketplace_usage ORDER BY tenant")
                .fetch_all(&c.pool)
                .await
                .unwrap();
        assert_eq!(spent, vec![("acme".to_owned(), 2), ("globex".to_owned(), 900)]);
        // Another process (a publisher of its own) counts the same share.
        let again = EtsyPublisher::new(&c.settings, REDIRECT, c.pool.clone(), c.keys.clone()).unwrap();
        let pipeline = Arc::new(Pipeline::open(c.shop.env.client.clone(), &c.shop.env.ns).await.unwrap());
        let other = Publishing::new(pipeline, c.shop.blobs.clone()).with_etsy(again);
        match other.handle(&submitted).await {
            Err(HandlerError::Deferred { reason, .. }) => assert!(reason.contains("share"), "{reason}"),
            other => panic!("expected a deferral for the share, got {other:?}"),
        }
        let acme: i64 = sqlx::query_scalar("SELECT requests FROM marketplace_usage WHERE tenant = 'acme'")
            .fetch_one(&c.pool)
            .await
            .unwrap();
        assert_eq!(acme, 2, "nothing more counted, nothing more sent");
        assert_eq!(c.etsy.listings().len(), 1);
        // Its orders still come back: a sync is not counted in the share.
        let app =
            pod_workers::etsy_session::EtsyApp::new(&c.settings, REDIRECT, c.pool.clone(), c.keys.clone()).unwrap();
        let acme = tenant();
        let session = app.sync_session(&acme, c.shop_id);
        let api = &app.api;
        let shop = session.call(|t| async move { api.shop(&t, standin::SHOP_ID).await }).await;
        assert!(shop.is_ok(), "{:?}", shop.err());
        let headroom: (Option<i64>, Option<i64>) =
            sqlx::query_as("SELECT remaining_today, limit_per_day FROM marketplace_quota WHERE marketplace = 'etsy'")
                .fetch_one(&c.pool)
                .await
                .unwrap();
        assert!(headroom.0.is_some_and(|left| left > 0 && left < 10_000), "Etsy's word on the day: {headroom:?}");
        c.done().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn what_the_seller_must_set_up_first_is_named() {
        // A shop that sells in another currency than the listing's price.
        let c = Connected::with_shop(|_| {}, Some(standin::SHIPPING_PROFILE_ID), "GBP").await;
        let (listing, submitted) = c.submitted().await;
        c.shop.handler.handle(&submitted).await.unwrap();
        let (status, events) = c.shop.outcome(&listing).await;
        assert_eq!(status, ListingStatus::Draft);
        assert!(reason_of(&events).contains("sells in GBP"), "{events:?}");
        c.done().await;
        // A product type with no Etsy category.
        let c = Connected::new().await;
        let (listing, _, submitted, _) = c.shop.submitted_as(TITLE, "mug", Some(c.shop_id), false).await;
        c.shop.handler.handle(&submitted).await.unwrap();
        let (status, events) = c.shop.outcome(&listing).await;
        assert_eq!(status, ListingStatus::Draft);
        assert!(reason_of(&events).contains("marketplaces.etsy.taxonomies"), "{events:?}");
        c.done().await;
        // A shop that had no shipping profile.
        let c = Connected::with(|_| {}, None).await;
        let (listing, submitted) = c.submitted().await;
        c.shop.handler.handle(&submitted).await.unwrap();
        let (status, events) = c.shop.outcome(&listing).await;
        assert_eq!(status, ListingStatus::Draft);
        assert!(reason_of(&events).contains("no shipping profile"), "{events:?}");
        assert!(c.etsy.listings().is_empty());
        c.done().await;
    }

    mod sync {
        //! The sync worker against the same stand-in: receipts become
        //! orders once, by a durable cursor; listings' drift comes back;
        //! sales of Printify's listings are left to Printify.

        use pod_events::domain::listing::MarketplaceState;
        use pod_workers::etsy_session::EtsyApp;
        use pod_workers::sync::{EtsyShop, EtsySync};

        use super::*;

        fn money(amount: i64) -> serde_json::Value {
            serde_json::json!({"amount": amount, "divisor": 100, "currency_code": "USD"})
        }

        /// When the receipts were placed: three days before the test.
        fn placed() -> i64 {
            chrono::Utc::now().timestamp() - 3 * 86_400
        }

        fn receipt(id: u64, etsy_listing: u64, status: &str) -> serde_json::Value {
            serde_json::json!({
                "receipt_id": id, "status": status, "is_paid": true, "grandtotal": money(4998),
                "created_timestamp": placed(),
                "transactions": [{"transaction_id": id + 1, "listing_id": etsy_listing, "quantity": 2, "price": money(2499)}],
                "shipments": [{"carrier_name": "usps", "tracking_code": "9400111"}],
            })
        }

        impl Connected {
            async fn sync(&self) -> EtsySync {
                let pipeline = Arc::new(Pipeline::open(self.shop.env.client.clone(), &self.shop.env.ns).await.unwrap());
                let app = EtsyApp::new(&self.settings, REDIRECT, self.pool.clone(), self.keys.clone()).unwrap();
                EtsySync::new(pipeline, self.pool.clone(), app)
            }

            fn etsy_shop(&self) -> EtsyShop {
                EtsyShop { tenant: tenant(), shop_id: self.shop_id, etsy_shop: standin::SHOP_ID }
            }

            /// A listing published to the shop, as the read model has it.
            async fn published(&self, printify_product: Option<&str>) -> (AggregateId, u64) {
                let (listing, submitted) = self.submitted().await;
                self.shop.handler.handle(&submitted).await.unwrap();
                let etsy_id = self.etsy.listings().last().unwrap().listing_id;
                sqlx::query(
                    "INSERT INTO listings (tenant, listing_id, idea_id, design_id, title, description, price_cents,
                         currency, seo_score, status, shop_id, dry_run, printify_product_id, etsy_listing_id,
                         created_at, updated_at, version)
                     VALUES ($1, $2, $3, $3, $4, 'd', 2499, 'USD', 70, 'published', $5, false, $6, $7, now(), now(), 5)",
                )
                .bind(tenant())
                .bind(listing.id)
                .bind(uuid::Uuid::nil())
                .bind(TITLE)
                .bind(self.shop_id)
                .bind(printify_product)
                .bind(etsy_id.to_string())
                .execute(&self.pool)
                .await
                .unwrap();
                (listing, etsy_id)
            }

            async fn marketplace_state(&self, listing: &AggregateId) -> MarketplaceState {
                let store = self.shop.env.store_of::<Listing>().await;
                store.load_fresh(listing).await.unwrap().aggregate.marketplace_state
            }

            async fn count(&self, event_type: &str) -> Vec<serde_json::Value> {
                let log = self.shop.log().await;
                log.into_iter().filter(|e| e.event_type == event_type).map(|e| e.payload).collect()
            }
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn receipts_become_orders_once_with_fees_and_parcels_from_a_durable_cursor() {
            let c = Connected::new().await;
            let (listing, etsy_id) = c.published(None).await;
            c.etsy.put_receipt(receipt(3_000_000_001, etsy_id, "paid"), 412);

            let sync = c.sync().await;
            let done = sync.sync_shop(&c.etsy_shop()).await.unwrap();
            assert_eq!(done.receipts, 1, "{done:?}");
            let received = c.count("OrderReceived").await;
            assert_eq!(received.len(), 1);
            let r = &received[0];
            assert_eq!(
                (r["marketplace"].as_str(), r["external_order_id"].as_str()),
                (Some("etsy"), Some("3000000001"))
            );
            assert_eq!((r["total_cents"].as_u64(), r["currency"].as_str()), (Some(4998), Some("USD")));
            let placed_at: chrono::DateTime<chrono::Utc> = serde_json::from_value(r["placed_at"].clone()).unwrap();
            assert!((placed_at.timestamp() - placed()).abs() < 60, "placed when Etsy says: {placed_at}");
            assert_eq!(r["line_items"][0]["listing_id"], listing.id.to_string(), "the line names our listing");
            let paid = c.count("OrderPaid").await;
            assert_eq!((paid.len(), paid[0]["fees_cents"].as_u64()), (1, Some(412)), "Etsy's fees");
            assert_eq!(c.count("OrderShipped").await.len(), 1);

            // Again, and after a restart (a new sync reading the kept cursor): nothing new.
            sync.sync_shop(&c.etsy_shop()).await.unwrap();
            c.sync().await.sync_shop(&c.etsy_shop()).await.unwrap();
            assert_eq!(c.count("OrderReceived").await.len(), 1);
            assert_eq!(c.count("OrderPaid").await.len(), 1);
            assert_eq!(c.count("OrderShipped").await.len(), 1);

            // A new receipt, and the first one changed since: one new order, its change recorded.
            c.etsy.put_receipt(receipt(3_000_000_003, etsy_id, "paid"), 380);
            let mut shipped_again = receipt(3_000_000_001, etsy_id, "completed");
            shipped_again["shipments"] = serde_json::json!([
                {"carrier_name": "usps", "tracking_code": "9400111"},
                {"carrier_name": "ups", "tracking_code": "1Z999"}
            ]);
            c.etsy.put_receipt(shipped_again, 412);
            let done = sync.sync_shop(&c.etsy_shop()).await.unwrap();
            assert_eq!(done.receipts, 2, "{done:?}");
            assert_eq!(c.count("OrderReceived").await.len(), 2);
            assert_eq!(c.count("OrderShipped").await.len(), 3, "the second parcel of the first order");
            let cursor: Option<i64> =
                sqlx::query_scalar("SELECT receipts_cursor FROM marketplace_sync WHERE shop_id = $1")
                    .bind(c.shop_id)
                    .fetch_one(&c.pool)
                    .await
                    .unwrap();
            assert!(cursor.unwrap() > 1_700_000_000, "{cursor:?}");
            c.done().await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn listings_deactivated_sold_out_or_deleted_on_etsy_come_back_into_the_listing() {
            let c = Connected::new().await;
            let (listing, etsy_id) = c.published(None).await;
            let sync = c.sync().await;
            let done = sync.sync_shop(&c.etsy_shop()).await.unwrap();
            assert_eq!((done.listings_checked, done.listings_changed), (1, 0), "still for sale");

            c.etsy.set_listing_state(etsy_id, Some("sold_out"));
            let done = sync.sync_shop(&c.etsy_shop()).await.unwrap();
            assert_eq!(done.listings_changed, 1);
            assert_eq!(c.marketplace_state(&listing).await, MarketplaceState::SoldOut);
            sync.sync_shop(&c.etsy_shop()).await.unwrap();
            assert_eq!(c.count("ListingMarketplaceStateChanged").await.len(), 1, "recorded once");

            c.etsy.set_listing_state(etsy_id, None);
            sync.sync_shop(&c.etsy_shop()).await.unwrap();
            assert_eq!(c.marketplace_state(&listing).await, MarketplaceState::Removed);
            // Once the read model has it removed, it is not looked up again.
            sqlx::query("UPDATE listings SET marketplace_state = 'removed' WHERE listing_id = $1")
                .bind(listing.id)
                .execute(&c.pool)
                .await
                .unwrap();
            let done = sync.sync_shop(&c.etsy_shop()).await.unwrap();
            assert_eq!(done.listings_checked, 0, "{done:?}");
            c.done().await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn a_full_page_of_receipts_in_one_second_is_read_to_the_end_and_a_bad_one_stalls_nothing() {
            let c = Connected::new().await;
            let (_, etsy_id) = c.published(None).await;
            // 150 receipts changed in the same second (more than a page),
            // without payments to read (Etsy has none to show), one of them
            // unusable, then one a second later.
            let at = chrono::Utc::now().timestamp() - 60;
            for n in 0..150u64 {
                let mut r = receipt(4_000_000_000 + n * 2, etsy_id, "paid");
                if n == 7 {
                    r["grandtotal"] = money(-1);
                }
                c.etsy.put_receipt_at(r, at);
            }
            c.etsy.put_receipt_at(receipt(4_100_000_000, etsy_id, "paid"), at + 1);
            let done = c.sync().await.sync_shop(&c.etsy_shop()).await.unwrap();
            assert_eq!((done.receipts, done.unusable.len()), (150, 1), "{:?}", done.unusable);
            assert_eq!(c.count("OrderReceived").await.len(), 150, "each once");
            let paid = c.count("OrderPaid").await;
            assert!(paid.len() == 150 && paid.iter().all(|p| p["fees_cents"].is_null()), "paid, fees unknown");
            let kept: Option<String> = sqlx::query_scalar("SELECT last_error FROM marketplace_sync WHERE shop_id = $1")
                .bind(c.shop_id)
                .fetch_one(&c.pool)
                .await
                .unwrap();
            assert!(kept.unwrap_or_default().contains("1 receipt(s) not recorded"), "the bad one is said");
            c.done().await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn a_listing_left_out_of_etsys_batch_answer_is_looked_up_before_it_is_called_deleted() {
            let c = Connected::new().await;
            let (listing, etsy_id) = c.published(None).await;
            c.etsy.omit_from_batches(etsy_id);
            let done = c.sync().await.sync_shop(&c.etsy_shop()).await.unwrap();
            assert_eq!((done.listings_checked, done.listings_changed), (1, 0), "still for sale: {done:?}");
            assert_eq!(c.marketplace_state(&listing).await, MarketplaceState::Active);
            c.done().await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn a_sale_of_a_listing_published_through_printify_is_left_to_printifys_order() {
            let c = Connected::new().await;
            let (_, etsy_id) = c.published(Some("5d39b159e7c48c000728c89f")).await;
            c.etsy.put_receipt(receipt(3_000_000_009, etsy_id, "paid"), 412);
            let done = c.sync().await.sync_shop(&c.etsy_shop()).await.unwrap();
            assert_eq!((done.receipts, done.left_to_printify), (0, 1));
            assert!(c.count("OrderReceived").await.is_empty());

            // A receipt with that shirt and a mug the seller fulfils: the
            // mug's order, the shirt left out of its lines and its figures.
            let mut mixed = receipt(3_000_000_011, etsy_id, "paid");
            mixed["grandtotal"] = money(4998 + 1499 + 500);
            mixed["transactions"].as_array_mut().unwrap().push(
                serde_json::json!({"transaction_id": 3_000_000_099u64, "listing_id": 777, "quantity": 1, "price": money(1499)}),
            );
            c.etsy.put_receipt(mixed, 412);
            let done = c.sync().await.sync_shop(&c.etsy_shop()).await.unwrap();
            assert_eq!(done.receipts, 1, "{done:?}");
            let received = c.count("OrderReceived").await;
            assert_eq!(received.len(), 1);
            assert_eq!(received[0]["line_items"].as_array().unwrap().len(), 1);
            assert_eq!(received[0]["line_items"][0]["external_listing_id"], "777");
            assert_eq!(received[0]["total_cents"].as_u64(), Some(1499 + 500), "the mug and the shipping");
            let paid = c.count("OrderPaid").await;
            assert_eq!((paid[0]["amount_cents"].as_u64(), paid[0]["fees_cents"].as_u64()), (Some(1999), Some(412)));
            c.done().await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn a_shop_etsy_no_longer_takes_is_marked_and_its_failure_kept_for_its_health() {
            let c = Connected::new().await;
            // Its access token is refused, and the refresh too (invalid_grant).
            c.etsy.revoke_all();
            let sync = c.sync().await;
            assert!(sync.sync_and_note(&c.etsy_shop()).await.is_none());
            let kept: Option<String> = sqlx::query_scalar("SELECT last_error FROM marketplace_sync WHERE shop_id = $1")
                .bind(c.shop_id)
                .fetch_one(&c.pool)
                .await
                .unwrap();
            assert!(kept.unwrap().contains("no longer takes"), "the failure is kept");
            let id = AggregateId::new(tenant(), c.shop_id);
            let shop = c.shop.env.store_of::<ShopAggregate>().await.load_fresh(&id).await.unwrap().aggregate;
            assert!(shop.needs_reconnect);
            c.done().await;
        }
    }
}
