//! The Printify client against the Printify stand-in.

use pod_marketplaces::printify::api::{ApiError, WEBHOOK_TOPICS};
use pod_marketplaces::printify::{PrintifyApi, PrintifyShop, new_webhook_secret};
use pod_marketplaces::standin::printify::PrintifyStandIn;
use pod_marketplaces::{PrintifySettings, Secret};

const TOKEN: &str = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.printify-test-token";

fn shop(id: u64, title: &str) -> PrintifyShop {
    PrintifyShop { id, title: title.into(), sales_channel: "etsy".into() }
}

async fn started() -> (PrintifyStandIn, PrintifyApi) {
    let printify =
        PrintifyStandIn::start(TOKEN, vec![shop(8_101, "Cat Mom Tees"), shop(8_102, "Dog Dad Mugs")]).await.unwrap();
    let api = PrintifyApi::new(&PrintifySettings { base_url: printify.url.clone(), ..Default::default() }).unwrap();
    (printify, api)
}

#[tokio::test]
async fn a_token_lists_its_shops_and_a_wrong_one_is_refused() {
    let (printify, api) = started().await;
    let shops = api.shops(&Secret::new(TOKEN)).await.unwrap();
    assert_eq!(shops, vec![shop(8_101, "Cat Mom Tees"), shop(8_102, "Dog Dad Mugs")]);
    let e = api.shops(&Secret::new("not-it")).await.unwrap_err();
    assert!(matches!(e, ApiError::Unauthorized), "{e:?}");
    printify.revoke();
    let e = api.shops(&Secret::new(TOKEN)).await.unwrap_err();
    assert!(matches!(e, ApiError::Unauthorized), "a revoked token: {e:?}");
}

#[tokio::test]
async fn webhooks_registered_again_replace_the_earlier_ones_and_their_secret() {
    let (printify, api) = started().await;
    let token = Secret::new(TOKEN);
    let url = "https://pod.example/webhooks/printify/0b7c";
    let first = new_webhook_secret().unwrap();
    api.register_webhooks(&token, 8_101, url, &first).await.unwrap();
    let hooks = printify.webhooks(8_101);
    let topics: Vec<&str> = hooks.iter().map(|h| h.hook.topic.as_str()).collect();
    assert_eq!(topics, WEBHOOK_TOPICS.to_vec());
    assert!(hooks.iter().all(|h| h.hook.url == url && h.secret == first.expose()));
    assert_eq!(first.expose().len(), 64, "32 random bytes as hex");

    // Someone else's webhook on the same shop is left alone.
    let theirs = Secret::new("theirs");
    api.create_webhook(&token, 8_101, "order:created", "https://other.example/hook", &theirs).await.unwrap();
    let second = new_webhook_secret().unwrap();
    assert_ne!(second, first);
    api.register_webhooks(&token, 8_101, url, &second).await.unwrap();
    let hooks = printify.webhooks(8_101);
    let ours: Vec<_> = hooks.iter().filter(|h| h.hook.url == url).collect();
    assert_eq!(ours.len(), WEBHOOK_TOPICS.len(), "replaced, not added");
    assert!(ours.iter().all(|h| h.secret == second.expose()));
    assert_eq!(hooks.len(), WEBHOOK_TOPICS.len() + 1);
    assert!(printify.webhooks(8_102).is_empty(), "another shop's webhooks are its own");

    let e = api.register_webhooks(&token, 9_999, url, &second).await.unwrap_err();
    assert!(matches!(&e, ApiError::Refused { status: 404, message } if message.contains("Shop not found")), "{e:?}");
}

#[tokio::test]
async fn an_unreachable_printify_is_worth_retrying() {
    use pod_events::Transient;
    let api =
        PrintifyApi::new(&PrintifySettings { base_url: "http://127.0.0.1:9".into(), ..Default::default() }).unwrap();
    let e = api.shops(&Secret::new(TOKEN)).await.unwrap_err();
    assert!(matches!(e, ApiError::Unavailable(_)) && e.is_transient(), "{e:?}");
    assert!(!format!("{e} {e:?}").contains(TOKEN), "the token is not in the error");
}

mod products {
    use super::*;
    use pod_marketplaces::printify::products::{NewProduct, PlacedImage, Placeholder, PrintArea, ProductVariant};
    use pod_marketplaces::standin::printify::{BLUEPRINT, PRINT_PROVIDER};

