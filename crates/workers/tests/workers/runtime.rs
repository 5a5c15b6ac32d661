use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use pod_events::domain::text::RejectReason;
use pod_events::domain::trend::{Trend, TrendCommand};
use pod_events::store::CommandBus;
use pod_events::store::dead_letters;
use pod_events::{AggregateId, EventMeta, RecordedEvent};
use pod_workers::backoff::Backoff;
use pod_workers::runtime::{Handler, HandlerError, Worker, WorkerOptions, WorkerStats};

use crate::support::*;

#[derive(Clone, Copy)]
enum Mode {
    /// Fail transiently (asking for `retry_after`) this many times, then succeed.
    FlakyThenOk {
        failures: u32,
        retry_after: Duration,
    },
    AlwaysTransient,
    Permanent,
    Panic,
    /// Defer (a spent budget) for `wait` this many times, then succeed.
    DeferredThenOk {
        deferrals: u32,
        wait: Duration,
    },
}

struct TestHandler {
    mode: Mutex<Mode>,
    calls: AtomicU32,
    succeeded: Mutex<Vec<String>>,
    attempts: Mutex<Vec<Instant>>,
}

impl TestHandler {
    fn new(mode: Mode) -> Arc<Self> {
        Arc::new(Self {
            mode: Mutex::new(mode),
            calls: 0.into(),
            succeeded: Mutex::default(),
            attempts: Mutex::default(),
        })
    }
}

#[async_trait::async_trait]
impl Handler for TestHandler {
    fn kind(&self) -> &'static str {
        "ideation"
    }
    fn wants(&self, event_type: &str) -> bool {
        event_type == "TrendObserved"
    }
    async fn handle(&self, event: &RecordedEvent) -> Result<(), HandlerError> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        self.attempts.lock().unwrap().push(Instant::now());
        let mode = *self.mode.lock().unwrap();
        match mode {
            Mode::FlakyThenOk { failures, retry_after } if n <= failures => {
                Err(HandlerError::Transient { reason: format!("busy ({n})"), retry_after: Some(retry_after) })
            }
            Mode::AlwaysTransient => Err(HandlerError::transient("provider is down")),
            Mode::Permanent => Err(HandlerError::permanent("the idea is nonsense")),
            Mode::Panic => panic!("handler bug"),
            Mode::DeferredThenOk { deferrals, wait } if n <= deferrals => {
                Err(HandlerError::deferred(format!("budget spent ({n})"), wait))
            }
            Mode::DeferredThenOk { .. } => {
                self.succeeded.lock().unwrap().push(event.msg_id());
                Ok(())
            }
            Mode::FlakyThenOk { .. } => {
                self.succeeded.lock().unwrap().push(event.msg_id());
                Ok(())
            }
        }
    }
}

fn options(max_deliveries: u64) -> WorkerOptions {
    WorkerOptions {
        concurrency: 2,
        max_deliveries,
        backoff: Backoff { base: Duration::from_millis(50), max: Duration::from_millis(200), ..Default::default() },
        progress_every: Duration::from_secs(5),
        grace: Duration::from_secs(20),
    }
}

async fn append(env: &TestNats, keyword: &str, command: TrendCommand) {
    let bus = CommandBus::new(env.store_of::<Trend>().await, ());
    let id = AggregateId::derived(tenant(), "trend", keyword);
    bus.execute(&id, command, &EventMeta::new_command()).await.expect("appending");
}

/// Runs a worker with `handler` until `done` holds (or 20 s pass).
async fn run_until(
    env: &TestNats,
    handler: Arc<TestHandler>,
    opts: WorkerOptions,
    done: impl Fn(&WorkerStats, &TestHandler) -> bool,
) -> Arc<WorkerStats> {
    let worker = Worker::new(env.client.clone(), env.ns.clone(), handler.clone(), opts);
    let stats = worker.stats();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(worker.run(async move {
        let _ = rx.await;
    }));
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done(&stats, &handler) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = tx.send(());
    task.await.expect("worker task").expect("worker ran");
    stats
}

