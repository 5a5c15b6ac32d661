use std::path::PathBuf;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::{DateTime, Duration, Utc};
use http_body_util::BodyExt;
use pod_api::auth::{Role, create_tenant, issue_token};
use pod_blobs::BlobStore;
use pod_events::domain::design::{Asset, Design, DesignCommand, DesignRendered, DesignRequested, PrintArea};
use pod_events::domain::idea::{Idea, IdeaCommand, IdeaGenerated, IdeaScreened, Verdict};
use pod_events::domain::listing::{Listing, ListingCommand, ListingDrafted};
use pod_events::domain::trend::{Observation, Trend, TrendCommand};
use pod_events::store::dead_letters::{self, Failure};
use pod_events::store::reader::{LogReader, Start};
use pod_events::store::{CommandBus, JetStreamStore, StoreConfig, definitions};
use pod_events::{AggregateId, EventMeta, Namespace, TenantId};
use pod_projections::{Projector, RunOptions, all_projections};
use sqlx::Connection;
use tower::ServiceExt;
use uuid::Uuid;

fn nats_url() -> String {
    std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:14222".into())
}
fn admin_url() -> String {
    std::env::var("DATABASE_URL").unwrap_or_else(|_| "postgres://pod:pod@127.0.0.1:5432/pod".into())
}
fn nats_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../nats")
}

/// What the seed created, by tenant.
pub struct Seeded {
    pub acme_trends: Vec<Uuid>,
    pub acme_idea: Uuid,
    pub acme_listing: Uuid,
    pub acme_design: Uuid,
    pub beta_trend: Uuid,
    /// A dead letter of acme's (sequence on the dead-letter stream).
    pub acme_dead_letter: u64,
    /// The pipeline run of acme's first trend (its correlation id).
    pub acme_run: String,
}

pub struct Api {
    pub router: Router,
    pub state: pod_api::AppState,
    pub pool: sqlx::PgPool,
    pub client: async_nats::Client,
    pub ns: Namespace,
    db: String,
    pub seeded: Seeded,
    pub acme_editor: String,
    pub acme_viewer: String,
    pub beta_editor: String,
}

fn config(ns: &Namespace) -> StoreConfig {
    StoreConfig { namespace: ns.clone(), snapshot_every: 0, cache_capacity: 100 }
}

fn at(days: i64) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-01T00:00:00Z").unwrap().to_utc() + Duration::days(days)
}

impl Api {
    pub async fn new() -> Self {
        let client = pod_events::store::connect(&nats_url(), "pod-test").await.unwrap_or_else(|e| {
            panic!("these tests need NATS ≥ 2.12 at {}: {e}. Start it with `scripts/services.sh`.", nats_url())
        });
        let tag = Uuid::new_v4().simple().to_string()[..12].to_string();
        let ns = Namespace::new(format!("t{tag}")).unwrap();
        definitions::apply(&client, &ns, &nats_dir()).await.unwrap();
        let mut admin = sqlx::PgConnection::connect(&admin_url()).await.unwrap_or_else(|e| {
            panic!("these tests need PostgreSQL at {}: {e}. Start it with `scripts/services.sh`.", admin_url())
        });
        let db = format!("pod_test_{tag}");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {db}"))).execute(&mut admin).await.unwrap();
        let url = match admin_url().rfind('/') {
            Some(i) => format!("{}/{db}", &admin_url()[..i]),
            None => unreachable!("a database URL has a path"),
        };
        let pool = pod_projections::db::connect(&url, 8).await.unwrap();
        pod_projections::db::migrate(&pool).await.unwrap();
        let blobs_dir = std::env::temp_dir().join(format!("pod-api-test-{tag}"));
        let blobs = std::sync::Arc::new(pod_blobs::LocalBlobStore::new(&blobs_dir));
        let seeded = seed(&client, &ns, blobs.as_ref()).await;
        project(&pool, &client, &ns).await;
        for t in ["acme", "beta"] {
            create_tenant(&pool, t, t).await.unwrap();
        }
        let acme_editor = issue_token(&pool, "acme", "test", Role::Editor).await.unwrap();
        let acme_viewer = issue_token(&pool, "acme", "test", Role::Viewer).await.unwrap();
        let beta_editor = issue_token(&pool, "beta", "test", Role::Editor).await.unwrap();
        let index = std::sync::Arc::new(pod_screening::ScreeningIndex::curated());
        let state = pod_api::AppState::new(pool.clone(), client.clone(), &ns, index, blobs)
            .await
            .unwrap()
            .with_sessions(pod_api::auth::sessions::SessionSettings { secure: false, ..Default::default() });
        Self {
            router: pod_api::router(state.clone()),
            state,
            pool,
            client,
            ns,
            db,
            seeded,
            acme_editor,
            acme_viewer,
            beta_editor,
        }
    }

