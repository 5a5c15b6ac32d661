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
    let api = PrintifyApi::new(&PrintifySettings { base_url: printify.url.clone() }).unwrap();
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
    let api = PrintifyApi::new(&PrintifySettings { base_url: "http://127.0.0.1:9".into() }).unwrap();
    let e = api.shops(&Secret::new(TOKEN)).await.unwrap_err();
    assert!(matches!(e, ApiError::Unavailable(_)) && e.is_transient(), "{e:?}");
    assert!(!format!("{e} {e:?}").contains(TOKEN), "the token is not in the error");
}
