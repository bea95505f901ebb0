import CCanopyProto

extension CanopyV1 {
    /// What a request gets for each sampling parameter it leaves unset
    /// (`canopy.v1.SamplingDefaults`): the model file's recommended settings, else llama.cpp's.
    public struct SamplingDefaults: Sendable, Equatable {
        /// Softmax temperature.
        public var temperature: Float = 0
        /// Top-k cut; 0 is none.
        public var topK: Int32 = 0
        /// Top-p cut; 1 is none.
        public var topP: Float = 0
        /// Min-p cut; 0 is none.
        public var minP: Float = 0
        /// Repetition penalty; 1 is none.
        public var repetitionPenalty: Float = 0
        /// The `general.sampling.*` keys of the model file the values came from; empty when
        /// all are llama.cpp's defaults.
        public var keysFromFile: [String] = []

        /// Creates empty defaults.
        public init() {}
    }
}

extension CanopyV1.SamplingDefaults: CustomStringConvertible {
    /// One line for logs and `canopy info`, e.g. `temperature 0.8, top-k 40, top-p 0.95,
    /// min-p 0.05 (llama.cpp's defaults)`.
    public var description: String {
        var parts = ["temperature \(temperature)", "top-k \(topK)", "top-p \(topP)", "min-p \(minP)"]
        if repetitionPenalty != 1 { parts.append("repetition penalty \(repetitionPenalty)") }
        let source = keysFromFile.isEmpty
            ? "llama.cpp's defaults" : "from the model file: \(keysFromFile.joined(separator: ", "))"
        return parts.joined(separator: ", ") + " (\(source))"
    }
}

extension CanopyV1.SamplingDefaults: ProtobufCRepresentable {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { ccanopy_sampling_defaults_descriptor() }

    public func makeC(in arena: ProtobufCArena) throws -> UnsafeMutablePointer<Canopy__V1__SamplingDefaults> {
        let c = try arena.message(Canopy__V1__SamplingDefaults.self, canopy__v1__sampling_defaults__init)
        c.pointee.temperature = temperature
        c.pointee.top_k = topK
        c.pointee.top_p = topP
        c.pointee.min_p = minP
        c.pointee.repetition_penalty = repetitionPenalty
        c.pointee.n_keys_from_file = keysFromFile.count
        c.pointee.keys_from_file = try arena.array(keysFromFile.map { Optional(try arena.string($0)) })
        return c
    }

    public init(c: UnsafePointer<Canopy__V1__SamplingDefaults>) {
        let m = c.pointee
        self.init()
        temperature = m.temperature
        topK = m.top_k
        topP = m.top_p
        minP = m.min_p
        repetitionPenalty = m.repetition_penalty
        keysFromFile = CRead.array(m.keys_from_file, m.n_keys_from_file).map { CRead.string($0) }
    }
}
