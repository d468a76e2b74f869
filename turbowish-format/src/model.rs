//! What a snapshot holds, as the reader hands it out: plain rows, validated.
//!
//! Rows refer to each other by typed indices ([`BlockIndex`], [`StringIndex`],
//! [`TaskIndex`], ...: see [`index`](crate::index)), one type per table, so
//! that a block index is never read as a string index. Every index in a
//! [`Snapshot`] read from a file points inside its table (the reader checks
//! this), so analysis code may index without bounds worries.
//! Nothing here is heap *content*: only addresses, sizes, ids and symbols.
//!
//! The small tables are serialized as they are declared here, so changing a
//! field of a type deriving `Serialize` changes the file format: bump
//! [`VERSION`](crate::VERSION) with it. The golden files
//! (`tests/golden.rs`) fail until the version is bumped, and say what else
//! to do.

// The indices rows refer to each other by, with the rows.
pub use crate::index::{BlockIndex, FrameIndex, ModuleIndex, StackIndex, StringIndex, TaskIndex};
use serde::{Deserialize, Serialize};

/// One heap snapshot of one process.
///
/// String 0 is always the empty string and stack 0 the empty stack;
/// [`Snapshot::default`] starts with both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// Which process, and when.
    pub process: Process,
    /// How the capture went.
    pub capture: Capture,
    /// Interned strings: function names, file paths, module paths, labels.
    pub strings: Vec<String>,
    /// Loaded modules (the executable and shared libraries).
    pub modules: Vec<Module>,
    /// Distinct code addresses, each with its symbols.
    pub frames: Vec<Frame>,
    /// Call stacks, as lists of frame indices, innermost first. Stack 0 is
    /// the empty stack.
    pub stacks: Vec<Vec<FrameIndex>>,
    /// Live blocks, sorted by address.
    pub blocks: Vec<Block>,
    /// Pointers from one block to another, sorted by (`from`, `to`).
    pub edges: Vec<Edge>,
    /// Where the scan of the live heap starts: static data, thread stacks,
    /// thread-local storage, traced tasks and named typed roots.
    pub roots: Vec<Root>,
    /// Tasks, traced or found from their tokio task cells: live ones, and
    /// finished ones whose storage is still alive (zombie futures).
    pub tasks: Vec<Task>,
    /// Length and capacity of containers found by typed walks, sorted by
    /// block, each block once.
    pub containers: Vec<Container>,
}

impl Default for Snapshot {
    fn default() -> Self {
        Snapshot {
            process: Process::default(),
            capture: Capture::default(),
            strings: vec![String::new()],
            modules: Vec::new(),
            frames: Vec::new(),
            stacks: vec![Vec::new()],
            blocks: Vec::new(),
            edges: Vec::new(),
            roots: Vec::new(),
            tasks: Vec::new(),
            containers: Vec::new(),
        }
    }
}

impl Snapshot {
    /// String `index` of [`Snapshot::strings`], or `""` if there is none.
    pub fn string(&self, index: StringIndex) -> &str {
        self.strings.get(index.index()).map_or("", String::as_str)
    }

    /// Block `index` of [`Snapshot::blocks`].
    ///
    /// # Panics
    ///
    /// If there is no such block: a snapshot read from a file has none out
    /// of range.
    pub fn block(&self, index: BlockIndex) -> &Block {
        &self.blocks[index]
    }

    /// The frames of stack `index` of [`Snapshot::stacks`], innermost
    /// first; none if there is no such stack.
    pub fn stack(&self, index: StackIndex) -> &[FrameIndex] {
        self.stacks.get(index.index()).map_or(&[], Vec::as_slice)
    }

    /// Task `index` of [`Snapshot::tasks`].
    ///
    /// # Panics
    ///
    /// If there is no such task: a snapshot read from a file has none out
    /// of range.
    pub fn task(&self, index: TaskIndex) -> &Task {
        &self.tasks[index]
    }

