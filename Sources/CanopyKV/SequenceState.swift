/// The manager's record of one live sequence.
///
/// Invariants: `blocks.count == ceil(tokenCount / blockSize)`; `settled` is a multiple of
/// `blockSize`, at most `tokenCount`; `tail.count == tokenCount - settled` (the ids of the
/// tokens past the settled blocks: the partly filled last block's, and, while slots are
/// tentative, the full blocks not yet offered to the prefix cache). Only settled blocks are
/// ever cached.
/// Prefix-cache linkage (unused when prefix caching is off): `lastFullHash` is the chain
/// hash of the last full block (`PrefixBlockKey.root` when there is none); while `linked`,
/// `lastCached` is the serial of the cache entry holding the same rows as the last full
/// block (nil when there is none), which is what a newly filled block records as its parent. `linked`
/// becomes false once a block could not be matched to a cached one (a hash collision or
/// an evicted parent); later blocks of the sequence are then not cached.
struct SequenceState {
    var blocks: [Int32] = []
    var tokenCount = 0
    /// Tokens in full blocks already offered to the prefix cache (see `KVCacheManager.commit`).
    var settled = 0
    var tail: [Int32] = []
    var lastFullHash = PrefixBlockKey.root
    var lastCached: UInt64?
    var linked = true
}
