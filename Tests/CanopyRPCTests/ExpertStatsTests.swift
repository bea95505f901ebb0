import CanopyEngine
import CanopyModel
import CanopyWire
import CanopyWireMapping
import Testing
@testable import CanopyRPC

/// Expert metrics on the wire: Stats carries per-block expert load and the expert cache
/// counters, and the Prometheus text has a line per (layer, expert) and the cache counters.
@Suite("Expert metrics in Stats")
struct ExpertStatsTests {
    static func metrics(cache: Bool) -> EngineMetrics {
        var m = EngineMetrics()
        m.expertLoad = [[5, 0, 3, 2], [1, 1, 4, 4]]
        if cache {
            var c = CanopyModel.ExpertCacheStats()
            c.slots = 3
            c.totalExperts = 12
            c.slotBytes = 104_448
            c.hits = 30
            c.misses = 10
            c.prefetchHits = 4
            c.prefetchLoads = 6
            c.evictions = 13
            c.bytesRead = 16 * 104_448
            m.expertCache = c
        }
        return m
    }

    @Test func mappingAndRoundTrip() throws {
        let stats = EngineMapping.stats(Self.metrics(cache: true))
        #expect(stats.expertLoad == [
            CanopyV1.ExpertLayerLoad(layer: 0, tokens: [5, 0, 3, 2]), CanopyV1.ExpertLayerLoad(layer: 1, tokens: [1, 1, 4, 4]),
        ])
        let cache = try #require(stats.expertCache)
        #expect(cache.slots == 3 && cache.totalExperts == 12 && cache.slotBytes == 104_448)
        #expect(cache.hits == 30 && cache.misses == 10 && cache.prefetchHits == 4 && cache.prefetchLoads == 6)
        #expect(cache.evictions == 13 && cache.bytesRead == 16 * 104_448)
        #expect(cache.hitRatio == 0.75)

        let decoded = try ProtobufCCodec.decode(CanopyV1.StatsResponse.self, from: ProtobufCCodec.encode(stats))
        #expect(decoded == stats)
        // Without a cache the optional message stays absent on the wire.
        let plain = EngineMapping.stats(Self.metrics(cache: false))
        #expect(plain.expertCache == nil)
        #expect(try ProtobufCCodec.decode(CanopyV1.StatsResponse.self, from: ProtobufCCodec.encode(plain)).expertCache == nil)
        #expect(EngineMapping.stats(EngineMetrics()).expertLoad.isEmpty, "dense models report no expert load")
    }

    @Test func prometheusLines() {
        let text = PrometheusText.render(EngineMapping.stats(Self.metrics(cache: true)))
        #expect(text.contains("# TYPE canopy_expert_tokens_total counter\n"))
        #expect(text.contains("canopy_expert_tokens_total{layer=\"0\",expert=\"0\"} 5\n"))
        #expect(text.contains("canopy_expert_tokens_total{layer=\"1\",expert=\"3\"} 4\n"))
        #expect(text.contains("canopy_expert_cache_hits_total 30\n"))
        #expect(text.contains("canopy_expert_cache_misses_total 10\n"))
        #expect(text.contains("canopy_expert_cache_hit_ratio 0.75\n"))
        #expect(text.contains("canopy_expert_cache_prefetch_hits_total 4\n"))
        // Every sample line belongs to a family announced by # TYPE.
        let families = Set(text.split(separator: "\n").filter { $0.hasPrefix("# TYPE ") }.map { $0.split(separator: " ")[2] })
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            let name = line.prefix { $0 != " " && $0 != "{" }
            #expect(families.contains(name), "\(line)")
        }
        let dense = PrometheusText.render(EngineMapping.stats(Self.metrics(cache: false)))
        #expect(!dense.contains("canopy_expert_cache"))
    }
}