    /// The index of each block, in order.
    pub fn block_indices(&self) -> impl ExactSizeIterator<Item = BlockIndex> + use<> {
        (0..self.blocks.len() as u32).map(BlockIndex::new)
    }

    /// The index of each task, in order.
    pub fn task_indices(&self) -> impl ExactSizeIterator<Item = TaskIndex> + use<> {
        (0..self.tasks.len() as u32).map(TaskIndex::new)
    }
}

/// The process a snapshot was taken of.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Process {
    /// Process id.
    pub pid: u32,
    /// Path of the executable (index into [`Snapshot::strings`]).
    pub exe: StringIndex,
    /// Build id of the executable (GNU build-id note), if it has one.
    pub build_id: Vec<u8>,
    /// Identifies one run of the process: two snapshots with the same pid but
    /// different boot tokens come from different processes.
    pub start_token: u64,
    /// Number of this snapshot within the process, from 1.
    pub sequence: u32,
    /// Birth epoch given to blocks allocated after this snapshot.
    pub epoch: u32,
    /// Wall-clock time of the capture, nanoseconds since the Unix epoch.
    pub time_ns: u64,
}

/// Figures about the capture itself.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capture {
    /// How long the process was stopped (locks held, `fork` running), in ns.
    pub pause_ns: u64,
    /// Time spent scanning memory for pointers, in ns.
    pub scan_ns: u64,
    /// Time spent symbolizing, in ns.
    pub symbolize_ns: u64,
    /// Bytes of memory scanned (blocks and roots).
    pub scanned_bytes: u64,
    /// Live bytes and blocks as the allocator's own counters gave them.
    pub live_bytes: u64,
    /// See `live_bytes`.
    pub live_blocks: u64,
    /// Blocks the allocator could not track, and frees it could not match.
    pub untracked_blocks: u64,
    /// See `untracked_blocks`.
    pub unknown_frees: u64,
    /// Time spent in typed walks, in ns.
    pub typed_ns: u64,
    /// Pointers reported by `Trace` impls that did not name a live block,
    /// and were not followed.
    pub typed_rejected: u64,
    /// Locks found held during typed walks (their contents were scanned
    /// conservatively instead).
    pub typed_locked: u64,
    /// Blocks typed walks reached but did not walk, being deeper than the
    /// walk's depth limit (they keep their conservative edges).
    pub typed_truncated: u64,
    /// Panics caught in `Trace` impls, with their messages.
    pub typed_panics: Vec<String>,
    /// Tasks and roots not registered because the task registry was full.
    pub tasks_dropped: u64,
    /// tokio task cells found and read (their tasks are rows of
    /// [`Snapshot::tasks`]). Since format version 4.
    pub cells_found: u64,
    /// Blocks allocated by tokio's task constructor whose layout did not
    /// verify (another tokio version or configuration): left as plain
    /// blocks. Since format version 4.
    pub cells_not_understood: u64,
    /// Time spent finding and reading task cells, in ns. Since format
    /// version 4.
    pub cells_ns: u64,
    /// 0 when every block allocated with stacks on has its stack; else the
    /// mean of the Poisson sample by bytes that chose which blocks got one
    /// (`TURBOWISH_STACK=sampled`): a block of `size` bytes has its stack
    /// with probability `1 - exp(-size / stack_sample_bytes)`
    /// ([`rules::sampling`](crate::rules::sampling)), and a block without
    /// one was not sampled. Figures by allocation site are then estimates.
    /// Since format version 6; older files read as 0.
    pub stack_sample_bytes: u64,
    /// The process's resident set size (RSS) just before the fork, in
    /// bytes: `Rss` of `/proc/self/smaps_rollup`, or the resident pages of
    /// `/proc/self/statm` where that file is missing. 0 when neither could
    /// be read (unknown: a running process is never 0). The other memory
    /// figures below are read with it, in the same order, within
    /// milliseconds of it. Since format version 8; older files read as 0,
    /// and then every figure below reads as unknown too.
    pub resident_bytes: u64,
    /// Of `resident_bytes`, the anonymous memory (heap, stacks, anonymous
    /// mappings), in bytes: `Anonymous` of `smaps_rollup`, or the resident
    /// pages less the shared (file-backed) ones of `statm`. The rest of
    /// `resident_bytes` is file-backed (code, mapped files) or shared
    /// memory. 0 when unknown. Since format version 8.
    pub resident_anon_bytes: u64,
    /// What the program's allocator said about its own memory, read just
    /// before the fork (`mallinfo2` for glibc's `malloc`, or the figures a
    /// hook gave for another allocator). `None` when unknown: an allocator
    /// without figures, or a file older than format version 8.
    pub allocator: Option<AllocatorFigures>,
    /// TurboWish's own tables (side table, watch list, per-thread counters,
    /// interned stacks), in bytes mapped from the kernel outside the
    /// allocator, read just before the fork. Since format version 8; 0 in
    /// older files (where `resident_bytes` is 0 too).
    pub own_table_bytes: u64,
    /// TurboWish's 16-byte block headers, in bytes: 16 per live tracked
    /// block under 4 KiB, read just before the fork. The allocator counts
    /// them in use, but they are not live heap bytes. Since format
    /// version 8; 0 in older files.
    pub own_header_bytes: u64,
}

