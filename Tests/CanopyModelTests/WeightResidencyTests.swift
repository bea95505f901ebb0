import CanopyGGUF
import CanopyKernels
import CanopyModel
import CanopyTestFixtures
import Foundation
import Testing

/// Weight streaming under a memory budget (`--weight-memory`): the plan keeps what fits and
/// a streaming window inside the budget, and streamed models compute bit-identical logits
/// and tokens to the resident model; a file that can no longer be read fails passes, never
/// the process.
@Suite("Weight residency (streaming under a budget)", .serialized)
struct WeightResidencyTests {
    static let fileSize = Result { try GGUFFile(path: FixturePaths.defaultModel).fileSize }

    @Test("the plan fits the budget, spreads resident layers, and refuses a budget below its minimum")
    func placement() throws {
        let file = try GGUFFile(path: FixturePaths.defaultModel)
        let blocks = try #require(file.int("llama.block_count"))
        #expect(try WeightPlacement.plan(file: file, blockCount: blocks, budgetBytes: file.fileSize) == nil)
        let half = try #require(try WeightPlacement.plan(file: file, blockCount: blocks, budgetBytes: file.fileSize / 2))
        #expect(half.residentBytes + half.windowBytes <= half.budgetBytes)
        #expect(half.streamed.contains(true) && half.streamed.contains(false))
        #expect(half.prefetchDepth == 2)
        // Without prefetch the window is one unit: the same budget keeps more resident.
        let unprefetched = try #require(try WeightPlacement.plan(
            file: file, blockCount: blocks, budgetBytes: file.fileSize / 2, prefetch: false))
        #expect(unprefetched.prefetchDepth == 0 && unprefetched.windowBytes == unprefetched.unitBytes.max())
        #expect(unprefetched.residentBytes > half.residentBytes)
        #expect(unprefetched.residentBytes + unprefetched.windowBytes <= unprefetched.budgetBytes)
        #expect(half.streamedBytesPerPass == zip(half.unitBytes, half.streamed).filter(\.1).map(\.0).reduce(0, +))
        // Resident layers are spread out: the streamed runs between them (passes follow each
        // other, so the last run joins the first) differ in length by at most one.
        let firstResident = try #require(half.streamed.firstIndex(of: false))
        let cyclic = Array(half.streamed[(firstResident + 1)...] + half.streamed[...firstResident])
        let runs = cyclic.split(separator: false, omittingEmptySubsequences: false).dropLast().map(\.count)
        #expect(runs.max()! - runs.min()! <= 1, "\(half.streamed)")
        // Every block's matrices, nothing else: norms stay outside the streamed ranges.
        for (index, ranges) in half.unitRanges.prefix(blocks).enumerated() {
            let norm = try #require(file.tensor(named: "blk.\(index).attn_norm.weight"))
            let start = file.dataOffset + norm.offset
            #expect(!ranges.contains { $0.contains(start) })
        }
        do {
            _ = try WeightPlacement.plan(file: file, blockCount: blocks, budgetBytes: half.fixedBytes)
            Issue.record("a budget below the resident part was accepted")
        } catch {
            guard case .budgetTooSmall(_, let minimum) = error else { throw error }
            let tightest = try #require(try WeightPlacement.plan(file: file, blockCount: blocks, budgetBytes: minimum))
            #expect(tightest.prefetchDepth == 1 && !tightest.streamed.contains(false))
            #expect(tightest.residentBytes + tightest.windowBytes <= minimum)
        }
    }

    @Test("the output projection is placed in chunks of rows and the embedding read by row once the head streams")
    func headPlacement() throws {
        let file = try GGUFFile(path: FixturePaths.defaultModel)
        let blocks = try #require(file.int("llama.block_count"))
        let vocabulary = try #require(file.tensor(named: "token_embd.weight")).dimensions[1]
        #expect(file.tensor(named: "output.weight") == nil, "the default model ties its output projection")
        let quarter = try #require(try WeightPlacement.plan(file: file, blockCount: blocks, budgetBytes: file.fileSize / 4))
        // The chunks cover every row once, in order, in whole 64-row tiles but the last.
        #expect(quarter.headRows.first?.lowerBound == 0 && quarter.headRows.last?.upperBound == vocabulary)
        #expect(zip(quarter.headRows, quarter.headRows.dropFirst()).allSatisfy { $0.upperBound == $1.lowerBound })
        #expect(quarter.headRows.dropLast().allSatisfy { $0.count % 64 == 0 })
        #expect(quarter.unitRanges.count == blocks + quarter.headRows.count)
        #expect(quarter.residentBytes + quarter.windowBytes <= quarter.budgetBytes)
        // A quarter of the file cannot hold the tied 30 MB table: its chunks stream, and the
        // lookups read rows of it.
        #expect(quarter.headStreamed)
        let rows = try #require(quarter.embeddingRows)
        #expect(!rows.separate && rows.rowBytes * vocabulary == rows.table.count)
        #expect(quarter.unreadRanges.isEmpty, "a tied table is streamed, not left unread")
        // Whatever the budget, a tied table is read by row exactly when a chunk of it streams.
        for divisor in [2, 3, 4, 6, 8] {
            let p = try #require(try WeightPlacement.plan(file: file, blockCount: blocks, budgetBytes: file.fileSize / divisor))
            #expect((p.embeddingRows != nil) == p.headStreamed, "budget 1/\(divisor)")
            #expect(p.residentBytes + p.windowBytes <= p.budgetBytes, "budget 1/\(divisor)")
        }
    }

    @Test("streamed at 50%, 25% and the minimum budget: logits and greedy tokens bit-identical", arguments: [2, 4, 0])
    func bitIdentical(budgetDivisor: Int) throws {
        let resident = try SharedModels.model(.quantizedActivations)
        let size = try Self.fileSize.get()
        let budget = budgetDivisor > 0 ? size / budgetDivisor : try minimumBudget()
        let streamed = try LoadedModel(path: FixturePaths.defaultModel, weightMemoryBytes: budget)
        let residency = try #require(streamed.weightResidency)
        let reference = try LlamaCppReference.load()
        var passes = 0
        var tokens = 0
        for index in [0, 8] {
            let record = reference[index]
            let steps = 12
            let expected = try greedyDecode(resident, prompt: record.prompt_ids, steps: steps, stopAt: [])
            let actual = try greedyDecode(streamed, prompt: record.prompt_ids, steps: steps, stopAt: [])
            #expect(actual.tokens == expected.tokens, "record \(index)")
            #expect(actual.firstLogits == expected.firstLogits, "record \(index): first-step logits differ")
            passes += steps
            tokens += record.prompt_ids.count + steps - 1
        }
        // Every pass reads each streamed unit once (give or take the read-ahead across
        // passes), and every token its embedding row when the table is read by row.
        let perPass = residency.placement.streamedBytesPerPass
        let rows = tokens * residency.placement.embeddingBytesPerToken
        let bytesRead = residency.stats().bytesRead
        #expect(bytesRead >= (passes - 1) * perPass + rows && bytesRead <= (passes + 1) * perPass + rows,
                "\(bytesRead) bytes read in \(passes) passes of \(perPass) and \(tokens) rows")
        #expect(residency.readFailure == nil)
    }

    @Test("the MoE fixture (untied output projection) streamed at 50% and its minimum budget: logits bit-identical",
          arguments: [2, 0])
    func mixtureOfExperts(budgetDivisor: Int) throws {
        let resident = try MoEModels.moeTinyModel()
        let file = try GGUFFile(path: MoEModels.moeTinyPath)
        let budget = budgetDivisor > 0 ? file.fileSize / budgetDivisor : try minimumBudget(path: MoEModels.moeTinyPath)
        let streamed = try LoadedModel(path: MoEModels.moeTinyPath, precision: .quantizedActivations, weightMemoryBytes: budget)
        let placement = try #require(streamed.weightResidency?.placement)
        #expect(budget < file.fileSize)
        // A separate embedding table is always read by row under a budget, never held.
        #expect(placement.embeddingRows?.separate == true && placement.unreadRanges.count == 1)
        let prompts: [[Int32]] = [[1, 2, 3, 4, 5], [7, 9], [11, 13, 17, 19]]
        let expected = try batchedGreedyDecode(resident, prompts: prompts, steps: 6, stopAt: [])
        let actual = try batchedGreedyDecode(streamed, prompts: prompts, steps: 6, stopAt: [])
        #expect(actual.tokens == expected.tokens)
        #expect(actual.firstLogits == expected.firstLogits)
    }

    @Test("the MoE fixture with routed experts behind an expert cache and the rest streamed: logits bit-identical")
    func expertCacheAndStreaming() throws {
        let resident = try MoEModels.moeTinyModel()
        let file = try GGUFFile(path: MoEModels.moeTinyPath)
        // One byte of expert cache: the fewest slots (the router's top-k), every routed
        // expert read on demand; the dense rest streamed at its own minimum budget.
        let cacheOnly = try #require(try LoadedModel(path: MoEModels.moeTinyPath, expertCacheBytes: 1).expertCache)
        let minimum = try minimumBudget(path: MoEModels.moeTinyPath, excluding: cacheOnly.fileRanges)
        let both = try LoadedModel(path: MoEModels.moeTinyPath, precision: .quantizedActivations, expertCacheBytes: 1,
                                   weightMemoryBytes: minimum)
        let placement = try #require(both.weightResidency?.placement)
        #expect(both.expertCache != nil)
        // No expert byte is placed: the cache owns them, outside the weight budget.
        let experts = cacheOnly.fileRanges
        #expect(!placement.unitRanges.joined().contains { range in experts.contains { $0.overlaps(range) } })
        #expect(minimum < file.fileSize - experts.reduce(0) { $0 + $1.count })
        let prompts: [[Int32]] = [[1, 2, 3, 4, 5], [7, 9], [11, 13, 17, 19]]
        let expected = try batchedGreedyDecode(resident, prompts: prompts, steps: 6, stopAt: [])
        let actual = try batchedGreedyDecode(both, prompts: prompts, steps: 6, stopAt: [])
        #expect(actual.tokens == expected.tokens)
        #expect(actual.firstLogits == expected.firstLogits)
        #expect(both.weightResidency?.readFailure == nil && both.expertCache?.readFailure == nil)
    }

    @Test("a streamed layer read from a truncated file fails the pass, not the process")
    func truncatedFile() throws {
        let copy = try ModelFileCopy(of: FixturePaths.defaultModel)
        let streamed = try LoadedModel(path: copy.path, weightMemoryBytes: try minimumBudget())
        let residency = try #require(streamed.weightResidency)
        _ = try greedyDecode(streamed, prompt: [1, 2, 3], steps: 1, stopAt: [])
        #expect(truncate(copy.path, off_t(residency.placement.fixedBytes / 2)) == 0)
        for _ in 0..<2 {
            #expect(throws: ForwardError.self) { try greedyDecode(streamed, prompt: [4, 5, 6], steps: 1, stopAt: []) }
        }
        #expect(residency.readFailure?.contains("unexpected end of file") == true, "\(residency.readFailure ?? "nil")")
    }

    /// The smallest budget the plan accepts for the model at `path`.
    private func minimumBudget(path: String = FixturePaths.defaultModel, excluding: [Range<Int>] = []) throws -> Int {
        let file = try GGUFFile(path: path)
        let blocks = try #require(file.int("\(file.string("general.architecture") ?? "llama").block_count"))
        do {
            _ = try WeightPlacement.plan(file: file, blockCount: blocks, budgetBytes: 0, excluding: excluding)
        } catch {
            if case .budgetTooSmall(_, let minimum) = error { return minimum }
            throw error
        }
        Issue.record("a zero budget was accepted")
        return 0
    }
}
