//! The S3 blob store (aws-sdk-s3) against moto's S3 server, started by the
//! test on a port of its own.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pod_blobs::{BlobError, BlobStore, sha256_hex};
use pod_blobs::{S3BlobStore, S3Settings};

struct Moto(Child);

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn moto_bin() -> std::path::PathBuf {
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = std::env::var_os("POD_TOOLS_DIR").map(std::path::PathBuf::from).unwrap_or(root.join(".tools"));
    dir.join("venv/bin/moto_server")
}

async fn start_moto() -> (Moto, String) {
    let bin = moto_bin();
    assert!(
        bin.is_file(),
        "{} is missing: install it with `scripts/services.sh` (pip install moto[server])",
        bin.display()
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new(&bin)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting moto_server");
    let guard = Moto(child);
    let deadline = Instant::now() + Duration::from_secs(30);
    while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        assert!(Instant::now() < deadline, "moto_server did not listen on {port} within 30 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (guard, format!("http://127.0.0.1:{port}"))
}

#[tokio::test]
async fn assets_round_trip_through_s3_content_addressed() {
    let (_moto, endpoint) = start_moto().await;
    let store = S3BlobStore::new(S3Settings {
        bucket: "pod-test-assets".into(),
        endpoint: Some(endpoint),
        access_key: Some("test".into()),
        secret_key: Some("testtest".into()),
        key_prefix: "shop-1/".into(),
        ..Default::default()
    })
    .await;
    store.ensure_bucket().await.unwrap();
    store.ensure_bucket().await.unwrap();
    // 6 MiB: more than one part's worth for many clients, one PUT here.
    let bytes: Vec<u8> = (0..6 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    let a = store.put("artwork", "png", "image/png", bytes.clone()).await.unwrap();
    assert_eq!(a.sha256, sha256_hex(&bytes));
    assert_eq!(a.bytes, bytes.len() as u64);
    assert_eq!(a.key, format!("artwork/{}/{}.png", &a.sha256[..2], a.sha256));
    assert_eq!(store.locate(&a.key), format!("s3://pod-test-assets/shop-1/{}", a.key));
    let again = store.put("artwork", "png", "image/png", bytes.clone()).await.unwrap();
    assert_eq!(again, a);
    assert_eq!(store.get(&a.key).await.unwrap(), bytes);
    assert!(matches!(store.get("artwork/00/missing.png").await, Err(BlobError::NotFound { .. })));
}
