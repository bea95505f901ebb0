import CanopyKernels
import CanopyModel
import CanopyTestFixtures
import Foundation

/// The mixture-of-experts fixtures: llama.cpp's Mixtral-style `moe-tiny` and the generated
/// `qwen2moe-tiny` (see each directory's README).
enum MoEModels {
    static let moeTinyPath = FixturePaths.url("moe-tiny/moe-tiny.gguf").path
    static let qwenTinyPath = FixturePaths.url("qwen2moe-tiny/qwen2moe-tiny.gguf").path
    private static let moeTiny = Result { () throws(ModelLoadError) in
        try LoadedModel(path: moeTinyPath, precision: .quantizedActivations)
    }

    /// `moe-tiny` with llama.cpp's activation quantization (the fast path).
    static func moeTinyModel() throws -> LoadedModel { try moeTiny.get() }

    /// A fresh `qwen2moe-tiny` (fresh so its expert counters start at zero).
    static func qwenTinyModel(_ precision: MatMulPrecision = .float32) throws -> LoadedModel {
        try LoadedModel(path: qwenTinyPath, precision: precision)
    }
}

/// One KV arena shared by several sequences, each owning a disjoint run of blocks: what a
/// batched forward pass needs when no block manager is involved.
final class SharedArena {
    let cache: SingleSequenceCache
    let blockSize: Int
    private let firstBlock: [Int]
    private let blockCounts: [Int]

    init(config: ModelConfig, capacities: [Int], precision: KVPrecision = .f16, blockSize: Int = 16) {
        self.blockSize = blockSize
        blockCounts = capacities.map { ($0 + blockSize - 1) / blockSize }
        var starts: [Int] = []
        var next = 0
        for count in blockCounts {
            starts.append(next)
            next += count
        }
        firstBlock = starts
        cache = SingleSequenceCache(config: config, capacity: next * blockSize, blockSize: blockSize, precision: precision)
    }

    var storage: KVStorage { cache.storage }

    /// Appends `tokens` of `sequence` at positions `firstPosition...` to `batch`.
    func append(_ tokens: [Int32], sequence: Int, at firstPosition: Int, to batch: inout ForwardBatch, wantsLogits: Bool) {
        let end = firstPosition + tokens.count
        precondition(end <= blockCounts[sequence] * blockSize, "sequence \(sequence) outgrew its blocks")
        let base = firstBlock[sequence]
        let table = (0..<((end + blockSize - 1) / blockSize)).map { Int32(base + $0) }
        batch.append(tokens: tokens, firstPosition: firstPosition, blockTable: table,
                     blockSize: blockSize, wantsLogits: wantsLogits)
    }
}

/// Greedy decoding of several prompts together: one batch prefills all of them, then every
/// step decodes one token for each sequence still running, all in one batch.
func batchedGreedyDecode(
    _ loaded: LoadedModel, prompts: [[Int32]], steps: Int, stopAt endTokens: Set<Int32>
) throws -> (tokens: [[Int32]], firstLogits: [[Float]]) {
    let vocabulary = loaded.config.vocabularySize
    let arena = SharedArena(config: loaded.config, capacities: prompts.map { $0.count + steps })
    var batch = ForwardBatch()
    for (i, prompt) in prompts.enumerated() {
        arena.append(prompt, sequence: i, at: 0, to: &batch, wantsLogits: true)
    }
    var logits = try loaded.model.forward(batch, kv: arena.storage)
    let first = prompts.indices.map { Array(logits[($0 * vocabulary)..<(($0 + 1) * vocabulary)]) }
    var tokens = [[Int32]](repeating: [], count: prompts.count)
    var running = Array(prompts.indices)
    while !running.isEmpty {
        var next = ForwardBatch()
        var stillRunning: [Int] = []
        for (row, i) in running.enumerated() {
            let token = argmax(Array(logits[(row * vocabulary)..<((row + 1) * vocabulary)]), count: vocabulary)
            tokens[i].append(token)
            if endTokens.contains(token) || tokens[i].count == steps { continue }
            arena.append([token], sequence: i, at: prompts[i].count + tokens[i].count - 1, to: &next, wantsLogits: true)
            stillRunning.append(i)
        }
        running = stillRunning
        if !running.isEmpty { logits = try loaded.model.forward(next, kv: arena.storage) }
    }
    return (tokens, first)
}

extension GreedyRecord {
    /// Steps before llama.cpp's first near tie (top-2 margin under `margin`): the steps where
    /// an engine must choose exactly as llama.cpp does.
    func decisiveSteps(margin: Double = 0.25) -> Int {
        top5_per_step.firstIndex { $0[0][1] - $0[1][1] < margin } ?? top5_per_step.count
    }
}

/// Largest absolute difference.
func maxAbsoluteDifference(_ a: ArraySlice<Float>, _ b: ArraySlice<Float>) -> Float {
    precondition(a.count == b.count)
    return zip(a, b).map { abs($0 - $1) }.max() ?? 0
}
