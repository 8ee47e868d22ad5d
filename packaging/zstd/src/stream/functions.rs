use std::io;

use super::{Decoder, Encoder};

/// Decompress from the given source as if using a `Decoder`.
///
/// The input data must be in the zstd frame format.
pub fn decode_all<R: io::Read>(mut source: R) -> io::Result<Vec<u8>> {
    // Herald's patch (see HERALD.md beside this crate): sled reads every
    // page through this, and a new decoder per call creates a zstd
    // context, whose `cpuid` traps to the hypervisor in a VM (opening a
    // directory of 1,000,000 pending deliveries took 38 s instead of 3).
    // One whole frame whose header gives its size (how sled writes its
    // pages) is decompressed at once with this thread's reused context;
    // anything else goes the streaming way, as upstream.
    let mut input = Vec::new();
    source.read_to_end(&mut input)?;
    let size = zstd_safe::get_frame_content_size(&input);
    let whole = zstd_safe::find_frame_compressed_size(&input).ok() == Some(input.len());
    if whole && size <= MAX_AT_ONCE {
        if let Some(out) = crate::block::decompress_reusing(&input, size as usize) {
            return out;
        }
    }
    let mut result = Vec::new();
    copy_decode(&input[..], &mut result)?;
    Ok(result)
}

/// The largest frame content decompressed at once (a larger, or unknown,
/// size streams); also bounds what a damaged header can make it allocate.
const MAX_AT_ONCE: u64 = 64 << 20;

/// Decompress from the given source as if using a `Decoder`.
///
/// Decompressed data will be appended to `destination`.
pub fn copy_decode<R, W>(source: R, mut destination: W) -> io::Result<()>
where
    R: io::Read,
    W: io::Write,
{
    let mut decoder = Decoder::new(source)?;
    io::copy(&mut decoder, &mut destination)?;
    Ok(())
}

/// Compress all data from the given source as if using an `Encoder`.
///
/// Result will be in the zstd frame format.
///
/// A level of `0` uses zstd's default (currently `3`).
pub fn encode_all<R: io::Read>(source: R, level: i32) -> io::Result<Vec<u8>> {
    let mut result = Vec::<u8>::new();
    copy_encode(source, &mut result, level)?;
    Ok(result)
}

/// Compress all data from the given source as if using an `Encoder`.
///
/// Compressed data will be appended to `destination`.
///
/// A level of `0` uses zstd's default (currently `3`).
pub fn copy_encode<R, W>(
    mut source: R,
    destination: W,
    level: i32,
) -> io::Result<()>
where
    R: io::Read,
    W: io::Write,
{
    let mut encoder = Encoder::new(destination, level)?;
    io::copy(&mut source, &mut encoder)?;
    encoder.finish()?;
    Ok(())
}

#[cfg(tests)]
mod tests {}