#[tokio::test]
async fn transient_failures_are_retried_no_sooner_than_retry_after() {
    let env = TestNats::new().await;
    append(&env, "cat mom", observe(80.0)).await;
    let retry_after = Duration::from_millis(1200);
    let handler = TestHandler::new(Mode::FlakyThenOk { failures: 2, retry_after });
    let stats = run_until(&env, handler.clone(), options(5), |s, _| s.handled.load(Ordering::SeqCst) == 1).await;
    assert_eq!(stats.handled.load(Ordering::SeqCst), 1);
    assert_eq!(stats.retried.load(Ordering::SeqCst), 2);
    assert_eq!(stats.dead_lettered.load(Ordering::SeqCst), 0);
    assert_eq!(handler.succeeded.lock().unwrap().len(), 1);
    let attempts = handler.attempts.lock().unwrap().clone();
    assert_eq!(attempts.len(), 3);
    for w in attempts.windows(2) {
        // The policy's own wait is at most 200 ms; the provider asked for 1.2 s.
        assert!(w[1] - w[0] >= retry_after - Duration::from_millis(50), "retried after {:?}", w[1] - w[0]);
    }
}

#[tokio::test]
async fn deferred_work_waits_as_asked_as_often_as_needed_and_is_never_a_dead_letter() {
    let env = TestNats::new().await;
    append(&env, "cat mom", observe(80.0)).await;
    // A provider asking for no wait at all still waits the shortest deferral.
    let wait = Duration::ZERO;
    // More deferrals than the deliveries a failing event is allowed.
    let handler = TestHandler::new(Mode::DeferredThenOk { deferrals: 4, wait });
    let stats = run_until(&env, handler.clone(), options(3), |s, _| s.handled.load(Ordering::SeqCst) == 1).await;
    assert_eq!(stats.handled.load(Ordering::SeqCst), 1);
    assert_eq!(stats.deferred.load(Ordering::SeqCst), 4);
    assert_eq!(stats.dead_lettered.load(Ordering::SeqCst), 0);
    assert!(dead_letters::list(&env.client, &env.ns, None).await.unwrap().is_empty());
    let succeeded = handler.succeeded.lock().unwrap().clone();
    assert_eq!(succeeded.len(), 1);
    assert!(succeeded[0].ends_with(":1"), "the deferred event is the original one: {succeeded:?}");
    let attempts = handler.attempts.lock().unwrap().clone();
    assert_eq!(attempts.len(), 5);
    for w in attempts.windows(2) {
        let waited = w[1] - w[0];
        assert!(waited >= pod_workers::runtime::MIN_DEFERRAL - Duration::from_millis(50), "came back after {waited:?}");
    }
    // The copies it waited in are gone from the dead-letter stream.
    let js = async_nats::jetstream::new(env.client.clone());
    let mut dlq = js.get_stream(env.ns.dlq_stream()).await.unwrap();
    assert_eq!(dlq.info().await.unwrap().state.messages, 0);
}