    /// Sends a request; returns the status, the content type and the JSON body.
    pub async fn call(
        &self,
        method: &str,
        uri: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
    ) -> (StatusCode, String, serde_json::Value) {
        let mut req = Request::builder().method(method).uri(uri);
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = self.router.clone().oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
        let status = resp.status();
        let ct = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        let json = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
        (status, ct, json)
    }
}

/// Runs every projection until it has caught up with the log.
async fn project(pool: &sqlx::PgPool, client: &async_nats::Client, ns: &Namespace) {
    for p in all_projections() {
        let options = RunOptions { stop_when_idle: true, ..Default::default() };
        Projector::new(pool.clone(), client.clone(), ns.clone(), p)
            .run(&options, std::future::pending())
            .await
            .unwrap();
    }
}

impl Api {
    /// Brings the read models up to date with the log.
    pub async fn project(&self) {
        project(&self.pool, &self.client, &self.ns).await;
    }

    /// The body as text (for CSV).
    pub async fn text(&self, uri: &str, token: &str) -> (StatusCode, String, String) {
        let req = Request::get(uri).header("authorization", format!("Bearer {token}")).body(Body::empty()).unwrap();
        let resp = self.router.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let ct = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        (status, ct, String::from_utf8_lossy(&bytes).into_owned())
    }

    /// Status and content type only (for streams, whose body never ends).
    pub async fn head(&self, method: &str, uri: &str, token: Option<&str>) -> (StatusCode, String) {
        let mut req = Request::builder().method(method).uri(uri);
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let resp = self.router.clone().oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
        let ct = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        (resp.status(), ct)
    }
}

impl Drop for Api {
    fn drop(&mut self) {
        let (ns, db) = (self.ns.clone(), self.db.clone());
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async move {
                if let Ok(c) = async_nats::connect(nats_url()).await {
                    let _ = definitions::delete_all(&c, &ns, &nats_dir()).await;
                }
                if let Ok(mut conn) = sqlx::PgConnection::connect(&admin_url()).await {
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)")))
                        .execute(&mut conn)
                        .await;
                }
            });
        })
        .join();
    }
}

/// A real 1×1 PNG (a transparent pixel).
pub const TINY_PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4, 0x89, 0x00, 0x00, 0x00, 0x0b, 0x49,
    0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x60, 0x00, 0x02, 0x00, 0x00, 0x05, 0x00, 0x01, 0x7a, 0x5e, 0xab, 0x3f, 0x00,
    0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

