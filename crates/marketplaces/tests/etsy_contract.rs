//! The Etsy client checked against Etsy's own contract: every request goes
//! through `prism proxy --errors` with Etsy's published OpenAPI document
//! (`tests/contracts/`) in front of the Etsy stand-in, so a request that
//! breaks the contract (a missing `x-api-key`, a wrong encoding, a bad enum)
//! is refused by Prism, and an answer of the stand-in that breaks it fails
//! too. `scripts/services.sh` installs Prism.

use pod_marketplaces::etsy::EtsyOAuth;
use pod_marketplaces::etsy::api::{ApiError, EtsyApi, EtsyShop, Me};
use pod_marketplaces::etsy::listings::{DraftListing, WhoMade};
use pod_marketplaces::standin::etsy::{self as standin, EtsyStandIn};
use pod_marketplaces::standin::prism::{self, Proxy};
use pod_marketplaces::{EtsySettings, Secret};

const APP: &str = "pod-contract-app";

async fn proxy(upstream: &str) -> Proxy {
    Proxy::start(&prism::etsy_contract(), upstream).await.unwrap_or_else(|e| panic!("{e}"))
}

/// A token the stand-in issued, through its own OAuth round trip.
async fn token(etsy: &EtsyStandIn, settings: &EtsySettings) -> Secret {
    let tokens = etsy.consent(&EtsyOAuth::new(settings, "http://127.0.0.1:9/cb").unwrap()).await.unwrap();
    assert!(etsy.access_is_live(tokens.access.expose()));
    tokens.access
}

/// Settings that reach the stand-in itself, not through Prism.
fn direct_to(etsy: &EtsyStandIn) -> EtsySettings {
    EtsySettings {
        base_url: etsy.url.clone(),
        authorize_url: etsy.authorize_url(),
        token_url: etsy.token_url(),
        keystring: Some(APP.into()),
        ..EtsySettings::default()
    }
}

#[tokio::test]
async fn the_clients_reads_keep_to_etsys_contract_and_the_contract_is_enforced() {
    let (_etsy, prism, api, access) = through_prism().await;

    let me = api.me(&access).await.unwrap();
    assert_eq!(me, Me { user_id: standin::USER_ID, shop_id: Some(standin::SHOP_ID) });
    let shop = api.shop(&access, standin::SHOP_ID).await.unwrap();
    let usd = Some("USD".to_owned());
    assert_eq!(shop, EtsyShop { shop_id: standin::SHOP_ID, shop_name: standin::SHOP_NAME.into(), currency_code: usd });

    // Prism is checking: a request without the app's key never reaches the stand-in.
    let raw = reqwest::Client::new()
        .get(format!("{}/v3/application/users/me", prism.url))
        .bearer_auth(access.expose())
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 401);
    let problem: serde_json::Value = raw.json().await.unwrap();
    assert!(problem["type"].as_str().unwrap().contains("prism"), "refused by Prism, not the stand-in: {problem}");

    // A token Etsy does not know is the stand-in's 401, read as such.
    let e = api.me(&Secret::new("40123456.not-a-token")).await.unwrap_err();
    assert!(matches!(e, ApiError::Unauthorized), "{e:?}");
}

/// The setup of a listing test: the stand-in behind Prism, a token, and
/// the client pointed at Prism.
async fn through_prism() -> (EtsyStandIn, Proxy, EtsyApi, Secret) {
    let etsy = EtsyStandIn::start(APP).await.unwrap();
    let prism = proxy(&etsy.url).await;
    let direct = direct_to(&etsy);
    let access = token(&etsy, &direct).await;
    let api = EtsyApi::new(&EtsySettings { base_url: prism.url.clone(), ..direct }).unwrap();
    (etsy, prism, api, access)
}

fn draft() -> DraftListing {
    DraftListing {
        title: "Proud Cat Mom Shirt, Cat Lover Gift".into(),
        description: "A soft tee for proud cat moms.\n\nPrinted to order.".into(),
        price_cents: 2499,
        quantity: 999,
        tags: vec!["cat mom".into(), "cat lover gift".into()],
        taxonomy_id: 482,
        who_made: WhoMade::IDid,
        shipping_profile_id: Some(standin::SHIPPING_PROFILE_ID),
        return_policy_id: Some(standin::RETURN_POLICY_ID),
        production_partner_ids: vec![93_001],
    }
}

/// A real PNG's first bytes are enough for the stand-in's check.
const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";

