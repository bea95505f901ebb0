import CCanopyProto

extension CanopyV1 {
    /// The KV swap tier under `--kv-swap-space` (`canopy.v1.KVSwapStats`).
    public struct KVSwapStats: Sendable, Equatable {
        /// Blocks the swap file holds, and the bytes of one.
        public var slots: UInt32 = 0
        public var slotBytes: UInt64 = 0
        /// Slots holding nothing.
        public var freeSlots: UInt32 = 0
        /// Slots holding a prefix-cache block evicted from memory.
        public var cachedBlocks: UInt32 = 0
        /// Sequences swapped out now.
        public var swappedSequences: UInt32 = 0
        /// Blocks (and bytes) written since start: swapped-out sequences and prefix blocks.
        public var swapOutBlocks: UInt64 = 0
        public var swapOutBytes: UInt64 = 0
        /// Blocks (and bytes) read back since start.
        public var swapInBlocks: UInt64 = 0
        public var swapInBytes: UInt64 = 0
        /// Cached prefix blocks found in the tier and read back.
        public var prefixSwapHits: UInt64 = 0
        /// Writes or reads that failed.
        public var failures: UInt64 = 0

        /// Creates zero statistics.
        public init() {}
    }
}

extension CanopyV1.KVSwapStats: ProtobufCRepresentable {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { ccanopy_kvswap_stats_descriptor() }

    public func makeC(in arena: ProtobufCArena) throws -> UnsafeMutablePointer<Canopy__V1__KVSwapStats> {
        let c = try arena.message(Canopy__V1__KVSwapStats.self, canopy__v1__kvswap_stats__init)
        c.pointee.slots = slots
        c.pointee.slot_bytes = slotBytes
        c.pointee.free_slots = freeSlots
        c.pointee.cached_blocks = cachedBlocks
        c.pointee.swapped_sequences = swappedSequences
        c.pointee.swap_out_blocks = swapOutBlocks
        c.pointee.swap_out_bytes = swapOutBytes
        c.pointee.swap_in_blocks = swapInBlocks
        c.pointee.swap_in_bytes = swapInBytes
        c.pointee.prefix_swap_hits = prefixSwapHits
        c.pointee.failures = failures
        return c
    }

    public init(c: UnsafePointer<Canopy__V1__KVSwapStats>) {
        let m = c.pointee
        self.init()
        slots = m.slots
        slotBytes = m.slot_bytes
        freeSlots = m.free_slots
        cachedBlocks = m.cached_blocks
        swappedSequences = m.swapped_sequences
        swapOutBlocks = m.swap_out_blocks
        swapOutBytes = m.swap_out_bytes
        swapInBlocks = m.swap_in_blocks
        swapInBytes = m.swap_in_bytes
        prefixSwapHits = m.prefix_swap_hits
        failures = m.failures
    }
}
