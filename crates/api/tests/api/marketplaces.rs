//! Connecting and disconnecting marketplace shops from the dashboard, with
//! the real Etsy clients against the Etsy stand-in (its RFC 6749 / 7636
//! authorization server and API reads).

use std::collections::HashMap;

use axum::http::StatusCode;
use pod_api::auth::Role;
use pod_api::marketplaces::Connectors;
use pod_events::TenantId;
use pod_marketplaces::credentials::{self, Kind};
use pod_marketplaces::standin::etsy::{self as standin, EtsyStandIn};
use pod_marketplaces::{EtsySettings, Keyring, MarketplacesSettings};

use crate::support::{Api, Person};

const APP: &str = "pod-test-keystring";
const SITE: &str = "http://127.0.0.1:8080";

fn key_entry() -> String {
    Keyring::new_entry("k1").unwrap()
}

fn settings(etsy: &EtsyStandIn) -> MarketplacesSettings {
    MarketplacesSettings {
        etsy: EtsySettings {
            base_url: etsy.url.clone(),
            authorize_url: etsy.authorize_url(),
            token_url: etsy.token_url(),
            keystring: Some(APP.into()),
            ..EtsySettings::default()
        },
        ..MarketplacesSettings::default()
    }
}

/// An API whose Etsy is the stand-in.
async fn with_etsy(etsy: &EtsyStandIn, entry: &str) -> Api {
    with_etsy_at(etsy, &etsy.url, entry).await
}

/// An API whose Etsy is the stand-in, its API calls sent to `base_url`.
async fn with_etsy_at(etsy: &EtsyStandIn, base_url: &str, entry: &str) -> Api {
    let mut api = Api::new().await;
    let keys = Keyring::parse(entry).unwrap();
    let mut settings = settings(etsy);
    settings.etsy.base_url = base_url.to_owned();
    let connectors = Connectors::configure(&settings, Some(keys), SITE).unwrap();
    api.reconfigure(|s| s.with_marketplaces(connectors));
    api
}