#[tokio::test]
async fn a_listing_is_drafted_form_encoded_given_its_image_as_multipart_and_activated_within_the_contract() {
    let (etsy, _prism, api, access) = through_prism().await;
    let made = api.create_draft_listing(&access, standin::SHOP_ID, &draft()).await.unwrap();
    assert_eq!(made.state, "draft");
    // Etsy refuses to activate a listing without an image.
    let e = api.activate_listing(&access, standin::SHOP_ID, made.listing_id).await.unwrap_err();
    assert!(matches!(&e, ApiError::Refused { status: 400, message } if message.contains("image")), "{e:?}");
    let image = api
        .upload_listing_image(&access, standin::SHOP_ID, made.listing_id, PNG.to_vec(), "Cat mom tee")
        .await
        .unwrap();
    assert_eq!(image.listing_id, made.listing_id);
    let live = api.activate_listing(&access, standin::SHOP_ID, made.listing_id).await.unwrap();
    assert_eq!(live.state, "active");
    assert_eq!(live.url.as_deref(), Some(format!("https://www.etsy.com/listing/{}", made.listing_id).as_str()));

    let kept = etsy.listings();
    assert_eq!(kept.len(), 1);
    let f = &kept[0].drafted;
    assert_eq!(f["price"], "24.99");
    assert_eq!(f["when_made"], "made_to_order");
    assert_eq!(f["tags[]"], "cat mom|cat lover gift");
    assert_eq!(f["production_partner_ids[]"], "93001");
    assert_eq!(f["description"], "A soft tee for proud cat moms.\n\nPrinted to order.");
    assert_eq!(kept[0].images.len(), 1);
}

#[tokio::test]
async fn a_draft_that_breaks_etsys_contract_is_refused_by_prism_before_it_reaches_etsy() {
    let (etsy, prism, _api, access) = through_prism().await;
    // `who_made` outside its enum, `price` not a number: Etsy's document refuses both.
    let bad = [
        ("quantity", "1"),
        ("title", "A shirt"),
        ("description", "Soft."),
        ("price", "cheap"),
        ("who_made", "a_robot"),
        ("when_made", "made_to_order"),
        ("taxonomy_id", "482"),
    ];
    let raw = reqwest::Client::new()
        .post(format!("{}/v3/application/shops/{}/listings", prism.url, standin::SHOP_ID))
        .header("x-api-key", APP)
        .bearer_auth(access.expose())
        .form(&bad)
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 422, "Prism's validation error");
    assert!(etsy.listings().is_empty(), "never reached the stand-in");
}

/// Prism re-encodes binary parts as it forwards them, so the image's bytes
/// are checked going straight to the stand-in.
#[tokio::test]
async fn the_uploaded_image_arrives_byte_for_byte() {
    let etsy = EtsyStandIn::start(APP).await.unwrap();
    let direct = direct_to(&etsy);
    let access = token(&etsy, &direct).await;
    let api = EtsyApi::new(&direct).unwrap();
    let made = api.create_draft_listing(&access, standin::SHOP_ID, &draft()).await.unwrap();
    api.upload_listing_image(&access, standin::SHOP_ID, made.listing_id, PNG.to_vec(), "Cat mom tee").await.unwrap();
    assert_eq!(etsy.listings()[0].image_bytes, vec![PNG.to_vec()]);
}

/// Etsy's document lists no 429, so Prism would refuse the answer as a
/// contract breach: this one talks to the stand-in directly.
#[tokio::test]
async fn over_etsys_rate_the_answer_is_read_as_a_wait_not_a_failure() {
    let etsy = EtsyStandIn::start(APP).await.unwrap();
    let direct = direct_to(&etsy);
    let access = token(&etsy, &direct).await;
    let api = EtsyApi::new(&direct).unwrap();
    etsy.limit_per_second(1);
    let mut waited = None;
    for _ in 0..3 {
        match api.me(&access).await {
            Ok(_) => {}
            Err(ApiError::RateLimited(wait)) => waited = Some(wait),
            Err(e) => panic!("{e:?}"),
        }
    }
    assert_eq!(waited, Some(std::time::Duration::from_secs(1)));
    assert!(etsy.throttled() >= 1);
}

