//! Block tags: which task a block was allocated in.
//!
//! # Rules
//!
//! 1. The runtime records the owning task of every live block in
//!    [`TAG_BITS`] bits: a block's tag ([`Block::task`](crate::Block::task))
//!    is the id of the task whose poll allocated it modulo 2^[`TAG_BITS`],
//!    and 0 outside any task.
//! 2. A task's full id ([`Task::id`](crate::Task::id)) is kept in the task
//!    table; the reader finds a task's blocks by comparing [`tag`] of the id
//!    with the blocks' tags. Two tasks whose ids differ by a multiple of
//!    2^[`TAG_BITS`] share a tag: tokio hands out ids from 1 upwards, so that
//!    takes four billion tasks.

/// Bits of a task id a block's tag keeps (rule 1).
pub const TAG_BITS: u32 = 32;

/// The tag of the blocks allocated by the task with id `id` (rule 1).
pub fn tag(id: u64) -> u64 {
    id & ((1u64 << TAG_BITS) - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_keep_the_low_32_bits() {
        assert_eq!(tag(0), 0);
        assert_eq!(tag(7), 7);
        assert_eq!(tag(u64::from(u32::MAX)), u64::from(u32::MAX));
        assert_eq!(tag((1 << 32) + 5), 5);
        assert_eq!(tag(u64::MAX), u64::from(u32::MAX));
    }
}
