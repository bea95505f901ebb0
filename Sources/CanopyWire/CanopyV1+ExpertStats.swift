import CCanopyProto

extension CanopyV1 {
    /// Tokens routed to each expert of one block (`canopy.v1.ExpertLayerLoad`).
    public struct ExpertLayerLoad: Sendable, Equatable {
        /// Block index.
        public var layer: UInt32 = 0
        /// Tokens routed to each expert, indexed by expert.
        public var tokens: [UInt64] = []

        /// Creates a layer's load.
        public init(layer: UInt32 = 0, tokens: [UInt64] = []) {
            self.layer = layer
            self.tokens = tokens
        }
    }

    /// Expert offloading cache counters (`canopy.v1.ExpertCacheStats`).
    public struct ExpertCacheStats: Sendable, Equatable {
        /// Experts resident at once.
        public var slots: UInt32 = 0
        /// Routed experts in the model.
        public var totalExperts: UInt32 = 0
        /// Bytes of one expert.
        public var slotBytes: UInt64 = 0
        /// Uses served by a resident expert.
        public var hits: UInt64 = 0
        /// Uses that read the expert from the file first.
        public var misses: UInt64 = 0
        /// Hits on experts the prefetcher loaded.
        public var prefetchHits: UInt64 = 0
        /// Experts the prefetcher read.
        public var prefetchLoads: UInt64 = 0
        /// Resident experts replaced.
        public var evictions: UInt64 = 0
        /// Bytes read from the model file.
        public var bytesRead: UInt64 = 0
        /// `hits / (hits + misses)`.
        public var hitRatio = 0.0

        /// Creates zero counters.
        public init() {}
    }
}

extension CanopyV1.ExpertLayerLoad: ProtobufCRepresentable {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { ccanopy_expert_layer_load_descriptor() }

    public func makeC(in arena: ProtobufCArena) throws -> UnsafeMutablePointer<Canopy__V1__ExpertLayerLoad> {
        let c = try arena.message(Canopy__V1__ExpertLayerLoad.self, canopy__v1__expert_layer_load__init)
        c.pointee.layer = layer
        c.pointee.n_tokens = tokens.count
        c.pointee.tokens = try arena.array(tokens)
        return c
    }

    public init(c: UnsafePointer<Canopy__V1__ExpertLayerLoad>) {
        self.init(layer: c.pointee.layer, tokens: CRead.array(c.pointee.tokens, c.pointee.n_tokens))
    }
}

extension CanopyV1.ExpertCacheStats: ProtobufCRepresentable {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { ccanopy_expert_cache_stats_descriptor() }

    public func makeC(in arena: ProtobufCArena) throws -> UnsafeMutablePointer<Canopy__V1__ExpertCacheStats> {
        let c = try arena.message(Canopy__V1__ExpertCacheStats.self, canopy__v1__expert_cache_stats__init)
        c.pointee.slots = slots
        c.pointee.total_experts = totalExperts
        c.pointee.slot_bytes = slotBytes
        c.pointee.hits = hits
        c.pointee.misses = misses
        c.pointee.prefetch_hits = prefetchHits
        c.pointee.prefetch_loads = prefetchLoads
        c.pointee.evictions = evictions
        c.pointee.bytes_read = bytesRead
        c.pointee.hit_ratio = hitRatio
        return c
    }

    public init(c: UnsafePointer<Canopy__V1__ExpertCacheStats>) {
        let m = c.pointee
        self.init()
        slots = m.slots
        totalExperts = m.total_experts
        slotBytes = m.slot_bytes
        hits = m.hits
        misses = m.misses
        prefetchHits = m.prefetch_hits
        prefetchLoads = m.prefetch_loads
        evictions = m.evictions
        bytesRead = m.bytes_read
        hitRatio = m.hit_ratio
    }
}