#[tokio::test]
async fn events_of_other_types_are_acknowledged_untouched() {
    let env = TestNats::new().await;
    append(&env, "cat mom", observe(80.0)).await;
    append(&env, "cat mom", TrendCommand::Retire { reason: RejectReason::parse("stale").unwrap() }).await;
    let handler = TestHandler::new(Mode::FlakyThenOk { failures: 0, retry_after: Duration::ZERO });
    let stats = run_until(&env, handler.clone(), options(5), |s, _| {
        s.handled.load(Ordering::SeqCst) + s.skipped.load(Ordering::SeqCst) == 2
    })
    .await;
    assert_eq!(stats.handled.load(Ordering::SeqCst), 1);
    assert_eq!(stats.skipped.load(Ordering::SeqCst), 1);
    assert_eq!(handler.calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn after_the_last_delivery_the_event_is_a_dead_letter_and_can_be_retried() {
    let env = TestNats::new().await;
    append(&env, "cat mom", observe(80.0)).await;
    let handler = TestHandler::new(Mode::AlwaysTransient);
    let stats = run_until(&env, handler.clone(), options(3), |s, _| s.dead_lettered.load(Ordering::SeqCst) == 1).await;
    assert_eq!(handler.calls.load(Ordering::SeqCst), 3, "exactly max_deliveries attempts");
    assert_eq!(stats.handled.load(Ordering::SeqCst), 0);

    let letters = dead_letters::list(&env.client, &env.ns, None).await.unwrap();
    assert_eq!(letters.len(), 1, "{letters:#?}");
    let l = &letters[0];
    assert_eq!((l.worker.as_str(), l.tenant.as_str(), l.event_type.as_str()), ("ideation", "acme", "TrendObserved"));
    assert_eq!((l.deliveries, l.attempt, l.stream_seq), (3, 1, 1));
    assert_eq!(l.error, "provider is down");
    assert!(dead_letters::list(&env.client, &env.ns, Some("designs")).await.unwrap().is_empty());

    // The provider is back: a retry goes to the worker and succeeds.
    *handler.mode.lock().unwrap() = Mode::FlakyThenOk { failures: 0, retry_after: Duration::ZERO };
    dead_letters::retry(&env.client, &env.ns, l.dlq_seq).await.unwrap();
    assert!(dead_letters::list(&env.client, &env.ns, None).await.unwrap().is_empty());
    let stats = run_until(&env, handler.clone(), options(3), |s, _| s.handled.load(Ordering::SeqCst) == 1).await;
    assert_eq!(stats.handled.load(Ordering::SeqCst), 1);
    let succeeded = handler.succeeded.lock().unwrap().clone();
    assert_eq!(succeeded.len(), 1);
    assert!(succeeded[0].ends_with(":1"), "the retried event is the original one: {succeeded:?}");
    // A second retry of the same letter finds nothing.
    assert!(matches!(
        dead_letters::retry(&env.client, &env.ns, l.dlq_seq).await,
        Err(dead_letters::DeadLetterError::NotFound(_))
    ));
}

#[tokio::test]
async fn permanent_failures_and_panics_are_dead_letters_at_once_and_can_be_discarded() {
    let env = TestNats::new().await;
    append(&env, "cat mom", observe(80.0)).await;
    let handler = TestHandler::new(Mode::Permanent);
    run_until(&env, handler.clone(), options(5), |s, _| s.dead_lettered.load(Ordering::SeqCst) == 1).await;
    assert_eq!(handler.calls.load(Ordering::SeqCst), 1, "no retries for a permanent failure");

    append(&env, "dog dad", observe(70.0)).await;
    let panicky = TestHandler::new(Mode::Panic);
    run_until(&env, panicky.clone(), options(5), |s, _| s.dead_lettered.load(Ordering::SeqCst) == 1).await;
    let letters = dead_letters::list(&env.client, &env.ns, Some("ideation")).await.unwrap();
    assert_eq!(letters.len(), 2, "{letters:#?}");
    assert_eq!(letters[0].error, "the idea is nonsense");
    assert_eq!(letters[0].deliveries, 1);
    assert!(letters[1].error.contains("panicked: handler bug"), "{}", letters[1].error);

    dead_letters::discard(&env.client, &env.ns, letters[0].dlq_seq).await.unwrap();
    let left = dead_letters::list(&env.client, &env.ns, None).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].dlq_seq, letters[1].dlq_seq);
}

