import CCanopyProto

extension CanopyV1 {
    /// Weight streaming under `--weight-memory` (`canopy.v1.WeightStreamingStats`).
    public struct WeightStreamingStats: Sendable, Equatable {
        public var budgetBytes: UInt64 = 0
        /// Bytes of the model file always in memory.
        public var residentBytes: UInt64 = 0
        /// Bytes read from the file every forward pass.
        public var streamedBytesPerPass: UInt64 = 0
        public var streamedLayers: UInt32 = 0
        public var totalLayers: UInt32 = 0
        /// Bytes read from the file since load.
        public var bytesRead: UInt64 = 0
        /// Layers read ahead of use.
        public var prefetchReads: UInt64 = 0
        /// Layer uses that found the layer read.
        public var prefetchHits: UInt64 = 0
        /// Layer uses that waited for a read under way, and the seconds waited.
        public var stalls: UInt64 = 0
        public var stallSeconds = 0.0
        /// Layer uses that read the layer themselves.
        public var demandReads: UInt64 = 0

        /// Creates zero statistics.
        public init() {}
    }
}

extension CanopyV1.WeightStreamingStats: ProtobufCRepresentable {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { ccanopy_weight_streaming_stats_descriptor() }

    public func makeC(in arena: ProtobufCArena) throws -> UnsafeMutablePointer<Canopy__V1__WeightStreamingStats> {
        let c = try arena.message(Canopy__V1__WeightStreamingStats.self, canopy__v1__weight_streaming_stats__init)
        c.pointee.budget_bytes = budgetBytes
        c.pointee.resident_bytes = residentBytes
        c.pointee.streamed_bytes_per_pass = streamedBytesPerPass
        c.pointee.streamed_layers = streamedLayers
        c.pointee.total_layers = totalLayers
        c.pointee.bytes_read = bytesRead
        c.pointee.prefetch_reads = prefetchReads
        c.pointee.prefetch_hits = prefetchHits
        c.pointee.stalls = stalls
        c.pointee.stall_seconds = stallSeconds
        c.pointee.demand_reads = demandReads
        return c
    }

    public init(c: UnsafePointer<Canopy__V1__WeightStreamingStats>) {
        let m = c.pointee
        self.init()
        budgetBytes = m.budget_bytes
        residentBytes = m.resident_bytes
        streamedBytesPerPass = m.streamed_bytes_per_pass
        streamedLayers = m.streamed_layers
        totalLayers = m.total_layers
        bytesRead = m.bytes_read
        prefetchReads = m.prefetch_reads
        prefetchHits = m.prefetch_hits
        stalls = m.stalls
        stallSeconds = m.stall_seconds
        demandReads = m.demand_reads
    }
}
