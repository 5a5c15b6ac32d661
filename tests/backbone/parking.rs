//! One event a projection cannot apply never stops the world: it is parked
//! for that projection, the checkpoint moves on, every other event and
//! projection goes on, and `pod projections retry` applies it exactly once
//! after a fix.

use async_nats::HeaderMap;
use pod_events::domain::Actor;
use pod_events::domain::idea::{Idea, IdeaCommand, IdeaGenerated, IdeaScreened, Verdict};
use pod_events::domain::text::RejectReason;
use pod_events::store::{CommandBus, JetStreamStore, StoreConfig};
use pod_events::{AggregateId, EventMeta, TenantId};
use pod_projections::{Projector, RunOptions, projection_named};

use crate::support::Env;

async fn ideas_bus(env: &Env) -> CommandBus<Idea> {
    let config = StoreConfig { namespace: env.ns.clone(), snapshot_every: 0, cache_capacity: 100 };
    CommandBus::new(JetStreamStore::open(env.client.clone(), config).await.unwrap(), ())
}

fn generated(phrase: &str) -> IdeaGenerated {
    IdeaGenerated {
        trend_id: uuid::Uuid::nil(),
        phrase: phrase.into(),
        niche: "pets".into(),
        product_type: "t-shirt".into(),
        style: "retro".into(),
        audience: "cat owners".into(),
        tags: vec!["cat".into()],
        provider: "offline".into(),
        model: None,
        cost_micros: 0,
    }
}

/// An idea of `tenant`'s, generated and screened green.
async fn idea(env: &Env, bus: &CommandBus<Idea>, tenant: &str, phrase: &str) -> AggregateId {
    let id = AggregateId::derived(TenantId::parse(tenant).unwrap(), "idea", phrase);
    bus.execute(&id, IdeaCommand::Generate(generated(phrase).try_into().unwrap()), &EventMeta::new_command())
        .await
        .unwrap();
    let screened = IdeaScreened { verdict: Verdict::Green, hits: vec![], index_version: "t".into() };
    bus.execute(&id, IdeaCommand::RecordScreening(screened), &EventMeta::new_command()).await.unwrap();
    let _ = env;
    id
}

/// What an older release (before text was checked) could have stored: a
/// rejection whose reason holds a NUL, which PostgreSQL text cannot hold.
async fn publish_poisoned_rejection(env: &Env, id: &AggregateId, aggregate_seq: u64) -> u64 {
    let mut h = HeaderMap::new();
    h.insert("Pod-Event-Type", "IdeaRejected");
    h.insert("Pod-Event-Version", "1");
    h.insert("Pod-Aggregate-Seq", aggregate_seq.to_string().as_str());
    h.insert("Pod-Tenant", id.tenant.as_str());
    h.insert("Pod-Command-Id", "legacy-reject");
    let body = serde_json::json!({"by": {"kind": "system"}, "reason": "bad\u{0}idea"});
    let js = async_nats::jetstream::new(env.client.clone());
    js.publish_with_headers(env.ns.aggregate_subject("idea", id), h, serde_json::to_vec(&body).unwrap().into())
        .await
        .unwrap()
        .await
        .unwrap()
        .sequence
}

async fn catch_up(env: &Env, name: &str) -> u64 {
    let options = RunOptions { stop_when_idle: true, ..Default::default() };
    Projector::new(env.pool.clone(), env.client.clone(), env.ns.clone(), projection_named(name).unwrap())
        .run(&options, std::future::pending())
        .await
        .unwrap_or_else(|e| panic!("projection {name} halted: {e}"))
}