#[tokio::test]
async fn the_shops_policies_drafts_and_images_are_read_within_the_contract_with_the_apps_headroom() {
    let (etsy, _prism, api, access) = through_prism().await;
    etsy.set_policies(vec![191, 192], vec![291]);
    let profiles = api.shipping_profiles(&access, standin::SHOP_ID).await.unwrap();
    assert_eq!(profiles.iter().map(|p| p.shipping_profile_id).collect::<Vec<_>>(), vec![191, 192]);
    let policies = api.return_policies(&access, standin::SHOP_ID).await.unwrap();
    assert_eq!(policies.iter().map(|p| p.return_policy_id).collect::<Vec<_>>(), vec![291]);

    let older = etsy.add_draft("Proud Cat Mom Shirt, Cat Lover Gift", 1_700_000_000);
    // A profile the shop no longer has is refused, naming the field.
    let e = api.create_draft_listing(&access, standin::SHOP_ID, &draft()).await.unwrap_err();
    assert!(e.to_string().contains("shipping_profile_id is not a shipping profile of this shop"), "{e}");
    let draft = DraftListing { shipping_profile_id: Some(192), return_policy_id: Some(291), ..draft() };
    let made = api.create_draft_listing(&access, standin::SHOP_ID, &draft).await.unwrap();
    let drafts = api.newest_drafts(&access, standin::SHOP_ID, 0).await.unwrap();
    assert_eq!(drafts.iter().map(|d| d.listing_id).collect::<Vec<_>>(), vec![made.listing_id, older], "newest first");
    assert_eq!(drafts[1].created_timestamp, Some(1_700_000_000));
    assert_eq!(drafts[0].title.as_deref(), Some("Proud Cat Mom Shirt, Cat Lover Gift"));

    assert!(api.listing_images(&access, made.listing_id).await.unwrap().is_empty());
    api.upload_listing_image(&access, standin::SHOP_ID, made.listing_id, PNG.to_vec(), "Cat mom tee").await.unwrap();
    let images = api.listing_images(&access, made.listing_id).await.unwrap();
    assert_eq!(images.len(), 1);
    assert_eq!(images[0].listing_id, made.listing_id);

    // Every answer says what is left of the app's day.
    etsy.set_per_day(8);
    api.me(&access).await.unwrap();
    let headroom = api.headroom().expect("Etsy's answers carry the app's headroom");
    assert_eq!(headroom.remaining_today, Some(0), "{headroom:?}");
    assert!(headroom.day_spent(chrono::Utc::now(), std::time::Duration::from_secs(60)));
    assert!(!headroom.day_spent(chrono::Utc::now() + chrono::Duration::minutes(5), std::time::Duration::from_secs(60)));
}

#[tokio::test]
async fn receipts_their_payments_and_listings_by_id_are_read_within_the_contract() {
    use pod_marketplaces::etsy::receipts;
    let (etsy, _prism, api, access) = through_prism().await;
    let money = |amount: i64| serde_json::json!({"amount": amount, "divisor": 100, "currency_code": "USD"});
    let made = api.create_draft_listing(&access, standin::SHOP_ID, &draft()).await.unwrap();
    let receipt = |id: u64, status: &str| {
        serde_json::json!({
            "receipt_id": id, "status": status, "is_paid": true, "grandtotal": money(2499),
            "transactions": [{"transaction_id": id + 1, "listing_id": made.listing_id, "quantity": 1, "price": money(2499)}],
            "shipments": [{"carrier_name": "usps", "tracking_code": "9400111"}],
        })
    };
    etsy.put_receipt(receipt(3_000_000_001, "paid"), 412);
    etsy.put_receipt(receipt(3_000_000_002, "completed"), 380);

    let all = api.receipts_changed_since(&access, standin::SHOP_ID, 946_684_800, 0).await.unwrap();
    let all: Vec<receipts::Receipt> = all.iter().map(|r| receipts::read(r).unwrap()).collect();
    assert_eq!(all.iter().map(|r| r.receipt_id).collect::<Vec<_>>(), vec![3_000_000_001, 3_000_000_002]);
    let since = all[1].updated_timestamp;
    let later = api.receipts_changed_since(&access, standin::SHOP_ID, since, 0).await.unwrap();
    let later: Vec<u64> = later.iter().filter_map(|r| r["receipt_id"].as_u64()).collect();
    assert_eq!(later, vec![3_000_000_002], "by when they changed");
    assert!(api.listing(&access, 42).await.unwrap().is_none(), "a listing Etsy does not have");
    let order = receipts::received(uuid::Uuid::nil(), &all[0]).unwrap();
    assert_eq!(order.line_items[0].external_listing_id, made.listing_id.to_string());
    assert_eq!(receipts::shipments(&all[0])[0].tracking_ref, "9400111");

    let payments = api.receipt_payments(&access, standin::SHOP_ID, 3_000_000_001).await.unwrap();
    assert_eq!(payments[0].amount_fees.cents(), Some(412));

    etsy.set_listing_state(made.listing_id, Some("sold_out"));
    let found = api.listings_by_ids(&access, &[made.listing_id, 42]).await.unwrap();
    assert_eq!(found.len(), 1, "a listing that does not exist is not answered");
    assert_eq!((found[0].listing_id, found[0].state.as_str()), (made.listing_id, "sold_out"));
}
