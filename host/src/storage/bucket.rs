//! One bucket of an S3-compatible object store, driven through
//! `object_store` from a small tokio runtime of its own: gnbr's commands
//! are blocking, each call here waits for its answer; the parts of an
//! upload ([`super::Upload`]) go up on the runtime's two threads while
//! gnbr goes on writing.

use std::{ops::Range, sync::Arc, time::Duration};

use bytes::Bytes;
use object_store::{
    aws::{AmazonS3, AmazonS3Builder},
    multipart::{MultipartStore, PartId},
    path::Path as ObjectPath,
    MultipartId, ObjectMeta, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload,
    RetryConfig,
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
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("gnbr-s3")
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

    /// The bucket's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the object `key` exists (asked while a backup is under way).
    ///
    /// # Errors
    ///
    /// A store that cannot be asked: an [`ErrorKind::Run`] error, a usage
    /// one when it refuses the credentials.
    pub fn exists(&self, key: &str) -> Result<bool, Error> {
        match self.runtime.block_on(self.store.head(&object_path(key))) {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(self.failed_write(&format!("look for s3://{}/{key}", self.name), e)),
        }
    }

    /// Writes the small object `key` (a sidecar) unless it exists: false
    /// when it does. The put is conditional (`If-None-Match: *`) where the
    /// store honours it, after asking the store first (a store that ignores
    /// it, Garage 2.5, has only that check).
    ///
    /// # Errors
    ///
    /// A put the store refuses, as [`Bucket::list`] names it.
    pub fn put_new(&self, key: &str, bytes: Vec<u8>) -> Result<bool, Error> {
        if self.exists(key)? {
            return Ok(false);
        }
        let options = PutOptions {
            mode: PutMode::Create,
            ..PutOptions::default()
        };
        let path = object_path(key);
        match self
            .runtime
            .block_on(self.store.put_opts(&path, bytes.into(), options))
        {
            Ok(_) => Ok(true),
            Err(object_store::Error::AlreadyExists { .. }) => Ok(false),
            Err(e) => Err(self.failed_write(&format!("write s3://{}/{key}", self.name), e)),
        }
    }

    /// Starts a multipart upload of the object `key`: nothing has that
    /// name until it is completed.
    ///
    /// # Errors
    ///
    /// The store refusing it (credentials without the right to write):
    /// an [`ErrorKind::Usage`] error naming the bucket and the fix.
    pub fn start_upload(&self, key: &str) -> Result<MultipartId, Error> {
        self.runtime
            .block_on(self.store.create_multipart(&object_path(key)))
            .map_err(|e| {
                self.error(
                    &format!("start writing s3://{}/{key}", self.name),
                    e,
                    ErrorKind::Usage,
                )
            })
    }

    /// Sends the part `index` (from 0) of the upload `id` of `key` in the
    /// background; [`Bucket::wait_part`] waits for its answer.
    pub fn send_part(
        &self,
        key: &str,
        id: &MultipartId,
        index: usize,
        data: PutPayload,
    ) -> tokio::task::JoinHandle<object_store::Result<PartId>> {
        let (store, path, id) = (self.store.clone(), object_path(key), id.clone());
        self.runtime
            .spawn(async move { store.put_part(&path, &id, index, data).await })
    }

    /// The answer to a part sent with [`Bucket::send_part`].
    ///
    /// # Errors
    ///
    /// The part not stored (the connection lost, retries spent): an
    /// [`ErrorKind::Run`] error naming the object.
    pub fn wait_part(
        &self,
        key: &str,
        part: tokio::task::JoinHandle<object_store::Result<PartId>>,
    ) -> Result<PartId, Error> {
        let what = format!("write s3://{}/{key}", self.name);
        match self.runtime.block_on(part) {
            Ok(Ok(id)) => Ok(id),
            Ok(Err(e)) => Err(self.failed_write(&what, e)),
            Err(e) => Err(Error::new(ErrorKind::Run, format!("cannot {what}: {e}"))),
        }
    }

    /// Completes the upload `id` of `key` from its parts: the object takes
    /// its name, whole.
    ///
    /// # Errors
    ///
    /// The store refusing it: an [`ErrorKind::Run`] error naming the object.
    pub fn complete_upload(
        &self,
        key: &str,
        id: &MultipartId,
        parts: Vec<PartId>,
    ) -> Result<(), Error> {
        self.runtime
            .block_on(self.store.complete_multipart(&object_path(key), id, parts))
            .map(drop)
            .map_err(|e| self.failed_write(&format!("complete s3://{}/{key}", self.name), e))
    }

    /// Aborts the upload `id` of `key`: the store drops its parts.
    ///
    /// # Errors
    ///
    /// The store not answering: the parts stay until a lifecycle rule
    /// expires them.
    pub fn abort_upload(&self, key: &str, id: &MultipartId) -> Result<(), Error> {
        self.runtime
            .block_on(self.store.abort_multipart(&object_path(key), id))
            .map_err(|e| {
                self.failed_write(&format!("abort the upload of s3://{}/{key}", self.name), e)
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

    /// The error of a write that failed doing `what` once the run was
    /// under way: as [`Bucket::error`] says it, an [`ErrorKind::Run`] error
    /// unless the store refused the credentials.
    fn failed_write(&self, what: &str, error: object_store::Error) -> Error {
        let refused = is_refused(&error);
        let shown = self.error(what, error, ErrorKind::Run);
        if refused {
            shown
        } else {
            Error {
                kind: ErrorKind::Run,
                ..shown
            }
        }
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
            _ if is_refused(&error) => refused(),
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

/// Whether the store refused the credentials (or their rights) of the call
/// that made `error`.
fn is_refused(error: &object_store::Error) -> bool {
    matches!(
        error,
        object_store::Error::PermissionDenied { .. } | object_store::Error::Unauthenticated { .. }
    ) || matches!(http_status(error), Some(401 | 403))
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
