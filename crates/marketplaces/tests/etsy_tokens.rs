//! Connecting an Etsy shop and keeping its tokens fresh, with the real
//! OAuth client against the Etsy stand-in's RFC 6749 / RFC 7636
//! authorization server and a real PostgreSQL (a database of each test's
//! own).

use std::sync::Arc;
use std::time::Duration;

use chrono::SubsecRound;
use pod_events::{TenantId, Transient};
use pod_marketplaces::credentials::{self, Kind};
use pod_marketplaces::etsy::{self, EtsyOAuth, OAuthError, ShopTokens, TokenError, Tokens};
use pod_marketplaces::standin::etsy::EtsyStandIn;
use pod_marketplaces::{EtsySettings, Keyring};
use sqlx::PgPool;
use uuid::Uuid;

mod common;
use common::{drop_db, fresh_db, url_of};

const APP: &str = "pod-automator-test-app";
const REDIRECT: &str = "http://127.0.0.1:9/integrations/etsy/callback";

fn settings(etsy: &EtsyStandIn) -> EtsySettings {
    EtsySettings {
        base_url: etsy.url.clone(),
        authorize_url: etsy.authorize_url(),
        token_url: etsy.token_url(),
        keystring: Some(APP.into()),
        ..EtsySettings::default()
    }
}

fn keyring() -> Arc<Keyring> {
    Arc::new(Keyring::parse(&Keyring::new_entry("k1").unwrap()).unwrap())
}

fn acme() -> TenantId {
    TenantId::parse("acme").unwrap()
}

/// The seller's round trip: to Etsy's consent page and back with a code.
async fn consent(oauth: &EtsyOAuth) -> (String, etsy::Authorization) {
    let started = oauth.authorize();
    let browser = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let resp = browser.get(&started.url).send().await.unwrap();
    assert!(resp.status().is_redirection(), "consented: {}", resp.status());
    let back = reqwest::Url::parse(resp.headers()["location"].to_str().unwrap()).unwrap();
    assert!(back.as_str().starts_with(REDIRECT), "{back}");
    let q: std::collections::HashMap<_, _> = back.query_pairs().into_owned().collect();
    assert_eq!(q["state"], started.state.expose(), "the state comes back unchanged");
    (q["code"].clone(), started)
}

/// A shop connected through the whole flow, its tokens kept.
async fn connected(pool: &PgPool, keys: &Keyring, oauth: &EtsyOAuth, shop: Uuid) -> Tokens {
    let (code, started) = consent(oauth).await;
    let tokens = oauth.exchange(&code, &started.verifier).await.unwrap();
    etsy::tokens::keep(pool, keys, &acme(), shop, &tokens).await.unwrap();
    tokens
}

/// A test's database, Etsy stand-in, OAuth client and keys.
struct Scene {
    pool: PgPool,
    admin: String,
    db: String,
    etsy: EtsyStandIn,
    oauth: EtsyOAuth,
    keys: Arc<Keyring>,
}

async fn scene() -> Scene {
    let (pool, admin, db) = fresh_db().await;
    let etsy = EtsyStandIn::start(APP).await.unwrap();
    let oauth = EtsyOAuth::new(&settings(&etsy), REDIRECT).unwrap();
    Scene { pool, admin, db, etsy, oauth, keys: keyring() }
}

impl Scene {
    async fn end(self) {
        drop_db(self.pool, &self.admin, &self.db).await;
    }
}

fn shop_tokens(pool: &PgPool, keys: &Arc<Keyring>, oauth: &EtsyOAuth) -> ShopTokens {
    ShopTokens::new(pool.clone(), keys.clone(), oauth.clone(), chrono::Duration::seconds(300))
}

#[tokio::test]
async fn a_shop_connects_with_pkce_and_its_tokens_are_kept_sealed() {
    let s = scene().await;
    let (pool, etsy, oauth, keys) = (&s.pool, &s.etsy, &s.oauth, &s.keys);
    let shop = Uuid::from_u128(7);

    let tokens = connected(pool, keys, oauth, shop).await;

    let sent = etsy.token_requests();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["grant_type"], "authorization_code");
    assert_eq!(sent[0]["client_id"], APP, "a public client names itself in the body");
    assert_eq!(sent[0]["redirect_uri"], REDIRECT);
    assert!(!sent[0].contains_key("client_secret"), "{:?}", sent[0].keys());
    assert!(etsy.access_is_live(tokens.access.expose()));
    let lifetime = tokens.expires_at - chrono::Utc::now();
    assert!(lifetime > chrono::Duration::seconds(3500) && lifetime <= chrono::Duration::seconds(3600), "{lifetime}");

    let access = credentials::load(pool, keys, &acme(), shop, Kind::AccessToken).await.unwrap().unwrap();
    assert_eq!(access.secret, tokens.access);
    assert_eq!(access.expires_at, Some(tokens.expires_at).map(|t| t.trunc_subsecs(6)));
    let refresh = credentials::load(pool, keys, &acme(), shop, Kind::RefreshToken).await.unwrap().unwrap();
    assert_eq!(Some(refresh.secret), tokens.refresh);
    let other = TenantId::parse("beta").unwrap();
    assert!(credentials::load(pool, keys, &other, shop, Kind::AccessToken).await.unwrap().is_none());
    s.end().await;
}

