//! `pod nats apply`: creates or updates the streams and consumers defined as
//! JSON under `nats/` (the same JSON the `nats` CLI reads with `--config`),
//! through the JetStream API. A changed definition is updated in place; one
//! the server cannot update (a different storage type, say) is reported as an
//! error, never silently recreated.
//!
//! Layout: `nats/streams/<NAME>.json` (KV buckets are streams named
//! `KV_<BUCKET>`), `nats/consumers/<STREAM>/<name>.json`.
//! Names and subjects are written for the default prefix `pod`; the
//! namespace's prefix replaces it when applied.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

use crate::namespace::Namespace;

const STREAM_NOT_FOUND: u64 = 10059;
const CONSUMER_NOT_FOUND: u64 = 10014;

#[derive(Debug, thiserror::Error)]
pub enum DefinitionError {
    #[error("reading {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path} is not valid JSON: {source}")]
    Json { path: PathBuf, source: serde_json::Error },
    #[error("{path}: field {field:?} is missing")]
    Field { path: PathBuf, field: &'static str },
    #[error("NATS request {subject}: {source}")]
    Request { subject: String, source: async_nats::RequestError },
    #[error("JetStream refused {what}: {description} (error {code})")]
    Refused { what: String, code: u64, description: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Created,
    Updated { fields: Vec<String> },
    Unchanged,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub kind: &'static str,
    pub name: String,
    pub change: Change,
}

impl std::fmt::Display for Applied {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.change {
            Change::Created => write!(f, "{} {}: created", self.kind, self.name),
            Change::Unchanged => write!(f, "{} {}: unchanged", self.kind, self.name),
            Change::Updated { fields } => write!(f, "{} {}: updated ({})", self.kind, self.name, fields.join(", ")),
        }
    }
}

/// Rewrites the default prefix in a definition to the namespace's.
pub fn localise(text: &str, ns: &Namespace) -> String {
    if ns.prefix() == crate::namespace::DEFAULT_PREFIX {
        return text.to_owned();
    }
    let upper = ns.prefix().to_ascii_uppercase().replace('-', "_");
    let lower = ns.prefix().replace('-', "_");
    text.replace("\"POD_", &format!("\"{upper}_"))
        .replace("KV_POD_", &format!("KV_{upper}_"))
        .replace("$KV.POD_", &format!("$KV.{upper}_"))
        .replace("\"pod.", &format!("\"{}.", ns.prefix()))
        .replace("\"pod_", &format!("\"{lower}_"))
}

fn read_json(path: &Path, ns: &Namespace) -> Result<Value, DefinitionError> {
    let text = std::fs::read_to_string(path).map_err(|source| DefinitionError::Read { path: path.into(), source })?;
    serde_json::from_str(&localise(&text, ns)).map_err(|source| DefinitionError::Json { path: path.into(), source })
}

fn json_files(dir: &Path) -> Result<Vec<PathBuf>, DefinitionError> {
    let mut out = Vec::new();
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(source) => return Err(DefinitionError::Read { path: dir.into(), source }),
    };
    for entry in rd {
        let entry = entry.map_err(|source| DefinitionError::Read { path: dir.into(), source })?;
        let p = entry.path();
        if p.extension().is_some_and(|e| e == "json") {
            out.push(p);
        }
    }
    out.sort();
    Ok(out)
}

async fn api(client: &async_nats::Client, subject: String, body: Value) -> Result<Value, DefinitionError> {
    let payload = serde_json::to_vec(&body).unwrap_or_default();
    let msg = client
        .request(subject.clone(), payload.into())
        .await
        .map_err(|source| DefinitionError::Request { subject: subject.clone(), source })?;
    serde_json::from_slice(&msg.payload).map_err(|source| DefinitionError::Json { path: subject.into(), source })
}

fn error_of(v: &Value) -> Option<(u64, String)> {
    let e = v.get("error")?;
    Some((
        e.get("err_code").and_then(Value::as_u64).unwrap_or(0),
        e.get("description").and_then(Value::as_str).unwrap_or("unknown error").to_owned(),
    ))
}

/// Fields of `desired` whose values differ from `current`.
pub fn differing_fields(desired: &Map<String, Value>, current: &Value) -> Vec<String> {
    desired
        .iter()
        .filter(|(k, v)| {
            let cur = current.get(k.as_str());
            match (v, cur) {
                // The server omits false/empty defaults.
                (Value::Bool(false), None) => false,
                (Value::String(s), None) if s.is_empty() => false,
                (Value::Array(a), None) if a.is_empty() => false,
                (v, Some(c)) => *v != c,
                (_, None) => true,
            }
        })
        .map(|(k, _)| k.clone())
        .collect()
}

fn merged(current: &Value, desired: &Map<String, Value>) -> Value {
    let mut out = current.as_object().cloned().unwrap_or_default();
    for (k, v) in desired {
        out.insert(k.clone(), v.clone());
    }
    Value::Object(out)
}

