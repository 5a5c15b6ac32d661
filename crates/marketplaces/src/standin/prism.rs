//! Prism (`@stoplight/prism-cli`, installed by `scripts/services.sh`) as a
//! contract checker: `prism proxy --errors` in front of a stand-in refuses
//! every request that breaks the provider's published OpenAPI document and
//! fails every answer of the stand-in that breaks it.

use std::path::PathBuf;
use std::time::Duration;

/// Etsy's published Open API v3 document, kept with the tests.
pub fn etsy_contract() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/contracts/etsy-openapi-v3.json")
}

/// Where Prism is: `POD_PRISM`, or where `scripts/services.sh` installs it
/// (`${POD_TOOLS_DIR:-<repo>/.tools}/node`).
pub fn binary() -> PathBuf {
    if let Some(p) = std::env::var_os("POD_PRISM") {
        return p.into();
    }
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let tools = std::env::var_os("POD_TOOLS_DIR").map(PathBuf::from).unwrap_or_else(|| repo.join(".tools"));
    tools.join("node/node_modules/.bin/prism")
}

#[derive(Debug, thiserror::Error)]
pub enum PrismError {
    #[error("Prism is not at {0}: install it with `scripts/services.sh` (or set POD_PRISM)")]
    Missing(PathBuf),
    #[error("starting Prism: {0}")]
    Start(#[from] std::io::Error),
    #[error("Prism did not listen on {0} within a minute")]
    NotListening(String),
}

/// A running `prism proxy --errors`; stopped when dropped.
#[derive(Debug)]
pub struct Proxy {
    pub url: String,
    _child: tokio::process::Child,
}

impl Proxy {
    /// Checks traffic to `upstream` against `contract`.
    pub async fn start(contract: &std::path::Path, upstream: &str) -> Result<Self, PrismError> {
        let bin = binary();
        if !bin.exists() {
            return Err(PrismError::Missing(bin));
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let child = tokio::process::Command::new(bin)
            .args(["proxy", "--errors", "-h", "127.0.0.1", "-p", &port.to_string()])
            .arg(contract)
            .arg(upstream)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()?;
        let addr = format!("127.0.0.1:{port}");
        for _ in 0..240 {
            if tokio::net::TcpStream::connect(&addr).await.is_ok() {
                return Ok(Self { url: format!("http://{addr}"), _child: child });
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        Err(PrismError::NotListening(addr))
    }
}
