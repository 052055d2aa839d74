//! A check that a library file is a whole ELF file before it is opened:
//! `dlopen` maps a truncated library without complaint and the process then
//! dies of SIGBUS when it touches the missing pages.

use std::{fs::File, io::Read, path::Path};

/// Checks that the headers of the ELF file at `path` fit in the file.
///
/// # Errors
///
/// A one-line reason: not ELF, or truncated (with the sizes).
pub fn check_whole(path: &Path) -> Result<(), String> {
    let mut bytes = Vec::new();
    File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(|e| format!("cannot read the file: {e}"))?;
    let len = bytes.len() as u64;
    if !bytes.starts_with(b"\x7fELF") {
        return Err("not a shared library (no ELF header)".to_owned());
    }
    if bytes.get(4) != Some(&2) || bytes.get(5) != Some(&1) {
        return Err("not a 64-bit little-endian ELF library, as this gnbr needs".to_owned());
    }
    let word = |at: usize, size: usize| -> Option<u64> {
        let raw = bytes.get(at..at + size)?;
        Some(
            raw.iter()
                .rev()
                .fold(0u64, |acc, &b| (acc << 8) | u64::from(b)),
        )
    };
    let truncated =
        |needed: u64| format!("the file is truncated: {len} bytes, its ELF headers need {needed}");
    let header = (|| {
        Some((
            word(0x20, 8)?,
            word(0x36, 2)?,
            word(0x38, 2)?,
            word(0x28, 8)?,
            word(0x3a, 2)?,
            word(0x3c, 2)?,
        ))
    })()
    .ok_or_else(|| truncated(64))?;
    let (phoff, phentsize, phnum, shoff, shentsize, shnum) = header;
    let ph_end = phoff + phentsize * phnum;
    if ph_end > len {
        return Err(truncated(ph_end));
    }
    let sh_end = shoff + shentsize * shnum;
    if sh_end > len {
        return Err(truncated(sh_end));
    }
    for i in 0..phnum {
        let at = (phoff + i * phentsize) as usize;
        let (kind, offset, size) = (word(at, 4), word(at + 8, 8), word(at + 32, 8));
        if let (Some(1), Some(offset), Some(size)) = (kind, offset, size) {
            if offset + size > len {
                return Err(truncated(offset + size));
            }
        }
    }
    Ok(())
}