#[tokio::test]
async fn a_worker_whose_consumer_is_deleted_stops_with_an_error() {
    let env = TestNats::new().await;
    let handler = TestHandler::new(Mode::FlakyThenOk { failures: 0, retry_after: Duration::ZERO });
    let worker = Worker::new(env.client.clone(), env.ns.clone(), handler, options(5));
    let task = tokio::spawn(worker.run(std::future::pending()));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let js = async_nats::jetstream::new(env.client.clone());
    let stream = js.get_stream(env.ns.events_stream()).await.unwrap();
    stream.delete_consumer(&Worker::consumer_name(&env.ns, "ideation")).await.unwrap();
    let ended = tokio::time::timeout(Duration::from_secs(30), task).await;
    let result = ended.expect("the worker stops instead of idling").expect("no panic");
    let err = result.expect_err("an error its supervisor sees");
    assert!(err.to_string().contains("pod nats apply"), "{err}");
}

/// Publishes a raw message on acme's "cat mom" trend subject, as another
/// release (or something broken) would have.
async fn publish_raw(env: &TestNats, headers: async_nats::HeaderMap, body: &str) -> u64 {
    let id = AggregateId::derived(tenant(), "trend", "cat mom");
    let js = async_nats::jetstream::new(env.client.clone());
    js.publish_with_headers(env.ns.aggregate_subject("trend", &id), headers, body.to_owned().into())
        .await
        .unwrap()
        .await
        .unwrap()
        .sequence
}

