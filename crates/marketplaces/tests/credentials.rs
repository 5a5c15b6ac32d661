//! The credentials store against a real PostgreSQL: a database of each
//! test's own, migrated, dropped at the end.

use pod_events::TenantId;
use pod_marketplaces::credentials::{self, Credential, CredentialError, Kind, Rekeyed};
use pod_marketplaces::{Keyring, Secret, VaultError};
use uuid::Uuid;

mod common;
use common::{drop_db, fresh_db};

fn keys(ids: &[&str]) -> (Keyring, Vec<String>) {
    let entries: Vec<String> = ids.iter().map(|id| Keyring::new_entry(id).unwrap()).collect();
    (Keyring::parse(&entries.join(",")).unwrap(), entries)
}

fn token(text: &str) -> Credential {
    Credential { secret: Secret::new(text), expires_at: chrono::DateTime::from_timestamp(1_900_000_000, 0) }
}

#[tokio::test]
async fn a_credential_is_stored_sealed_and_read_back_only_by_its_tenant() {
    let (pool, admin, db) = fresh_db().await;
    let (ring, _) = keys(&["k1"]);
    let acme = TenantId::parse("acme").unwrap();
    let beta = TenantId::parse("beta").unwrap();
    let shop = Uuid::from_u128(1);

    credentials::store(&pool, &ring, &acme, shop, Kind::AccessToken, &token("etsy-access-1")).await.unwrap();
    let read = credentials::load(&pool, &ring, &acme, shop, Kind::AccessToken).await.unwrap();
    assert_eq!(read, Some(token("etsy-access-1")));
    let stored: Vec<u8> = sqlx::query_scalar("SELECT ciphertext FROM shop_credentials").fetch_one(&pool).await.unwrap();
    assert!(!stored.windows(4).any(|w| w == b"etsy"), "the table never holds the text");

    assert_eq!(credentials::load(&pool, &ring, &beta, shop, Kind::AccessToken).await.unwrap(), None, "another shop");
    assert_eq!(credentials::load(&pool, &ring, &acme, shop, Kind::RefreshToken).await.unwrap(), None, "another kind");

    // Stored again (a refresh): replaced, not added.
    credentials::store(&pool, &ring, &acme, shop, Kind::AccessToken, &token("etsy-access-2")).await.unwrap();
    let read = credentials::load(&pool, &ring, &acme, shop, Kind::AccessToken).await.unwrap();
    assert_eq!(read.map(|c| c.secret), Some(Secret::new("etsy-access-2")));
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM shop_credentials").fetch_one(&pool).await.unwrap();
    assert_eq!(rows, 1);
    drop_db(pool, &admin, &db).await;
}

#[tokio::test]
async fn a_sealed_row_moved_to_another_shop_does_not_open() {
    let (pool, admin, db) = fresh_db().await;
    let (ring, _) = keys(&["k1"]);
    let acme = TenantId::parse("acme").unwrap();
    let (ours, theirs) = (Uuid::from_u128(1), Uuid::from_u128(2));
    credentials::store(&pool, &ring, &acme, ours, Kind::ApiToken, &token("printify-pat")).await.unwrap();
    credentials::store(&pool, &ring, &acme, theirs, Kind::ApiToken, &token("other-pat")).await.unwrap();
    // Somebody with write access to the table copies our sealed token over theirs.
    sqlx::query(
        "UPDATE shop_credentials t SET key_id = o.key_id, nonce = o.nonce, ciphertext = o.ciphertext
         FROM shop_credentials o WHERE o.shop_id = $1 AND t.shop_id = $2",
    )
    .bind(ours)
    .bind(theirs)
    .execute(&pool)
    .await
    .unwrap();
    let read = credentials::load(&pool, &ring, &acme, theirs, Kind::ApiToken).await;
    assert!(
        matches!(read, Err(CredentialError::Vault { source: VaultError::Unopenable, .. })),
        "refused, not read as theirs: {read:?}"
    );
    drop_db(pool, &admin, &db).await;
}

