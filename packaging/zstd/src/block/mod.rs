//! Compress and decompress individual blocks.
//!
//! These methods process all the input data at once.
//! It is therefore best used with relatively small blocks
//! (like small network packets).

mod compressor;
mod decompressor;

pub use self::compressor::Compressor;
pub use self::decompressor::Decompressor;

use std::io;

/// Compresses a single block of data to the given destination buffer.
///
/// Returns the number of bytes written, or an error if something happened
/// (for instance if the destination buffer was too small).
///
/// A level of `0` uses zstd's default (currently `3`).
pub fn compress_to_buffer(
    source: &[u8],
    destination: &mut [u8],
    level: i32,
) -> io::Result<usize> {
    Compressor::new().compress_to_buffer(source, destination, level)
}

/// Compresses a block of data and returns the compressed result.
///
/// A level of `0` uses zstd's default (currently `3`).
pub fn compress(data: &[u8], level: i32) -> io::Result<Vec<u8>> {
    // Herald's patch (see HERALD.md beside this crate): one compressor per
    // thread instead of one per call. Creating a zstd context executes
    // `cpuid` twice, which traps to the hypervisor in a VM; sled calls this
    // for every page it logs, so that was a quarter of Herald's CPU on its
    // one committer thread. A reused context writes the same bytes.
    thread_local! {
        static COMPRESSOR: std::cell::RefCell<Compressor> =
            std::cell::RefCell::new(Compressor::new());
    }
    COMPRESSOR
        .try_with(|c| match c.try_borrow_mut() {
            Ok(mut c) => c.compress(data, level),
            Err(_) => Compressor::new().compress(data, level),
        })
        .unwrap_or_else(|_| Compressor::new().compress(data, level))
}

/// Deompress a single block of data to the given destination buffer.
///
/// Returns the number of bytes written, or an error if something happened
/// (for instance if the destination buffer was too small).
pub fn decompress_to_buffer(
    source: &[u8],
    destination: &mut [u8],
) -> io::Result<usize> {
    Decompressor::new().decompress_to_buffer(source, destination)
}

/// Decompresses a block of data and returns the decompressed result.
///
/// The decompressed data should be less than `capacity` bytes,
/// or an error will be returned.
pub fn decompress(data: &[u8], capacity: usize) -> io::Result<Vec<u8>> {
    // Herald's patch: one decompressor per thread, as for `compress`.
    decompress_reusing(data, capacity)
        .unwrap_or_else(|| Decompressor::new().decompress(data, capacity))
}

/// Decompresses with this thread's reused decompressor; `None` if this
/// thread has none to lend (being torn down, or already lending it).
pub(crate) fn decompress_reusing(data: &[u8], capacity: usize) -> Option<io::Result<Vec<u8>>> {
    thread_local! {
        static DECOMPRESSOR: std::cell::RefCell<Decompressor> =
            std::cell::RefCell::new(Decompressor::new());
    }
    DECOMPRESSOR
        .try_with(|d| d.try_borrow_mut().ok().map(|mut d| d.decompress(data, capacity)))
        .ok()
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::{compress, decompress};

    #[test]
    fn test_direct() {
        // Can we include_str!("assets/example.txt")?
        // It's excluded from the packaging step, so maybe not.
        let text = include_str!("../../assets/example.txt");
        crate::test_cycle_unwrap(
            text.as_bytes(),
            |data| compress(data, 1),
            |data| decompress(data, text.len()),
        );
    }
}
