import GRPCCore

/// gRPC serializer for a protobuf-c-backed message: a message over the size limit fails the
/// call with RESOURCE_EXHAUSTED.
public struct ProtobufCSerializer<Message: ProtobufCRepresentable>: MessageSerializer {
    private let codec: ProtobufCCodec

    /// Creates a serializer with the given message size limit.
    public init(maxMessageBytes: Int = ProtobufCCodec.defaultMaxMessageBytes) {
        codec = .forMessage(Message.self, maxMessageBytes: maxMessageBytes)
    }

    /// Packs `message` with libprotobuf-c.
    public func serialize<Bytes: GRPCContiguousBytes>(_ message: Message) throws -> Bytes {
        do {
            return Bytes(try codec.encode(message))
        } catch {
            throw error.rpcError
        }
    }
}

/// gRPC deserializer for a protobuf-c-backed message: undecodable bytes fail the call with
/// INVALID_ARGUMENT, a message over the size limit with RESOURCE_EXHAUSTED.
public struct ProtobufCDeserializer<Message: ProtobufCRepresentable>: MessageDeserializer {
    private let codec: ProtobufCCodec

    /// Creates a deserializer with the given message size limit.
    public init(maxMessageBytes: Int = ProtobufCCodec.defaultMaxMessageBytes) {
        codec = .forMessage(Message.self, maxMessageBytes: maxMessageBytes)
    }

    /// Unpacks `serializedMessageBytes` with libprotobuf-c.
    public func deserialize<Bytes: GRPCContiguousBytes>(_ serializedMessageBytes: Bytes) throws -> Message {
        do {
            return try serializedMessageBytes.withUnsafeBytes { buffer in
                Result { () throws(ProtobufCCodecError) -> Message in try codec.decode(Message.self, from: buffer) }
            }.get()
        } catch {
            throw error.rpcError
        }
    }
}

extension ProtobufCCodecError {
    /// The gRPC status this error means.
    public var rpcError: RPCError {
        switch self {
        case .messageTooLarge, .outOfMemory: return RPCError(code: .resourceExhausted, message: description)
        case .malformed, .invalidUTF8: return RPCError(code: .invalidArgument, message: description)
        }
    }
}
