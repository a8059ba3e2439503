//! Any S3-compatible store through aws-sdk-s3, configured directly (no aws-config): endpoint,
//! region (`auto` for R2), path-style addressing, and checksums only when required — what
//! Cloudflare R2 needs. Presigned GET URLs hand inputs to providers such as fal and KIE.
use super::{check_key, ObjectStore, StorageError};
use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;
use std::path::Path;
use std::time::Duration;

pub struct S3Store {
    client: Client,
    /// Signs presigned URLs for the public address (`S3_PUBLIC_ENDPOINT`); `client` when none.
    presigner: Option<Client>,
    bucket: String,
    prefix: String,
    region: String,
}

impl S3Store {
    pub fn new(
        endpoint: Option<&str>,
        region: &str,
        access_key_id: &str,
        secret_access_key: &str,
        bucket: &str,
        prefix: &str,
    ) -> Self {
        let b = Self::config(endpoint, region, access_key_id, secret_access_key);
        Self {
            client: Client::from_conf(b.build()),
            presigner: None,
            bucket: bucket.to_string(),
            prefix: prefix.trim_matches('/').to_string(),
            region: region.to_string(),
        }
    }

    /// Presigned URLs name `public` (`S3_PUBLIC_ENDPOINT`: what providers and API clients can
    /// reach) while the app keeps talking to its own endpoint. The signature covers the
    /// public host, so the store must see that host (a proxy passing `Host` through).
    pub fn with_public_endpoint(
        mut self,
        public: Option<&str>,
        access_key_id: &str,
        secret_access_key: &str,
    ) -> Self {
        self.presigner = public.map(|e| {
            let b = Self::config(Some(e), &self.region, access_key_id, secret_access_key);
            Client::from_conf(b.build())
        });
        self
    }

    fn config(
        endpoint: Option<&str>,
        region: &str,
        access_key_id: &str,
        secret_access_key: &str,
    ) -> aws_sdk_s3::config::Builder {
        let mut b = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(region.to_string()))
            .credentials_provider(Credentials::new(
                access_key_id,
                secret_access_key,
                None,
                None,
                "reelforge",
            ))
            .force_path_style(true)
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
        if let Some(e) = endpoint {
            b = b.endpoint_url(e);
        }
        b
    }

    /// Creates the bucket when it does not exist yet (first start against a fresh store).
    pub async fn ensure_bucket(&self) -> Result<(), StorageError> {
        if self
            .client
            .head_bucket()
            .bucket(&self.bucket)
            .send()
            .await
            .is_ok()
        {
            return Ok(());
        }
        use aws_sdk_s3::error::ProvideErrorMetadata;
        use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};
        let mut create = self.client.create_bucket().bucket(&self.bucket);
        // Outside us-east-1 the region goes in the request (R2 and moto want "auto" there).
        if self.region != "us-east-1" {
            create = create.create_bucket_configuration(
                CreateBucketConfiguration::builder()
                    .location_constraint(BucketLocationConstraint::from(self.region.as_str()))
                    .build(),
            );
        }
        match create.send().await {
            Ok(_) => Ok(()),
            // Another process (serve and a worker started together) created it first.
            Err(e)
                if matches!(
                    e.code(),
                    Some("BucketAlreadyOwnedByYou" | "BucketAlreadyExists")
                ) =>
            {
                Ok(())
            }
            Err(e) => Err(remote(format!(
                "cannot create the bucket: {} ({})",
                e.message().unwrap_or("no message"),
                e.code().unwrap_or("no error code")
            ))),
        }
    }

    fn full_key(&self, key: &str) -> Result<String, StorageError> {
        check_key(key)?;
        Ok(if self.prefix.is_empty() {
            key.to_string()
        } else {
            format!("{}/{key}", self.prefix)
        })
    }
}

fn remote(e: impl std::fmt::Display) -> StorageError {
    StorageError::Remote(e.to_string())
}

impl ObjectStore for S3Store {
    async fn put_file(
        &self,
        key: &str,
        path: &Path,
        content_type: &str,
    ) -> Result<(), StorageError> {
        let body = ByteStream::from_path(path).await.map_err(remote)?;
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(self.full_key(key)?)
            .content_type(content_type)
            .body(body)
            .send()
            .await
            .map_err(|e| remote(aws_sdk_s3::error::DisplayErrorContext(e)))?;
        Ok(())
    }
    async fn put_bytes(
        &self,
        key: &str,
        bytes: Vec<u8>,
        content_type: &str,
    ) -> Result<(), StorageError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(self.full_key(key)?)
            .content_type(content_type)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(|e| remote(aws_sdk_s3::error::DisplayErrorContext(e)))?;
        Ok(())
    }
    async fn get_bytes(&self, key: &str) -> Result<Vec<u8>, StorageError> {
        let out = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(self.full_key(key)?)
            .send()
            .await
            .map_err(|e| {
                if e.as_service_error().is_some_and(|s| s.is_no_such_key()) {
                    StorageError::NotFound(key.to_string())
                } else {
                    remote(aws_sdk_s3::error::DisplayErrorContext(e))
                }
            })?;
        Ok(out
            .body
            .collect()
            .await
            .map_err(remote)?
            .into_bytes()
            .to_vec())
    }
    async fn get_to_file(&self, key: &str, path: &Path) -> Result<(), StorageError> {
        let bytes = self.get_bytes(key).await?;
        tokio::fs::write(path, bytes).await?;
        Ok(())
    }
    async fn exists(&self, key: &str) -> Result<bool, StorageError> {
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(self.full_key(key)?)
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => Ok(false),
            Err(e) => Err(remote(aws_sdk_s3::error::DisplayErrorContext(e))),
        }
    }
    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(self.full_key(key)?)
            .send()
            .await
            .map_err(|e| remote(aws_sdk_s3::error::DisplayErrorContext(e)))?;
        Ok(())
    }
    async fn presigned_get(
        &self,
        key: &str,
        ttl: Duration,
    ) -> Result<Option<String>, StorageError> {
        let cfg = PresigningConfig::expires_in(ttl).map_err(remote)?;
        let req = self
            .presigner
            .as_ref()
            .unwrap_or(&self.client)
            .get_object()
            .bucket(&self.bucket)
            .key(self.full_key(key)?)
            .presigned(cfg)
            .await
            .map_err(remote)?;
        Ok(Some(req.uri().to_string()))
    }
}
