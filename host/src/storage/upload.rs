//! An object of a bucket written as a stream: a multipart upload whose
//! parts go up in the background while the next one fills, never staged on
//! local disk. Nothing has the object's name until
//! [`Upload::complete_with_sidecars`];
//! an upload dropped before that (an error, a cancelled run) is aborted,
//! and so is one under way when gnbr is stopped by SIGINT, SIGTERM or
//! SIGHUP. One killed outright stays an unfinished upload, invisible, until
//! a lifecycle rule of the bucket expires it.
//!
//! Memory: [`PARTS_IN_FLIGHT`] parts going up and one filling. A part is
//! [`FIRST_PART_SIZE`] (8 MiB) for the first [`PARTS_PER_SIZE`] parts, then
//! twice as large for each next thousand (S3 takes 10,000 parts): 40 MiB for
//! an archive of up to 7.8 GiB, 80 MiB up to 23 GiB, and so on.

use std::{
    collections::VecDeque,
    io,
    sync::{Arc, OnceLock},
};

use md5::{Digest, Md5};
use object_store::{multipart::PartId, MultipartId};
use tokio::task::JoinHandle;

use super::Bucket;
use crate::{archive::hex, errors::Error, fault, scratch::StopGuard};

/// The size of the first parts: 8 MiB (S3 wants 5 MiB at least, the last but one included).
pub const FIRST_PART_SIZE: usize = 8 << 20;

/// How many parts have one size before the size doubles.
pub const PARTS_PER_SIZE: usize = 1000;

/// Parts sent and not yet answered, at most, while the next one fills:
/// writing waits for the oldest beyond.
pub const PARTS_IN_FLIGHT: usize = 4;

/// A multipart upload being written.
pub struct Upload {
    bucket: Arc<Bucket>,
    key: String,
    id: MultipartId,
    part: Vec<u8>,
    sent: VecDeque<JoinHandle<object_store::Result<PartId>>>,
    stored: Vec<PartId>,
    md5: Md5,
    /// The error a write met sending a part: every later write, and
    /// [`Upload::finish`], fail with it.
    error: Option<Error>,
    open: bool,
    _stop: StopGuard,
}

impl Upload {
    /// Starts the upload of the object `key` of `bucket`.
    ///
    /// # Errors
    ///
    /// The store refusing to start it (as [`Bucket::start_upload`]).
    pub fn start(bucket: Arc<Bucket>, key: &str) -> Result<Self, Error> {
        let started: Arc<OnceLock<MultipartId>> = Arc::default();
        let (undo_bucket, undo_key, undo_started) =
            (bucket.clone(), key.to_owned(), started.clone());
        let (id, stop) = StopGuard::create(
            || {
                let id = bucket.start_upload(key)?;
                let _ = started.set(id.clone());
                Ok(id)
            },
            move || {
                if let Some(id) = undo_started.get() {
                    let _ = undo_bucket.abort_upload(&undo_key, id);
                }
            },
        )?;
        Ok(Self {
            bucket,
            key: key.to_owned(),
            id,
            part: Vec::with_capacity(FIRST_PART_SIZE),
            sent: VecDeque::new(),
            stored: Vec::new(),
            md5: Md5::new(),
            error: None,
            open: true,
            _stop: stop,
        })
    }

    /// The size of the part `index` (from 0).
    fn part_size(index: usize) -> usize {
        let doublings = u32::try_from(index / PARTS_PER_SIZE).unwrap_or(u32::MAX);
        FIRST_PART_SIZE.saturating_mul(1 << doublings.min(10))
    }

    /// Sends the part filled so far; waits for the oldest part sent when
    /// more than [`PARTS_IN_FLIGHT`] are going up.
    fn send(&mut self) -> Result<(), Error> {
        let index = self.stored.len() + self.sent.len();
        let next = Vec::with_capacity(Self::part_size(index + 1));
        let data = std::mem::replace(&mut self.part, next);
        self.sent.push_back(
            self.bucket
                .send_part(&self.key, &self.id, index, data.into()),
        );
        while self.sent.len() > PARTS_IN_FLIGHT {
            self.wait_oldest()?;
        }
        Ok(())
    }

