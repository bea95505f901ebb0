import CanopyEngine
import CanopyKernels
import CanopyModel
import CanopyTestFixtures
import Testing

/// The serving engine on the default model, against llama.cpp's greedy reference.
@Suite("Engine on the default model", .serialized)
struct EngineReferenceTests {
    /// Greedy results must not depend on what else is in the batch: each fixture prompt run
    /// alone equals the same prompt run among 16 concurrent requests of different lengths
    /// (with a small token budget, so long prompts are chunked between other requests'
    /// decodes). The results alone must also pass the llama.cpp comparison.
    @Test func batchInvarianceAndReference() throws {
        let loaded = try EngineFixtures.model()
        let reference = try LlamaCppReference.load()
        let records = reference.machines[0].records

        var aloneConfig = EngineConfig()
        aloneConfig.maxBatchedTokens = 2048
        let alone = try Engine(loaded: loaded, config: aloneConfig)
        var aloneTokens: [[Int32]] = []
        var longMatches = 0
        for (i, record) in records.enumerated() {
            let output = try alone.run(greedyRequest("r\(i)", ids: record.prompt_ids, maxTokens: record.n_predict))
            let tokens = output.samples[0].tokenIDs
            aloneTokens.append(tokens)
            let verdict = try reference.judge(tokens, record: i).mapError { failure in
                Failure(description: "record \(i) diverged from llama.cpp away from a near tie: \(tokens): \(failure)")
            }.get()
            if verdict.identical >= 16 || verdict.identical == tokens.count { longMatches += 1 }
        }
        alone.shutdown()
        #expect(longMatches >= 6, "only \(longMatches) records kept 16 tokens identical to llama.cpp")

        // 12 records plus 4 shorter variants: 16 concurrent requests of different lengths.
        var requests = records.enumerated().map { greedyRequest("r\($0)", ids: $1.prompt_ids, maxTokens: $1.n_predict) }
        let extraLengths = [7, 11, 20, 25]
        for (j, length) in extraLengths.enumerated() {
            requests.append(greedyRequest("x\(j)", ids: records[j].prompt_ids, maxTokens: length))
        }
        var batchedConfig = EngineConfig()
        batchedConfig.maxBatchedTokens = 96
        let batched = try Engine(loaded: loaded, config: batchedConfig)
        let collectors = requests.map { _ in EventCollector() }
        for (request, collector) in zip(requests, collectors) {
            try batched.submit(request, onEvent: collector.handler)
        }
        for (i, collector) in collectors.enumerated() {
            let output = try #require(collector.wait())
            let tokens = output.samples[0].tokenIDs
            let expected = i < records.count ? aloneTokens[i] : Array(aloneTokens[i - records.count].prefix(extraLengths[i - records.count]))
            #expect(tokens == expected, "request \(i) differs when batched")
        }
        // Completion events are sent during a step; the metrics snapshot follows at its end.
        batched.waitUntilIdle()
        let metrics = batched.metrics()
        #expect(metrics.kv.usedBlocks == 0)
        #expect(batched.kvInvariantViolations().isEmpty)
        batched.shutdown()
    }

    /// A second identical prompt reuses the first one's full blocks and gives the same tokens.
    @Test func prefixCacheHit() throws {
        let loaded = try EngineFixtures.model()
        let record = try EngineFixtures.records()[10]  // 562 prompt tokens
        let engine = try Engine(loaded: loaded)
        let cold = try engine.run(greedyRequest("cold", ids: record.prompt_ids, maxTokens: 8))
        engine.waitUntilIdle()
        let before = engine.metrics()
        let warm = try engine.run(greedyRequest("warm", ids: record.prompt_ids, maxTokens: 8))
        engine.waitUntilIdle()
        let after = engine.metrics()
        #expect(warm.samples[0].tokenIDs == cold.samples[0].tokenIDs)
        #expect(cold.metrics.cachedPromptTokens == 0)
        // Every full block but the one holding the last prompt token is reused.
        let expectedHit = (record.prompt_ids.count - 1) / 16 * 16
        #expect(warm.metrics.cachedPromptTokens == expectedHit)
        #expect(after.kv.prefixHits - before.kv.prefixHits == expectedHit)
        #expect(after.batchedTokens - before.batchedTokens < record.prompt_ids.count - expectedHit + 8)
        engine.shutdown()
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// The q8 KV cache keeps first-step logits within cosine 0.999 of an f32 cache.
    @Test(arguments: [0, 8])
    func q8CacheMatchesF32(record index: Int) throws {
        let loaded = try EngineFixtures.model()
        let record = try EngineFixtures.records()[index]
        func firstLogits(_ precision: KVPrecision) throws -> [Float] {
            let cache = SingleSequenceCache(config: loaded.config, capacity: record.prompt_ids.count, precision: precision)
            var batch = ForwardBatch()
            cache.append(record.prompt_ids, at: 0, to: &batch, wantsLogits: true)
            return try loaded.model.forward(batch, kv: cache.storage)
        }
        let exact = try firstLogits(.f32)
        let quantized = try firstLogits(.q8)
        var dot = 0.0, a = 0.0, b = 0.0
        for i in exact.indices {
            dot += Double(exact[i]) * Double(quantized[i])
            a += Double(exact[i]) * Double(exact[i])
            b += Double(quantized[i]) * Double(quantized[i])
        }
        let cosine = dot / (a.squareRoot() * b.squareRoot())
        #expect(cosine >= 0.999, "cosine \(cosine)")
        #expect(exact != quantized, "q8 cache should not be bit-identical to f32")
    }
}