#[tokio::test]
async fn rekeying_moves_every_credential_to_the_current_key_so_the_old_one_can_go() {
    let (pool, admin, db) = fresh_db().await;
    let (old, old_entries) = keys(&["2026-06"]);
    let acme = TenantId::parse("acme").unwrap();
    for n in 0..150u128 {
        let kind = if n % 2 == 0 { Kind::AccessToken } else { Kind::RefreshToken };
        credentials::store(&pool, &old, &acme, Uuid::from_u128(n / 2), kind, &token(&format!("t{n}"))).await.unwrap();
    }
    let newer = Keyring::new_entry("2026-12").unwrap();
    let both = Keyring::parse(&format!("{newer},{}", old_entries[0])).unwrap();
    assert_eq!(credentials::rekey(&pool, &both).await.unwrap().moved, 150, "more than one batch");
    assert_eq!(credentials::rekey(&pool, &both).await.unwrap(), Rekeyed::default(), "nothing left to move");

    let only_new = Keyring::parse(&newer).unwrap();
    for n in [0u128, 1, 149] {
        let kind = if n % 2 == 0 { Kind::AccessToken } else { Kind::RefreshToken };
        let read = credentials::load(&pool, &only_new, &acme, Uuid::from_u128(n / 2), kind).await.unwrap();
        assert_eq!(read.map(|c| c.secret), Some(Secret::new(format!("t{n}"))), "credential {n}");
    }
    // A key removed before rekeying leaves its values unopenable, and says which key.
    credentials::store(&pool, &old, &acme, Uuid::from_u128(999), Kind::WebhookSecret, &token("whsec")).await.unwrap();
    let read = credentials::load(&pool, &only_new, &acme, Uuid::from_u128(999), Kind::WebhookSecret).await;
    assert!(
        matches!(read, Err(CredentialError::Vault { source: VaultError::UnknownKey(ref k), .. }) if k == "2026-06")
    );
    drop_db(pool, &admin, &db).await;
}

#[tokio::test]
async fn disconnecting_forgets_a_shops_credentials_and_no_others() {
    let (pool, admin, db) = fresh_db().await;
    let (ring, _) = keys(&["k1"]);
    let acme = TenantId::parse("acme").unwrap();
    let beta = TenantId::parse("beta").unwrap();
    let shop = Uuid::from_u128(5);
    for kind in [Kind::AccessToken, Kind::RefreshToken, Kind::WebhookSecret] {
        credentials::store(&pool, &ring, &acme, shop, kind, &token("a")).await.unwrap();
    }
    credentials::store(&pool, &ring, &beta, shop, Kind::AccessToken, &token("b")).await.unwrap();
    assert_eq!(credentials::forget(&pool, &acme, shop).await.unwrap(), 3);
    assert_eq!(credentials::load(&pool, &ring, &acme, shop, Kind::AccessToken).await.unwrap(), None);
    let other = credentials::load(&pool, &ring, &beta, shop, Kind::AccessToken).await.unwrap();
    assert_eq!(other.map(|c| c.secret), Some(Secret::new("b")), "another tenant's shop of the same id stays");
    drop_db(pool, &admin, &db).await;
}

#[tokio::test]
async fn a_value_that_does_not_open_is_reported_and_holds_up_nothing_else() {
    let (pool, admin, db) = fresh_db().await;
    let (old, old_entries) = keys(&["old"]);
    let acme = TenantId::parse("acme").unwrap();
    for n in 0..120u128 {
        credentials::store(&pool, &old, &acme, Uuid::from_u128(n), Kind::ApiToken, &token(&format!("t{n}")))
            .await
            .unwrap();
    }
    // The first row in key order is altered; another row is under a key nobody holds.
    sqlx::query("UPDATE shop_credentials SET ciphertext = set_byte(ciphertext, 0, get_byte(ciphertext, 0) # 1) WHERE shop_id = $1")
        .bind(Uuid::from_u128(0))
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("UPDATE shop_credentials SET key_id = 'lost' WHERE shop_id = $1")
        .bind(Uuid::from_u128(119))
        .execute(&pool)
        .await
        .unwrap();
    let newer = Keyring::new_entry("new").unwrap();
    let both = Keyring::parse(&format!("{newer},{}", old_entries[0])).unwrap();
    let done = credentials::rekey(&pool, &both).await.unwrap();
    assert_eq!(done.moved, 118, "every other value moved, across batches");
    assert_eq!(done.unopenable, vec![(acme.clone(), Uuid::from_u128(0), "api_token")]);
    assert_eq!(done.under_unknown_keys, 1);
    let again = credentials::rekey(&pool, &both).await.unwrap();
    assert_eq!((again.moved, again.unopenable.len()), (0, 1), "reported again, never looped on");
    drop_db(pool, &admin, &db).await;
}