#[tokio::test]
async fn a_code_is_exchanged_only_with_its_verifier_and_only_once() {
    let etsy = EtsyStandIn::start(APP).await.unwrap();
    let oauth = EtsyOAuth::new(&settings(&etsy), REDIRECT).unwrap();

    let (code, _started) = consent(&oauth).await;
    let other = oauth.authorize().verifier;
    let e = oauth.exchange(&code, &other).await.unwrap_err();
    assert!(e.is_invalid_grant(), "another verifier: {e}");

    let (code, started) = consent(&oauth).await;
    let first = oauth.exchange(&code, &started.verifier).await.unwrap();
    let e = oauth.exchange(&code, &started.verifier).await.unwrap_err();
    assert!(e.is_invalid_grant(), "a code twice: {e}");
    assert!(!etsy.access_is_live(first.access.expose()), "RFC 6749 §4.1.2: what the code gave is revoked");
}

#[tokio::test]
async fn a_token_near_its_expiry_is_refreshed_and_the_rotated_refresh_token_kept() {
    let s = scene().await;
    let (pool, etsy, oauth, keys) = (&s.pool, &s.etsy, &s.oauth, &s.keys);
    let shop = Uuid::from_u128(8);
    etsy.set_access_lifetime(120); // inside the 300 s refreshed ahead
    let first = connected(pool, keys, oauth, shop).await;
    etsy.set_access_lifetime(3600);
    let tokens = shop_tokens(pool, keys, oauth);

    let access = tokens.access(&acme(), shop).await.unwrap();
    assert_ne!(access.token, first.access);
    assert!(access.refreshed_until.is_some_and(|t| t > chrono::Utc::now() + chrono::Duration::seconds(3500)));
    assert_eq!(etsy.refreshes(), 1);
    let refresh = credentials::load(pool, keys, &acme(), shop, Kind::RefreshToken).await.unwrap().unwrap();
    assert_ne!(Some(&refresh.secret), first.refresh.as_ref(), "the rotated refresh token replaced the used one");

    let again = tokens.access(&acme(), shop).await.unwrap();
    assert_eq!(again.token, access.token, "a fresh token is used as it is");
    assert!(again.refreshed_until.is_none());
    assert_eq!(etsy.refreshes(), 1);
    s.end().await;
}

#[tokio::test]
async fn two_processes_that_need_a_refresh_at_once_refresh_once() {
    let s = scene().await;
    let (pool, etsy, oauth, keys) = (&s.pool, &s.etsy, &s.oauth, &s.keys);
    let shop = Uuid::from_u128(9);
    etsy.set_access_lifetime(60);
    connected(pool, keys, oauth, shop).await;
    etsy.set_access_lifetime(3600);
    etsy.set_token_delay(Duration::from_millis(300));
    // Two processes: two pools, two clients.
    let other_pool = PgPool::connect(&url_of(&s.admin, &s.db)).await.unwrap();
    let (one, two) = (shop_tokens(pool, keys, oauth), shop_tokens(&other_pool, keys, oauth));

    let tenant = acme();
    let (a, b) = tokio::join!(one.access(&tenant, shop), two.access(&tenant, shop));
    let (a, b) = (a.unwrap(), b.unwrap());

    assert_eq!(etsy.refreshes(), 1, "the second waited for the first's tokens");
    assert_eq!(a.token, b.token);
    assert!(etsy.access_is_live(a.token.expose()));
    assert_eq!(
        [a.refreshed_until.is_some(), b.refreshed_until.is_some()].iter().filter(|r| **r).count(),
        1,
        "one of them refreshed"
    );
    other_pool.close().await;
    s.end().await;
}