async fn shops(api: &Api) -> serde_json::Value {
    let (status, _, body) = api.call("GET", "/api/v1/shops", Some(&api.acme_viewer), &[]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

fn form_headers(p: &Person) -> Vec<(&str, &str)> {
    vec![
        ("cookie", p.cookie.as_str()),
        ("content-type", "application/x-www-form-urlencoded"),
        ("host", "127.0.0.1:8080"),
    ]
}

/// The owner presses "Connect an Etsy shop" and consents on Etsy: where
/// Etsy sends the browser back (the callback's path and query).
async fn consent(api: &Api, owner: &Person) -> String {
    let (status, h, body) =
        api.send("POST", "/integrations/etsy/connect", &form_headers(owner), format!("csrf={}", owner.csrf)).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    let to_etsy = h["location"].to_str().unwrap().to_owned();
    let browser = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let back = browser.get(&to_etsy).send().await.unwrap();
    assert!(back.status().is_redirection(), "Etsy consented: {}", back.status());
    let back = back.headers()["location"].to_str().unwrap().to_owned();
    let callback = back.strip_prefix(SITE).unwrap_or_else(|| panic!("back to this site: {back}"));
    assert!(callback.starts_with("/integrations/etsy/callback?"), "{callback}");
    callback.to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owner_connects_an_etsy_shop_whose_tokens_stay_sealed_and_out_of_the_log() {
    let etsy = EtsyStandIn::start(APP).await.unwrap();
    // Every call to Etsy's API is checked against Etsy's own contract.
    let contract = pod_marketplaces::standin::prism::etsy_contract();
    let prism =
        pod_marketplaces::standin::prism::Proxy::start(&contract, &etsy.url).await.unwrap_or_else(|e| panic!("{e}"));
    let api = with_etsy_at(&etsy, &prism.url, &key_entry()).await;
    let owner = api.person("acme", Role::Owner).await;

    let (_, _, page) = api.send("GET", "/integrations", &[("cookie", &owner.cookie)], "").await;
    assert!(page.contains("Connect an Etsy shop") && page.contains("/integrations/etsy/connect"), "{page}");

    let callback = consent(&api, &owner).await;
    let (status, h, body) = api.send("GET", &callback, &[("cookie", &owner.cookie)], "").await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    assert_eq!(h["location"], "/integrations?connected=etsy");

    // The code went with its PKCE verifier, and nothing else secret.
    let sent = etsy.token_requests();
    let exchange = sent.iter().find(|f| f["grant_type"] == "authorization_code").unwrap();
    assert!(exchange["code_verifier"].len() >= 43, "{:?}", exchange.keys());
    assert_eq!(exchange["redirect_uri"], format!("{SITE}/integrations/etsy/callback"));

    api.project().await;
    let listed = shops(&api).await;
    let shop = &listed[0];
    assert_eq!(shop["display_name"], standin::SHOP_NAME, "{listed}");
    assert_eq!(shop["marketplace"], "etsy");
    assert_eq!(shop["external_shop_id"], standin::SHOP_ID.to_string());
    assert_eq!(shop["connected"], true);
    assert!(shop["token_expires_at"].is_string(), "{shop}");
    // The shop's shipping profile and return policy, for listings published straight to it.
    let connected = api.log().await.into_iter().find(|e| e.event_type == "ShopConnected").unwrap();
    assert_eq!(connected.payload["listing_defaults"]["shipping_profile_id"], standin::SHIPPING_PROFILE_ID);
    assert_eq!(connected.payload["listing_defaults"]["return_policy_id"], standin::RETURN_POLICY_ID);
    // An approved listing can be published straight to it.
    let listing = api.seeded.acme_listing;
    let auth = format!("Bearer {}", api.acme_editor);
    let approve = format!("/api/v1/listings/{listing}/approve");
    let (status, _, body) = api.send("POST", &approve, &[("authorization", auth.as_str())], "").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    api.project().await;
    let (_, _, editor) = api.send("GET", &format!("/listings/{listing}"), &[("cookie", &owner.cookie)], "").await;
    assert!(editor.contains(&format!("{} (Etsy)</option>", standin::SHOP_NAME)), "{editor}");
    assert!(editor.contains("Drafts the listing on Etsy"), "{editor}");

    // The tokens are sealed in the shop's row; no event, page or answer holds them.
    let acme = TenantId::parse("acme").unwrap();
    let shop_id: uuid::Uuid = shop["shop_id"].as_str().unwrap().parse().unwrap();
    let keys = api.state.marketplaces.keys.clone().unwrap();
    let access = credentials::load(&api.pool, &keys, &acme, shop_id, Kind::AccessToken).await.unwrap().unwrap();
    assert!(etsy.access_is_live(access.secret.expose()));
    let refresh = credentials::load(&api.pool, &keys, &acme, shop_id, Kind::RefreshToken).await.unwrap().unwrap();
    let secrets = [access.secret.expose().to_owned(), refresh.secret.expose().to_owned()];
    let mut told = String::new();
    for e in api.log().await {
        told.push_str(&e.payload.to_string());
    }
    told.push_str(&listed.to_string());
    let (_, _, page) = api.send("GET", "/integrations", &[("cookie", &owner.cookie)], "").await;
    assert!(page.contains(standin::SHOP_NAME), "the page shows the shop");
    assert!(page.contains("not synced yet"), "its orders' health: {page}");
    // The sync worker's last poll of the shop is its health on the page.
    sqlx::query(
        "INSERT INTO marketplace_sync (tenant, shop_id, receipts_synced_at) VALUES ('acme', $1, now() - interval '3 minutes')",
    )
    .bind(shop_id)
    .execute(&api.pool)
    .await
    .unwrap();
    let (_, _, synced) = api.send("GET", "/integrations", &[("cookie", &owner.cookie)], "").await;
    assert!(synced.contains("synced 3 min ago"), "{synced}");
    sqlx::query("UPDATE marketplace_sync SET last_error = 'Etsy: rate limited' WHERE shop_id = $1")
        .bind(shop_id)
        .execute(&api.pool)
        .await
        .unwrap();
    let (_, _, failed) = api.send("GET", "/integrations", &[("cookie", &owner.cookie)], "").await;
    assert!(failed.contains("last sync failed: Etsy: rate limited"), "{failed}");
    // What Etsy last said is left of the app's day, and this account's share spent.
    assert!(failed.contains("no answer from Etsy yet"), "{failed}");
    sqlx::raw_sql(
        "INSERT INTO marketplace_quota (marketplace, remaining_today, limit_per_day, seen_at)
         VALUES ('etsy', 8765, 10000, now() - interval '2 minutes');
         INSERT INTO marketplace_usage (tenant, marketplace, day, requests)
         VALUES ('acme', 'etsy', (now() AT TIME ZONE 'UTC')::date, 1234),
                ('globex', 'etsy', (now() AT TIME ZONE 'UTC')::date, 4321)",
    )
    .execute(&api.pool)
    .await
    .unwrap();
    let (_, _, headroom) = api.send("GET", "/integrations", &[("cookie", &owner.cookie)], "").await;
    assert!(
        headroom.contains(
            "8,765 of 10,000 app requests left today (2 min ago); this account used 1,234 of its 5,000 today"
        ),
        "{headroom}"
    );
    let listed = shops(&api).await;
    assert_eq!(
        (listed[0]["app_requests_left"].as_i64(), listed[0]["tenant_requests_today"].as_i64()),
        (Some(8765), Some(1234))
    );
    told.push_str(&page);
    for secret in &secrets {
        let token_part = secret.split('.').nth(1).unwrap();
        assert!(!told.contains(token_part), "a token leaked into the log, an answer or a page");
    }

    // The same callback again is refused: a state is used once.
    let (status, _, body) = api.send("GET", &callback, &[("cookie", &owner.cookie)], "").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("connect again"), "{body}");

    // Connected again (a seller who pressed the button twice): the same shop, new tokens.
    let callback = consent(&api, &owner).await;
    let (status, _, body) = api.send("GET", &callback, &[("cookie", &owner.cookie)], "").await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    api.project().await;
    let listed = shops(&api).await;
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    let now = credentials::load(&api.pool, &keys, &acme, shop_id, Kind::AccessToken).await.unwrap().unwrap();
    assert_ne!(now.secret, access.secret);
    // Connected again after a shipping profile was added on Etsy: the
    // shop's listings are drafted with it from then on.
    let store = api.shops().await;
    let shop = pod_events::AggregateId::new(acme.clone(), shop_id);
    let before = store.store().load_fresh(&shop).await.unwrap().aggregate.listing_defaults;
    etsy.set_policies(vec![991_001], vec![standin::RETURN_POLICY_ID]);
    let callback = consent(&api, &owner).await;
    let (status, _, body) = api.send("GET", &callback, &[("cookie", &owner.cookie)], "").await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    let after = store.store().load_fresh(&shop).await.unwrap().aggregate.listing_defaults;
    assert_eq!(
        (before.shipping_profile_id, after.shipping_profile_id),
        (Some(standin::SHIPPING_PROFILE_ID), Some(991_001))
    );

    // Disconnected: refused to publish, and the tokens are gone.
    let (status, h, body) = api
        .send(
            "POST",
            &format!("/integrations/shops/{shop_id}/disconnect"),
            &form_headers(&owner),
            format!("csrf={}", owner.csrf),
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    assert_eq!(h["location"], "/integrations?disconnected=1");
    api.project().await;
    let listed = shops(&api).await;
    assert_eq!(listed[0]["connected"], false, "{listed}");
    assert!(listed[0]["disconnect_reason"].as_str().unwrap().contains("disconnected by"), "{listed}");
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM shop_credentials WHERE shop_id = $1")
        .bind(shop_id)
        .fetch_one(&api.pool)
        .await
        .unwrap();
    assert_eq!(left, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_is_finished_only_by_the_owner_who_started_it_in_their_shop() {
    let etsy = EtsyStandIn::start(APP).await.unwrap();
    let api = with_etsy(&etsy, &key_entry()).await;
    let owner = api.person("acme", Role::Owner).await;
    let editor = api.person("acme", Role::Editor).await;
    let beta_owner = api.person("beta", Role::Owner).await;

    // Only owners start one, from the dashboard's own form.
    let (status, _, body) =
        api.send("POST", "/integrations/etsy/connect", &form_headers(&editor), format!("csrf={}", editor.csrf)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, _, _) =
        api.send("POST", "/integrations/etsy/connect", &form_headers(&owner), "csrf=not-the-token").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let mut cross_site = form_headers(&owner);
    cross_site.push(("origin", "https://evil.example"));
    let (status, _, _) =
        api.send("POST", "/integrations/etsy/connect", &cross_site, format!("csrf={}", owner.csrf)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, _, page) = api.send("GET", "/integrations", &[("cookie", &editor.cookie)], "").await;
    assert!(!page.contains("/integrations/etsy/connect"), "no button for an editor");

    // An editor cannot finish one (the role is checked again on the way back).
    let callback = consent(&api, &owner).await;
    let (status, _, body) = api.send("GET", &callback, &[("cookie", &editor.cookie)], "").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");

    // Another shop's owner cannot finish acme's connection into their own shop,
    // nor another owner of acme's; and a state tried by someone else is spent.
    let other_owner = api.person("acme", Role::Owner).await;
    for someone_else in [&beta_owner, &other_owner] {
        let callback = consent(&api, &owner).await;
        let (status, _, body) = api.send("GET", &callback, &[("cookie", &someone_else.cookie)], "").await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        let (status, _, _) = api.send("GET", &callback, &[("cookie", &owner.cookie)], "").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }
    let exchanged = etsy.token_requests().iter().filter(|f| f["grant_type"] == "authorization_code").count();
    assert_eq!(exchanged, 0, "no code was exchanged");

    // A seller who declines on Etsy is told so; a NUL in what comes back is refused, naming where.
    let started = consent(&api, &owner).await;
    let q: HashMap<_, _> =
        reqwest::Url::parse(&format!("{SITE}{started}")).unwrap().query_pairs().into_owned().collect();
    let declined = |why: &str| {
        format!("/integrations/etsy/callback?state={}&error=access_denied&error_description={why}", q["state"])
    };
    let (status, _, body) = api.send("GET", &declined("denied%00"), &[("cookie", &owner.cookie)], "").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("error_description"), "{body}");
    let (status, _, body) = api.send("GET", &declined("The%20user%20denied"), &[("cookie", &owner.cookie)], "").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body.contains("Etsy did not connect the shop: The user denied"), "{body}");

    api.project().await;
    assert_eq!(shops(&api).await, serde_json::json!([]), "nothing was connected");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_etsy_keystring_or_vault_keys_the_owner_is_told_what_to_set() {
    let api = Api::new().await;
    let owner = api.person("acme", Role::Owner).await;
    let (_, _, page) = api.send("GET", "/integrations", &[("cookie", &owner.cookie)], "").await;
    assert!(page.contains("POD__MARKETPLACES__ETSY__KEYSTRING"), "{page}");
    assert!(!page.contains("action=\"/integrations/etsy/connect\""), "no live button");
    let (status, _, body) =
        api.send("POST", "/integrations/etsy/connect", &form_headers(&owner), format!("csrf={}", owner.csrf)).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body.contains("marketplaces.etsy.keystring"), "{body}");

    let etsy = EtsyStandIn::start(APP).await.unwrap();
    let mut api = api;
    let connectors = Connectors::configure(&settings(&etsy), None, SITE).unwrap();
    api.reconfigure(|s| s.with_marketplaces(connectors));
    let (status, _, body) =
        api.send("POST", "/integrations/etsy/connect", &form_headers(&owner), format!("csrf={}", owner.csrf)).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body.contains("POD__VAULT__KEYS"), "{body}");
}

mod printify {
    use super::*;
    use pod_marketplaces::printify::PrintifyShop;
    use pod_marketplaces::standin::printify::PrintifyStandIn;
    use pod_marketplaces::{PrintifySettings, Secret};

    const TOKEN: &str = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.owner-token";

    fn shop(id: u64, title: &str) -> PrintifyShop {
        PrintifyShop { id, title: title.into(), sales_channel: "etsy".into() }
    }

    async fn with_printify(shops: Vec<PrintifyShop>) -> (Api, PrintifyStandIn) {
        let printify = PrintifyStandIn::start(TOKEN, shops).await.unwrap();
        let mut api = Api::new().await;
        let settings = MarketplacesSettings {
            printify: PrintifySettings { base_url: printify.url.clone(), ..Default::default() },
            ..MarketplacesSettings::default()
        };
        let keys = Keyring::parse(&key_entry()).unwrap();
        let connectors = Connectors::configure(&settings, Some(keys), SITE).unwrap();
        api.reconfigure(|s| s.with_marketplaces(connectors));
        (api, printify)
    }

    fn form(owner: &Person, token: &str, shop: Option<u64>) -> String {
        let mut f = format!("csrf={}&token={}", owner.csrf, token);
        if let Some(id) = shop {
            f.push_str(&format!("&shop={id}"));
        }
        f
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_owner_connects_a_printify_shop_with_a_token_and_its_webhooks_are_registered() {
        let (api, printify) = with_printify(vec![shop(8_101, "Cat Mom Tees")]).await;
        let owner = api.person("acme", Role::Owner).await;
        let connect = "/integrations/printify/connect";

        // A token Printify does not take is refused, naming the field.
        let (status, _, body) = api.send("POST", connect, &form_headers(&owner), form(&owner, "wrong", None)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(body.contains("Printify refused this token"), "{body}");
        let (status, _, body) = api.send("POST", connect, &form_headers(&owner), form(&owner, "a%00b", None)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

        let (status, h, body) =
            api.send("POST", connect, &form_headers(&owner), form(&owner, &format!("%20{TOKEN}%0A"), None)).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
        assert_eq!(h["location"], "/integrations?connected=printify");
        api.project().await;
        let listed = shops(&api).await;
        assert_eq!(listed[0]["display_name"], "Cat Mom Tees", "{listed}");
        assert_eq!(listed[0]["marketplace"], "printify");
        assert_eq!(listed[0]["external_shop_id"], "8101");
        assert_eq!(listed[0]["sales_channel"], "etsy", "where its products are sold");
        let (_, _, page) = api.send("GET", "/integrations", &[("cookie", &owner.cookie)], "").await;
        assert!(page.contains("sells on etsy"), "{page}");
        let shop_id: uuid::Uuid = listed[0]["shop_id"].as_str().unwrap().parse().unwrap();

        // The token and the webhook secret are sealed; Printify signs with that secret.
        let acme = TenantId::parse("acme").unwrap();
        let keys = api.state.marketplaces.keys.clone().unwrap();
        let token = credentials::load(&api.pool, &keys, &acme, shop_id, Kind::ApiToken).await.unwrap().unwrap();
        assert_eq!(token.secret, Secret::new(TOKEN), "kept trimmed");
        let secret = credentials::load(&api.pool, &keys, &acme, shop_id, Kind::WebhookSecret).await.unwrap().unwrap();
        let hooks = printify.webhooks(8_101);
        assert_eq!(hooks.len(), 5, "{hooks:?}");
        let url = format!("{SITE}/webhooks/printify/{shop_id}");
        assert!(hooks.iter().all(|h| h.hook.url == url && h.secret == secret.secret.expose()), "{hooks:?}");

        let mut told: String = api.log().await.iter().map(|e| e.payload.to_string()).collect();
        told.push_str(&listed.to_string());
        told.push_str(&api.send("GET", "/integrations", &[("cookie", &owner.cookie)], "").await.2);
        assert!(!told.contains("owner-token") && !told.contains(secret.secret.expose()), "a secret leaked");

        // Connected again, twice at once: the same shop, its webhooks renewed under the secret it keeps.
        let headers = form_headers(&owner);
        let (one, two) = tokio::join!(
            api.send("POST", connect, &headers, form(&owner, TOKEN, None)),
            api.send("POST", connect, &headers, form(&owner, TOKEN, None)),
        );
        assert_eq!((one.0, two.0), (StatusCode::SEE_OTHER, StatusCode::SEE_OTHER), "{} {}", one.2, two.2);
        api.project().await;
        assert_eq!(shops(&api).await.as_array().unwrap().len(), 1);
        let again = credentials::load(&api.pool, &keys, &acme, shop_id, Kind::WebhookSecret).await.unwrap().unwrap();
        assert_eq!(again.secret, secret.secret, "kept across reconnections");
        let hooks = printify.webhooks(8_101);
        assert!(hooks.len() >= 5, "{hooks:?}");
        assert!(hooks.iter().all(|h| h.secret == again.secret.expose()), "every webhook signs with the stored secret");

        // Disconnected: our webhooks are removed from Printify, the token and secret forgotten.
        let disconnect = format!("/integrations/shops/{shop_id}/disconnect");
        let (status, _, body) =
            api.send("POST", &disconnect, &form_headers(&owner), format!("csrf={}", owner.csrf)).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
        assert!(printify.webhooks(8_101).is_empty(), "{:?}", printify.webhooks(8_101));
        assert!(credentials::load(&api.pool, &keys, &acme, shop_id, Kind::ApiToken).await.unwrap().is_none());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_connected_printify_shop_is_offered_for_publishing_and_its_queue_looks_again_while_queued() {
        let (api, _printify) = with_printify(vec![shop(8_101, "Cat Mom Tees")]).await;
        let owner = api.person("acme", Role::Owner).await;
        let connect = "/integrations/printify/connect";
        let (status, _, body) = api.send("POST", connect, &form_headers(&owner), form(&owner, TOKEN, None)).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
        let listing = api.seeded.acme_listing;
        let auth = format!("Bearer {}", api.acme_editor);
        let approve = format!("/api/v1/listings/{listing}/approve");
        let (status, _, body) = api.send("POST", &approve, &[("authorization", auth.as_str())], "").await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        api.project().await;
        let shop_id = shops(&api).await[0]["shop_id"].as_str().unwrap().to_owned();
        let get = |path: String| {
            let cookie = owner.cookie.clone();
            let api = &api;
            async move { api.send("GET", &path, &[("cookie", &cookie)], "").await.2 }
        };

        let editor = get(format!("/listings/{listing}")).await;
        assert!(editor.contains(&format!(r#"<option value="{shop_id}""#)), "{editor}");
        assert!(editor.contains("Cat Mom Tees (Printify)</option>"), "{editor}");
        assert!(editor.contains(">Publish</button>") && editor.contains("Submit as a dry run"), "{editor}");
        let publishing = get("/publishing".into()).await;
        assert!(publishing.contains("Publish to Cat Mom Tees"), "{publishing}");
        assert!(!publishing.contains("every 5s"), "nothing queued, nothing to look at again");

        let headers = [
            ("cookie", owner.cookie.as_str()),
            ("x-csrf-token", owner.csrf.as_str()),
            ("origin", "http://127.0.0.1:8080"),
            ("host", "127.0.0.1:8080"),
            ("content-type", "application/x-www-form-urlencoded"),
        ];
        let submit = format!("/listings/{listing}/submit");
        let (status, _, fragment) =
            api.send("POST", &submit, &headers, format!("dry_run=false&shop_id={shop_id}")).await;
        assert_eq!(status, StatusCode::OK, "{fragment}");
        assert!(fragment.contains("Queued for publishing"), "{fragment}");
        api.project().await;
        let publishing = get("/publishing?state=queued".into()).await;
        let row = publishing.split("<tr>").find(|r| r.contains("Proud Cat Mom Shirt")).unwrap_or_default();
        assert!(row.contains(">queued<") && row.contains("Cat Mom Tees"), "{row}");
        assert!(publishing.contains(r#"hx-get="/publishing?state=queued" hx-trigger="every 5s""#), "{publishing}");

        // Published, then sold out on the marketplace (as the sync finds it).
        use pod_events::domain::listing::{ListingCommand, ListingPublished, MarketplaceState};
        let id = pod_events::AggregateId::new(pod_events::TenantId::parse("acme").unwrap(), listing);
        let published = ListingCommand::RecordPublished {
            submission: 1,
            published: ListingPublished {
                printify_product_id: Some("5d39b159e7c48c000728c89f".into()),
                etsy_listing_id: Some("1700000001".into()),
                url: Some("https://www.etsy.com/listing/1700000001".into()),
                dry_run: false,
            },
        };
        let sold_out = ListingCommand::RecordMarketplaceState {
            etsy_listing_id: "1700000001".into(),
            state: MarketplaceState::SoldOut,
        };
        for command in [published, sold_out] {
            api.state.listings.execute(&id, command, &pod_events::EventMeta::new_command()).await.unwrap();
        }
        api.project().await;
        let publishing = get("/publishing?state=published".into()).await;
        let row = publishing.split("<tr>").find(|r| r.contains("Proud Cat Mom Shirt")).unwrap_or_default();
        assert!(row.contains(">sold out<"), "{row}");
        let editor = get(format!("/listings/{listing}")).await;
        assert!(editor.contains("Sold out on the marketplace"), "the editor's history says so");
    }

    /// The owner sends a token with several shops: the page to choose one,
    /// and the state naming the token held meanwhile.
    async fn choose_among_shops(api: &Api, owner: &Person) -> String {
        let connect = "/integrations/printify/connect";
        let (status, h, page) = api.send("POST", connect, &form_headers(owner), form(owner, TOKEN, None)).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert_eq!(h["cache-control"], "no-store");
        assert!(page.contains("Cat Mom Tees") && page.contains("Dog Dad Mugs"), "{page}");
        assert!(page.contains("value=\"8102\""), "{page}");
        assert!(!page.contains("owner-token"), "the token stays on the server while the owner chooses");
        let field = "name=\"pending\" value=\"";
        let at = page.find(field).unwrap() + field.len();
        page[at..at + page[at..].find('"').unwrap()].to_owned()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_shop_with_no_sales_channel_is_refused_before_anything_is_kept_or_registered() {
        let spare = PrintifyShop { id: 8_103, title: "Spare\u{202E}Shop".into(), sales_channel: "disconnected".into() };
        let (api, printify) = with_printify(vec![spare]).await;
        let owner = api.person("acme", Role::Owner).await;
        let (status, _, body) =
            api.send("POST", "/integrations/printify/connect", &form_headers(&owner), form(&owner, TOKEN, None)).await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        assert!(body.contains("“Spare Shop” has no sales channel") && body.contains("on Printify first"), "{body}");
        api.project().await;
        assert_eq!(shops(&api).await, serde_json::json!([]), "nothing connected");
        assert!(printify.webhooks(8_103).is_empty(), "no webhook registered");
        let kept: i64 = sqlx::query_scalar("SELECT count(*) FROM shop_credentials").fetch_one(&api.pool).await.unwrap();
        assert_eq!(kept, 0, "no token kept");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_token_with_several_shops_asks_which_one() {
        let spare = PrintifyShop { id: 8_103, title: "Spare".into(), sales_channel: "disconnected".into() };
        let (api, printify) =
            with_printify(vec![shop(8_101, "Cat Mom Tees"), shop(8_102, "Dog Dad Mugs"), spare]).await;
        let owner = api.person("acme", Role::Owner).await;
        let editor = api.person("acme", Role::Editor).await;
        let connect = "/integrations/printify/connect";

        let (status, _, _) = api.send("POST", connect, &form_headers(&editor), form(&editor, TOKEN, None)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "only owners connect shops");

        let pending = choose_among_shops(&api, &owner).await;
        api.project().await;
        assert_eq!(shops(&api).await, serde_json::json!([]), "nothing connected before choosing");
        // A shop with no sales channel is shown, not offered.
        let (_, _, page) = api.send("POST", connect, &form_headers(&owner), form(&owner, TOKEN, None)).await;
        assert!(page.contains(r#"value="8103" id="shop-8103" disabled"#), "{page}");
        assert!(page.contains("none: connect one on Printify first"), "{page}");

        // A shop the token cannot use is refused, and the held token is spent.
        let chosen = |pending: &str, shop: u64| format!("csrf={}&pending={pending}&shop={shop}", owner.csrf);
        let (status, _, body) = api.send("POST", connect, &form_headers(&owner), chosen(&pending, 9_999)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(body.contains("is not a shop this token can use"), "{body}");
        let (status, _, body) = api.send("POST", connect, &form_headers(&owner), chosen(&pending, 8_102)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(body.contains("connect again"), "{body}");

        // Nobody else can use an owner's held token.
        let pending = choose_among_shops(&api, &owner).await;
        let other_owner = api.person("acme", Role::Owner).await;
        let stolen = format!("csrf={}&pending={pending}&shop=8102", other_owner.csrf);
        let (status, _, _) = api.send("POST", connect, &form_headers(&other_owner), stolen).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);

        let pending = choose_among_shops(&api, &owner).await;
        let (status, _, body) = api.send("POST", connect, &form_headers(&owner), chosen(&pending, 8_102)).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
        api.project().await;
        let listed = shops(&api).await;
        assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
        assert_eq!(listed[0]["display_name"], "Dog Dad Mugs");
        assert_eq!(printify.webhooks(8_102).len(), 5);
        assert!(printify.webhooks(8_101).is_empty());
    }
}

mod printify_webhooks {
    use super::*;
    use pod_events::domain::listing::{ExternalKind, ListingCommand};
    use pod_events::{AggregateId, EventMeta};
    use pod_marketplaces::PrintifySettings;
    use pod_marketplaces::printify::PrintifyShop;
    use pod_marketplaces::printify::api::{LineMetadata, PrintifyLineItem, PrintifyOrder, PrintifyShipment};
    use pod_marketplaces::standin::printify::PrintifyStandIn;

    const TOKEN: &str = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.webhook-owner";
    const SHOP: u64 = 8_201;

    /// The HMAC Printify would send, computed outside Rust.
    fn python_signature(secret: &str, body: &str) -> String {
        let script = "import hmac, hashlib, sys\nkey, body = sys.argv[1], sys.stdin.buffer.read()\nprint('sha256=' + hmac.new(key.encode(), body, hashlib.sha256).hexdigest())";
        let mut child = std::process::Command::new("python3")
            .args(["-c", script, secret])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3 computes the expected signature");
        use std::io::Write;
        child.stdin.take().unwrap().write_all(body.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    fn order(status: &str) -> PrintifyOrder {
        PrintifyOrder {
            id: ORDER.into(),
            status: status.into(),
            line_items: vec![PrintifyLineItem {
                product_id: "65a1c0ffee".into(),
                variant_id: 17_887,
                quantity: 2,
                metadata: LineMetadata { price: 2499, title: "Cat Mom Tee".into(), sku: "CMT-M".into() },
            }],
            total_price: 2350,
            total_shipping: 475,
            total_tax: 0,
            shipments: vec![],
            created_at: Some("2026-11-30 18:04:05+00:00".into()),
        }
    }

    const ORDER: &str = "5a96f649b2439217d070f507";

    fn delivery(id: &str, topic: &str) -> String {
        delivery_about(id, topic, ORDER)
    }

    fn delivery_about(id: &str, topic: &str, order: &str) -> String {
        format!(
            r#"{{"id":"{id}","type":"{topic}","created_at":"2026-12-02 10:00:00+00:00","resource":{{"id":"{order}","type":"order","data":{{"shop_id":{SHOP},"status":"pending"}}}}}}"#
        )
    }

    async fn orders_of(api: &Api) -> Vec<(String, i64, Option<i64>, i32)> {
        api.project().await;
        sqlx::query_as("SELECT status, total_cents, cost_cents, items FROM orders WHERE tenant = 'acme'")
            .fetch_all(&api.pool)
            .await
            .unwrap()
    }

    /// Acme's Printify shop connected through the dashboard: the API, the
    /// stand-in, our shop id and the secret Printify signs with.
    async fn connected_for_webhooks() -> (Api, PrintifyStandIn, String, String) {
        let printify = PrintifyStandIn::start(
            TOKEN,
            vec![PrintifyShop { id: SHOP, title: "Cat Mom Tees".into(), sales_channel: "etsy".into() }],
        )
        .await
        .unwrap();
        let mut api = Api::new().await;
        let settings = MarketplacesSettings {
            printify: PrintifySettings { base_url: printify.url.clone(), ..Default::default() },
            ..MarketplacesSettings::default()
        };
        let connectors = Connectors::configure(&settings, Some(Keyring::parse(&key_entry()).unwrap()), SITE).unwrap();
        api.reconfigure(|s| s.with_marketplaces(connectors));
        let owner = api.person("acme", Role::Owner).await;
        let (status, _, body) = api
            .send(
                "POST",
                "/integrations/printify/connect",
                &form_headers(&owner),
                format!("csrf={}&token={TOKEN}", owner.csrf),
            )
            .await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
        api.project().await;
        let listed = shops(&api).await;
        let shop_id = listed[0]["shop_id"].as_str().unwrap().to_owned();
        let secret = printify.webhooks(SHOP)[0].secret.clone();
        (api, printify, shop_id, secret)
    }

    async fn signed(api: &Api, shop_id: &str, secret: &str, body: String) -> (StatusCode, String) {
        let headers = [("content-type", "application/json"), ("x-pfy-signature", &python_signature(secret, &body))];
        let (status, _, answer) = api.send("POST", &format!("/webhooks/printify/{shop_id}"), &headers, body).await;
        (status, answer)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_orders_lines_name_the_listing_its_product_was_made_for() {
        let (api, printify, shop_id, secret) = connected_for_webhooks().await;
        // The seeded listing, published to the shop as product 65a1c0ffee.
        let listing = AggregateId::new(TenantId::parse("acme").unwrap(), api.seeded.acme_listing);
        let by = pod_events::domain::Actor::System;
        let shop = Some(shop_id.parse().unwrap());
        for command in [
            ListingCommand::Approve { by: by.clone() },
            ListingCommand::Submit { by, shop_id: shop, dry_run: false },
            ListingCommand::RecordExternalId {
                submission: 1,
                kind: ExternalKind::PrintifyProduct,
                id: "65a1c0ffee".into(),
            },
        ] {
            api.state.listings.execute(&listing, command, &EventMeta::new_command()).await.unwrap();
        }
        api.project().await;
        printify.put_order(SHOP, order("in-production"));
        let (status, answer) = signed(&api, &shop_id, &secret, delivery("d-1", "order:created")).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        api.project().await;
        let lines: Vec<(Option<uuid::Uuid>, String)> =
            sqlx::query_as("SELECT listing_id, external_listing_id FROM order_lines WHERE tenant = 'acme'")
                .fetch_all(&api.pool)
                .await
                .unwrap();
        assert_eq!(lines, vec![(Some(api.seeded.acme_listing), "65a1c0ffee".to_owned())]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_signed_order_webhook_records_the_order_once_and_a_forged_one_nothing() {
        let (api, printify, shop_id, secret) = connected_for_webhooks().await;
        let hook = format!("/webhooks/printify/{shop_id}");
        printify.put_order(SHOP, order("in-production"));

        let send = |body: String, signature: Option<String>| {
            let api = &api;
            let hook = hook.clone();
            async move {
                let mut headers = vec![("content-type", "application/json".to_owned())];
                if let Some(sig) = signature {
                    headers.push(("x-pfy-signature", sig));
                }
                let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
                api.send("POST", &hook, &headers, body).await
            }
        };

        // Unsigned, signed with another secret, or altered after signing: refused, nothing recorded.
        let body = delivery("d-1", "order:created");
        let (status, _, answer) = send(body.clone(), None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{answer}");
        let (status, _, _) = send(body.clone(), Some(python_signature("not-the-secret", &body))).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let (status, _, _) = send(body.replace("d-1", "d-9"), Some(python_signature(&secret, &body))).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(orders_of(&api).await.is_empty());

        // A delivery from long ago is forgotten once another arrives; one of another shop is not.
        for (shop, id) in [(shop_id.as_str(), "d-old"), ("00000000-0000-0000-0000-0000000000aa", "d-other")] {
            sqlx::query(
                "INSERT INTO webhook_deliveries (tenant, shop_id, delivery_id, topic, received_at)
                 VALUES ('acme', $1::uuid, $2, 'order:created', now() - interval '31 days')",
            )
            .bind(shop)
            .bind(id)
            .execute(&api.pool)
            .await
            .unwrap();
        }

        // Signed as Printify signs: the order is read from Printify and recorded, with its cost.
        let (status, _, answer) = send(body.clone(), Some(python_signature(&secret, &body))).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(orders_of(&api).await, vec![("paid".to_owned(), 4998, Some(2825), 2)]);

        let remembered: Vec<String> =
            sqlx::query_scalar("SELECT delivery_id FROM webhook_deliveries ORDER BY delivery_id")
                .fetch_all(&api.pool)
                .await
                .unwrap();
        assert_eq!(remembered, vec!["d-1", "d-other"], "the month-old delivery of this shop is forgotten");

        // The same body replayed, and an update that says nothing new: still one order, one payment.
        let (status, _, answer) = send(body.clone(), Some(python_signature(&secret, &body))).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert!(answer.contains("\"duplicate\":true"), "{answer}");
        let update = delivery("d-2", "order:updated");
        let (status, _, _) = send(update.clone(), Some(python_signature(&secret, &update))).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(orders_of(&api).await, vec![("paid".to_owned(), 4998, Some(2825), 2)]);
        let paid = api.log().await.iter().filter(|e| e.event_type == "OrderPaid").count();
        assert_eq!(paid, 1, "paid once");

        // Shipped: the parcel recorded once, however often it is told.
        let mut shipped = order("fulfilled");
        let parcel = PrintifyShipment { carrier: "usps".into(), number: "9400111".into(), url: String::new() };
        shipped.shipments = vec![parcel];
        printify.put_order(SHOP, shipped);
        for (n, topic) in [(4, "order:shipment:created"), (5, "order:shipment:delivered"), (6, "order:updated")] {
            let told = delivery(&format!("d-{n}"), topic);
            let (status, _, answer) = send(told.clone(), Some(python_signature(&secret, &told))).await;
            assert_eq!(status, StatusCode::OK, "{answer}");
        }
        assert_eq!(orders_of(&api).await, vec![("shipped".to_owned(), 4998, Some(2825), 2)]);
        let log = api.log().await;
        assert_eq!(log.iter().filter(|e| e.event_type == "OrderShipped").count(), 1, "one parcel");
        assert_eq!(log.iter().filter(|e| e.event_type == "OrderPaid").count(), 1, "still paid once");

        // Another order, cancelled on Printify.
        let mut other = order("canceled");
        other.id = "6b07a750c3549328e181f618".into();
        printify.put_order(SHOP, other);
        let cancel = delivery_about("d-7", "order:updated", "6b07a750c3549328e181f618");
        let (status, _, _) = send(cancel.clone(), Some(python_signature(&secret, &cancel))).await;
        assert_eq!(status, StatusCode::OK);
        let statuses: Vec<String> = orders_of(&api).await.into_iter().map(|o| o.0).collect();
        assert!(statuses.contains(&"cancelled".to_owned()) && statuses.contains(&"shipped".to_owned()), "{statuses:?}");

        // A shop that is not ours, or a malformed id, is not found; a body that is no webhook is refused.
        let stranger = format!("/webhooks/printify/{}", uuid::Uuid::new_v4());
        let (status, _, _) = api.send("POST", &stranger, &[("x-pfy-signature", "sha256=00")], body.clone()).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let junk = delivery("d\\u0000", "order:created");
        assert!(junk.contains("\\u0000"), "{junk}");
        let (status, _, _) = send(junk.clone(), Some(python_signature(&secret, &junk))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }
}

/// Connects the stand-in's Etsy shop to acme through the owner's consent,
/// and returns its shop id once recorded.
async fn connected_etsy_shop(api: &Api, owner: &Person) -> uuid::Uuid {
    let callback = consent(api, owner).await;
    let (status, _, body) = api.send("GET", &callback, &[("cookie", &owner.cookie)], "").await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    api.project().await;
    shops(api).await[0]["shop_id"].as_str().unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owner_chooses_the_shipping_profile_and_return_policy_kept_across_reconnection() {
    let etsy = EtsyStandIn::start(APP).await.unwrap();
    etsy.set_policies(vec![191, 192, 193], vec![291, 292]);
    let mut api = Api::new().await;
    let mut settings = settings(&etsy);
    settings.etsy.taxonomies.insert("mug".into(), 1120);
    let connectors = Connectors::configure(&settings, Some(Keyring::parse(&key_entry()).unwrap()), SITE).unwrap();
    api.reconfigure(|s| s.with_marketplaces(connectors));
    let owner = api.person("acme", Role::Owner).await;
    let shop_id = connected_etsy_shop(&api, &owner).await;
    let page_path = format!("/integrations/shops/{shop_id}/listing-defaults");
    let json_path = format!("/api/v1/shops/{shop_id}/listing-defaults");
    let acme_owner = pod_api::auth::issue_token(&api.pool, "acme", "test", Role::Owner).await.unwrap();
    let defaults = || async {
        api.project().await;
        let (status, _, body) = api.call("GET", &json_path, Some(&acme_owner), &[]).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let by_type = body["shipping_profile_by_type"].as_object().unwrap().clone();
        (body["shipping_profile_id"].as_u64(), body["return_policy_id"].as_u64(), serde_json::Value::Object(by_type))
    };
    // Connected: the shop's first profile and policy, until the seller chooses.
    assert_eq!(defaults().await, (Some(191), Some(291), serde_json::json!({})));
    let (_, _, integrations) = api.send("GET", "/integrations", &[("cookie", &owner.cookie)], "").await;
    assert!(integrations.contains(&format!("href=\"{page_path}\"")), "{integrations}");

    // The page offers what the shop has on Etsy now, per product type too.
    let (status, _, page) = api.send("GET", &page_path, &[("cookie", &owner.cookie)], "").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("<option value=\"191\" selected>Profile 191</option>"), "{page}");
    assert!(page.contains("<option value=\"292\" >Returns and exchanges within 30 days (#292)</option>"), "{page}");
    assert!(page.contains("name=\"type:mug\"") && page.contains("name=\"type:t-shirt\""), "{page}");
    let viewer = api.person("acme", Role::Viewer).await;
    let (status, _, _) = api.send("GET", &page_path, &[("cookie", &viewer.cookie)], "").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = api.call("GET", &json_path, Some(&api.acme_viewer), &[]).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "each look asks Etsy: owners only");

    // Chosen: profile 192 for the shop, 193 for mugs, policy 292.
    let form =
        format!("csrf={}&shipping_profile_id=192&return_policy_id=292&type%3Amug=193&type%3At-shirt=", owner.csrf);
    let (status, h, body) = api.send("POST", &page_path, &form_headers(&owner), form).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    assert_eq!(h["location"], "/integrations?defaults=1");
    assert_eq!(defaults().await, (Some(192), Some(292), serde_json::json!({"mug": 193})));
    let log = api.log().await;
    let chosen = log.iter().find(|e| e.event_type == "ShopListingDefaultsChosen").unwrap();
    assert_eq!(chosen.payload["by"]["user_id"].as_str().map(str::len), Some(36), "{:?}", chosen.payload);

    // What the shop does not have, a product type not published here, a
    // form without its token, and callers who may not: refused, naming why.
    let bad = format!("csrf={}&shipping_profile_id=999&return_policy_id=292", owner.csrf);
    let (status, _, body) = api.send("POST", &page_path, &form_headers(&owner), bad).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body.contains("shipping_profile_id") && body.contains("reload and choose again"), "{body}");
    let (status, _, _) =
        api.send("POST", &page_path, &form_headers(&owner), "csrf=wrong&shipping_profile_id=191".to_owned()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let put = |token: String, body: serde_json::Value| {
        let path = json_path.clone();
        let api = &api;
        async move {
            let auth = format!("Bearer {token}");
            let headers = [("authorization", auth.as_str()), ("content-type", "application/json")];
            api.send("PUT", &path, &headers, body.to_string()).await
        }
    };
    let hostile = serde_json::json!({"shipping_profile_id": 191, "shipping_profile_by_type": {"mug\u{202E}": 193}});
    let (status, _, body) = put(api.acme_editor.clone(), hostile.clone()).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "an editor does not choose: {body}");
    let (status, _, body) = put(acme_owner.clone(), hostile).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body.contains("shipping_profile_by_type"), "{body}");
    let (status, _, body) = put(acme_owner.clone(), serde_json::json!({"shipping_profile_id": 191, "tip": 1})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "unknown fields are refused: {body}");
    // Another tenant's owner cannot see or change acme's shop.
    let beta_owner = pod_api::auth::issue_token(&api.pool, "beta", "test", Role::Owner).await.unwrap();
    let (status, _, body) = put(beta_owner.clone(), serde_json::json!({"shipping_profile_id": 191})).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, _, _) = api.call("GET", &json_path, Some(&beta_owner), &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(defaults().await, (Some(192), Some(292), serde_json::json!({"mug": 193})), "nothing changed");

    // Connected again: the choice is kept where the shop still has it.
    connected_etsy_shop(&api, &owner).await;
    assert_eq!(defaults().await, (Some(192), Some(292), serde_json::json!({"mug": 193})));
    // Profile 192 and policy 292 deleted on Etsy, then connected again:
    // the shop's first ones, mugs' own profile kept.
    etsy.set_policies(vec![191, 193], vec![291]);
    connected_etsy_shop(&api, &owner).await;
    assert_eq!(defaults().await, (Some(191), Some(291), serde_json::json!({"mug": 193})));

    // Through the API, by an owner's token: 202, then as chosen. Connected
    // again at once, before the read model has the choice: kept, "no
    // return policy" too.
    let none = serde_json::json!({"shipping_profile_id": 193, "return_policy_id": null});
    let (status, h, body) = put(acme_owner.clone(), none).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(h["location"], json_path.as_str());
    let callback = consent(&api, &owner).await;
    let (status, _, body) = api.send("GET", &callback, &[("cookie", &owner.cookie)], "").await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    assert_eq!(defaults().await, (Some(193), None, serde_json::json!({})), "mugs ship with the shop's profile now");

    // A token Etsy no longer takes (expired early) is refreshed once, the
    // refresh recorded; a grant Etsy refuses marks the shop for reconnecting.
    let refreshed_before = api.log().await.iter().filter(|e| e.event_type == "ShopTokenRefreshed").count();
    etsy.expire_access_tokens();
    assert_eq!(defaults().await.0, Some(193));
    let refreshed = api.log().await.iter().filter(|e| e.event_type == "ShopTokenRefreshed").count();
    assert_eq!(refreshed, refreshed_before + 1, "the refresh is recorded");
    etsy.revoke_all();
    let (status, _, body) = api.call("GET", &json_path, Some(&acme_owner), &[]).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("connect it again"), "{body}");
    api.project().await;
    assert_eq!(shops(&api).await[0]["needs_reconnect"], true);
}