/// Applies every definition under `dir` for namespace `ns`.
pub async fn apply(client: &async_nats::Client, ns: &Namespace, dir: &Path) -> Result<Vec<Applied>, DefinitionError> {
    apply_replicated(client, ns, dir, None).await
}

/// Applies every definition under `dir` for namespace `ns`, each stream
/// (and the consumers on it, which follow their stream) kept on `replicas`
/// nodes where given (3 on a production cluster) instead of its
/// definition's `num_replicas`. An existing stream is scaled in place.
pub async fn apply_replicated(
    client: &async_nats::Client,
    ns: &Namespace,
    dir: &Path,
    replicas: Option<u8>,
) -> Result<Vec<Applied>, DefinitionError> {
    let mut applied = Vec::new();
    for path in json_files(&dir.join("streams"))? {
        let mut def = read_json(&path, ns)?;
        if let (Some(n), Some(cfg)) = (replicas, def.as_object_mut()) {
            cfg.insert("num_replicas".into(), json!(n));
        }
        let cfg = def.as_object().cloned().unwrap_or_default();
        let name = cfg
            .get("name")
            .and_then(Value::as_str)
            .ok_or(DefinitionError::Field { path: path.clone(), field: "name" })?
            .to_owned();
        let info = api(client, format!("$JS.API.STREAM.INFO.{name}"), json!({})).await?;
        let change = match error_of(&info) {
            Some((STREAM_NOT_FOUND, _)) => {
                let r = api(client, format!("$JS.API.STREAM.CREATE.{name}"), def.clone()).await?;
                if let Some((code, description)) = error_of(&r) {
                    return Err(DefinitionError::Refused {
                        what: format!("creating stream {name}"),
                        code,
                        description,
                    });
                }
                Change::Created
            }
            Some((code, description)) => {
                return Err(DefinitionError::Refused { what: format!("reading stream {name}"), code, description });
            }
            None => {
                let current = info.get("config").cloned().unwrap_or(Value::Null);
                // Without --replicas an existing stream keeps the replicas
                // it has: a plain apply never scales an R3 stream down.
                let mut cfg = cfg.clone();
                if replicas.is_none() {
                    cfg.remove("num_replicas");
                }
                let fields = differing_fields(&cfg, &current);
                if fields.is_empty() {
                    Change::Unchanged
                } else {
                    let r = api(client, format!("$JS.API.STREAM.UPDATE.{name}"), merged(&current, &cfg)).await?;
                    if let Some((code, description)) = error_of(&r) {
                        return Err(DefinitionError::Refused {
                            what: format!("updating stream {name} ({}); it was left as it is", fields.join(", ")),
                            code,
                            description,
                        });
                    }
                    Change::Updated { fields }
                }
            }
        };
        applied.push(Applied { kind: "stream", name, change });
    }
    let consumers_dir = dir.join("consumers");
    let mut stream_dirs: Vec<PathBuf> = match std::fs::read_dir(&consumers_dir) {
        Ok(rd) => rd.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_dir()).collect(),
        Err(_) => Vec::new(),
    };
    stream_dirs.sort();
    for sdir in stream_dirs {
        let raw_stream = sdir.file_name().and_then(|s| s.to_str()).unwrap_or_default();
        let stream: String = serde_json::from_str(&localise(&format!("\"{raw_stream}\""), ns)).unwrap_or_default();
        for path in json_files(&sdir)? {
            let def = read_json(&path, ns)?;
            let cfg = def.as_object().cloned().unwrap_or_default();
            let name = cfg
                .get("durable_name")
                .or_else(|| cfg.get("name"))
                .and_then(Value::as_str)
                .ok_or(DefinitionError::Field { path: path.clone(), field: "durable_name" })?
                .to_owned();
            let info = api(client, format!("$JS.API.CONSUMER.INFO.{stream}.{name}"), json!({})).await?;
            let change = match error_of(&info) {
                Some((CONSUMER_NOT_FOUND, _)) => {
                    let body = json!({"stream_name": stream, "config": def, "action": "create"});
                    let r = api(client, format!("$JS.API.CONSUMER.CREATE.{stream}.{name}"), body).await?;
                    if let Some((code, description)) = error_of(&r) {
                        return Err(DefinitionError::Refused {
                            what: format!("creating consumer {name}"),
                            code,
                            description,
                        });
                    }
                    Change::Created
                }
                Some((code, description)) => {
                    return Err(DefinitionError::Refused {
                        what: format!("reading consumer {name}"),
                        code,
                        description,
                    });
                }
                None => {
                    let current = info.get("config").cloned().unwrap_or(Value::Null);
                    // Where a consumer starts is set at creation (and moved by the
                    // projection runtime to its checkpoint); it is not a change.
                    let mut cfg = cfg.clone();
                    for k in ["deliver_policy", "opt_start_seq", "opt_start_time"] {
                        cfg.remove(k);
                    }
                    let fields = differing_fields(&cfg, &current);
                    if fields.is_empty() {
                        Change::Unchanged
                    } else {
                        let body = json!({"stream_name": stream, "config": merged(&current, &cfg), "action": "update"});
                        let r = api(client, format!("$JS.API.CONSUMER.CREATE.{stream}.{name}"), body).await?;
                        if let Some((code, description)) = error_of(&r) {
                            return Err(DefinitionError::Refused {
                                what: format!("updating consumer {name} ({})", fields.join(", ")),
                                code,
                                description,
                            });
                        }
                        Change::Updated { fields }
                    }
                }
            };
            applied.push(Applied { kind: "consumer", name: format!("{stream}/{name}"), change });
        }
    }
    Ok(applied)
}

