//! Hostile snapshot files, crafted byte by byte: decompression bombs that
//! announce gigabytes of tables in kilobytes of file.
//!
//! Shared by the format's tests and the CLI's (`turbowish-snap/tests/
//! hostile_files.rs`, through `#[path]`): one recipe for both.

use turbowish_format::{MAGIC, Snapshot, VERSION, write};

/// A zstd frame (RFC 8878) whose content is `prefix`, then `fill` repeated up
/// to `total` bytes: one raw block, then run-length blocks of 128 KiB, so 4
/// GiB takes 128 KiB. No content checksum.
pub fn rle_frame(prefix: &[u8], fill: u8, total: u64) -> Vec<u8> {
    const BLOCK: u64 = 128 << 10;
    let mut f = vec![0x28, 0xb5, 0x2f, 0xfd];
    f.push(0xc0); // an 8-byte content size, a window descriptor
    f.push(10 << 3); // a 1 MiB window
    f.extend_from_slice(&total.to_le_bytes());
    let block = |f: &mut Vec<u8>, kind: u32, size: u64, last: bool| {
        let h = u32::from(last) | kind << 1 | (size as u32) << 3;
        f.extend_from_slice(&h.to_le_bytes()[..3]);
    };
    let mut left = total - prefix.len() as u64;
    block(&mut f, 0, prefix.len() as u64, left == 0);
    f.extend_from_slice(prefix);
    while left > 0 {
        let n = left.min(BLOCK);
        left -= n;
        block(&mut f, 1, n, left == 0);
        f.push(fill);
    }
    f
}

/// A snapshot file around `frame`, whose header announces `raw_len` bytes
/// of tables, with a correct checksum.
pub fn container(frame: &[u8], raw_len: u64) -> Vec<u8> {
    let mut file = MAGIC.to_vec();
    file.extend_from_slice(&VERSION.to_le_bytes());
    file.extend_from_slice(&[0, 0]);
    file.extend_from_slice(&(frame.len() as u64).to_le_bytes());
    file.extend_from_slice(&raw_len.to_le_bytes());
    file.extend_from_slice(&crc32fast::hash(frame).to_le_bytes());
    file.extend_from_slice(frame);
    file
}

/// The size of a bomb's tables: 4 GiB.
pub const BOMB: u64 = 4 << 30;

/// The decompressed tables of `s` up to its block table (its blocks,
/// edges, roots, tasks and containers left out): valid tables a bomb can
/// start with.
pub fn early_tables(s: &Snapshot) -> Vec<u8> {
    let mut s = s.clone();
    s.blocks.clear();
    s.edges.clear();
    s.roots.clear();
    s.tasks.clear();
    s.containers.clear();
    let mut file = Vec::new();
    write(&s, &mut file).unwrap();
    let raw = zstd::decode_all(&file[32..]).unwrap();
    // Seven empty block columns, four empty edge columns, three empty
    // tables.
    assert!(raw.ends_with(&[0; 14]));
    raw[..raw.len() - 14].to_vec()
}

/// Bombs of 4 GiB of tables, each with the decompressed length its header
/// announces: zeros; and `s`'s early tables, then a block table of 2^32
/// blocks, one byte (a delta of 1) each.
pub fn bombs(s: &Snapshot, raw_len: u64) -> [(&'static str, Vec<u8>); 2] {
    let mut early = early_tables(s);
    early.extend_from_slice(&[0x80, 0x80, 0x80, 0x80, 0x10]); // 2^32
    [
        ("zeros", container(&rle_frame(&[], 0, BOMB), raw_len)),
        ("early", container(&rle_frame(&early, 1, BOMB), raw_len)),
    ]
}
