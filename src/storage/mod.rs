//! Object storage behind one trait with two backends: a local folder (the default) and any
//! S3-compatible store (Cloudflare R2, MinIO, AWS). Keys are content-addressed where the content
//! is known, so the same upload is stored once.
pub mod cache;
pub mod folder;
pub mod s3;

use sha2::{Digest, Sha256};
use std::future::Future;
use std::path::Path;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("object {0} not found")]
    NotFound(String),
    #[error("invalid object key '{0}'")]
    BadKey(String),
    #[error("storage i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("object storage: {0}")]
    Remote(String),
}

pub trait ObjectStore: Send + Sync {
    fn put_file(
        &self,
        key: &str,
        path: &Path,
        content_type: &str,
    ) -> impl Future<Output = Result<(), StorageError>> + Send;
    fn put_bytes(
        &self,
        key: &str,
        bytes: Vec<u8>,
        content_type: &str,
    ) -> impl Future<Output = Result<(), StorageError>> + Send;
    fn get_bytes(&self, key: &str) -> impl Future<Output = Result<Vec<u8>, StorageError>> + Send;
    fn get_to_file(
        &self,
        key: &str,
        path: &Path,
    ) -> impl Future<Output = Result<(), StorageError>> + Send;
    fn exists(&self, key: &str) -> impl Future<Output = Result<bool, StorageError>> + Send;
    fn delete(&self, key: &str) -> impl Future<Output = Result<(), StorageError>> + Send;
    /// A URL a provider can fetch the object from for `ttl` (S3 presigned GET); `None` for a
    /// local folder, which nothing outside can reach.
    fn presigned_get(
        &self,
        key: &str,
        ttl: Duration,
    ) -> impl Future<Output = Result<Option<String>, StorageError>> + Send;
}

/// The configured backend.
pub enum Storage {
    Folder(folder::FolderStore),
    S3(s3::S3Store),
}

macro_rules! delegate {
    ($self:ident, $s:ident => $e:expr) => {
        match $self {
            Storage::Folder($s) => $e,
            Storage::S3($s) => $e,
        }
    };
}

impl ObjectStore for Storage {
    async fn put_file(
        &self,
        key: &str,
        path: &Path,
        content_type: &str,
    ) -> Result<(), StorageError> {
        delegate!(self, s => s.put_file(key, path, content_type).await)
    }
    async fn put_bytes(
        &self,
        key: &str,
        bytes: Vec<u8>,
        content_type: &str,
    ) -> Result<(), StorageError> {
        delegate!(self, s => s.put_bytes(key, bytes, content_type).await)
    }
    async fn get_bytes(&self, key: &str) -> Result<Vec<u8>, StorageError> {
        delegate!(self, s => s.get_bytes(key).await)
    }
    async fn get_to_file(&self, key: &str, path: &Path) -> Result<(), StorageError> {
        delegate!(self, s => s.get_to_file(key, path).await)
    }
    async fn exists(&self, key: &str) -> Result<bool, StorageError> {
        delegate!(self, s => s.exists(key).await)
    }
    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        delegate!(self, s => s.delete(key).await)
    }
    async fn presigned_get(
        &self,
        key: &str,
        ttl: Duration,
    ) -> Result<Option<String>, StorageError> {
        delegate!(self, s => s.presigned_get(key, ttl).await)
    }
}

/// Keys are relative paths of letters, digits, `-`, `_`, `.` and `/`, never `..`.
pub fn check_key(key: &str) -> Result<(), StorageError> {
    let ok = !key.is_empty()
        && !key.starts_with('/')
        && key
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..")
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c));
    if ok {
        Ok(())
    } else {
        Err(StorageError::BadKey(key.to_string()))
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

pub fn sha256_file(path: &Path) -> Result<String, StorageError> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    std::io::copy(&mut f, &mut h)?;
    Ok(hex(&h.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `kind/ab/abcdef….ext`: the same content always gets the same key.
pub fn content_key(kind: &str, sha256: &str, ext: &str) -> String {
    format!("{kind}/{}/{sha256}.{ext}", &sha256[..2.min(sha256.len())])
}

/// A scratch folder removed (with what is in it) when dropped: however the work ends,
/// a request the client left included.
pub struct ScratchDir(std::path::PathBuf);

impl ScratchDir {
    pub fn new(path: std::path::PathBuf) -> std::io::Result<Self> {
        std::fs::create_dir_all(&path)?;
        Ok(Self(path))
    }
    pub fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_cannot_escape_the_store() {
        assert!(check_key("overlays/ab/abc.mp4").is_ok());
        for bad in ["", "/etc/passwd", "a/../../b", "a//b", "a b", "ключ", "./x"] {
            assert!(check_key(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn content_keys_are_stable() {
        let h = sha256_hex(b"hello");
        assert_eq!(
            h,
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        assert_eq!(
            content_key("uploads", &h, "jpg"),
            format!("uploads/2c/{h}.jpg")
        );
    }
}