/// Moves a durable consumer so its next delivery is the first message at or
/// after `start_seq`: the consumer is recreated with the same configuration
/// and `deliver_policy: by_start_sequence`. Only the single active instance
/// of a projection calls this, at start-up, to line the consumer up with the
/// checkpoint its read model has committed (so nothing a killed instance had
/// in flight is skipped or applied out of order).
pub async fn reposition_consumer(
    client: &async_nats::Client,
    stream: &str,
    name: &str,
    start_seq: u64,
) -> Result<(), DefinitionError> {
    let info = api(client, format!("$JS.API.CONSUMER.INFO.{stream}.{name}"), json!({})).await?;
    if let Some((code, description)) = error_of(&info) {
        return Err(DefinitionError::Refused { what: format!("reading consumer {name}"), code, description });
    }
    let mut config = info.get("config").cloned().unwrap_or_else(|| json!({}));
    config["deliver_policy"] = json!("by_start_sequence");
    config["opt_start_seq"] = json!(start_seq.max(1));
    if let Some(obj) = config.as_object_mut() {
        obj.remove("opt_start_time");
    }
    let r = api(client, format!("$JS.API.CONSUMER.DELETE.{stream}.{name}"), json!({})).await?;
    if let Some((code, description)) = error_of(&r) {
        return Err(DefinitionError::Refused { what: format!("deleting consumer {name}"), code, description });
    }
    let body = json!({"stream_name": stream, "config": config, "action": "create"});
    let r = api(client, format!("$JS.API.CONSUMER.CREATE.{stream}.{name}"), body).await?;
    if let Some((code, description)) = error_of(&r) {
        return Err(DefinitionError::Refused { what: format!("recreating consumer {name}"), code, description });
    }
    Ok(())
}

/// Creates a consumer from `config` (JSON as in `nats/consumers/`), used by
/// a projection that finds its consumer missing (say, killed between the two
/// steps of a reposition).
pub async fn create_consumer(client: &async_nats::Client, stream: &str, config: Value) -> Result<(), DefinitionError> {
    let name = config.get("durable_name").and_then(Value::as_str).unwrap_or_default().to_owned();
    let body = json!({"stream_name": stream, "config": config, "action": "create"});
    let r = api(client, format!("$JS.API.CONSUMER.CREATE.{stream}.{name}"), body).await?;
    if let Some((code, description)) = error_of(&r) {
        return Err(DefinitionError::Refused { what: format!("creating consumer {name}"), code, description });
    }
    Ok(())
}

/// Deletes every stream of a namespace (used by tests to leave nothing behind).
pub async fn delete_all(client: &async_nats::Client, ns: &Namespace, dir: &Path) -> Result<(), DefinitionError> {
    for path in json_files(&dir.join("streams"))? {
        let def = read_json(&path, ns)?;
        if let Some(name) = def.get("name").and_then(Value::as_str) {
            api(client, format!("$JS.API.STREAM.DELETE.{name}"), json!({})).await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn localise_rewrites_every_kind_of_name() {
        let ns = Namespace::new("t1").unwrap();
        let text = r#"{"name":"POD_EVENTS","subjects":["pod.evt.>"],"kv":"$KV.POD_SNAPSHOTS.>","k":"KV_POD_SNAPSHOTS","durable_name":"pod_proj_trends"}"#;
        let out = localise(text, &ns);
        assert_eq!(
            out,
            r#"{"name":"T1_EVENTS","subjects":["t1.evt.>"],"kv":"$KV.T1_SNAPSHOTS.>","k":"KV_T1_SNAPSHOTS","durable_name":"t1_proj_trends"}"#
        );
        assert_eq!(localise(text, &Namespace::default()), text);
    }

    #[test]
    fn only_real_differences_count() {
        let desired = json!({"a": 1, "b": false, "c": "", "d": [1], "e": []});
        let current = json!({"a": 1, "d": [2]});
        assert_eq!(differing_fields(desired.as_object().unwrap(), &current), vec!["d".to_string()]);
    }
}
