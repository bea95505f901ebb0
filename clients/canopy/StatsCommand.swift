import ArgumentParser
import CanopyWire
import Foundation

/// `canopy stats`: the engine metrics as a table, or the Prometheus exposition.
struct StatsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats", abstract: "Show engine metrics: requests, tokens, KV cache and latencies.")

    @ParentCommand var root: Canopy

    @Flag(help: "Print the Prometheus text exposition instead of the table.")
    var prometheus = false

    func run() async throws {
        try await root.client.withDaemon { client in
            let stats = try await client.stats()
            let text = prometheus ? stats.prometheusText : Self.render(stats)
            FileHandle.standardOutput.write(Data(text.utf8))
        }
    }

    /// The metrics as a two-column table grouped by topic.
    static func render(_ s: CanopyV1.StatsResponse) -> String {
        var table = TextTable(["metric", "value"])
        let kv = s.kv
        let hitRate = kv.prefixQueries == 0 ? "-" : Format.number(100 * Double(kv.prefixHits) / Double(kv.prefixQueries), digits: 1) + " %"
        let usedPercent = kv.totalBlocks == 0 ? "-" : Format.number(100 * Double(kv.usedBlocks) / Double(kv.totalBlocks), digits: 1) + " %"
        let rows: [(String, String)] = [
            ("uptime", Format.duration(s.uptimeSeconds)),
            ("requests running", "\(s.runningSequences)"),
            ("requests waiting", "\(s.waitingSequences)"),
            ("requests completed", "\(s.requestsCompleted)"),
            ("requests cancelled", "\(s.requestsCancelled)"),
            ("requests failed", "\(s.requestsFailed)"),
            ("prompt tokens", "\(s.promptTokens)"),
            ("cached prompt tokens", "\(s.cachedPromptTokens)"),
            ("generated tokens", "\(s.generatedTokens)"),
            ("engine steps", "\(s.steps)"),
            ("batched tokens", "\(s.batchedTokens)"),
            ("preemptions", "\(s.preemptions) (\(s.preemptionsSwapped) swapped, \(s.preemptionsRecomputed) recomputed)"),
            ("apar forks", "\(s.aparForks)"),
            ("speculation", speculation(s.speculation)),
            ("speculation token cost", "\(Format.number(s.speculation.verificationTokenCost, digits: 2)) of a one-token step"),
            ("kv blocks total", "\(kv.totalBlocks)"),
            ("kv blocks used", "\(kv.usedBlocks) (\(usedPercent))"),
            ("kv blocks used at peak", "\(kv.peakUsedBlocks)"),
            ("kv blocks free", "\(kv.freeBlocks)"),
            ("kv blocks cached", "\(kv.cachedBlocks)"),
            ("prefix cache hit rate", "\(hitRate) (\(kv.prefixHits)/\(kv.prefixQueries) tokens)"),
            ("kv evictions", "\(kv.evictions)"),
            ("kv copy-on-writes", "\(kv.copyOnWrites)"),
            ("mean queue time", Format.ms(s.meanQueueSeconds)),
            ("mean time to first token", Format.ms(s.meanTimeToFirstTokenSeconds)),
            ("mean inter-token latency", Format.ms(s.meanInterTokenLatencySeconds)),
            ("mean end-to-end latency", Format.ms(s.meanEndToEndSeconds)),
        ]
        for (name, value) in rows + swapRows(s) + weightRows(s) + expertRows(s) { table.add([name, value]) }
        return table.render()
    }

    /// One line for speculative decoding: proposed and accepted tokens, the acceptance rate,
    /// tokens per speculating step and the seconds spent drafting.
    static func speculation(_ spec: CanopyV1.SpeculationStats) -> String {
        guard spec.proposedTokens > 0 else { return "none proposed" }
        return "\(spec.proposedTokens) proposed, \(spec.acceptedTokens) accepted "
            + "(\(Format.number(100 * spec.acceptanceRate, digits: 1)) %), "
            + "\(Format.number(spec.tokensPerChunk, digits: 2)) tokens per step, "
            + "\(Format.number(spec.draftingSeconds, digits: 3)) s drafting"
    }

    /// KV swap tier rows (`--kv-swap-space`), when there is a tier.
    static func swapRows(_ s: CanopyV1.StatsResponse) -> [(String, String)] {
        guard let swap = s.kvSwap else { return [] }
        let held = swap.slots - swap.freeSlots - swap.cachedBlocks
        return [
            ("kv swap slots", "\(swap.slots) (\(Format.bytes(swap.slotBytes * UInt64(swap.slots)))): \(held) held by "
                + "\(swap.swappedSequences) swapped sequences, \(swap.cachedBlocks) cached prefix blocks, \(swap.freeSlots) free"),
            ("kv swapped out", "\(swap.swapOutBlocks) blocks (\(Format.bytes(swap.swapOutBytes)))"),
            ("kv swapped in", "\(swap.swapInBlocks) blocks (\(Format.bytes(swap.swapInBytes)))"),
            ("prefix cache swap hits", "\(swap.prefixSwapHits) blocks"),
            ("kv swap failures", "\(swap.failures)"),
        ]
    }

    /// Weight streaming rows (`--weight-memory`), when layers are streamed.
    static func weightRows(_ s: CanopyV1.StatsResponse) -> [(String, String)] {
        guard let w = s.weightStreaming else { return [] }
        let uses = w.prefetchHits + w.stalls + w.demandReads
        return [
            ("weight memory", "\(Format.bytes(w.residentBytes)) resident of \(Format.bytes(w.budgetBytes)); "
                + "\(w.streamedLayers) of \(w.totalLayers) layers streamed"),
            ("weights read per pass", Format.bytes(w.streamedBytesPerPass)),
            ("weight bytes read", Format.bytes(w.bytesRead)),
            // Every token of a step shares its reads: this falls as batches grow.
            ("weight bytes read per token", s.batchedTokens == 0 ? "-" : Format.bytes(w.bytesRead / s.batchedTokens)),
            ("weight layer reads", "\(w.prefetchHits)/\(uses) ready, \(w.stalls) waited (\(Format.number(w.stallSeconds, digits: 2)) s), \(w.demandReads) on demand"),
        ]
    }

    /// Mixture-of-experts rows: the expert cache, then each block's tokens per expert.
    static func expertRows(_ s: CanopyV1.StatsResponse) -> [(String, String)] {
        var rows: [(String, String)] = []
        if let cache = s.expertCache {
            let uses = cache.hits + cache.misses
            let rate = uses == 0 ? "-" : Format.number(100 * cache.hitRatio, digits: 1) + " %"
            rows.append(("expert cache slots", "\(cache.slots) of \(cache.totalExperts) experts (\(Format.bytes(cache.slotBytes * UInt64(cache.slots))))"))
            rows.append(("expert cache hit rate", "\(rate) (\(cache.hits)/\(uses) uses)"))
            rows.append(("expert cache prefetch", "\(cache.prefetchHits) hits of \(cache.prefetchLoads) loads"))
            rows.append(("expert cache evictions", "\(cache.evictions)"))
            rows.append(("expert bytes read", Format.bytes(cache.bytesRead)))
        }
        for layer in s.expertLoad where layer.tokens.contains(where: { $0 > 0 }) {
            rows.append(("expert tokens, layer \(layer.layer)", layer.tokens.map(String.init).joined(separator: " ")))
        }
        return rows
    }
}
