/// What the prefix cache records for one full block: the chain hash it is filed under, the
/// entry's serial, the hash and serial of the cache entry before it, and its token ids.
///
/// A serial names one cache entry for its whole life, wherever its rows are (an arena block
/// or a swap-tier slot): serials are handed out in increasing order and never reused, and
/// an entry keeps its serial when it moves between the tiers. Once an entry leaves the cache
/// its serial is gone for good, so a child recorded against it never matches again.
///
/// The hash only finds candidates. A lookup counts as a hit only when the token ids match
/// and the recorded parent serial is exactly that of the entry matched one step earlier
/// (nil for the first block). By induction over the prompt's blocks, a hit therefore holds
/// the rows of exactly the same token prefix, however weak the hash.
struct PrefixBlockKey: Equatable {
    /// Chain hash of the block's whole prefix.
    var hash: Int
    /// This entry's serial (see above).
    var serial: UInt64
    /// Chain hash of the previous block, or `root` for the first block.
    var parentHash: Int
    /// Serial of the cache entry holding the previous block's rows; nil for the first block.
    var parent: UInt64?
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
    func matches(parent: UInt64?, tokens: ArraySlice<Int32>) -> Bool {
        self.parent == parent && self.tokens.elementsEqual(tokens)
    }
}
