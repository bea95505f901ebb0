import CanopyKernels
import CanopyModel

/// What rank 0 tells the other ranks, one message per engine step, as `Int64` words: run a
/// forward pass over this batch (after repeating these KV block copies), set up the KV
/// arena, or stop.
///
/// Layout: `[kind, ...]`. `start`: block count, block size, precision (its index in
/// `KVPrecision.allCases`). `forward`: token count,
/// sequence count, block-table entries, copy count; then per sequence (token count, first
/// position, table entries, logit rows); then the tokens, the block tables and the copies
/// (from, to). Slots are not sent: each rank derives them from the tables, as rank 0 did.
public enum StepMessage: Equatable {
    /// The KV arena's geometry, decided on rank 0 (its block manager owns the block ids).
    case start(blocks: Int, blockSize: Int, precision: KVPrecision)
    /// One forward pass, after the block copies rank 0's manager made since the last one.
    case forward(ForwardBatch, copies: [BlockCopyLog.Copy])
    /// The daemon is stopping cleanly.
    case stop

    static let tag: Int32 = 1

    private enum Kind: Int64 { case start = 1, forward = 2, stop = 3 }

    /// The message as words.
    func encoded() -> [Int64] {
        switch self {
        case .start(let blocks, let blockSize, let precision):
            let index = KVPrecision.allCases.firstIndex(of: precision)!
            return [Kind.start.rawValue, Int64(blocks), Int64(blockSize), Int64(index)]
        case .stop:
            return [Kind.stop.rawValue]
        case .forward(let batch, let copies):
            var words: [Int64] = [
                Kind.forward.rawValue, Int64(batch.count), Int64(batch.sequences.count),
                Int64(batch.blockTables.count), Int64(copies.count),
            ]
            words.reserveCapacity(words.count + 4 * batch.sequences.count + batch.count + batch.blockTables.count + 2 * copies.count)
            for slice in batch.sequences {
                words += [Int64(slice.tokenCount), Int64(slice.firstPosition), Int64(slice.blockTableRange.count),
                          Int64(slice.logitRows)]
            }
            words += batch.tokens.lazy.map { Int64($0) }
            words += batch.blockTables.lazy.map { Int64($0) }
            for copy in copies { words += [Int64(copy.from), Int64(copy.to)] }
            return words
        }
    }

    /// Decodes `words`; `blockSize` rebuilds a batch's slots.
    static func decode(_ words: [Int64], blockSize: Int) throws(ParallelError) -> StepMessage {
        guard let first = words.first, let kind = Kind(rawValue: first) else {
            throw .malformedMessage("unknown step kind")
        }
        switch kind {
        case .stop:
            return .stop
        case .start:
            let precisions = KVPrecision.allCases
            guard words.count == 4, words[1] > 0, words[1] <= Int64(Int32.max), words[2] > 0,
                  (0..<Int64(precisions.count)).contains(words[3]) else {
                throw .malformedMessage("bad start message")
            }
            return .start(blocks: Int(words[1]), blockSize: Int(words[2]), precision: precisions[Int(words[3])])
        case .forward:
            guard words.count >= 5, blockSize > 0 else { throw .malformedMessage("short forward header") }
            let tokens = Int(words[1]), sequences = Int(words[2]), tables = Int(words[3]), copies = Int(words[4])
            guard tokens > 0, sequences > 0, tables >= 0, copies >= 0,
                  words.count == 5 + 4 * sequences + tokens + tables + 2 * copies else {
                throw .malformedMessage("forward message of \(words.count) words does not match its header")
            }
            let tokenIDs = words[(5 + 4 * sequences)...].prefix(tokens).map { Int32(truncatingIfNeeded: $0) }
            let tableIDs = words[(5 + 4 * sequences + tokens)...].prefix(tables).map { Int32(truncatingIfNeeded: $0) }
            var batch = ForwardBatch()
            var tokenStart = 0, tableStart = 0
            for s in 0..<sequences {
                let base = 5 + 4 * s
                let count = Int(words[base]), position = Int(words[base + 1])
                let entries = Int(words[base + 2]), logitRows = Int(words[base + 3])
                guard count > 0, position >= 0, entries >= 0, (0...count).contains(logitRows),
                      tokenStart + count <= tokens, tableStart + entries <= tables,
                      entries * blockSize >= position + count else {
                    throw .malformedMessage("sequence \(s) of a forward message is inconsistent")
                }
                batch.append(
                    tokens: tokenIDs[tokenStart..<(tokenStart + count)], firstPosition: position,
                    blockTable: tableIDs[tableStart..<(tableStart + entries)], blockSize: blockSize, logitRows: logitRows)
                tokenStart += count
                tableStart += entries
            }
            let copyBase = 5 + 4 * sequences + tokens + tables
            let copyList = (0..<copies).map { i in
                BlockCopyLog.Copy(from: Int32(truncatingIfNeeded: words[copyBase + 2 * i]),
                                  to: Int32(truncatingIfNeeded: words[copyBase + 2 * i + 1]))
            }
            return .forward(batch, copies: copyList)
        }
    }

    public static func == (a: StepMessage, b: StepMessage) -> Bool { a.encoded() == b.encoded() }
}