async fn seed(client: &async_nats::Client, ns: &Namespace, blobs: &dyn BlobStore) -> Seeded {
    let trends = CommandBus::new(JetStreamStore::<Trend>::open(client.clone(), config(ns)).await.unwrap(), ());
    let ideas = CommandBus::new(JetStreamStore::<Idea>::open(client.clone(), config(ns)).await.unwrap(), ());
    let listings = CommandBus::new(JetStreamStore::<Listing>::open(client.clone(), config(ns)).await.unwrap(), ());
    let (acme, beta) = (TenantId::parse("acme").unwrap(), TenantId::parse("beta").unwrap());
    let observe = |kw: &str, score: f64, day: i64| TrendCommand::Observe {
        keyword: kw.into(),
        niche: "pets".into(),
        product_types: vec!["t-shirt".into()],
        observation: Observation {
            source: "seed".into(),
            observed_at: at(day),
            rank: None,
            volume: None,
            score,
            estimated: false,
            confidence: 0.9,
        },
    };
    let mut acme_trends = Vec::new();
    let mut acme_run = String::new();
    for (i, kw) in ["cat mom", "dog dad", "nurse life", "pickleball", "fishing"].iter().enumerate() {
        let id = AggregateId::derived(acme.clone(), "trend", kw);
        let meta = EventMeta::new_command();
        if i == 0 {
            acme_run = meta.correlation_id.clone();
        }
        trends.execute(&id, observe(kw, 50.0 + i as f64 * 10.0, i as i64), &meta).await.unwrap();
        acme_trends.push(id.id);
    }
    let beta_trend = AggregateId::derived(beta, "trend", "secret beta trend");
    trends.execute(&beta_trend, observe("secret beta trend", 99.0, 1), &EventMeta::new_command()).await.unwrap();
    let idea = AggregateId::generate(acme.clone());
    let generated = IdeaGenerated {
        trend_id: acme_trends[0],
        phrase: "Proud Cat Mom".into(),
        niche: "pets".into(),
        product_type: "t-shirt".into(),
        style: "classic".into(),
        audience: "cat owners".into(),
        tags: vec!["cat mom".into()],
        provider: "offline".into(),
        model: None,
        cost_micros: 0,
    };
    ideas
        .execute(&idea, IdeaCommand::Generate(generated.try_into().unwrap()), &EventMeta::new_command())
        .await
        .unwrap();
    let screened = IdeaScreened { verdict: Verdict::Green, hits: vec![], index_version: "idx-test".into() };
    ideas.execute(&idea, IdeaCommand::RecordScreening(screened), &EventMeta::new_command()).await.unwrap();
    let designs = CommandBus::new(JetStreamStore::<Design>::open(client.clone(), config(ns)).await.unwrap(), ());
    let design = AggregateId::generate(acme.clone());
    let request = DesignRequested {
        idea_id: idea.id,
        phrase: "Proud Cat Mom".into(),
        niche: "pets".into(),
        product_type: "t-shirt".into(),
        layout: "classic".into(),
        palette: "pawprint".into(),
        print_area: PrintArea::default(),
    };
    designs.execute(&design, DesignCommand::Request(request), &EventMeta::new_command()).await.unwrap();
    // The aggregate checks the artwork's recorded size against the print
    // area; the stored bytes stand in for it (a real PNG, but 1×1).
    let area = PrintArea::default();
    let asset = |stored: pod_blobs::StoredBlob, (width, height): (u32, u32)| Asset {
        key: stored.key,
        sha256: stored.sha256,
        bytes: stored.bytes,
        width,
        height,
        content_type: "image/png".into(),
    };
    let artwork =
        asset(blobs.put("artwork", "png", "image/png", TINY_PNG.to_vec()).await.unwrap(), (area.width, area.height));
    let mut preview_bytes = TINY_PNG.to_vec();
    preview_bytes.extend_from_slice(b"preview");
    let preview = asset(blobs.put("preview", "png", "image/png", preview_bytes).await.unwrap(), (1, 1));
    let rendered = DesignRendered { artwork, preview, renderer: "typographic".into(), cost_micros: 0, attempt: 0 };
    designs.execute(&design, DesignCommand::RecordRender(rendered), &EventMeta::new_command()).await.unwrap();
    let listing = AggregateId::generate(acme);
    let drafted = ListingDrafted {
        idea_id: idea.id,
        design_id: design.id,
        title: "Proud Cat Mom Shirt, Cat Mom Gift".into(),
        description: "A shirt.".into(),
        tags: vec!["cat mom".into()],
        price_cents: 1999,
        currency: "USD".into(),
        seo_score: 50,
        seo_checks: vec![],
        screening: None,
    };
    listings
        .execute(&listing, ListingCommand::Draft(drafted.try_into().unwrap()), &EventMeta::new_command())
        .await
        .unwrap();
    // A dead letter of acme's first trend event, as the ideation worker would leave it.
    let mut reader = LogReader::open(client.clone(), ns, vec![ns.all_events()], Start::All).await.unwrap();
    let first = reader.next_batch(1).await.unwrap().remove(0);
    let js = async_nats::jetstream::new(client.clone());
    let failure = Failure { worker: "ideation", error: "provider is down", deliveries: 5 };
    dead_letters::publish(&js, ns, &first, None, serde_json::to_vec(&first.payload).unwrap().into(), failure)
        .await
        .unwrap();
    let acme_dead_letter = dead_letters::list(client, ns, None).await.unwrap()[0].dlq_seq;
    Seeded {
        acme_trends,
        acme_idea: idea.id,
        acme_listing: listing.id,
        acme_design: design.id,
        beta_trend: beta_trend.id,
        acme_dead_letter,
        acme_run,
    }
}

/// A signed-in person: their cookie header and the session's CSRF token.
pub struct Person {
    pub cookie: String,
    pub csrf: String,
    pub email: String,
}

impl Api {
    /// Creates a person with `role` in `tenant` and signs them in.
    pub async fn person(&self, tenant: &str, role: Role) -> Person {
        let email = format!("{}@{tenant}.example", Uuid::new_v4().simple());
        let user = pod_api::auth::create_user(&self.pool, tenant, &email, "Ana Lima", PASSWORD, role).await.unwrap();
        let settings = &self.state.sessions;
        let secret = pod_api::auth::sessions::start(&self.pool, settings, user.user_id, tenant).await.unwrap();
        let session = pod_api::auth::sessions::lookup(&self.pool, &secret).await.unwrap().unwrap();
        Person { cookie: format!("{}={secret}", settings.cookie_name()), csrf: session.csrf, email }
    }

