use pod_events::store::definitions::{self, Change};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::support::*;

#[tokio::test]
async fn applying_definitions_twice_changes_nothing_and_edits_update_in_place() {
    let nats = TestNats::new().await;
    let again = definitions::apply(&nats.client, &nats.ns, &nats_dir()).await.unwrap();
    assert!(!again.is_empty());
    for a in &again {
        assert_eq!(a.change, Change::Unchanged, "{a}");
    }
    // An edited definition is updated, not recreated: the data stays.
    let bus = pod_events::store::CommandBus::new(nats.store().await, ());
    let id = pod_events::AggregateId::derived(tenant(), "trend", "x");
    bus.execute(&id, observe(1.0), &pod_events::EventMeta::new_command()).await.unwrap();
    let dir = tempdir();
    std::fs::create_dir_all(dir.join("streams")).unwrap();
    let text = std::fs::read_to_string(nats_dir().join("streams/POD_EVENTS.json")).unwrap();
    let text = text.replace("the source of truth", "the one source of truth");
    std::fs::write(dir.join("streams/POD_EVENTS.json"), text).unwrap();
    let applied = definitions::apply(&nats.client, &nats.ns, &dir).await.unwrap();
    assert_eq!(applied[0].change, Change::Updated { fields: vec!["description".into()] });
    assert_eq!(nats.stream_messages().await, 1);
    std::fs::remove_dir_all(dir).unwrap();
}

fn tempdir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("pod-defs-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A server that introduces itself as Debian's NATS 2.9 and answers pings.
#[tokio::test]
async fn a_server_older_than_2_12_is_refused_with_advice() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (r, mut w) = sock.into_split();
                let info = r#"INFO {"server_id":"old","server_name":"old","version":"2.9.10","go":"go1.19","host":"127.0.0.1","port":4222,"headers":true,"max_payload":1048576,"proto":1}"#;
                w.write_all(format!("{info}\r\n").as_bytes()).await.unwrap();
                let mut lines = BufReader::new(r).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    if line.starts_with("PING") {
                        let _ = w.write_all(b"PONG\r\n").await;
                    }
                }
            });
        }
    });
    let err = pod_events::store::connect(&format!("nats://127.0.0.1:{port}"), "test").await.unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, pod_events::store::ConnectError::TooOld { .. }), "{msg}");
    assert!(msg.contains("2.9.10") && msg.contains("scripts/services.sh"), "{msg}");
}