/// An allocator's figures about its own memory, as it gave them (glibc's
/// `mallinfo2`, or a hook's). All in bytes. Since format version 8.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllocatorFigures {
    /// Which allocator: `glibc`, `jemalloc`, ... (as the runtime named it).
    pub name: String,
    /// Memory the allocator holds from the kernel: for glibc, its arenas'
    /// memory (`arena`) plus its `mmap`ed chunks (`hblkhd`).
    pub held_bytes: u64,
    /// Of `held_bytes`, the blocks handed out, with the allocator's
    /// per-block overhead and TurboWish's headers: for glibc, `uordblks`
    /// plus `hblkhd`.
    pub in_use_bytes: u64,
    /// Of `held_bytes`, free memory the allocator keeps in its pools rather
    /// than returning it to the kernel: for glibc, `fordblks`.
    pub free_bytes: u64,
}

/// A loaded module, for re-symbolizing raw addresses later.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Module {
    /// Path (index into [`Snapshot::strings`]).
    pub path: StringIndex,
    /// GNU build id, if any.
    pub build_id: Vec<u8>,
    /// Load bias: runtime address minus link-time address.
    pub bias: u64,
    /// Runtime address range of its executable segments, `[start, end)`.
    pub start: u64,
    /// See `start`.
    pub end: u64,
}

/// One code address and what it resolved to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Frame {
    /// Runtime address.
    pub addr: u64,
    /// Module containing it, if known (index into [`Snapshot::modules`]).
    pub module: Option<ModuleIndex>,
    /// Functions at this address, innermost (inlined) first. Empty when it
    /// could not be symbolized.
    pub symbols: Vec<Symbol>,
}

/// A function at a code address, possibly inlined into the next one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Symbol {
    /// Demangled function name (index into [`Snapshot::strings`]).
    pub function: StringIndex,
    /// Source file (index into [`Snapshot::strings`]), if known.
    pub file: Option<StringIndex>,
    /// Line number, 0 if unknown.
    pub line: u32,
}

/// A live heap block.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Block {
    /// Start address.
    pub addr: u64,
    /// Requested size in bytes.
    pub size: u64,
    /// Owning task tag: 0 outside tasks.
    pub task: u64,
    /// Allocation stack (index into [`Snapshot::stacks`]).
    pub stack: StackIndex,
    /// Birth epoch: with `addr`, the block's identity across snapshots.
    pub epoch: u32,
    /// What the block holds, as a typed walk named it (index into
    /// [`Snapshot::strings`]; 0 when unknown).
    pub type_name: StringIndex,
    /// In a snapshot whose stacks were sampled: the block has its stack
    /// whatever the sample (sampling rule 4), so it stands for itself
    /// alone. Since version 7; false in older files and when stacks were
    /// not sampled.
    pub stack_certain: bool,
}

