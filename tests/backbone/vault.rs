//! `pod vault`: a new key, rotating to it with `rekey`, and a keyring that
//! is not right refused with a message naming the setting.

use pod_events::TenantId;
use pod_marketplaces::credentials::{self, Credential, Kind};
use pod_marketplaces::{Keyring, Secret};

use crate::support::*;

fn pod_with_keys(env: &Env, keys: &str, args: &[&str]) -> std::process::Output {
    env.pod().env("POD__VAULT__KEYS", keys).args(args).output().expect("running pod")
}

fn text(out: &std::process::Output) -> (String, String) {
    (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotating_to_a_new_key_reseals_every_credential_and_the_old_key_can_go() {
    let env = Env::new().await;
    let new_key = |id: &str| text(&env.run_pod(&["vault", "new-key", "--id", id])).0.trim().to_owned();
    let old = new_key("2026-06");
    assert!(old.starts_with("2026-06:") && Keyring::parse(&old).is_ok(), "{old}");

    let acme = TenantId::parse("acme").unwrap();
    let keys = Keyring::parse(&old).unwrap();
    for n in 0..3u128 {
        let token = Credential { secret: Secret::new(format!("token-{n}")), expires_at: None };
        credentials::store(&env.pool, &keys, &acme, uuid::Uuid::from_u128(n), Kind::ApiToken, &token).await.unwrap();
    }

    let newer = new_key("2026-12");
    let both = format!("{newer},{old}");
    let (status, _) = text(&pod_with_keys(&env, &both, &["vault", "status"]));
    assert!(status.contains("current key: 2026-12") && status.contains("2026-06: 3 credentials"), "{status}");

    let out = pod_with_keys(&env, &both, &["vault", "rekey"]);
    assert!(out.status.success(), "{}", text(&out).1);
    assert!(text(&out).0.contains("3 credentials re-sealed under key \"2026-12\""), "{}", text(&out).0);

    let (status, _) = text(&pod_with_keys(&env, &newer, &["vault", "status"]));
    assert!(status.contains("2026-12: 3 credentials") && !status.contains("NOT in the keyring"), "{status}");
    let only_new = Keyring::parse(&newer).unwrap();
    let read = credentials::load(&env.pool, &only_new, &acme, uuid::Uuid::from_u128(2), Kind::ApiToken).await.unwrap();
    assert_eq!(read.map(|c| c.secret), Some(Secret::new("token-2")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keyring_that_is_not_right_is_refused_naming_the_setting_and_the_entry() {
    let env = Env::new().await;
    let good = text(&env.run_pod(&["vault", "new-key", "--id", "k1"])).0.trim().to_owned();
    for (keys, says) in [
        ("", "no keys"),
        ("k1:c2hvcnQ=", "entry 1: the key is 5 bytes"),
        (&format!("{good},{good}") as &str, "listed twice"),
    ] {
        let out = pod_with_keys(&env, keys, &["vault", "rekey"]);
        let (_, stderr) = text(&out);
        assert!(!out.status.success(), "{keys:?} was accepted");
        assert!(stderr.contains("POD__VAULT__KEYS") && stderr.contains(says), "{keys:?}: {stderr}");
    }
    let out = env.pod().args(["vault", "new-key", "--id", "bad id\u{202E}"]).output().unwrap();
    assert!(!out.status.success() && text(&out).1.contains("--id"), "{}", text(&out).1);
    let (_, stderr) = text(&pod_with_keys(&env, "k1:c2hvcnQ=", &["vault", "rekey"]));
    assert!(!stderr.contains("c2hvcnQ"), "a key never reaches the output: {stderr}");
}
