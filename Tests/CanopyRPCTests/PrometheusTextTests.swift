import Testing
@testable import CanopyRPC
@testable import CanopyWire

/// The exposition format's rules (text format 0.0.4): every sample is preceded by its
/// family's HELP and TYPE lines, names match `[a-zA-Z_:][a-zA-Z0-9_:]*`, counters end in
/// `_total`, values are Go-style floats.
@Suite struct PrometheusTextTests {
    @Test func everySampleHasHelpAndTypeAndAValidValue() throws {
        var stats = CanopyV1.StatsResponse()
        stats.generatedTokens = 1234
        stats.kv.usedBlocks = 7
        stats.kv.totalBlocks = 100
        stats.meanEndToEndSeconds = 0.25
        stats.requestsFailed = 3
        stats.aparForks = 5
        let lines = PrometheusText.render(stats).split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.last == "")  // ends with a newline
        let body = lines.dropLast()
        #expect(body.count % 3 == 0)
        var samples: [String: Double] = [:]
        for index in stride(from: body.startIndex, to: body.endIndex, by: 3) {
            let help = body[index].split(separator: " ", maxSplits: 3)
            let type = body[index + 1].split(separator: " ")
            let sample = body[index + 2].split(separator: " ")
            #expect(help.count == 4 && help[0] == "#" && help[1] == "HELP")
            #expect(type.count == 4 && type[0] == "#" && type[1] == "TYPE" && type[2] == help[2])
            #expect(["counter", "gauge"].contains(type[3]))
            #expect(sample.count == 2 && sample[0] == help[2])
            let name = String(sample[0])
            #expect(name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") } && name.hasPrefix("canopy_"))
            #expect((type[3] == "counter") == name.hasSuffix("_total"))
            #expect(samples[name] == nil, "duplicate family \(name)")
            samples[name] = Double(sample[1])
        }
        #expect(samples["canopy_generated_tokens_total"] == 1234)
        #expect(samples["canopy_kv_blocks_used"] == 7)
        #expect(samples["canopy_kv_blocks_capacity"] == 100)
        #expect(samples["canopy_mean_end_to_end_seconds"] == 0.25)
        #expect(samples["canopy_requests_failed_total"] == 3)
        #expect(samples["canopy_apar_forks_total"] == 5)
        #expect(samples.count == 33)
        #expect(samples.values.allSatisfy { $0 >= 0 })
    }

    @Test func specialValuesUsePrometheusSpelling() {
        #expect(PrometheusText.number(.nan) == "NaN")
        #expect(PrometheusText.number(.infinity) == "+Inf")
        #expect(PrometheusText.number(-.infinity) == "-Inf")
        #expect(Double(PrometheusText.number(1e-7)) == 1e-7)
    }

    /// Weight streaming adds its family only when layers are streamed.
    @Test func weightStreamingMetricsAppearWhenStreaming() {
        var stats = CanopyV1.StatsResponse()
        #expect(!PrometheusText.render(stats).contains("canopy_weight_"))
        var streaming = CanopyV1.WeightStreamingStats()
        streaming.budgetBytes = 1 << 30
        streaming.bytesRead = 123_456
        streaming.stallSeconds = 1.5
        streaming.streamedLayers = 17
        stats.weightStreaming = streaming
        let text = PrometheusText.render(stats)
        #expect(text.contains("\ncanopy_weight_read_bytes_total 123456\n"))
        #expect(text.contains("\ncanopy_weight_stall_seconds_total 1.5\n"))
        #expect(text.contains("\ncanopy_weight_streamed_layers 17\n"))
        #expect(text.contains("\ncanopy_weight_memory_budget_bytes 1073741824\n"))
    }

    /// The KV swap family appears only with a swap tier; the preemption split always.
    @Test func kvSwapMetricsAppearWithATier() {
        var stats = CanopyV1.StatsResponse()
        (stats.preemptions, stats.preemptionsSwapped, stats.preemptionsRecomputed) = (5, 3, 2)
        var text = PrometheusText.render(stats)
        #expect(!text.contains("canopy_kv_swap_"))
        #expect(text.contains("\ncanopy_preemptions_swapped_total 3\n"))
        #expect(text.contains("\ncanopy_preemptions_recomputed_total 2\n"))
        var swap = CanopyV1.KVSwapStats()
        (swap.slots, swap.swapOutBytes, swap.prefixSwapHits, swap.failures) = (711, 368_640, 4, 1)
        stats.kvSwap = swap
        text = PrometheusText.render(stats)
        #expect(text.contains("\ncanopy_kv_swap_slots 711\n"))
        #expect(text.contains("\ncanopy_kv_swap_out_bytes_total 368640\n"))
        #expect(text.contains("\ncanopy_kv_prefix_swap_hits_total 4\n"))
        #expect(text.contains("\ncanopy_kv_swap_failures_total 1\n"))
    }
}
