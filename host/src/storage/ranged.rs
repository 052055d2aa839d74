//! An object of a bucket read as a file: `Read + Seek` over ranged GETs,
//! with a read-ahead buffer that grows while reading goes on where the
//! last range ended (from [`READ_AHEAD_FIRST`] to [`READ_AHEAD_MAX`],
//! doubling) and starts small again after a seek elsewhere: a zip's
//! central directory and one entry cost a few small requests, an archive
//! read whole costs one request per 16 MiB.

use std::{
    io::{self, Read, Seek, SeekFrom},
    sync::Arc,
};

use bytes::Bytes;

use super::Bucket;

/// The first range read after a seek: 64 KiB (a zip entry's local header
/// is read after a seek past the entry before it: small, so that listing
/// an archive of large entries fetches little it does not need).
pub const READ_AHEAD_FIRST: u64 = 64 << 10;

/// The largest range read at once, and so the most memory held: 16 MiB.
pub const READ_AHEAD_MAX: u64 = 16 << 20;

/// An object read by ranges.
pub struct RangeReader {
    bucket: Arc<Bucket>,
    key: String,
    size: u64,
    position: u64,
    buffer: Bytes,
    buffer_start: u64,
    window: u64,
}

impl RangeReader {
    /// The object `key` of `bucket`, `size` bytes long, read from its start.
    pub fn new(bucket: Arc<Bucket>, key: &str, size: u64) -> Self {
        Self {
            bucket,
            key: key.to_owned(),
            size,
            position: 0,
            buffer: Bytes::new(),
            buffer_start: 0,
            window: READ_AHEAD_FIRST,
        }
    }

    /// Reads the range the position is in: the next one, twice as long,
    /// when reading goes on where the buffer ended; else a first-sized one
    /// (ending at the object's end when the position is near it, where a
    /// zip is read backwards from).
    fn fill(&mut self) -> io::Result<()> {
        let buffer_end = self.buffer_start + self.buffer.len() as u64;
        self.window = if self.position == buffer_end && !self.buffer.is_empty() {
            (self.window * 2).min(READ_AHEAD_MAX)
        } else {
            READ_AHEAD_FIRST
        };
        let start = self.position.min(self.size.saturating_sub(self.window));
        let end = (start + self.window).min(self.size);
        self.buffer = self
            .bucket
            .read_range(&self.key, start..end)
            .map_err(|e| io::Error::other(e.to_string()))?;
        self.buffer_start = start;
        if (self.buffer.len() as u64) < end - start {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "{}: got {} bytes of the range {start}..{end}: the object changed while it was read",
                    self.key,
                    self.buffer.len()
                ),
            ));
        }
        Ok(())
    }
}

impl Read for RangeReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.position >= self.size || buf.is_empty() {
            return Ok(0);
        }
        let buffer_end = self.buffer_start + self.buffer.len() as u64;
        if self.position < self.buffer_start || self.position >= buffer_end {
            self.fill()?;
        }
        let offset = usize::try_from(self.position - self.buffer_start).unwrap_or(usize::MAX);
        let available = &self.buffer[offset..];
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.position += n as u64;
        Ok(n)
    }
}

impl Seek for RangeReader {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(offset) => Some(offset),
            SeekFrom::End(delta) => self.size.checked_add_signed(delta),
            SeekFrom::Current(delta) => self.position.checked_add_signed(delta),
        };
        self.position = target.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{}: seek before the object's start", self.key),
            )
        })?;
        Ok(self.position)
    }
}
