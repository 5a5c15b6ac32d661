//! The Etsy client checked against Etsy's own contract: every request goes
//! through `prism proxy --errors` with Etsy's published OpenAPI document
//! (`tests/contracts/`) in front of the Etsy stand-in, so a request that
//! breaks the contract (a missing `x-api-key`, a wrong encoding, a bad enum)
//! is refused by Prism, and an answer of the stand-in that breaks it fails
//! too. `scripts/services.sh` installs Prism.

use pod_marketplaces::etsy::EtsyOAuth;
use pod_marketplaces::etsy::api::{ApiError, EtsyApi, EtsyShop, Me};
use pod_marketplaces::standin::etsy::{self as standin, EtsyStandIn};
use pod_marketplaces::standin::prism::{self, Proxy};
use pod_marketplaces::{EtsySettings, Secret};

const APP: &str = "pod-contract-app";

async fn proxy(upstream: &str) -> Proxy {
    Proxy::start(&prism::etsy_contract(), upstream).await.unwrap_or_else(|e| panic!("{e}"))
}

/// A token the stand-in issued, through its own OAuth round trip.
async fn token(etsy: &EtsyStandIn, settings: &EtsySettings) -> Secret {
    let oauth = EtsyOAuth::new(settings, "http://127.0.0.1:9/cb").unwrap();
    let started = oauth.authorize();
    let browser = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let back = browser.get(&started.url).send().await.unwrap();
    let back = reqwest::Url::parse(back.headers()["location"].to_str().unwrap()).unwrap();
    let code = back.query_pairs().find(|(k, _)| k == "code").unwrap().1.into_owned();
    let tokens = oauth.exchange(&code, &started.verifier).await.unwrap();
    assert!(etsy.access_is_live(tokens.access.expose()));
    tokens.access
}

#[tokio::test]
async fn the_clients_reads_keep_to_etsys_contract_and_the_contract_is_enforced() {
    let etsy = EtsyStandIn::start(APP).await.unwrap();
    let prism = proxy(&etsy.url).await;
    let direct = EtsySettings {
        base_url: etsy.url.clone(),
        authorize_url: etsy.authorize_url(),
        token_url: etsy.token_url(),
        keystring: Some(APP.into()),
        ..EtsySettings::default()
    };
    let access = token(&etsy, &direct).await;
    let api = EtsyApi::new(&EtsySettings { base_url: prism.url.clone(), ..direct.clone() }).unwrap();

    let me = api.me(&access).await.unwrap();
    assert_eq!(me, Me { user_id: standin::USER_ID, shop_id: Some(standin::SHOP_ID) });
    let shop = api.shop(&access, standin::SHOP_ID).await.unwrap();
    assert_eq!(shop, EtsyShop { shop_id: standin::SHOP_ID, shop_name: standin::SHOP_NAME.into() });

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
