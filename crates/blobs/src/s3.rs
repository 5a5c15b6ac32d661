//! Blobs in S3 (or anything speaking its API: MinIO, Ceph, moto), through
//! aws-sdk-s3. Keys are content-addressed like the local store's; an
//! object already there with the same size is not uploaded again.

use aws_sdk_s3::Client;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::primitives::ByteStream;
use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{BlobError, BlobStore, StoredBlob, content_key};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct S3Settings {
    pub bucket: String,
    pub region: String,
    /// A custom endpoint (MinIO: `http://127.0.0.1:9000`); AWS when absent.
    pub endpoint: Option<String>,
    /// Static credentials; the AWS default chain (environment, profile,
    /// instance role) when absent.
    pub access_key: Option<String>,
    pub secret_key: Option<String>,
    /// Put before every key, e.g. `pod/`.
    pub key_prefix: String,
    /// Path-style addressing (needed by MinIO and most local servers).
    pub path_style: bool,
}

impl Default for S3Settings {
    fn default() -> Self {
        Self {
            bucket: "pod-assets".into(),
            region: "us-east-1".into(),
            endpoint: None,
            access_key: None,
            secret_key: None,
            key_prefix: String::new(),
            path_style: true,
        }
    }
}

#[derive(Clone)]
pub struct S3BlobStore {
    client: Client,
    settings: S3Settings,
}

fn remote(what: impl Into<String>, e: impl std::fmt::Display) -> BlobError {
    BlobError::Remote { what: what.into(), reason: e.to_string() }
}

impl S3BlobStore {
    pub async fn new(settings: S3Settings) -> Self {
        let mut b = aws_sdk_s3::config::Builder::new()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(settings.region.clone()))
            .force_path_style(settings.path_style);
        match (&settings.access_key, &settings.secret_key) {
            (Some(k), Some(s)) => b = b.credentials_provider(Credentials::new(k, s, None, None, "pod-config")),
            _ => {
                let shared = aws_config::defaults(BehaviorVersion::latest()).load().await;
                if let Some(p) = shared.credentials_provider() {
                    b = b.credentials_provider(p);
                }
            }
        }
        if let Some(e) = &settings.endpoint {
            b = b.endpoint_url(e);
        }
        Self { client: Client::from_conf(b.build()), settings }
    }

    fn full_key(&self, key: &str) -> String {
        format!("{}{key}", self.settings.key_prefix)
    }

    /// Creates the bucket if it does not exist (for local set-ups and tests).
    pub async fn ensure_bucket(&self) -> Result<(), BlobError> {
        let bucket = &self.settings.bucket;
        if self.client.head_bucket().bucket(bucket).send().await.is_ok() {
            return Ok(());
        }
        match self.client.create_bucket().bucket(bucket).send().await {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_bucket_already_owned_by_you()) => Ok(()),
            Err(e) => Err(remote(format!("creating bucket {bucket}"), aws_sdk_s3::error::DisplayErrorContext(e))),
        }
    }
}

#[async_trait::async_trait]
impl BlobStore for S3BlobStore {
    async fn put(&self, kind: &str, ext: &str, content_type: &str, bytes: Vec<u8>) -> Result<StoredBlob, BlobError> {
        let digest = Sha256::digest(&bytes);
        let sha256 = hex::encode(digest);
        let key = content_key(kind, &sha256, ext);
        let size = bytes.len() as u64;
        let full = self.full_key(&key);
        let existing = self.client.head_object().bucket(&self.settings.bucket).key(&full).send().await;
        if let Ok(h) = existing
            && h.content_length() == Some(size as i64)
        {
            return Ok(StoredBlob { key, sha256, bytes: size });
        }
        self.client
            .put_object()
            .bucket(&self.settings.bucket)
            .key(&full)
            .content_type(content_type)
            // The server verifies the bytes it received against this.
            .checksum_sha256(base64::engine::general_purpose::STANDARD.encode(digest))
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(|e| remote(format!("uploading {full}"), aws_sdk_s3::error::DisplayErrorContext(e)))?;
        Ok(StoredBlob { key, sha256, bytes: size })
    }

    async fn get(&self, key: &str) -> Result<Vec<u8>, BlobError> {
        let full = self.full_key(key);
        let out = self.client.get_object().bucket(&self.settings.bucket).key(&full).send().await.map_err(|e| {
            if e.as_service_error().is_some_and(|s| s.is_no_such_key()) {
                BlobError::NotFound { key: key.to_owned() }
            } else {
                remote(format!("downloading {full}"), aws_sdk_s3::error::DisplayErrorContext(e))
            }
        })?;
        let body = out.body.collect().await.map_err(|e| remote(format!("reading {full}"), e))?;
        Ok(body.into_bytes().to_vec())
    }

    fn locate(&self, key: &str) -> String {
        format!("s3://{}/{}", self.settings.bucket, self.full_key(key))
    }
}
