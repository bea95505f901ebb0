/// A cached block as seen by its child: the block id and the generation it had when the
/// child was registered. The generation changes whenever the block leaves the prefix cache,
/// so a stale reference never matches a block that was reused for other tokens.
struct CachedBlockRef: Equatable {
    var block: Int32
    var generation: UInt32
}

/// What the prefix cache records for one full block: the chain hash it is filed under, the
/// hash of and a reference to the cached block before it, and its token ids.
///
/// The hash only finds candidates. A lookup counts as a hit only when the token ids match
/// and the recorded parent is exactly the block matched one step earlier (same id and
/// generation; nil for the first block). By induction over the prompt's blocks, a hit
/// therefore holds the rows of exactly the same token prefix, however weak the hash.
struct PrefixBlockKey: Equatable {
    /// Chain hash of the block's whole prefix.
    var hash: Int
    /// Chain hash of the previous block, or `root` for the first block.
    var parentHash: Int
    /// The cached block holding the previous block's rows; nil for the first block.
    var parent: CachedBlockRef?
    /// The block's `blockSize` token ids.
    var tokens: [Int32]

    /// Parent hash used for a sequence's first block.
    static let root = 0

    /// The default chain hash of a block holding `tokens` after a prefix whose hash is
    /// `parent`. Uses the process-seeded `Hasher`, which is fine: hashes never leave the
    /// process.
    static func chain(parent: Int, tokens: ArraySlice<Int32>) -> Int {
        var hasher = Hasher()
        hasher.combine(parent)
        hasher.combine(tokens.count)
        for token in tokens { hasher.combine(token) }
        return hasher.finalize()
    }

    /// Whether this entry is the block following `parent` with exactly `tokens`.
    func matches(parent: CachedBlockRef?, tokens: ArraySlice<Int32>) -> Bool {
        self.parent == parent && self.tokens.elementsEqual(tokens)
    }
}
