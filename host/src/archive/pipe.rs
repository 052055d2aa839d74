//! Writing on a second thread: the bytes a producer writes are handed over
//! in chunks to a thread that writes them to the real sink, so hashing,
//! compression and the kernel's copy overlap with reading and parsing.

use std::{
    io::{self, Write},
    sync::mpsc::{channel, sync_channel, Receiver, SyncSender},
};

const CHUNK: usize = 256 * 1024;
/// Chunks in flight: bounds the memory used to a few MB.
const IN_FLIGHT: usize = 4;

/// Runs `body` with a writer whose bytes a second thread writes to `sink`.
/// Returns what `body` returned and the sink (or the first write error).
pub fn write_in_background<W: Write + Send, T>(
    sink: W,
    body: impl FnOnce(&mut dyn Write) -> T,
) -> (T, io::Result<W>) {
    std::thread::scope(|scope| {
        let (chunks, received) = sync_channel::<Vec<u8>>(IN_FLIGHT);
        let (give_back, returned) = channel::<Vec<u8>>();
        let worker = scope.spawn(move || -> io::Result<W> {
            let mut sink = sink;
            for chunk in received {
                sink.write_all(&chunk)?;
                let _ = give_back.send(chunk);
            }
            sink.flush()?;
            Ok(sink)
        });
        let mut writer = ChunkWriter {
            chunk: Vec::with_capacity(CHUNK),
            chunks: Some(chunks),
            returned,
        };
        let result = body(&mut writer);
        let _ = writer.send();
        writer.chunks = None;
        let sink = worker
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the writer thread panicked")));
        (result, sink)
    })
}

struct ChunkWriter {
    chunk: Vec<u8>,
    chunks: Option<SyncSender<Vec<u8>>>,
    returned: Receiver<Vec<u8>>,
}

impl ChunkWriter {
    fn send(&mut self) -> io::Result<()> {
        if self.chunk.is_empty() {
            return Ok(());
        }
        let next = self
            .returned
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(CHUNK));
        let full = std::mem::replace(&mut self.chunk, next);
        self.chunk.clear();
        let stopped = || io::Error::other("the output stopped accepting data");
        self.chunks
            .as_ref()
            .ok_or_else(stopped)?
            .send(full)
            .map_err(|_| stopped())
    }
}

impl Write for ChunkWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.chunk.extend_from_slice(buf);
        if self.chunk.len() >= CHUNK {
            self.send()?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::write_in_background;

    #[test]
    fn everything_written_arrives_in_order() {
        let (result, sink) = write_in_background(Vec::new(), |w| {
            for i in 0..100_000u32 {
                w.write_all(&i.to_le_bytes()).unwrap();
            }
            7
        });
        let bytes = sink.unwrap();
        assert_eq!(result, 7);
        assert_eq!(bytes.len(), 400_000);
        assert_eq!(&bytes[399_996..], &99_999u32.to_le_bytes());
    }

    #[test]
    fn a_failing_sink_reports_its_error() {
        struct Full;
        impl std::io::Write for Full {
            fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
                Err(std::io::Error::other("disk full"))
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let (result, sink) = write_in_background(Full, |w| {
            (0..1000).try_for_each(|_| w.write_all(&[0; 4096]))
        });
        assert!(result.is_err());
        assert_eq!(sink.err().unwrap().to_string(), "disk full");
    }
}
