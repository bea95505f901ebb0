import CCanopyProto

extension CanopyV1 {
    /// A tensor- or pipeline-parallel job as rank 0 sees it (`canopy.v1.ParallelStats`).
    public struct ParallelStats: Sendable, Equatable {
        /// Ranks per pipeline stage.
        public var tensorParallel: UInt32 = 1
        /// Pipeline stages.
        public var pipelineParallel: UInt32 = 1
        /// Forward passes run by the job.
        public var passes: UInt64 = 0
        /// Their wall time on rank 0, exchanges included.
        public var passSeconds = 0.0
        /// Of that, time in exchanges (step messages, partial sums, activations, logits, and
        /// waiting for the other ranks).
        public var exchangeSeconds = 0.0
        /// Bytes rank 0 sent to other ranks.
        public var bytesSent: UInt64 = 0
        /// Weight bytes rank 0 holds (its part of the model).
        public var residentWeightBytes: UInt64 = 0

        /// Creates zero statistics.
        public init() {}
    }
}

extension CanopyV1.ParallelStats: ProtobufCRepresentable {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { ccanopy_parallel_stats_descriptor() }

    public func makeC(in arena: ProtobufCArena) throws -> UnsafeMutablePointer<Canopy__V1__ParallelStats> {
        let c = try arena.message(Canopy__V1__ParallelStats.self, canopy__v1__parallel_stats__init)
        c.pointee.tensor_parallel = tensorParallel
        c.pointee.pipeline_parallel = pipelineParallel
        c.pointee.passes = passes
        c.pointee.pass_seconds = passSeconds
        c.pointee.exchange_seconds = exchangeSeconds
        c.pointee.bytes_sent = bytesSent
        c.pointee.resident_weight_bytes = residentWeightBytes
        return c
    }

    public init(c: UnsafePointer<Canopy__V1__ParallelStats>) {
        let m = c.pointee
        self.init()
        tensorParallel = m.tensor_parallel
        pipelineParallel = m.pipeline_parallel
        passes = m.passes
        passSeconds = m.pass_seconds
        exchangeSeconds = m.exchange_seconds
        bytesSent = m.bytes_sent
        residentWeightBytes = m.resident_weight_bytes
    }
}
