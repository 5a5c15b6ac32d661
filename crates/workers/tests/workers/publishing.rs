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
        let design = AggregateId::generate(tenant());
        let area = PrintArea::default();
        let request = DesignRequested {
            idea_id: uuid::Uuid::nil(),
            phrase: "Proud Cat Mom".into(),
            niche: "pets".into(),
            product_type: "t-shirt".into(),
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
async fn a_real_submission_is_refused_with_why_until_marketplaces_are_connected() {
    let shop = Shop::new().await;
    let (listing, _, submitted, _) =
        shop.submitted("Proud Cat Mom Shirt, Cat Lover Gift", Some(uuid::Uuid::from_u128(5)), false).await;
    shop.handler.handle(&submitted).await.unwrap();
    let (status, events) = shop.outcome(&listing).await;
    assert_eq!(status, ListingStatus::Draft);
    assert!(events[0].1["reason"].as_str().unwrap().contains("submit as a dry run"), "{events:?}");
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
        events[1].1["reason"].as_str().unwrap().contains("submit as a dry run"),
        "settled as the real submission it now is, not as a dry run: {events:?}"
    );
}
