use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::support::Env;

/// The stages, each run as its own `pod worker <kind>` process.
pub const STAGES: [&str; 5] = ["ideation", "screening", "designs", "listings", "publishing"];

/// A pipeline under test: its environment, asset directory and processes.
pub struct Pipeline {
    pub env: Env,
    pub assets: PathBuf,
    pub children: Vec<(String, Child)>,
    extra_env: Vec<(String, String)>,
}

impl Pipeline {
    pub async fn new() -> Self {
        let env = Env::new().await;
        let assets = std::env::temp_dir().join(format!("pod-assets-{}", env.ns.prefix()));
        std::fs::create_dir_all(&assets).unwrap();
        Self { env, assets, children: Vec::new(), extra_env: Vec::new() }
    }

    /// A setting for every process started after this call.
    pub fn set(&mut self, key: &str, value: &str) {
        self.extra_env.push((key.into(), value.into()));
    }

    pub fn command(&self, args: &[&str]) -> std::process::Command {
        let mut c = self.env.pod();
        c.env("POD__WORKERS__ASSETS_DIR", &self.assets).env("POD__WORKERS__TRENDS__TENANT", "acme");
        for (k, v) in &self.extra_env {
            c.env(k, v);
        }
        c.args(args);
        c
    }

    pub fn spawn(&mut self, name: &str, args: &[&str]) {
        let child = self.command(args).stdout(Stdio::null()).stderr(Stdio::inherit()).spawn().expect("starting pod");
        self.children.push((name.to_owned(), child));
    }

    /// Every stage as its own process, plus the projections.
    pub fn start_all(&mut self) {
        for stage in STAGES {
            self.spawn(stage, &["worker", stage]);
        }
        self.spawn("projections", &["projections", "run"]);
    }

    pub fn kill(&mut self, name: &str) {
        let i = self.children.iter().position(|(n, _)| n == name).expect("a running process of that name");
        let (_, mut child) = self.children.remove(i);
        child.kill().expect("SIGKILL");
        child.wait().expect("reaping");
    }

    pub fn run(&self, args: &[&str]) -> std::process::Output {
        let out = self.command(args).output().expect("running pod");
        assert!(out.status.success(), "pod {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        out
    }

    pub async fn count(&self, sql: &'static str) -> i64 {
        sqlx::query_scalar::<_, i64>(sql).fetch_one(&self.env.pool).await.unwrap()
    }

    /// Polls until `sql` counts `want` (or fails after `limit`).
    pub async fn wait_for(&self, what: &str, sql: &'static str, want: i64, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            let n = self.count(sql).await;
            if n == want {
                return;
            }
            assert!(n <= want, "{what}: {n}, more than the {want} expected");
            if Instant::now() > deadline {
                panic!("{what}: {n} of {want} after {limit:?}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Pending and unacknowledged messages of every worker consumer.
    pub async fn in_flight(&self) -> Vec<(String, u64, usize)> {
        let js = async_nats::jetstream::new(self.env.client.clone());
        let mut out = Vec::new();
        for stage in STAGES {
            let name = self.env.ns.consumer(&format!("wrk_{stage}"));
            let mut c: async_nats::jetstream::consumer::PullConsumer =
                js.get_consumer_from_stream(&name, self.env.ns.events_stream()).await.unwrap();
            let info = c.info().await.unwrap();
            out.push((stage.to_owned(), info.num_pending, info.num_ack_pending));
        }
        out
    }

    pub fn write_fixture(&self, name: &str, body: &str) -> PathBuf {
        let p = self.assets.join(name);
        std::fs::write(&p, body).unwrap();
        p
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        for (_, c) in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_dir_all(&self.assets);
    }
}

/// The trend list of the end-to-end tests: three sellable trends, one that
/// is a famous mark (its ideas screen red), one below the score threshold.
pub const FIXTURE: &str = "keyword,score,rank,source
cat mom,88,1,fixture
World's Okayest Nurse,75,2,fixture
pickleball,81,3,fixture
Disney princess,90,4,fixture
quantum chromodynamics,20,5,fixture
";

pub fn sha256_file(p: &Path) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(std::fs::read(p).unwrap()))
}