    /// Sends a request with a body; returns status, headers and the body as text.
    pub async fn send(
        &self,
        method: &str,
        uri: &str,
        headers: &[(&str, &str)],
        body: impl Into<Body>,
    ) -> (StatusCode, axum::http::HeaderMap, String) {
        let mut req = Request::builder().method(method).uri(uri);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = self.router.clone().oneshot(req.body(body.into()).unwrap()).await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        (status, headers, String::from_utf8_lossy(&bytes).into_owned())
    }
}

pub const PASSWORD: &str = "correct horse battery";

impl Api {
    /// The same API with its state changed (marketplaces, providers, …).
    pub fn reconfigure(&mut self, change: impl FnOnce(pod_api::AppState) -> pod_api::AppState) {
        self.state = change(self.state.clone());
        self.router = pod_api::router(self.state.clone());
    }
}

impl Api {
    /// The Shop aggregate's commands.
    pub async fn shops(&self) -> CommandBus<pod_events::domain::shop::Shop> {
        CommandBus::new(JetStreamStore::open(self.client.clone(), config(&self.ns)).await.unwrap(), ())
    }

    /// The Order aggregate's commands (orders arrive from marketplaces).
    pub async fn orders(&self) -> CommandBus<pod_events::domain::order::Order> {
        CommandBus::new(JetStreamStore::open(self.client.clone(), config(&self.ns)).await.unwrap(), ())
    }

    /// The Idea aggregate's commands.
    pub async fn ideas(&self) -> CommandBus<Idea> {
        CommandBus::new(JetStreamStore::open(self.client.clone(), config(&self.ns)).await.unwrap(), ())
    }

    /// The Listing aggregate's commands.
    pub async fn listings(&self) -> CommandBus<Listing> {
        CommandBus::new(JetStreamStore::open(self.client.clone(), config(&self.ns)).await.unwrap(), ())
    }

    /// A draft like the seeded one, of the seeded design.
    pub fn seeded_draft(&self) -> ListingDrafted {
        ListingDrafted {
            idea_id: self.seeded.acme_idea,
            design_id: self.seeded.acme_design,
            title: "Proud Cat Mom Shirt, Cat Mom Gift".into(),
            description: "A shirt.".into(),
            tags: vec!["cat mom".into()],
            price_cents: 1999,
            currency: "USD".into(),
            seo_score: 50,
            seo_checks: vec![],
            screening: None,
        }
    }

    /// An Etsy order of `quantity` of acme's `listing`, received now.
    pub async fn sell(&self, listing: Uuid, quantity: u32, price_cents: u64) {
        use pod_events::domain::order::{LineItem, OrderCommand, OrderReceived};
        let order = OrderReceived {
            shop_id: Uuid::nil(),
            marketplace: pod_events::domain::shop::Marketplace::Etsy,
            external_order_id: format!("E-{}", Uuid::new_v4().simple()),
            line_items: vec![LineItem {
                listing_id: Some(listing),
                external_listing_id: "etsy-1".into(),
                quantity,
                price_cents,
            }],
            total_cents: quantity as u64 * price_cents,
            currency: "USD".into(),
            placed_at: None,
        };
        let id = AggregateId::generate(TenantId::parse("acme").unwrap());
        self.orders().await.execute(&id, OrderCommand::Receive(order), &EventMeta::new_command()).await.unwrap();
    }

    /// Every event of the test's namespace so far.
    pub async fn log(&self) -> Vec<pod_events::RecordedEvent> {
        let mut reader =
            LogReader::open(self.client.clone(), &self.ns, vec![self.ns.all_events()], Start::All).await.unwrap();
        reader.next_batch(1000).await.unwrap()
    }
}

impl Api {
    /// Records a new trend for acme, as the trends worker would.
    pub async fn observe_trend(&self, keyword: &str) -> Uuid {
        let trends =
            CommandBus::new(JetStreamStore::<Trend>::open(self.client.clone(), config(&self.ns)).await.unwrap(), ());
        let acme = TenantId::parse("acme").unwrap();
        let id = AggregateId::derived(acme, "trend", keyword);
        let command = TrendCommand::Observe {
            keyword: keyword.into(),
            niche: "pets".into(),
            product_types: vec!["t-shirt".into()],
            observation: Observation {
                source: "browser-test".into(),
                observed_at: Utc::now(),
                rank: None,
                volume: None,
                score: 77.0,
                estimated: false,
                confidence: 0.9,
            },
        };
        trends.execute(&id, command, &EventMeta::new_command()).await.unwrap();
        id.id
    }
}

impl Api {
    /// Serves the API on a free port of 127.0.0.1; returns its base URL and
    /// the server task (aborted by the test when done).
    pub async fn serve(&self) -> (String, tokio::task::JoinHandle<()>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let router = pod_api::router(self.state.clone());
        let server = tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        (base, server)
    }
}
