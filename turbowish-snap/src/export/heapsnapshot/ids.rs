//! Node ids (rule 4): blocks odd, hashed from their identity; synthetic
//! nodes even; the root 1.

use super::layout::{Layout, Node};
use crate::model::Snapshot;
use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};

/// The id of the root node (memlab also takes id 1 for a root).
const ROOT_ID: u32 = 1;

/// The ids of blocks, in block order.
#[derive(Debug)]
pub struct Ids {
    blocks: Vec<u32>,
}

impl Ids {
    /// The ids of `snap`'s blocks: each hashed from its address and birth
    /// epoch, the next free odd number on a collision.
    pub fn new(snap: &Snapshot) -> Ids {
        let mut taken: HashSet<u32, BuildHasherDefault<Identity>> =
            HashSet::with_capacity_and_hasher(snap.blocks.len(), Default::default());
        taken.insert(ROOT_ID);
        let blocks = (snap.blocks.iter())
            .map(|b| {
                let mut id = hash(b.addr, b.epoch);
                while !taken.insert(id) {
                    id = id.wrapping_add(2); // stays odd
                }
                id
            })
            .collect();
        Ids { blocks }
    }

    /// The id of node `n`.
    pub fn of(&self, layout: &Layout, n: u32) -> u32 {
        match layout.node(n) {
            Node::Root => ROOT_ID,
            Node::Category(c) => 2 * (1 + c.index() as u32),
            Node::SnapRoot(r) => 2 * (16 + r),
            Node::Block(b) => self.blocks[b as usize],
        }
    }
}

/// An odd 32-bit hash of a block's identity (splitmix64's finalizer).
fn hash(addr: u64, epoch: u32) -> u32 {
    let mut x = addr ^ u64::from(epoch).rotate_left(47);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^= x >> 31;
    (x as u32) | 1
}

/// A hasher for keys that are hashes already.
#[derive(Debug, Default)]
struct Identity(u64);

impl Hasher for Identity {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }

    fn write_u32(&mut self, i: u32) {
        self.0 = u64::from(i).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_odd_and_depend_on_address_and_epoch() {
        assert_eq!(hash(0x1000, 1) % 2, 1);
        assert_ne!(hash(0x1000, 1), hash(0x1000, 2));
        assert_ne!(hash(0x1000, 1), hash(0x1010, 1));
        assert_eq!(hash(0x1000, 1), hash(0x1000, 1));
    }

    #[test]
    fn colliding_ids_take_the_next_free_odd_number() {
        use crate::model::Block;
        let block = Block {
            addr: 0x1000,
            epoch: 1,
            ..Block::default()
        };
        let snap = Snapshot {
            blocks: vec![block; 3],
            ..Snapshot::default()
        };
        let h = hash(0x1000, 1);
        let want = [h, h.wrapping_add(2), h.wrapping_add(4)];
        assert_eq!(Ids::new(&snap).blocks, want);
    }
}