/// A pointer found in block `from` to (somewhere inside) block `to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Edge {
    /// Index of the block holding the pointer.
    pub from: BlockIndex,
    /// Index of the block pointed into.
    pub to: BlockIndex,
    /// How the edge was found.
    pub kind: EdgeKind,
    /// The field path in `from` that holds the pointer, from a typed walk
    /// (index into [`Snapshot::strings`]; 0 when unknown).
    pub label: StringIndex,
}

impl Edge {
    /// A conservative edge without a label.
    pub fn new(from: BlockIndex, to: BlockIndex) -> Edge {
        Edge {
            from,
            to,
            kind: EdgeKind::Conservative,
            label: StringIndex::EMPTY,
        }
    }
}

/// How an [`Edge`] or root target was found.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub enum EdgeKind {
    /// A word that looks like a pointer into the target.
    #[default]
    Conservative,
    /// Reported by a `Trace` impl and checked against the live blocks: the
    /// holder owns the target alone (a `Box`, a `Vec`'s buffer, a map's
    /// table).
    Typed,
    /// Reported by a `Trace` impl as one of several owners of the target
    /// (an `Arc`, an `Rc`, a `Bytes`). Since format version 3.
    Shared,
    /// A stored `Waker` for the task whose storage is the target: a word
    /// pointing into a task's storage block (for tokio, at its cell's first
    /// byte) followed by a word pointing at a `RawWakerVTable` (four
    /// functions). Whoever holds it can wake the task. Since format
    /// version 5.
    Waker,
    /// A bare pointer at a tokio task cell's first byte, other than the
    /// runtime's own lists and queues: a `JoinHandle`, an `AbortHandle`, a
    /// `JoinSet`'s entry. Whoever holds it can abort the task, and a
    /// `JoinHandle` learns when it finishes. Since format version 5.
    JoinHandle,
    /// A pointer into the future held by a task's storage (past a tokio
    /// cell's header, into its stage, or into a future the spawn boxed):
    /// an intrusive waiter list's link (tokio's `Mutex`, semaphore,
    /// `Notify`, `broadcast`, timers keep the waiter, with its `Waker`,
    /// inside the waiting future). Since format version 5.
    Waiter,
}

impl EdgeKind {
    /// Whether a `Trace` impl reported the edge ([`Typed`](Self::Typed) or
    /// [`Shared`](Self::Shared)): it has a field label and is exact.
    pub fn is_typed(self) -> bool {
        matches!(self, EdgeKind::Typed | EdgeKind::Shared)
    }

    /// Whether the pointer is a way to wake (or abort) the task whose
    /// storage it points into: [`Waker`](Self::Waker),
    /// [`JoinHandle`](Self::JoinHandle) or [`Waiter`](Self::Waiter).
    pub fn is_wake(self) -> bool {
        matches!(
            self,
            EdgeKind::Waker | EdgeKind::JoinHandle | EdgeKind::Waiter
        )
    }

    /// The kind in lowercase, as reports print it: `conservative`,
    /// `typed`, `shared`, `waker`, `join-handle` or `waiter`.
    pub fn name(self) -> &'static str {
        match self {
            EdgeKind::Conservative => "conservative",
            EdgeKind::Typed => "typed",
            EdgeKind::Shared => "shared",
            EdgeKind::Waker => "waker",
            EdgeKind::JoinHandle => "join-handle",
            EdgeKind::Waiter => "waiter",
        }
    }
}

