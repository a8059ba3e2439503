//! The default store: a folder on the local disk.
use super::{check_key, ObjectStore, StorageError};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub struct FolderStore {
    root: PathBuf,
}

impl FolderStore {
    pub fn new(root: impl Into<PathBuf>) -> Result<Self, StorageError> {
        let root = root.into();
        std::fs::create_dir_all(&root)?;
        Ok(Self { root })
    }

    fn path(&self, key: &str) -> Result<PathBuf, StorageError> {
        check_key(key)?;
        Ok(self.root.join(key))
    }

    /// Writes through a temporary file and a rename, so a reader never sees half an object.
    async fn write_atomically(
        &self,
        key: &str,
        write: impl AsyncFnOnce(&Path) -> std::io::Result<()>,
    ) -> Result<(), StorageError> {
        let path = self.path(key)?;
        if let Some(dir) = path.parent() {
            tokio::fs::create_dir_all(dir).await?;
        }
        // Unique per write, not per process: two jobs storing the same content at once must
        // not write into one temporary file.
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tmp = path.with_extension(format!("part-{}-{n}", std::process::id()));
        write(&tmp).await?;
        tokio::fs::rename(&tmp, &path).await?;
        Ok(())
    }
}

fn not_found(key: &str, e: std::io::Error) -> StorageError {
    if e.kind() == std::io::ErrorKind::NotFound {
        StorageError::NotFound(key.to_string())
    } else {
        StorageError::Io(e)
    }
}

impl ObjectStore for FolderStore {
    async fn put_file(
        &self,
        key: &str,
        path: &Path,
        _content_type: &str,
    ) -> Result<(), StorageError> {
        self.write_atomically(key, async |tmp| {
            tokio::fs::copy(path, tmp).await.map(|_| ())
        })
        .await
    }
    async fn put_bytes(
        &self,
        key: &str,
        bytes: Vec<u8>,
        _content_type: &str,
    ) -> Result<(), StorageError> {
        self.write_atomically(key, async |tmp| tokio::fs::write(tmp, &bytes).await)
            .await
    }
    async fn get_bytes(&self, key: &str) -> Result<Vec<u8>, StorageError> {
        tokio::fs::read(self.path(key)?)
            .await
            .map_err(|e| not_found(key, e))
    }
    async fn get_to_file(&self, key: &str, path: &Path) -> Result<(), StorageError> {
        tokio::fs::copy(self.path(key)?, path)
            .await
            .map(|_| ())
            .map_err(|e| not_found(key, e))
    }
    async fn exists(&self, key: &str) -> Result<bool, StorageError> {
        Ok(tokio::fs::try_exists(self.path(key)?).await?)
    }
    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        match tokio::fs::remove_file(self.path(key)?).await {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }
    async fn presigned_get(
        &self,
        _key: &str,
        _ttl: Duration,
    ) -> Result<Option<String>, StorageError> {
        Ok(None)
    }
}