#[tokio::test]
async fn an_event_of_a_newer_version_waits_for_an_upgrade_instead_of_dying() {
    let env = TestNats::new().await;
    let mut h = async_nats::HeaderMap::new();
    h.insert("Pod-Event-Type", "TrendObserved");
    h.insert("Pod-Event-Version", "99");
    h.insert("Pod-Aggregate-Seq", "1");
    h.insert("Pod-Tenant", "acme");
    publish_raw(&env, h, r#"{"keyword": "cat mom", "from": "the future"}"#).await;
    let handler = TestHandler::new(Mode::FlakyThenOk { failures: 0, retry_after: Duration::ZERO });
    // Five deliveries is the limit for transient failures; this one goes on.
    let stats = run_until(&env, handler.clone(), options(2), |s, _| s.retried.load(Ordering::SeqCst) >= 4).await;
    assert!(stats.retried.load(Ordering::SeqCst) >= 4);
    assert_eq!(stats.dead_lettered.load(Ordering::SeqCst), 0, "never a dead letter");
    assert_eq!(handler.calls.load(Ordering::SeqCst), 0, "never handed to a handler that cannot read it");
    assert!(dead_letters::list(&env.client, &env.ns, None).await.unwrap().is_empty());
}

#[tokio::test]
async fn an_undecodable_message_is_a_dead_letter_with_why() {
    let env = TestNats::new().await;
    let mut h = async_nats::HeaderMap::new();
    h.insert("Pod-Event-Type", "TrendObserved");
    // No version, no aggregate sequence, and not JSON.
    let seq = publish_raw(&env, h, "not json at all").await;
    append(&env, "dog dad", observe(70.0)).await;
    let handler = TestHandler::new(Mode::FlakyThenOk { failures: 0, retry_after: Duration::ZERO });
    let stats = run_until(&env, handler.clone(), options(5), |s, _| {
        s.dead_lettered.load(Ordering::SeqCst) == 1 && s.handled.load(Ordering::SeqCst) == 1
    })
    .await;
    assert_eq!(stats.handled.load(Ordering::SeqCst), 1, "the next event is handled");
    let letters = dead_letters::list(&env.client, &env.ns, None).await.unwrap();
    assert_eq!(letters.len(), 1, "{letters:#?}");
    assert_eq!((letters[0].stream_seq, letters[0].tenant.as_str()), (seq, "acme"));
    assert!(letters[0].error.starts_with("undecodable message"), "{}", letters[0].error);
}

/// Sleeps through each event, past the consumer's `ack_wait`.
struct Slow {
    calls: Mutex<Vec<String>>,
    takes: Duration,
}

#[async_trait::async_trait]
impl Handler for Slow {
    fn kind(&self) -> &'static str {
        "ideation"
    }
    fn wants(&self, event_type: &str) -> bool {
        event_type == "TrendObserved"
    }
    async fn handle(&self, event: &RecordedEvent) -> Result<(), HandlerError> {
        self.calls.lock().unwrap().push(event.msg_id());
        tokio::time::sleep(self.takes).await;
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_message_waits_in_hand_past_ack_wait() {
    let env = TestNats::new().await;
    // A short ack_wait, and handlers slower than it: a message held in a
    // prefetch buffer behind them would be delivered again meanwhile.
    let js = async_nats::jetstream::new(env.client.clone());
    let stream = js.get_stream(env.ns.events_stream()).await.unwrap();
    let name = Worker::consumer_name(&env.ns, "ideation");
    let mut consumer = stream.get_consumer::<async_nats::jetstream::consumer::pull::Config>(&name).await.unwrap();
    let mut config = consumer.info().await.unwrap().config.clone();
    config.ack_wait = Duration::from_millis(1500);
    stream.update_consumer(config).await.unwrap();
    for kw in ["cat mom", "dog dad", "nurse life", "retro gamer"] {
        append(&env, kw, observe(80.0)).await;
    }
    let handler = Arc::new(Slow { calls: Mutex::default(), takes: Duration::from_millis(2000) });
    let opts = WorkerOptions { concurrency: 1, progress_every: Duration::from_millis(300), ..options(5) };
    let worker = Worker::new(env.client.clone(), env.ns.clone(), handler.clone(), opts);
    let stats = worker.stats();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(worker.run(async move {
        let _ = rx.await;
    }));
    let deadline = Instant::now() + Duration::from_secs(30);
    while stats.handled.load(Ordering::SeqCst) < 4 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Room for a late redelivery to show itself.
    tokio::time::sleep(Duration::from_millis(2000)).await;
    let _ = tx.send(());
    task.await.unwrap().unwrap();
    let calls = handler.calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 4, "each event handled once, none delivered twice: {calls:?}");
    let mut unique = calls.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_told_to_stop_gives_back_what_it_cannot_finish_in_its_grace_period() {
    let env = TestNats::new().await;
    for kw in ["cat mom", "dog dad"] {
        append(&env, kw, observe(80.0)).await;
    }
    // Handlers far slower than the grace period; ack_wait is 30 s.
    let slow = Arc::new(Slow { calls: Mutex::default(), takes: Duration::from_secs(120) });
    let opts = WorkerOptions { concurrency: 2, grace: Duration::from_millis(500), ..options(5) };
    let worker = Worker::new(env.client.clone(), env.ns.clone(), slow.clone(), opts);
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(worker.run(async move {
        let _ = rx.await;
    }));
    let deadline = Instant::now() + Duration::from_secs(20);
    while slow.calls.lock().unwrap().len() < 2 {
        assert!(Instant::now() < deadline, "both events in hand");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // SIGTERM, as `pod worker` takes it: the run ends within the pull's
    // wait and the grace period, and ends well.
    let told = Instant::now();
    let _ = tx.send(());
    tokio::time::timeout(Duration::from_secs(10), task).await.expect("stopped within its grace").unwrap().unwrap();
    println!("stopped {:?} after being told", told.elapsed());

    // The next replica gets both at once, not after ack_wait (30 s).
    let handler = TestHandler::new(Mode::FlakyThenOk { failures: 0, retry_after: Duration::ZERO });
    let next = Worker::new(env.client.clone(), env.ns.clone(), handler.clone(), options(5));
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(next.run(async move {
        let _ = rx.await;
    }));
    let given_back = Instant::now();
    while handler.succeeded.lock().unwrap().len() < 2 {
        assert!(given_back.elapsed() < Duration::from_secs(10), "the messages given back wait out ack_wait");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!("handled by the next replica {:?} later", given_back.elapsed());
    let _ = tx.send(());
    task.await.unwrap().unwrap();
    let mut handled = handler.succeeded.lock().unwrap().clone();
    handled.sort();
    let mut started = slow.calls.lock().unwrap().clone();
    started.sort();
    assert_eq!(handled, started, "the same two events");
}