/// A region the scan starts from, and the blocks it points to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Root {
    /// What the region is.
    pub kind: RootKind,
    /// A name: module path, thread name, symbol (index into
    /// [`Snapshot::strings`]).
    pub label: StringIndex,
    /// Start address of the region.
    pub start: u64,
    /// Length of the region in bytes.
    pub len: u64,
    /// Blocks pointed to from the region, sorted, each once.
    pub targets: Vec<BlockIndex>,
    /// For each target, a label (index into [`Snapshot::strings`]; 0 for
    /// none): for task and named roots, the field path that reaches it from
    /// the typed value; for static data, the symbol of the static holding
    /// the first word that points at it. Empty, or as long as `targets`.
    pub labels: Vec<StringIndex>,
    /// For each target, how the region points at it: a
    /// [`Waker`](EdgeKind::Waker), [`JoinHandle`](EdgeKind::JoinHandle)
    /// or [`Waiter`](EdgeKind::Waiter) when some word in the region is
    /// one (the first of those, in that order), else
    /// [`Conservative`](EdgeKind::Conservative). Empty (all conservative),
    /// or as long as `targets`. Since format version 5.
    pub kinds: Vec<EdgeKind>,
    /// The task, for [`RootKind::Task`] (index into [`Snapshot::tasks`]).
    pub task: Option<TaskIndex>,
}

impl Root {
    /// This root's label for its target block `b` (the empty string when
    /// it has none, or `b` is not a target).
    pub fn label_of(&self, b: BlockIndex) -> StringIndex {
        match self.targets.binary_search(&b) {
            Ok(i) => self.labels.get(i).copied().unwrap_or_default(),
            Err(_) => StringIndex::EMPTY,
        }
    }

    /// How this root points at its target block `b`
    /// ([`Conservative`](EdgeKind::Conservative) when it has no kinds, or
    /// `b` is not a target).
    pub fn kind_of(&self, b: BlockIndex) -> EdgeKind {
        match self.targets.binary_search(&b) {
            Ok(i) => self.kinds.get(i).copied().unwrap_or_default(),
            Err(_) => EdgeKind::Conservative,
        }
    }
}

/// The kind of a [`Root`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum RootKind {
    /// Writable static data of a module (`.data`, `.bss`).
    #[default]
    Static,
    /// A thread's stack, from its stack pointer to its top.
    ThreadStack,
    /// A thread's thread-local storage block.
    ThreadLocal,
    /// A task: its storage block (for a tokio task, its cell) and the
    /// typed value a traced task shares.
    Task,
    /// A named typed root (`turbowish_alloc::root`).
    Named,
}

