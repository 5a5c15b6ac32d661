//! The event store on a 3-node JetStream cluster (R3 streams), with a node
//! killed or paused under load: what JetStream acknowledged is never lost
//! nor stored twice, and fresh reads see the latest write from any node.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use pod_events::domain::trend::Trend;
use pod_events::local_cluster::LocalCluster;
use pod_events::store::{CommandBus, JetStreamStore, StoreConfig, connect, definitions};
use pod_events::{AggregateId, EventMeta, Namespace};

use crate::support::*;

async fn cluster() -> LocalCluster {
    LocalCluster::start(3).await.unwrap_or_else(|e| panic!("starting a 3-node NATS cluster: {e}"))
}

fn namespace() -> Namespace {
    Namespace::new(format!("c{}", &uuid::Uuid::new_v4().simple().to_string()[..12])).unwrap()
}

/// A store as a process opens it, once the cluster answers (a node just
/// restarted may time a request out while it catches up).
async fn store_at(url: &str, ns: &Namespace) -> JetStreamStore<Trend> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let config = StoreConfig { namespace: ns.clone(), snapshot_every: 100, cache_capacity: 1000 };
        let opened = match connect(url, "pod-cluster-test").await {
            Ok(client) => JetStreamStore::open(client, config).await.map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        match opened {
            Ok(store) => return store,
            Err(e) => assert!(Instant::now() < deadline, "opening the store at {url}: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The events stream's leader and its replicas' state, as the cluster
/// reports them: (leader, [(replica, current, lag)]); nothing while it
/// cannot say (a node down, an election under way).
async fn placement(url: &str, ns: &Namespace) -> (Option<String>, Vec<(String, bool, u64)>) {
    let asked = async {
        let client = connect(url, "pod-cluster-test").await.ok()?;
        let js = async_nats::jetstream::new(client);
        let mut stream = js.get_stream(ns.events_stream()).await.ok()?;
        stream.info().await.ok().and_then(|i| i.cluster.clone())
    };
    let Ok(Some(cluster)) = tokio::time::timeout(Duration::from_secs(5), asked).await else {
        return (None, Vec::new());
    };
    let replicas =
        cluster.replicas.iter().map(|r| (r.name.clone(), r.current && !r.offline, r.lag.unwrap_or(0))).collect();
    (cluster.leader.clone(), replicas)
}

/// Waits until the stream has a leader and every replica is current (and,
/// once writes have stopped, caught up: lag 0).
async fn settled(c: &LocalCluster, ns: &Namespace) -> String {
    settled_as(c, ns, true).await
}

async fn settled_as(c: &LocalCluster, ns: &Namespace, caught_up: bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (leader, replicas) = placement(&c.urls(), ns).await;
        if let Some(leader) = &leader
            && replicas.len() == 2
            && replicas.iter().all(|(_, current, lag)| *current && (!caught_up || *lag == 0))
        {
            return leader.clone();
        }
        assert!(Instant::now() < deadline, "the stream did not settle: leader {leader:?}, replicas {replicas:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fresh_reads_see_the_latest_write_from_a_follower_that_fell_behind() {
    let c = cluster().await;
    let ns = namespace();
    let admin = connect(&c.urls(), "pod-cluster-test").await.unwrap();
    definitions::apply_replicated(&admin, &ns, &nats_dir(), Some(3)).await.expect("applying R3 definitions");
    let leader = settled(&c, &ns).await;
    // A plain `pod nats apply` (an upgrade's) leaves the R3 stream as it is.
    let again = definitions::apply(&admin, &ns, &nats_dir()).await.expect("applying again");
    let events = again.iter().find(|a| a.name == ns.events_stream()).unwrap();
    assert_eq!(events.change, definitions::Change::Unchanged, "{again:?}");
    assert_eq!(placement(&c.urls(), &ns).await.1.len(), 2, "still on three nodes");
    let leader_at = c.index_of(&leader).unwrap();
    let follower = (0..3).find(|i| *i != leader_at).unwrap();
    // The writer talks to the leader's node, the reader only to the follower's.
    let writer = CommandBus::new(store_at(&c.url(leader_at), &ns).await, ());
    let reader = store_at(&c.url(follower), &ns).await;
    let direct = async_nats::jetstream::new(connect(&c.url(follower), "pod-cluster-test").await.unwrap())
        .get_stream(ns.events_stream())
        .await
        .unwrap();
    // Every read request for the events stream, as the server routes it.
    let spy_client = connect(&c.url(follower), "pod-cluster-spy").await.unwrap();
    let stream = ns.events_stream();
    let mut spy = futures::stream::select(
        spy_client.subscribe(format!("$JS.API.DIRECT.GET.{stream}.>")).await.unwrap(),
        futures::stream::select(
            spy_client.subscribe(format!("$JS.API.DIRECT.GET.{stream}")).await.unwrap(),
            spy_client.subscribe(format!("$JS.API.STREAM.MSG.GET.{stream}")).await.unwrap(),
        ),
    );
    spy_client.flush().await.unwrap();
    const ROUNDS: usize = 20;
    const WRITES: u64 = 10;
    let mut stale_direct = 0;
    for round in 0..ROUNDS {
        let id = AggregateId::derived(tenant(), "trend", &format!("round {round}"));
        // The follower falls behind: the leader and the other replica
        // acknowledge the writes without it.
        c.pause(follower);
        for w in 0..WRITES {
            let meta = EventMeta::with_command_id(format!("r{round}-w{w}"));
            writer.execute(&id, observe(w as f64), &meta).await.unwrap();
        }
        c.resume(follower);
        // Read at once through the follower's node, while it catches up.
        let subject = ns.aggregate_subject("trend", &id);
        let direct_seq = direct.direct_get_last_for_subject(&subject).await.ok().and_then(|m| {
            m.headers.get(pod_events::envelope::H_AGGREGATE_SEQ).and_then(|v| v.as_str().parse::<u64>().ok())
        });
        if direct_seq != Some(WRITES) {
            stale_direct += 1;
        }
        // What the writes asked is not the read's.
        spy_client.flush().await.unwrap();
        while let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(100), spy.next()).await {}
        let fresh = reader.load_fresh(&id).await.unwrap();
        assert_eq!(fresh.version, WRITES, "round {round}: a fresh read through the follower missed a write");
        // It asked the stream's leader (`STREAM.MSG.GET`), never a direct
        // get that any replica may answer.
        spy_client.flush().await.unwrap();
        let mut asked = Vec::new();
        while let Ok(Some(m)) = tokio::time::timeout(Duration::from_millis(200), spy.next()).await {
            asked.push(m.subject.to_string());
        }
        assert!(
            asked.iter().any(|s| s.starts_with("$JS.API.STREAM.MSG.GET.")),
            "round {round}: the fresh read did not ask the leader: {asked:?}"
        );
        assert!(
            !asked.iter().any(|s| s.starts_with("$JS.API.DIRECT.GET.")),
            "round {round}: a fresh read used a direct get: {asked:?}"
        );
        assert_eq!(fresh.aggregate.observations, WRITES);
    }
    // What a direct get, which any replica may answer, would have handed back.
    println!("{stale_direct} of {ROUNDS} direct gets through the lagging follower were stale; 0 fresh reads were");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_writes_survive_kill_9_of_the_stream_leader_and_of_a_follower() {
    let mut c = cluster().await;
    let ns = namespace();
    let admin = connect(&c.urls(), "pod-cluster-test").await.unwrap();
    definitions::apply_replicated(&admin, &ns, &nats_dir(), Some(3)).await.expect("applying R3 definitions");
    settled(&c, &ns).await;

    // Writers on aggregates of their own, through a client that fails over
    // between the nodes, each retrying a command (with its id) until the
    // store acknowledges it.
    const WRITERS: usize = 4;
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let bus = CommandBus::new(store_at(&c.urls(), &ns).await, ());
        let stop = stop.clone();
        tasks.push(tokio::spawn(async move {
            let id = AggregateId::derived(tenant(), "trend", &format!("writer {w}"));
            let (mut acknowledged, mut retries) = (Vec::new(), 0u32);
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                let meta = EventMeta::with_command_id(format!("w{w}-c{n}"));
                let deadline = Instant::now() + Duration::from_secs(60);
                loop {
                    match bus.execute(&id, observe((n % 100) as f64), &meta).await {
                        Ok(_) => break,
                        Err(e) => {
                            assert!(Instant::now() < deadline, "writer {w}: command {n} never acknowledged: {e}");
                            retries += 1;
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                    }
                }
                acknowledged.push(meta.command_id);
                n += 1;
            }
            (id, acknowledged, retries)
        }));
    }
    let pause = |secs| tokio::time::sleep(Duration::from_secs(secs));
    pause(2).await;
    let leader = c.index_of(&placement(&c.urls(), &ns).await.0.expect("a leader")).unwrap();
    c.kill(leader);
    println!("killed the stream leader {} (kill -9)", c.name(leader));
    // A follower takes over while the leader is down, and the writers go on.
    let deadline = Instant::now() + Duration::from_secs(30);
    let took_over = loop {
        let others: Vec<String> = (0..3).filter(|i| *i != leader).map(|i| c.url(i)).collect();
        if let (Some(now), _) = placement(&others.join(","), &ns).await
            && now != c.name(leader)
        {
            break now;
        }
        assert!(Instant::now() < deadline, "no follower took over from {}", c.name(leader));
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    println!("{took_over} took over");
    pause(3).await;
    c.restart(leader).unwrap();
    // The writers are still writing: current, not necessarily lag 0.
    let new_leader = settled_as(&c, &ns, false).await;
    let follower = (0..3).find(|i| Some(*i) != c.index_of(&new_leader)).unwrap();
    c.kill(follower);
    println!("killed the follower {} (kill -9)", c.name(follower));
    pause(3).await;
    c.restart(follower).unwrap();
    pause(2).await;
    stop.store(true, Ordering::Relaxed);
    let mut written = Vec::new();
    for t in tasks {
        written.push(t.await.unwrap());
    }
    settled(&c, &ns).await;

    // Every acknowledged command's event is in the stream once, in order;
    // the restarted nodes caught up (every replica current, lag 0).
    let check = store_at(&c.urls(), &ns).await;
    let mut total = 0;
    for (id, acknowledged, retries) in &written {
        let history = check.history(id).await.unwrap();
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (i, e) in history.iter().enumerate() {
            assert_eq!(e.aggregate_seq, i as u64 + 1, "{id}: sequences are gap-free");
            *seen.entry(e.command_id.as_str()).or_default() += 1;
        }
        for command in acknowledged {
            assert_eq!(seen.get(command.as_str()), Some(&1), "{id}: acknowledged command {command} stored once");
        }
        assert_eq!(history.len(), acknowledged.len(), "{id}: nothing stored that was not acknowledged");
        println!("{id}: {} acknowledged, all stored once; {retries} retries through the elections", acknowledged.len());
        total += acknowledged.len();
    }
    assert!(total >= WRITERS * 20, "the writers kept writing through the faults: {total}");
}
