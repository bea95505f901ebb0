import CCanopyProto

extension CanopyV1 {
    /// Text to encode (`canopy.v1.TokenizeRequest`).
    public struct TokenizeRequest: Sendable, Equatable {
        /// The text.
        public var text: String
        /// Prepend BOS when the model wants one.
        public var addSpecial: Bool
        /// Recognise special-token text such as `<|im_start|>`.
        public var parseSpecial: Bool

        /// Creates a request.
        public init(text: String, addSpecial: Bool = false, parseSpecial: Bool = false) {
            self.text = text
            self.addSpecial = addSpecial
            self.parseSpecial = parseSpecial
        }
    }

    /// Encoded token ids (`canopy.v1.TokenizeResponse`).
    public struct TokenizeResponse: Sendable, Equatable {
        /// The ids.
        public var ids: [Int32]

        /// Creates a response.
        public init(ids: [Int32]) { self.ids = ids }
    }

    /// Token ids to decode (`canopy.v1.DetokenizeRequest`).
    public struct DetokenizeRequest: Sendable, Equatable {
        /// The ids; each must be in the vocabulary.
        public var ids: [Int32]
        /// Include the text of control tokens.
        public var renderSpecial: Bool

        /// Creates a request.
        public init(ids: [Int32], renderSpecial: Bool = false) {
            self.ids = ids
            self.renderSpecial = renderSpecial
        }
    }

    /// Decoded text (`canopy.v1.DetokenizeResponse`).
    public struct DetokenizeResponse: Sendable, Equatable {
        /// The text.
        public var text: String

        /// Creates a response.
        public init(text: String) { self.text = text }
    }

    /// Asks for the server's health (`canopy.v1.HealthRequest`, no fields yet).
    public struct HealthRequest: Sendable, Equatable {
        /// Creates the request.
        public init() {}
    }

    /// Liveness and readiness (`canopy.v1.HealthResponse`).
    public struct HealthResponse: Sendable, Equatable {
        /// Whether new requests are taken.
        public var status: ServingStatus
        /// Seconds since the server started.
        public var uptimeSeconds: Double
        /// Why the status is ``ServingStatus/notServing``; empty otherwise.
        public var reason: String

        /// Creates a response.
        public init(status: ServingStatus, uptimeSeconds: Double, reason: String = "") {
            self.status = status
            self.uptimeSeconds = uptimeSeconds
            self.reason = reason
        }
    }
}

extension CanopyV1.TokenizeRequest: ProtobufCRepresentable {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { ccanopy_tokenize_request_descriptor() }

    public func makeC(in arena: ProtobufCArena) throws -> UnsafeMutablePointer<Canopy__V1__TokenizeRequest> {
        let c = try arena.message(Canopy__V1__TokenizeRequest.self, canopy__v1__tokenize_request__init)
        c.pointee.text = try arena.string(text)
        c.pointee.add_special = addSpecial ? 1 : 0
        c.pointee.parse_special = parseSpecial ? 1 : 0
        return c
    }

    public init(c: UnsafePointer<Canopy__V1__TokenizeRequest>) {
        self.init(text: CRead.string(c.pointee.text), addSpecial: c.pointee.add_special != 0, parseSpecial: c.pointee.parse_special != 0)
    }
}

extension CanopyV1.TokenizeResponse: ProtobufCRepresentable {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { ccanopy_tokenize_response_descriptor() }

    public func makeC(in arena: ProtobufCArena) throws -> UnsafeMutablePointer<Canopy__V1__TokenizeResponse> {
        let c = try arena.message(Canopy__V1__TokenizeResponse.self, canopy__v1__tokenize_response__init)
        c.pointee.n_ids = ids.count
        c.pointee.ids = try arena.array(ids)
        return c
    }

    public init(c: UnsafePointer<Canopy__V1__TokenizeResponse>) {
        self.init(ids: CRead.array(c.pointee.ids, c.pointee.n_ids))
    }
}

extension CanopyV1.DetokenizeRequest: ProtobufCRepresentable {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { ccanopy_detokenize_request_descriptor() }

    public func makeC(in arena: ProtobufCArena) throws -> UnsafeMutablePointer<Canopy__V1__DetokenizeRequest> {
        let c = try arena.message(Canopy__V1__DetokenizeRequest.self, canopy__v1__detokenize_request__init)
        c.pointee.n_ids = ids.count
        c.pointee.ids = try arena.array(ids)
        c.pointee.render_special = renderSpecial ? 1 : 0
        return c
    }

    public init(c: UnsafePointer<Canopy__V1__DetokenizeRequest>) {
        self.init(ids: CRead.array(c.pointee.ids, c.pointee.n_ids), renderSpecial: c.pointee.render_special != 0)
    }
}

extension CanopyV1.DetokenizeResponse: ProtobufCRepresentable {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { ccanopy_detokenize_response_descriptor() }

    public func makeC(in arena: ProtobufCArena) throws -> UnsafeMutablePointer<Canopy__V1__DetokenizeResponse> {
        let c = try arena.message(Canopy__V1__DetokenizeResponse.self, canopy__v1__detokenize_response__init)
        c.pointee.text = try arena.string(text)
        return c
    }

    public init(c: UnsafePointer<Canopy__V1__DetokenizeResponse>) {
        self.init(text: CRead.string(c.pointee.text))
    }
}

extension CanopyV1.HealthResponse: ProtobufCRepresentable {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { ccanopy_health_response_descriptor() }

    public func makeC(in arena: ProtobufCArena) throws -> UnsafeMutablePointer<Canopy__V1__HealthResponse> {
        let c = try arena.message(Canopy__V1__HealthResponse.self, canopy__v1__health_response__init)
        c.pointee.status = status.c
        c.pointee.uptime_seconds = uptimeSeconds
        c.pointee.reason = try arena.string(reason)
        return c
    }

    public init(c: UnsafePointer<Canopy__V1__HealthResponse>) {
        self.init(status: .init(c: c.pointee.status), uptimeSeconds: c.pointee.uptime_seconds, reason: CRead.string(c.pointee.reason))
    }
}

extension CanopyV1.HealthRequest: ProtobufCRepresentable {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { ccanopy_health_request_descriptor() }

    public func makeC(in arena: ProtobufCArena) throws -> UnsafeMutablePointer<Canopy__V1__HealthRequest> {
        try arena.message(Canopy__V1__HealthRequest.self, canopy__v1__health_request__init)
    }

    public init(c: UnsafePointer<Canopy__V1__HealthRequest>) { self.init() }
}
