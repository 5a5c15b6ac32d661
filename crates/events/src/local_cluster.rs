//! A JetStream cluster of nats-server processes on loopback, for the tests
//! and benches that must lose a node: each node can be killed (SIGKILL),
//! paused (SIGSTOP, a replica that falls behind), resumed and restarted on
//! its own ports and store, and the whole cluster goes with the value.
//!
//! The server is the project's pinned nats-server (≥ 2.12): `$POD_NATS_SERVER`,
//! else `$POD_TOOLS_DIR/venv/bin/nats-server` (`scripts/services.sh`
//! installs it under `<repo>/.tools`). `scripts/nats-cluster.sh` starts the
//! same layout for a person.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error(
        "no nats-server ≥ 2.12 at {0}: run `bash scripts/services.sh` (it installs the pinned one under .tools/) or set POD_NATS_SERVER"
    )]
    NoServer(PathBuf),
    #[error("{what}: {source}")]
    Io { what: String, source: std::io::Error },
    #[error("the cluster did not elect a JetStream meta leader within {within:?}; the nodes' logs end:\n{logs}")]
    NoLeader { within: Duration, logs: String },
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ClusterError {
    let what = what.into();
    move |source| ClusterError::Io { what, source }
}

/// The pinned nats-server this checkout uses.
pub fn server_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("POD_NATS_SERVER") {
        return PathBuf::from(p);
    }
    let tools = std::env::var_os("POD_TOOLS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.tools"));
    tools.join("venv/bin/nats-server")
}

struct Node {
    name: String,
    client_port: u16,
    config: PathBuf,
    log: PathBuf,
    child: Option<Child>,
}

/// Three (or `size`) nats-server processes clustered on loopback.
pub struct LocalCluster {
    dir: PathBuf,
    bin: PathBuf,
    nodes: Vec<Node>,
}

fn free_port() -> Result<u16, ClusterError> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(io("finding a free port"))?;
    Ok(l.local_addr().map_err(io("finding a free port"))?.port())
}

impl LocalCluster {
    /// Starts `size` clustered nodes, each with JetStream, and waits until
    /// they have elected a meta leader.
    pub async fn start(size: usize) -> Result<Self, ClusterError> {
        let bin = server_binary();
        if !bin.is_file() {
            return Err(ClusterError::NoServer(bin));
        }
        let run = uuid::Uuid::new_v4().simple().to_string();
        let dir = std::env::temp_dir().join(format!("pod-cluster-{run}"));
        std::fs::create_dir_all(&dir).map_err(io(format!("creating {}", dir.display())))?;
        let ports: Vec<(u16, u16)> = (0..size).map(|_| Ok((free_port()?, free_port()?))).collect::<Result<_, _>>()?;
        let routes: Vec<String> = ports.iter().map(|(_, c)| format!("nats-route://127.0.0.1:{c}")).collect();
        let mut nodes = Vec::new();
        for (i, (client_port, cluster_port)) in ports.iter().enumerate() {
            let name = format!("n{}", i + 1);
            let store = dir.join(&name);
            let config = dir.join(format!("{name}.conf"));
            let text = format!(
                "server_name: {name}\nlisten: 127.0.0.1:{client_port}\n\
                 jetstream {{\n  store_dir: \"{}\"\n}}\n\
                 cluster {{\n  name: pod-local-{run}\n  listen: 127.0.0.1:{cluster_port}\n  routes: [\n    {}\n  ]\n}}\n",
                store.display(),
                routes.join("\n    ")
            );
            std::fs::write(&config, text).map_err(io(format!("writing {}", config.display())))?;
            let log = dir.join(format!("{name}.log"));
            nodes.push(Node { name, client_port: *client_port, config, log, child: None });
        }
        let mut cluster = Self { dir, bin, nodes };
        for i in 0..size {
            cluster.spawn(i)?;
        }
        cluster.wait_for_leader(Duration::from_secs(30)).await?;
        Ok(cluster)
    }

    fn spawn(&mut self, i: usize) -> Result<(), ClusterError> {
        let node = &mut self.nodes[i];
        let log = std::fs::File::create(&node.log).map_err(io(format!("creating {}", node.log.display())))?;
        let err = log.try_clone().map_err(io("a log handle"))?;
        let child = Command::new(&self.bin)
            .arg("-c")
            .arg(&node.config)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .spawn()
            .map_err(io(format!("starting {} for {}", self.bin.display(), node.name)))?;
        node.child = Some(child);
        Ok(())
    }

    /// Every node's client URL, comma-separated (a client connected to it
    /// fails over between them).
    pub fn urls(&self) -> String {
        (0..self.nodes.len()).map(|i| self.url(i)).collect::<Vec<_>>().join(",")
    }

    /// Node `i`'s client URL.
    pub fn url(&self, i: usize) -> String {
        format!("nats://127.0.0.1:{}", self.nodes[i].client_port)
    }

    /// Node `i`'s server name (`n1`…), as JetStream names leaders and replicas.
    pub fn name(&self, i: usize) -> &str {
        &self.nodes[i].name
    }

    /// The node named `name`.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.name == name)
    }

    /// Kills node `i` as `kill -9` does: no goodbye to its peers, its
    /// store left as it was at that instant.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.nodes[i].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts node `i` again on its ports and store.
    pub fn restart(&mut self, i: usize) -> Result<(), ClusterError> {
        self.kill(i);
        self.spawn(i)
    }

    /// Pauses node `i` (SIGSTOP): it keeps its connections but answers
    /// nothing and falls behind until [`Self::resume`].
    pub fn pause(&self, i: usize) {
        self.signal(i, "-STOP");
    }

    pub fn resume(&self, i: usize) {
        self.signal(i, "-CONT");
    }

    fn signal(&self, i: usize, signal: &str) {
        if let Some(child) = &self.nodes[i].child {
            let _ = Command::new("kill").arg(signal).arg(child.id().to_string()).status();
        }
    }

    /// Node `i`'s log so far (for a failing test's message).
    pub fn log(&self, i: usize) -> String {
        std::fs::read_to_string(&self.nodes[i].log).unwrap_or_default()
    }

    /// Waits until JetStream answers through every running node.
    pub async fn wait_for_leader(&self, within: Duration) -> Result<(), ClusterError> {
        let deadline = Instant::now() + within;
        for (i, node) in self.nodes.iter().enumerate() {
            if node.child.is_none() {
                continue;
            }
            loop {
                if self.jetstream_answers(i).await {
                    break;
                }
                if Instant::now() > deadline {
                    let logs = (0..self.nodes.len())
                        .map(|i| {
                            let log = self.log(i);
                            let tail: Vec<&str> = log.lines().rev().take(5).collect();
                            format!(
                                "{}: {}",
                                self.nodes[i].name,
                                tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("\n");
                    return Err(ClusterError::NoLeader { within, logs });
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        Ok(())
    }

    async fn jetstream_answers(&self, i: usize) -> bool {
        let Ok(client) = async_nats::connect(self.url(i)).await else { return false };
        let asked = client.request("$JS.API.INFO", "".into());
        match tokio::time::timeout(Duration::from_secs(2), asked).await {
            Ok(Ok(m)) => {
                serde_json::from_slice::<serde_json::Value>(&m.payload).is_ok_and(|v| v.get("error").is_none())
            }
            _ => false,
        }
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        for i in 0..self.nodes.len() {
            self.resume(i);
            self.kill(i);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
