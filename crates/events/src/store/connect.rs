//! Connecting to NATS, refusing servers too old for the event store.

/// Atomic batch publish, several filter subjects per consumer and a KV that
/// async-nats understands arrived in 2.12.
pub const MIN_SERVER: (u32, u32) = (2, 12);

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("cannot connect to NATS at {url}: {source}")]
    Connect { url: String, source: async_nats::ConnectError },
    #[error("NATS_URL {url:?} is not a NATS URL or a comma-separated list of them: {source}")]
    BadUrl { url: String, source: std::io::Error },
    #[error(
        "NATS at {url} is version {found}, but POD Automator needs {}.{} or newer (atomic batch \
         publish, multi-filter consumers). Debian's nats-server package is too old: run \
         `scripts/services.sh`, which installs a current nats-server and starts it on port 14222, \
         then set NATS_URL=nats://127.0.0.1:14222",
        MIN_SERVER.0, MIN_SERVER.1
    )]
    TooOld { url: String, found: String },
}

/// Parses `major.minor[.patch][-suffix]`.
pub fn parse_version(v: &str) -> Option<(u32, u32)> {
    let mut it = v.trim_start_matches('v').split(['.', '-']);
    let major = it.next()?.parse().ok()?;
    let minor = it.next()?.parse().ok()?;
    Some((major, minor))
}

/// `url` fit for a message: any `user:password@` in it left out.
pub fn shown(url: &str) -> String {
    url.split(',')
        .map(|u| match (u.find("://"), u.rfind('@')) {
            (Some(scheme), Some(at)) if at > scheme => format!("{}***{}", &u[..scheme + 3], &u[at..]),
            (None, Some(at)) => format!("***{}", &u[at..]),
            _ => u.to_owned(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// The servers of `url`: one URL, or a cluster's as a comma-separated list
/// (the client connects to any and fails over to the others).
pub fn server_addrs(url: &str) -> Result<Vec<async_nats::ServerAddr>, ConnectError> {
    let addrs: Vec<async_nats::ServerAddr> = url
        .split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(str::parse)
        .collect::<Result<_, _>>()
        .map_err(|source| ConnectError::BadUrl { url: shown(url), source })?;
    if addrs.is_empty() {
        let source = std::io::Error::new(std::io::ErrorKind::InvalidInput, "no server given");
        return Err(ConnectError::BadUrl { url: shown(url), source });
    }
    Ok(addrs)
}

/// Connects to one of `url`'s servers and checks the server's version.
pub async fn connect(url: &str, client_name: &str) -> Result<async_nats::Client, ConnectError> {
    let client = async_nats::ConnectOptions::new()
        .name(client_name)
        .connect(server_addrs(url)?)
        .await
        .map_err(|source| ConnectError::Connect { url: shown(url), source })?;
    let found = client.server_info().version;
    match parse_version(&found) {
        Some(v) if v >= MIN_SERVER => Ok(client),
        _ => Err(ConnectError::TooOld { url: shown(url), found }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_a_url_are_never_shown() {
        assert_eq!(
            shown("nats://pod:s3cret@nats-0:4222,nats://nats-1:4222"),
            "nats://***@nats-0:4222,nats://nats-1:4222"
        );
        assert_eq!(shown("tok@127.0.0.1:4222"), "***@127.0.0.1:4222");
        let e = server_addrs("nats://pod:s3cret@[::1").unwrap_err();
        assert!(!e.to_string().contains("s3cret"), "{e}");
    }

    #[test]
    fn a_cluster_is_given_as_a_list_of_urls() {
        assert_eq!(server_addrs("nats://127.0.0.1:14222").unwrap().len(), 1);
        let cluster = server_addrs("nats://127.0.0.1:14231, nats://127.0.0.1:14232,nats://127.0.0.1:14233").unwrap();
        assert_eq!(cluster.iter().map(|a| a.port()).collect::<Vec<_>>(), [14231, 14232, 14233]);
        for bad in ["", " , ", "nats://127.0.0.1:14222,http://[::1"] {
            assert!(matches!(server_addrs(bad), Err(ConnectError::BadUrl { .. })), "{bad:?}");
        }
    }

    #[test]
    fn versions_compare_by_major_and_minor() {
        assert_eq!(parse_version("2.14.6"), Some((2, 14)));
        assert_eq!(parse_version("v2.12.0-beta"), Some((2, 12)));
        assert!(parse_version("2.9.10").unwrap() < MIN_SERVER);
        assert!(parse_version("2.12.0").unwrap() >= MIN_SERVER);
        assert!(parse_version("3.0.0").unwrap() >= MIN_SERVER);
        assert_eq!(parse_version("garbage"), None);
    }
}