    /// A real 1×1 PNG.
    const PNG: &[u8] = &[
        0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00,
        0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4, 0x89, 0x00, 0x00, 0x00,
        0x0b, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x60, 0x00, 0x02, 0x00, 0x00, 0x05, 0x00, 0x01, 0x7a, 0x5e,
        0xab, 0x3f, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
    ];

    fn new_product(image: &str, variants: &[u64], sku: &str) -> NewProduct {
        NewProduct {
            title: "Cat Mom Shirt".into(),
            description: "A soft tee for cat moms.".into(),
            tags: vec!["cat mom".into()],
            blueprint_id: BLUEPRINT,
            print_provider_id: PRINT_PROVIDER,
            variants: variants
                .iter()
                .map(|id| ProductVariant { id: *id, price: 2499, is_enabled: true, sku: format!("{sku}-{id}") })
                .collect(),
            print_areas: vec![PrintArea {
                variant_ids: variants.to_vec(),
                placeholders: vec![Placeholder {
                    position: "front".into(),
                    images: vec![PlacedImage { id: image.into(), x: 0.5, y: 0.5, scale: 1.0, angle: 0 }],
                }],
            }],
        }
    }

    #[tokio::test]
    async fn a_product_is_made_from_an_upload_found_again_by_its_sku_and_published() {
        let (printify, api) = started().await;
        let token = Secret::new(TOKEN);
        let variants: Vec<u64> =
            api.catalog_variants(&token, BLUEPRINT, PRINT_PROVIDER).await.unwrap().iter().map(|v| v.id).collect();
        assert_eq!(variants.len(), 4);
        let e = api.catalog_variants(&token, BLUEPRINT, 1).await.unwrap_err();
        assert!(matches!(e, ApiError::Refused { status: 404, .. }), "{e:?}");

        let upload = api.upload_image(&token, "cat-mom.png", PNG).await.unwrap();
        let e = api.upload_image(&token, "not.png", b"GIF89a").await.unwrap_err();
        assert!(matches!(&e, ApiError::Refused { status: 400, message } if message.contains("contents")), "{e:?}");

        // Nothing made yet for this submission.
        let sku = "pod-0f3a";
        assert_eq!(api.find_product_by_sku(&token, 8_101, sku).await.unwrap(), None);
        let made = api.create_product(&token, 8_101, &new_product(&upload.id, &variants, sku)).await.unwrap();
        assert_eq!(made.variants.len(), 4);
        let found = api.find_product_by_sku(&token, 8_101, sku).await.unwrap();
        assert_eq!(found.map(|p| p.id), Some(made.id.clone()), "a retry finds the product it made");
        assert_eq!(api.find_product_by_sku(&token, 8_102, sku).await.unwrap(), None, "another shop's are its own");

        api.publish(&token, 8_101, &made.id).await.unwrap();
        assert_eq!(printify.publish_requests(), vec![(8_101, made.id.clone())]);
        assert_eq!(api.product(&token, 8_101, &made.id).await.unwrap().title, "Cat Mom Shirt");
    }

    #[tokio::test]
    async fn a_product_printify_refuses_says_which_fields_and_why() {
        let (printify, api) = started().await;
        let token = Secret::new(TOKEN);
        let mut bad = new_product("never-uploaded", &[99_999], "pod-1");
        bad.title = " ".into();
        let e = api.create_product(&token, 8_101, &bad).await.unwrap_err();
        let ApiError::Refused { status: 400, message } = &e else { panic!("{e:?}") };
        for field in ["title", "variants", "print_areas"] {
            assert!(message.contains(field), "{field} in {message}");
        }
        assert!(printify.products(8_101).is_empty());
    }

    #[tokio::test]
    async fn a_product_is_found_by_its_sku_beyond_the_first_page() {
        let (printify, api) = started().await;
        let token = Secret::new(TOKEN);
        let upload = api.upload_image(&token, "a.png", PNG).await.unwrap();
        for n in 0..60 {
            let product = new_product(&upload.id, &[12_100], &format!("pod-{n:03}"));
            api.create_product(&token, 8_101, &product).await.unwrap();
        }
        assert_eq!(printify.products(8_101).len(), 60);
        let last = api.find_product_by_sku(&token, 8_101, "pod-059").await.unwrap().unwrap();
        assert_eq!(last.variants[0].sku, "pod-059-12100");
    }
}