/// A task: a traced one, a tokio task found from its cell, or both (one
/// row, matched by tokio task id or storage block).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    /// Unique among the process's traced tasks and roots, from 1; 0 for a
    /// task found only from its tokio cell.
    pub serial: u64,
    /// The task's id (a tokio task id under tokio); 0 if it was never
    /// polled. Its blocks' [`Block::task`] is [`tag`](crate::rules::tag) of
    /// it ([`rules::tags`](crate::rules::tags)).
    pub id: u64,
    /// The name given with `.named()` (index into [`Snapshot::strings`]);
    /// empty for untraced tasks, which are shown by id and spawn site.
    pub name: StringIndex,
    /// Where it was made (spawned): file (index into [`Snapshot::strings`]),
    /// line and column. For a task found from its cell, the line that
    /// called `tokio::spawn` (or `spawn_blocking`), from the cell's
    /// allocation stack, with column 0 (stacks record none).
    pub file: StringIndex,
    /// See `file`.
    pub line: u32,
    /// See `file`.
    pub column: u32,
    /// Type of the future (index into [`Snapshot::strings`]).
    pub future_type: StringIndex,
    /// `size_of` the future: its state machine.
    pub future_size: u64,
    /// Where it stands.
    pub state: TaskState,
    /// Times polled (0 for untraced tasks: not counted).
    pub polls: u64,
    /// Wall-clock times (ns since the Unix epoch; 0 for never): made, last
    /// polled, finished. Taken from a coarse clock (about 4 ms).
    pub spawned_ns: u64,
    /// See `spawned_ns`.
    pub last_poll_ns: u64,
    /// See `spawned_ns`.
    pub finished_ns: u64,
    /// The live block holding the future (the task's storage), if known.
    pub storage: Option<BlockIndex>,
    /// Type of the typed value the task shares (index into
    /// [`Snapshot::strings`]; 0 for none).
    pub value_type: StringIndex,
    /// How the task was made. Since format version 4 (older files hold
    /// traced tasks only).
    pub kind: TaskKind,
    /// The tokio task cell (index into [`Snapshot::blocks`]), when one was
    /// found for the task: for untraced tasks it is also the `storage`.
    /// Since format version 4.
    pub cell: Option<BlockIndex>,
    /// A future the spawn moved into its own box (tokio boxes futures over
    /// 16 KiB in release builds, 2 KiB in debug ones): that block (index
    /// into [`Snapshot::blocks`]), held by the cell. Since format version 4.
    pub future_block: Option<BlockIndex>,
    /// The cell's reference count (JoinHandle, wakers, the runtime's lists),
    /// from its state word; 0 when no cell was read. Since format version 4.
    pub refs: u64,
    /// Whether a `JoinHandle` of the task still exists: the cell state
    /// word's `JOIN_INTEREST` bit (false when no cell was read). With it the
    /// reference count tells how many wakers exist. Since format version 5.
    pub join_handle: bool,
}

/// How a [`Task`] was made. Since format version 4.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub enum TaskKind {
    /// Spawned through TurboWish (`turbowish::spawn`, `.traced()`): it has a
    /// name, a typed value, poll counts and times.
    #[default]
    Traced,
    /// A plain `tokio::spawn` (or `spawn_local`, `JoinSet::spawn`...), found
    /// from its task cell.
    Tokio,
    /// A `tokio::task::spawn_blocking` task, found from its task cell.
    Blocking,
}

impl TaskKind {
    /// The kind in lowercase: `traced`, `tokio` or `blocking`.
    pub fn name(self) -> &'static str {
        match self {
            TaskKind::Traced => "traced",
            TaskKind::Tokio => "tokio",
            TaskKind::Blocking => "blocking",
        }
    }
}

/// The state of a [`Task`].
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub enum TaskState {
    /// Waiting to be polled (made, or returned `Pending`).
    #[default]
    Pending,
    /// Being polled at the instant of the snapshot.
    Running,
    /// Returned `Ready`. Still in a snapshot only while its storage lives:
    /// a zombie future.
    Completed,
    /// Dropped before completing, storage still alive.
    Cancelled,
    /// Woken and waiting in a run queue for its next poll (known for tasks
    /// read from their tokio cell). Since format version 4.
    Notified,
}

impl TaskState {
    /// The state in lowercase, as reports print it: `pending`, `running`,
    /// `completed`, `cancelled` or `notified`.
    pub fn name(self) -> &'static str {
        match self {
            TaskState::Pending => "pending",
            TaskState::Running => "running",
            TaskState::Completed => "completed",
            TaskState::Cancelled => "cancelled",
            TaskState::Notified => "notified",
        }
    }

    /// Whether the future is finished (completed or cancelled): a task
    /// still in a snapshot in such a state is a zombie future.
    pub fn is_finished(self) -> bool {
        matches!(self, TaskState::Completed | TaskState::Cancelled)
    }
}

/// Length and capacity of a container, from a typed walk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Container {
    /// The container's storage block (index into [`Snapshot::blocks`]).
    pub block: BlockIndex,
    /// Elements held.
    pub len: u64,
    /// Elements it has room for.
    pub capacity: u64,
}
