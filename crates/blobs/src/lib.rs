//! Content-addressed asset storage. A blob's key is derived from its
//! SHA-256, so storing the same bytes twice (a redelivered render) writes
//! nothing new and gives the same key.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

pub mod s3;

pub use s3::{S3BlobStore, S3Settings};

#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("blob store at {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("blob {key} not found")]
    NotFound { key: String },
    #[error("blob store {what}: {reason}")]
    Remote { what: String, reason: String },
}

/// What was stored: the key and the facts an event records about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBlob {
    pub key: String,
    pub sha256: String,
    pub bytes: u64,
}

/// The key of some bytes: `<kind>/<first two hex>/<sha256>.<ext>`.
pub fn content_key(kind: &str, sha256: &str, ext: &str) -> String {
    format!("{kind}/{}/{sha256}.{ext}", &sha256[..2])
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[async_trait::async_trait]
pub trait BlobStore: Send + Sync {
    /// Stores `bytes` under their content key (kind: `artwork`, `preview`).
    async fn put(&self, kind: &str, ext: &str, content_type: &str, bytes: Vec<u8>) -> Result<StoredBlob, BlobError>;
    async fn get(&self, key: &str) -> Result<Vec<u8>, BlobError>;
    /// Where a person can find it (a path or a URL).
    fn locate(&self, key: &str) -> String;
}

/// Blobs as files under a directory (the default).
#[derive(Debug, Clone)]
pub struct LocalBlobStore {
    root: PathBuf,
}

impl LocalBlobStore {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }
    pub fn root(&self) -> &Path {
        &self.root
    }
    fn path_of(&self, key: &str) -> Result<PathBuf, BlobError> {
        // Keys come from content_key; refuse anything that could climb out.
        if key.split('/').any(|part| part.is_empty() || part == "." || part == "..") {
            return Err(BlobError::NotFound { key: key.to_owned() });
        }
        Ok(self.root.join(key))
    }
}

#[async_trait::async_trait]
impl BlobStore for LocalBlobStore {
    async fn put(&self, kind: &str, ext: &str, _content_type: &str, bytes: Vec<u8>) -> Result<StoredBlob, BlobError> {
        let sha256 = sha256_hex(&bytes);
        let key = content_key(kind, &sha256, ext);
        let path = self.path_of(&key)?;
        let size = bytes.len() as u64;
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| BlobError::Io { path, source }
        };
        if let Ok(meta) = tokio::fs::metadata(&path).await
            && meta.len() == size
        {
            return Ok(StoredBlob { key, sha256, bytes: size });
        }
        let dir = path.parent().map(Path::to_owned).unwrap_or_else(|| self.root.clone());
        tokio::fs::create_dir_all(&dir).await.map_err(io(&dir))?;
        // Write aside, flush, then rename: a crash never leaves a half file
        // under the final name.
        let tmp = dir.join(format!(".{sha256}.{}.tmp", uuid::Uuid::new_v4()));
        {
            use tokio::io::AsyncWriteExt;
            let mut f = tokio::fs::File::create(&tmp).await.map_err(io(&tmp))?;
            f.write_all(&bytes).await.map_err(io(&tmp))?;
            f.sync_all().await.map_err(io(&tmp))?;
        }
        tokio::fs::rename(&tmp, &path).await.map_err(io(&path))?;
        Ok(StoredBlob { key, sha256, bytes: size })
    }

    async fn get(&self, key: &str) -> Result<Vec<u8>, BlobError> {
        let path = self.path_of(key)?;
        match tokio::fs::read(&path).await {
            Ok(b) => Ok(b),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(BlobError::NotFound { key: key.to_owned() }),
            Err(source) => Err(BlobError::Io { path, source }),
        }
    }

    fn locate(&self, key: &str) -> String {
        self.root.join(key).display().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_same_bytes_get_the_same_key_once() {
        let dir = std::env::temp_dir().join(format!("pod-blob-{}", uuid::Uuid::new_v4()));
        let store = LocalBlobStore::new(&dir);
        let a = store.put("artwork", "png", "image/png", b"hello".to_vec()).await.unwrap();
        let b = store.put("artwork", "png", "image/png", b"hello".to_vec()).await.unwrap();
        assert_eq!(a, b);
        assert_eq!(a.sha256, "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
        assert_eq!(a.key, format!("artwork/2c/{}.png", a.sha256));
        assert_eq!(store.get(&a.key).await.unwrap(), b"hello");
        assert!(matches!(store.get("artwork/../../etc/passwd").await, Err(BlobError::NotFound { .. })));
        let files: Vec<_> = std::fs::read_dir(dir.join("artwork/2c")).unwrap().collect();
        assert_eq!(files.len(), 1, "no temporary files left behind");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