#[tokio::test]
async fn a_token_refused_mid_publish_is_replaced_once_however_many_saw_it_refused() {
    let s = scene().await;
    let (pool, etsy, oauth, keys) = (&s.pool, &s.etsy, &s.oauth, &s.keys);
    let shop = Uuid::from_u128(10);
    let first = connected(pool, keys, oauth, shop).await;
    let tokens = shop_tokens(pool, keys, oauth);

    let replaced = tokens.after_rejection(&acme(), shop, &first.access).await.unwrap();
    assert_ne!(replaced.token, first.access);
    assert_eq!(etsy.refreshes(), 1);
    // Another publish saw the same token refused: it gets the new one.
    let also = tokens.after_rejection(&acme(), shop, &first.access).await.unwrap();
    assert_eq!(also.token, replaced.token);
    assert_eq!(etsy.refreshes(), 1);
    s.end().await;
}

#[tokio::test]
async fn a_revoked_grant_means_the_shop_needs_reconnecting() {
    let s = scene().await;
    let (pool, etsy, oauth, keys) = (&s.pool, &s.etsy, &s.oauth, &s.keys);
    let shop = Uuid::from_u128(11);
    let first = connected(pool, keys, oauth, shop).await;
    etsy.revoke_all();
    let tokens = shop_tokens(pool, keys, oauth);

    let e = tokens.after_rejection(&acme(), shop, &first.access).await.unwrap_err();
    match &e {
        TokenError::NeedsReconnect { shop_id, reason } => {
            assert_eq!(*shop_id, shop);
            assert!(reason.contains("invalid_grant"), "{reason}");
        }
        other => panic!("expected NeedsReconnect, got {other:?}"),
    }
    assert!(!e.is_transient(), "retrying cannot mend it");
    let told = format!("{e:?} {e}");
    let refresh = first.refresh.clone().unwrap();
    assert!(!told.contains(refresh.expose()) && !told.contains(first.access.expose()), "no token in {told}");
    let kept = credentials::load(pool, keys, &acme(), shop, Kind::RefreshToken).await.unwrap().unwrap();
    assert_eq!(Some(kept.secret), first.refresh, "nothing was overwritten");
    s.end().await;
}

#[tokio::test]
async fn an_unreachable_token_endpoint_is_worth_retrying_and_a_shop_without_tokens_is_not() {
    let s = scene().await;
    let (pool, etsy, keys) = (&s.pool, &s.etsy, &s.keys);
    let shop = Uuid::from_u128(12);
    etsy.set_access_lifetime(10);
    connected(pool, keys, &EtsyOAuth::new(&settings(etsy), REDIRECT).unwrap(), shop).await;
    let gone = EtsySettings { token_url: "http://127.0.0.1:9/token".into(), ..settings(etsy) };
    let tokens = shop_tokens(pool, keys, &EtsyOAuth::new(&gone, REDIRECT).unwrap());

    let e = tokens.access(&acme(), shop).await.unwrap_err();
    assert!(matches!(e, TokenError::Refresh { source: OAuthError::Unavailable(_), .. }), "{e:?}");
    assert!(e.is_transient());

    let other = TenantId::parse("beta").unwrap();
    let e = tokens.access(&other, shop).await.unwrap_err();
    assert!(matches!(e, TokenError::NotConnected { .. }), "another tenant's shop: {e:?}");
    assert!(!e.is_transient());
    s.end().await;
}

#[tokio::test]
async fn a_refresh_the_caller_stops_waiting_for_still_keeps_the_rotated_token() {
    let s = scene().await;
    let (pool, etsy, oauth, keys) = (&s.pool, &s.etsy, &s.oauth, &s.keys);
    let shop = Uuid::from_u128(13);
    etsy.set_access_lifetime(60);
    connected(pool, keys, oauth, shop).await;
    etsy.set_access_lifetime(3600);
    etsy.set_token_delay(Duration::from_millis(400));
    let tokens = shop_tokens(pool, keys, oauth);

    // The caller gives up once Etsy has the refresh request, before it answers.
    let tenant = acme();
    {
        let call = tokens.access(&tenant, shop);
        tokio::pin!(call);
        let asked = etsy.token_requests().len() + 1;
        loop {
            tokio::select! {
                _ = &mut call => panic!("the call should still be waiting on Etsy"),
                _ = tokio::time::sleep(Duration::from_millis(10)) => {
                    if etsy.token_requests().len() == asked { break; }
                }
            }
        }
    }
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(etsy.refreshes(), 1, "Etsy rotated the refresh token");

    // The rotated token was kept: the next call uses what that refresh gave.
    let access = tokens.access(&acme(), shop).await.unwrap();
    assert!(access.refreshed_until.is_none(), "no second refresh");
    assert!(etsy.access_is_live(access.token.expose()));
    let refresh = credentials::load(pool, keys, &acme(), shop, Kind::RefreshToken).await.unwrap().unwrap();
    etsy.set_token_delay(Duration::ZERO);
    assert!(oauth.refresh(&refresh.secret).await.is_ok(), "the stored refresh token is the live one");
    s.end().await;
}
