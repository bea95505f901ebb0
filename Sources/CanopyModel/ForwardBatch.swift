import CanopyKernels

/// The tokens one forward pass runs, from any number of sequences at once.
///
/// Tokens are grouped per sequence: each `SequenceSlice` owns a contiguous range of
/// `tokens`, at consecutive positions starting at `firstPosition`, and a range of
/// `blockTables` listing the physical KV blocks the sequence reads. A token at position `p`
/// writes its keys and values at offset `p % blockSize` of block `table[p / blockSize]`
/// (`slots` holds that pair for every token). The model writes every token's K/V row first,
/// then attends, so a token sees the sequence's cached positions and the earlier tokens of
/// its own slice.
///
/// A batch is meant to be reused: `removeAll()` keeps its storage, so an engine that
/// rebuilds its batch every step allocates nothing once the storage has grown to size.
public struct ForwardBatch: Sendable {
    /// One sequence's share of the batch.
    public struct SequenceSlice: Sendable {
        /// Index of the slice's first token in `ForwardBatch.tokens`.
        public var tokenStart: Int
        /// Number of tokens (a prefill chunk, or 1 for a decode step).
        public var tokenCount: Int
        /// Position of the first token in its sequence.
        public var firstPosition: Int
        /// The slice's block table within `ForwardBatch.blockTables`: physical KV blocks of
        /// the sequence in logical order, covering every position up to
        /// `firstPosition + tokenCount - 1`.
        public var blockTableRange: Range<Int>
        /// How many of the slice's last tokens want the logits that follow them: 0, 1 (the
        /// next token after the slice), or more when speculative decoding verifies proposed
        /// tokens (every proposal's successor is judged). At most `tokenCount`.
        public var logitRows: Int

        /// Whether the logits after the slice's last token are wanted.
        public var wantsLogits: Bool { logitRows > 0 }

        /// Row of the slice's last token in the batch (the last row whose logits it wants).
        public var lastToken: Int { tokenStart + tokenCount - 1 }

        /// Batch rows whose logits the slice wants, in order (the slice's last `logitRows`).
        public var logitTokens: Range<Int> { (tokenStart + tokenCount - logitRows)..<(tokenStart + tokenCount) }
    }

    /// Token ids to run.
    public private(set) var tokens: [Int32] = []
    /// Where each token's K/V row is written: (physical block, position within the block).
    public private(set) var slots: [(block: Int32, offset: Int)] = []
    /// Every slice's block table, concatenated in batch order.
    public private(set) var blockTables: [Int32] = []
    /// The sequences, in batch order.
    public private(set) var sequences: [SequenceSlice] = []
    /// Number of logit rows the pass returns: the slices' `logitRows` added up.
    public private(set) var logitCount = 0

    /// Creates an empty batch.
    public init() {}

    /// Reserves storage for batches of up to `tokens` tokens from `sequences` sequences whose
    /// block tables add up to `blockTableEntries`, so that building them does not allocate.
    public mutating func reserveCapacity(tokens: Int, sequences sequenceCount: Int, blockTableEntries: Int) {
        self.tokens.reserveCapacity(tokens)
        slots.reserveCapacity(tokens)
        sequences.reserveCapacity(sequenceCount)
        blockTables.reserveCapacity(blockTableEntries)
    }

    /// Empties the batch, keeping its storage for the next one.
    public mutating func removeAll() {
        tokens.removeAll(keepingCapacity: true)
        slots.removeAll(keepingCapacity: true)
        blockTables.removeAll(keepingCapacity: true)
        sequences.removeAll(keepingCapacity: true)
        logitCount = 0
    }

    /// Appends `tokens` of one sequence at positions `firstPosition...`, whose K/V blocks
    /// (in logical order) are `blockTable`, each holding `blockSize` positions; the logits
    /// after the slice's last `logitRows` tokens are returned, in order.
    ///
    /// Allocates nothing once the batch's storage has grown to size. O(tokens + blocks).
    /// - Precondition: `tokens` is not empty, `blockTable` covers every position, and
    ///   `0 <= logitRows <= tokens.count`.
    public mutating func append(
        tokens newTokens: ArraySlice<Int32>, firstPosition: Int, blockTable: ArraySlice<Int32>,
        blockSize: Int, logitRows: Int
    ) {
        precondition(!newTokens.isEmpty, "a slice needs at least one token")
        precondition(logitRows >= 0 && logitRows <= newTokens.count, "logit rows outside the slice")
        precondition(blockSize > 0 && firstPosition >= 0, "bad block size or position")
        let tableCount = blockTable.count
        precondition(tableCount * blockSize >= firstPosition + newTokens.count, "block table too short")
        let tableStart = blockTables.count
        blockTables.append(contentsOf: blockTable)
        sequences.append(SequenceSlice(
            tokenStart: tokens.count, tokenCount: newTokens.count, firstPosition: firstPosition,
            blockTableRange: tableStart..<(tableStart + tableCount), logitRows: logitRows))
        var position = firstPosition
        for token in newTokens {
            tokens.append(token)
            slots.append((block: blockTables[tableStart + position / blockSize], offset: position % blockSize))
            position += 1
        }
        logitCount += logitRows
    }

    /// Appends a slice that wants the logits after its last token, or none.
    public mutating func append(
        tokens newTokens: ArraySlice<Int32>, firstPosition: Int, blockTable: ArraySlice<Int32>,
        blockSize: Int, wantsLogits: Bool
    ) {
        append(tokens: newTokens, firstPosition: firstPosition, blockTable: blockTable, blockSize: blockSize,
               logitRows: wantsLogits ? 1 : 0)
    }

    /// `append(tokens:firstPosition:blockTable:blockSize:wantsLogits:)` for whole arrays.
    public mutating func append(
        tokens newTokens: [Int32], firstPosition: Int, blockTable: [Int32], blockSize: Int, wantsLogits: Bool
    ) {
        append(tokens: newTokens[...], firstPosition: firstPosition, blockTable: blockTable[...],
               blockSize: blockSize, wantsLogits: wantsLogits)
    }

    /// Number of tokens in the batch.
    public var count: Int { tokens.count }
}

extension ForwardBatch {
    /// Prepares `plan` for this batch's slices and runs `body` while the plan's block-table
    /// pointers (into `blockTables`) are valid. Allocates nothing once `plan` has grown to size.
    func withAttentionPlan<R>(
        _ plan: PagedAttentionPlan, headCount: Int, layout: PagedKVLayout, _ body: () -> R
    ) -> R {
        blockTables.withUnsafeBufferPointer { tables in
            plan.prepare(sequenceCount: sequences.count, headCount: headCount, layout: layout) { i in
                let slice = sequences[i]
                return AttentionSequence(
                    queryStart: slice.tokenStart, queryCount: slice.tokenCount, firstPosition: slice.firstPosition,
                    blockTable: tables.baseAddress! + slice.blockTableRange.lowerBound)
            }
            return body()
        }
    }
}
