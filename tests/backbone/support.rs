use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use chrono::{DateTime, Duration, Utc};
use pod_events::domain::trend::{Observation, Trend, TrendCommand};
use pod_events::store::{CommandBus, JetStreamStore, StoreConfig, definitions};
use pod_events::{AggregateId, EventMeta, Namespace, TenantId};
use sqlx::{Connection, PgPool};

pub fn nats_url() -> String {
    std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:14222".into())
}
pub fn admin_db_url() -> String {
    std::env::var("DATABASE_URL").unwrap_or_else(|_| "postgres://pod:pod@127.0.0.1:5432/pod".into())
}
pub fn nats_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("nats")
}

fn with_db(url: &str, db: &str) -> String {
    match url.rfind('/') {
        Some(i) => format!("{}/{db}", &url[..i]),
        None => format!("{url}/{db}"),
    }
}

/// A NATS namespace and a database of the test's own; both removed on drop.
pub struct Env {
    pub client: async_nats::Client,
    pub ns: Namespace,
    pub db_name: String,
    pub db_url: String,
    pub pool: PgPool,
}

impl Env {
    pub async fn new() -> Self {
        let url = nats_url();
        let client = pod_events::store::connect(&url, "pod-test").await.unwrap_or_else(|e| {
            panic!("these tests need NATS ≥ 2.12 at {url}: {e}. Start it with `scripts/services.sh` (or set NATS_URL).")
        });
        let tag = uuid::Uuid::new_v4().simple().to_string()[..12].to_string();
        let ns = Namespace::new(format!("t{tag}")).unwrap();
        definitions::apply(&client, &ns, &nats_dir()).await.expect("applying nats/ definitions");
        let admin = admin_db_url();
        let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap_or_else(|e| {
            panic!("these tests need PostgreSQL at {admin}: {e}. Start it with `scripts/services.sh` (or set DATABASE_URL).")
        });
        let db_name = format!("pod_test_{tag}");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {db_name}"))).execute(&mut conn).await.unwrap();
        let db_url = with_db(&admin, &db_name);
        let pool = pod_projections::db::connect(&db_url, 8).await.unwrap();
        pod_projections::db::migrate(&pool).await.unwrap();
        Self { client, ns, db_name, db_url, pool }
    }

    pub async fn store(&self) -> JetStreamStore<Trend> {
        let config = StoreConfig { namespace: self.ns.clone(), snapshot_every: 100, cache_capacity: 10_000 };
        JetStreamStore::open(self.client.clone(), config).await.unwrap()
    }

    /// `pod` with this environment's settings.
    pub fn pod(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_pod"));
        c.env("NATS_URL", nats_url())
            .env("DATABASE_URL", &self.db_url)
            .env("POD__PREFIX", self.ns.prefix())
            .env("POD__NATS_DIR", nats_dir())
            .env("POD__LOG_FORMAT", "pretty")
            .env("RUST_LOG", "warn");
        c
    }

    pub fn spawn_pod(&self, args: &[&str]) -> Child {
        self.pod().args(args).stdout(Stdio::null()).stderr(Stdio::inherit()).spawn().expect("starting pod")
    }

    pub fn run_pod(&self, args: &[&str]) -> std::process::Output {
        let out = self.pod().args(args).output().expect("running pod");
        assert!(out.status.success(), "pod {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        out
    }

    /// Rows of a table as JSON, in a stable order, for row-for-row comparison.
    pub async fn dump(&self, table: &str, order: &str) -> Vec<serde_json::Value> {
        sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT to_jsonb(t) FROM {table} t ORDER BY {order}")))
            .fetch_all(&self.pool)
            .await
            .unwrap()
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        let ns = self.ns.clone();
        let db = self.db_name.clone();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async move {
                if let Ok(c) = async_nats::connect(nats_url()).await {
                    let _ = definitions::delete_all(&c, &ns, &nats_dir()).await;
                }
                if let Ok(mut conn) = sqlx::PgConnection::connect(&admin_db_url()).await {
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)")))
                        .execute(&mut conn)
                        .await;
                }
            });
        })
        .join();
    }
}

pub fn observation(i: u64) -> Observation {
    let base = DateTime::parse_from_rfc3339("2026-10-01T00:00:00Z").unwrap().with_timezone(&Utc);
    Observation {
        source: ["google-trends-rss", "amazon-movers", "curated-csv"][(i % 3) as usize].into(),
        observed_at: base + Duration::hours(i as i64 * 7),
        rank: Some((i % 50) as u32 + 1),
        volume: i.is_multiple_of(2).then_some(i * 10),
        score: (i % 101) as f64,
        estimated: i.is_multiple_of(5),
        confidence: 0.5 + (i % 5) as f64 / 10.0,
    }
}

/// Appends `commands` trend commands of `per_command` observations each,
/// spread over `trends` keywords and two tenants. Returns the event count.
pub async fn append_trends(env: &Env, trends: usize, commands: usize, per_command: usize) -> u64 {
    let bus = CommandBus::new(env.store().await, ());
    let mut n = 0u64;
    for c in 0..commands {
        let tenant = TenantId::parse(if c % 4 == 0 { "beta" } else { "acme" }).unwrap();
        let keyword = format!("keyword {}", c % trends);
        let id = AggregateId::derived(tenant, "trend", &keyword);
        let cmd = TrendCommand::ObserveMany {
            keyword,
            niche: ["pets", "holidays", "professions"][c % 3].into(),
            product_types: vec!["t-shirt".into(), "mug".into()],
            observations: (0..per_command).map(|i| observation((c * per_command + i) as u64)).collect(),
        };
        bus.execute(&id, cmd, &EventMeta::with_command_id(format!("append-{c}"))).await.unwrap();
        n += per_command as u64;
    }
    n
}