async fn status_of(env: &Env, id: &AggregateId) -> String {
    sqlx::query_scalar("SELECT status FROM ideas WHERE tenant = $1 AND idea_id = $2")
        .bind(id.tenant.as_str())
        .bind(id.id)
        .fetch_one(&env.pool)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_no_projection_can_store_is_parked_and_everything_else_goes_on() {
    let env = Env::new().await;
    let bus = ideas_bus(&env).await;
    let poisoned = idea(&env, &bus, "acme", "crazy cat mom").await;
    let seq = publish_poisoned_rejection(&env, &poisoned, 3).await;
    // Another shop's work after it, in the same batch.
    let other = idea(&env, &bus, "beta", "dog dad club").await;
    let reason = RejectReason::parse("too close to a brand").unwrap();
    let reject = IdeaCommand::Reject { by: Actor::System, reason };
    bus.execute(&other, reject, &EventMeta::new_command()).await.unwrap();

    // Neither projection halts: every other event is applied.
    catch_up(&env, "ideas").await;
    catch_up(&env, "activity").await;
    assert_eq!(status_of(&env, &other).await, "rejected");
    assert_eq!(status_of(&env, &poisoned).await, "screened", "the poisoned rejection is set aside, not applied");

    // Both projections parked it, with the error, under its tenant.
    let parked = pod_projections::parked::list(&env.pool, None, None, 100).await.unwrap();
    let mut names: Vec<&str> = parked.iter().map(|p| p.projection.as_str()).collect();
    names.sort();
    assert_eq!(names, ["activity", "ideas"], "{parked:?}");
    assert!(parked.iter().all(|p| p.stream_seq == seq as i64 && p.tenant.as_deref() == Some("acme")));
    assert!(parked[0].error.contains("0x00"), "{}", parked[0].error);
    let beta = pod_projections::parked::list(&env.pool, None, Some("beta"), 100).await.unwrap();
    assert!(beta.is_empty(), "another shop sees none of it");

    // `pod projections status` and `parked` say so; the checkpoints moved past it.
    let out = env.run_pod(&["projections", "status", "--json"]);
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ideas = status.as_array().unwrap().iter().find(|p| p["projection"] == "ideas").unwrap();
    assert_eq!(ideas["parked"], 1);
    assert!(ideas["checkpoint"].as_u64().unwrap() > seq);
    let out = env.run_pod(&["projections", "parked", "ideas"]);
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(listed.contains("IdeaRejected") && listed.contains(&seq.to_string()), "{listed}");

    // A normal command afterwards still reaches the read model.
    let later = idea(&env, &bus, "acme", "nurse life").await;
    catch_up(&env, "ideas").await;
    assert_eq!(status_of(&env, &later).await, "screened");

    // Skipping keeps the record, marked skipped, and clears the count.
    let out = env.run_pod(&["projections", "skip", "activity", &seq.to_string()]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 parked events of activity skipped"));
    let left = pod_projections::parked::list(&env.pool, None, None, 100).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].projection, "ideas");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parked_event_retried_after_a_fix_is_applied_exactly_once() {
    let env = Env::new().await;
    let bus = ideas_bus(&env).await;
    let id = idea(&env, &bus, "acme", "retro gamer").await;
    // Something outside the event refuses it for now: a constraint (class 23),
    // standing in for a bug fixed later.
    sqlx::query("ALTER TABLE ideas ADD CONSTRAINT no_rejections_yet CHECK (status <> 'rejected') NOT VALID")
        .execute(&env.pool)
        .await
        .unwrap();
    let reason = RejectReason::parse("not our style").unwrap();
    let outcome =
        bus.execute(&id, IdeaCommand::Reject { by: Actor::System, reason }, &EventMeta::new_command()).await.unwrap();
    let pod_events::store::Outcome::Committed { last_stream_seq: seq, .. } = outcome else { panic!("{outcome:?}") };
    catch_up(&env, "ideas").await;
    assert_eq!(status_of(&env, &id).await, "screened");

    // Retrying before the fix: still failing, still parked (exit 1).
    let out = env.pod().args(["projections", "retry", "ideas", "--all"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("still failing"));

    sqlx::query("ALTER TABLE ideas DROP CONSTRAINT no_rejections_yet").execute(&env.pool).await.unwrap();
    let seq = seq.to_string();
    // Two retries at once, then another: applied once, and only once.
    let (a, b) = tokio::join!(
        tokio::task::spawn_blocking({
            let mut c = env.pod();
            let seq = seq.clone();
            move || c.args(["projections", "retry", "ideas", &seq]).output().unwrap()
        }),
        tokio::task::spawn_blocking({
            let mut c = env.pod();
            let seq = seq.clone();
            move || c.args(["projections", "retry", "ideas", &seq]).output().unwrap()
        }),
    );
    let said = [a.unwrap(), b.unwrap()].map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
    assert_eq!(said.iter().filter(|s| s.contains(": applied")).count(), 1, "{said:?}");
    assert_eq!(said.iter().filter(|s| s.contains("not parked")).count(), 1, "{said:?}");
    assert_eq!(status_of(&env, &id).await, "rejected");
    let out = env.run_pod(&["projections", "retry", "ideas", &seq]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("not parked"));
    assert!(pod_projections::parked::list(&env.pool, None, None, 100).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebuild_replaces_what_is_parked_with_what_its_own_replay_could_not_apply() {
    let env = Env::new().await;
    let bus = ideas_bus(&env).await;
    let fixed = idea(&env, &bus, "acme", "pickleball grandma").await;
    let poisoned = idea(&env, &bus, "acme", "axolotl teacher").await;
    sqlx::query("ALTER TABLE ideas ADD CONSTRAINT no_rejections_yet CHECK (status <> 'rejected') NOT VALID")
        .execute(&env.pool)
        .await
        .unwrap();
    let reason = RejectReason::parse("not our style").unwrap();
    bus.execute(&fixed, IdeaCommand::Reject { by: Actor::System, reason }, &EventMeta::new_command()).await.unwrap();
    let bad = publish_poisoned_rejection(&env, &poisoned, 3).await;
    catch_up(&env, "ideas").await;
    assert_eq!(pod_projections::parked::list(&env.pool, Some("ideas"), None, 10).await.unwrap().len(), 2);

    // The cause of one is fixed; a rebuild applies it and no longer lists it,
    // so a retry afterwards cannot apply it a second time. The other is
    // parked by the rebuild's own replay, once.
    sqlx::query("ALTER TABLE ideas DROP CONSTRAINT no_rejections_yet").execute(&env.pool).await.unwrap();
    env.run_pod(&["projections", "rebuild", "ideas"]);
    assert_eq!(status_of(&env, &fixed).await, "rejected");
    let parked = pod_projections::parked::list(&env.pool, Some("ideas"), None, 10).await.unwrap();
    assert_eq!(parked.iter().map(|p| p.stream_seq).collect::<Vec<_>>(), [bad as i64], "{parked:?}");
    let out = env.pod().args(["projections", "retry", "ideas", "--all"]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("still failing"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_of_a_newer_version_waits_for_an_upgrade_instead_of_being_parked() {
    let env = Env::new().await;
    let bus = ideas_bus(&env).await;
    let id = idea(&env, &bus, "acme", "retro gamer").await;
    let mut h = HeaderMap::new();
    h.insert("Pod-Event-Type", "IdeaRejected");
    h.insert("Pod-Event-Version", "99");
    h.insert("Pod-Aggregate-Seq", "3");
    h.insert("Pod-Tenant", "acme");
    let js = async_nats::jetstream::new(env.client.clone());
    let body = serde_json::json!({"by": {"kind": "system"}, "reason": "from the future"});
    let seq = js
        .publish_with_headers(env.ns.aggregate_subject("idea", &id), h, serde_json::to_vec(&body).unwrap().into())
        .await
        .unwrap()
        .await
        .unwrap()
        .sequence;
    let options = RunOptions { stop_when_idle: true, ..Default::default() };
    let term = Projector::new(env.pool.clone(), env.client.clone(), env.ns.clone(), projection_named("ideas").unwrap())
        .run(&options, std::future::pending())
        .await;
    let err = term.expect_err("the projection waits for an upgrade");
    assert!(err.to_string().contains("newer than this program understands"), "{err}");
    assert!(pod_projections::parked::list(&env.pool, None, None, 10).await.unwrap().is_empty());
    let cp: i64 = sqlx::query_scalar("SELECT last_seq FROM projection_checkpoints WHERE projection = 'ideas'")
        .fetch_one(&env.pool)
        .await
        .unwrap();
    assert!((cp as u64) < seq, "the checkpoint stays before the event until an upgrade reads it");
    assert_eq!(status_of(&env, &id).await, "screened");
}
