//! One bucket of an S3-compatible object store, driven through
//! `object_store` from a small tokio runtime of its own: gnbr's commands
//! are blocking, each call here waits for its answer.

use std::{ops::Range, sync::Arc, time::Duration};

use bytes::Bytes;
use object_store::{
    aws::{AmazonS3, AmazonS3Builder},
    path::Path as ObjectPath,
    ObjectMeta, ObjectStore, ObjectStoreExt, RetryConfig,
};

use super::credentials;
use crate::{
    config::StorageSettings,
    errors::{Error, ErrorKind},
};

/// Amazon S3's own endpoint, as messages name it when settings.ini gives none.
const AWS_ENDPOINT: &str = "Amazon S3";

/// A bucket, its client and the runtime that drives it.
pub struct Bucket {
    name: String,
    endpoint: String,
    credentials: String,
    store: AmazonS3,
    runtime: tokio::runtime::Runtime,
}

impl Bucket {
    /// A client of the bucket `name`, at settings.ini `[storage]`'s endpoint
    /// (else `AWS_ENDPOINT`, else Amazon S3), with the credentials of the
    /// environment or profile. Nothing is asked of the bucket yet.
    ///
    /// # Errors
    ///
    /// No credentials ([`credentials::apply`]), or settings the client refuses.
    pub fn connect(name: &str, settings: &StorageSettings) -> Result<Arc<Self>, Error> {
        let mut builder = AmazonS3Builder::from_env().with_bucket_name(name);
        let endpoint = settings
            .endpoint
            .clone()
            .or_else(|| std::env::var("AWS_ENDPOINT").ok().filter(|e| !e.is_empty()));
        if let Some(endpoint) = &endpoint {
            builder = builder
                .with_endpoint(endpoint)
                .with_allow_http(endpoint.starts_with("http://"));
        }
        if let Some(region) = settings
            .region
            .clone()
            .or_else(|| std::env::var("AWS_REGION").ok().filter(|r| !r.is_empty()))
        {
            builder = builder.with_region(region);
        }
        let path_style = settings.path_style.unwrap_or(endpoint.is_some());
        builder = builder
            .with_virtual_hosted_style_request(!path_style)
            .with_retry(RetryConfig {
                max_retries: 3,
                retry_timeout: Duration::from_secs(30),
                ..RetryConfig::default()
            });
        let (builder, credentials) = credentials::apply(builder)?;
        let endpoint = endpoint.unwrap_or_else(|| AWS_ENDPOINT.to_owned());
        let store = builder.build().map_err(|e| {
            Error::new(
                ErrorKind::Usage,
                format!("cannot reach bucket {name} at {endpoint}: {e}"),
            )
            .hint("check settings.ini [storage] endpoint, region and path_style")
        })?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| {
                Error::new(
                    ErrorKind::Run,
                    format!("cannot start the object storage client: {e}"),
                )
            })?;
        Ok(Arc::new(Self {
            name: name.to_owned(),
            endpoint,
            credentials,
            store,
            runtime,
        }))
    }

    /// The objects directly under `prefix` (`""`: the bucket's top), not
    /// those of its sub-folders.
    ///
    /// # Errors
    ///
    /// An [`ErrorKind::Usage`] error when the bucket cannot be listed.
    pub fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, Error> {
        let prefix = (!prefix.is_empty()).then(|| object_path(prefix));
        self.runtime
            .block_on(self.store.list_with_delimiter(prefix.as_ref()))
            .map(|listing| listing.objects)
            .map_err(|e| {
                self.error(
                    &format!(
                        "list s3://{}/{}",
                        self.name,
                        prefix.map(|p| p.to_string()).unwrap_or_default()
                    ),
                    e,
                    ErrorKind::Usage,
                )
            })
    }

    /// The size of the object `key`.
    ///
    /// # Errors
    ///
    /// An [`ErrorKind::Input`] error when it is missing, else as [`Bucket::list`].
    pub fn size(&self, key: &str) -> Result<u64, Error> {
        self.runtime
            .block_on(self.store.head(&object_path(key)))
            .map(|meta| meta.size)
            .map_err(|e| {
                self.error(
                    &format!("open s3://{}/{key}", self.name),
                    e,
                    ErrorKind::Input,
                )
            })
    }

    /// The bytes `range` of the object `key`.
    ///
    /// # Errors
    ///
    /// As [`Bucket::size`].
    pub fn read_range(&self, key: &str, range: Range<u64>) -> Result<Bytes, Error> {
        self.runtime
            .block_on(self.store.get_range(&object_path(key), range))
            .map_err(|e| {
                self.error(
                    &format!("read s3://{}/{key}", self.name),
                    e,
                    ErrorKind::Input,
                )
            })
    }

    /// The text of the small object `key` (a sidecar), `None` when there is none.
    ///
    /// # Errors
    ///
    /// As [`Bucket::list`]; text that is not UTF-8 is an [`ErrorKind::Input`] error.
    pub fn read_small(&self, key: &str) -> Result<Option<String>, Error> {
        let path = object_path(key);
        let read = self
            .runtime
            .block_on(async { self.store.get(&path).await?.bytes().await });
        let bytes = match read {
            Ok(bytes) => bytes,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => {
                return Err(self.error(
                    &format!("read s3://{}/{key}", self.name),
                    e,
                    ErrorKind::Input,
                ))
            }
        };
        String::from_utf8(bytes.to_vec()).map(Some).map_err(|_| {
            Error::new(
                ErrorKind::Input,
                format!("s3://{}/{key} is not text", self.name),
            )
        })
    }

    /// Removes the object `key`.
    ///
    /// # Errors
    ///
    /// As [`Bucket::list`].
    pub fn delete(&self, key: &str) -> Result<(), Error> {
        self.runtime
            .block_on(self.store.delete(&object_path(key)))
            .map_err(|e| {
                self.error(
                    &format!("remove s3://{}/{key}", self.name),
                    e,
                    ErrorKind::Run,
                )
            })
    }

    /// The error of a call that failed doing `what`: refused credentials
    /// and an unreachable endpoint are [`ErrorKind::Usage`] errors naming
    /// the endpoint and the fix; a missing object or bucket is `missing`'s kind.
    fn error(&self, what: &str, error: object_store::Error, missing: ErrorKind) -> Error {
        let refused = || {
            Error::new(
                ErrorKind::Usage,
                format!(
                    "{} refused to {what} with the credentials of {}",
                    self.endpoint, self.credentials
                ),
            )
            .hint(credentials::HINT)
        };
        let not_found = || {
            Error::new(
                missing,
                format!(
                    "cannot {what}: {} has no such object or bucket",
                    self.endpoint
                ),
            )
            .hint(format!(
                "check the bucket's name ({}) and the path, and settings.ini [storage] endpoint",
                self.name
            ))
        };
        let shown = match (&error, http_status(&error)) {
            (object_store::Error::PermissionDenied { .. }, _)
            | (object_store::Error::Unauthenticated { .. }, _)
            | (_, Some(401 | 403)) => refused(),
            (object_store::Error::NotFound { .. }, _) | (_, Some(404)) => not_found(),
            _ => Error::new(
                ErrorKind::Usage,
                format!("cannot {what} at {}", self.endpoint),
            )
            .hint("check settings.ini [storage] endpoint, region and path_style, that the endpoint is reachable from here, and the credentials"),
        };
        shown.caused_by(Error::new(ErrorKind::Usage, error.to_string()))
    }
}

/// The HTTP status of the answer that made `error`, when one did: some of
/// object_store's errors (a listing's) carry it only in their text.
fn http_status(error: &object_store::Error) -> Option<u16> {
    let mut source: Option<&dyn std::error::Error> = Some(error);
    while let Some(current) = source {
        let text = current.to_string();
        if let Some((_, rest)) = text.split_once("status code: ") {
            return rest.get(..3).and_then(|code| code.parse().ok());
        }
        source = current.source();
    }
    None
}

/// The object path of `key`: as the store lists it, else made valid.
fn object_path(key: &str) -> ObjectPath {
    ObjectPath::parse(key).unwrap_or_else(|_| ObjectPath::from(key))
}