    /// Waits for the oldest part sent to be stored.
    fn wait_oldest(&mut self) -> Result<(), Error> {
        if let Some(part) = self.sent.pop_front() {
            self.stored.push(self.bucket.wait_part(&self.key, part)?);
            fault::point("part-uploaded");
        }
        Ok(())
    }

    /// Sends the last part and waits for every part: the object is whole
    /// on the store, still without its name. Returns its md5 (hex).
    ///
    /// # Errors
    ///
    /// A part the store did not take (the error itself, as the store's
    /// answer made it: a usage error for refused credentials).
    pub fn finish(&mut self) -> Result<String, Error> {
        if let Some(error) = &self.error {
            return Err(error.clone());
        }
        if !self.part.is_empty() || self.stored.is_empty() && self.sent.is_empty() {
            self.send()?;
        }
        while !self.sent.is_empty() {
            self.wait_oldest()?;
        }
        Ok(hex(&self.md5.clone().finalize()))
    }

    /// Gives the finished upload ([`Upload::finish`]) its name, its
    /// sidecars `sidecars` (keys and contents) first: false, with nothing
    /// left behind, when the object's name or a sidecar's is taken. The
    /// names are looked for just before; a sidecar is put with
    /// `If-None-Match: *`, which stores that honour make atomic.
    ///
    /// # Errors
    ///
    /// The store refusing a put or the completion; the sidecars put are
    /// removed and the upload aborted.
    pub fn complete_with_sidecars(mut self, sidecars: &[(String, Vec<u8>)]) -> Result<bool, Error> {
        if self.bucket.exists(&self.key)? {
            return Ok(false);
        }
        let mut placed: Vec<&str> = Vec::new();
        let give_back = |placed: &[&str]| {
            for key in placed {
                if let Err(e) = self.bucket.delete(key) {
                    tracing::warn!("{e}");
                }
            }
        };
        for (key, bytes) in sidecars {
            match self.bucket.put_new(key, bytes.clone()) {
                Ok(true) => placed.push(key),
                Ok(false) => {
                    give_back(&placed);
                    return Ok(false);
                }
                Err(e) => {
                    give_back(&placed);
                    return Err(e);
                }
            }
        }
        fault::point("before-archive-rename");
        let parts = std::mem::take(&mut self.stored);
        if let Err(e) = self.bucket.complete_upload(&self.key, &self.id, parts) {
            give_back(&placed);
            return Err(e);
        }
        self.open = false;
        fault::point("after-archive-rename");
        Ok(true)
    }
}

impl io::Write for Upload {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Some(error) = &self.error {
            return Err(io::Error::other(error.clone()));
        }
        let size = Self::part_size(self.stored.len() + self.sent.len());
        let n = buf.len().min(size - self.part.len());
        self.part.extend_from_slice(&buf[..n]);
        self.md5.update(&buf[..n]);
        if self.part.len() == size {
            if let Err(e) = self.send() {
                self.error = Some(e.clone());
                return Err(io::Error::other(e));
            }
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        if !self.open {
            return;
        }
        for part in self.sent.drain(..) {
            part.abort();
        }
        if let Err(e) = self.bucket.abort_upload(&self.key, &self.id) {
            tracing::warn!(
                "{e}: the unfinished upload stays until the bucket's lifecycle rule expires it"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Upload, FIRST_PART_SIZE, PARTS_IN_FLIGHT, PARTS_PER_SIZE};

    #[test]
    fn parts_double_each_thousand_so_that_s3s_ten_thousand_hold_terabytes() {
        assert_eq!(Upload::part_size(0), FIRST_PART_SIZE);
        assert_eq!(Upload::part_size(PARTS_PER_SIZE - 1), FIRST_PART_SIZE);
        assert_eq!(Upload::part_size(PARTS_PER_SIZE), 2 * FIRST_PART_SIZE);
        let total: u64 = (0..10_000).map(|i| Upload::part_size(i) as u64).sum();
        assert!(total > 7 << 40, "{total} bytes in S3's 10,000 parts");
        let first_thousand = (PARTS_PER_SIZE * FIRST_PART_SIZE) as u64;
        assert!(first_thousand > 7 << 30, "7.8 GiB at 8 MiB a part");
        // The memory the README states: the parts in flight and the one filling.
        assert_eq!((PARTS_IN_FLIGHT + 1) * FIRST_PART_SIZE, 40 << 20);
    }
}
