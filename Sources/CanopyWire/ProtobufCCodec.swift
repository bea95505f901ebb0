import CCanopyProto

/// Why a message could not be packed or unpacked.
public enum ProtobufCCodecError: Error, CustomStringConvertible, Equatable {
    /// The encoded message is larger than the codec's limit.
    case messageTooLarge(message: String, bytes: Int, limit: Int)
    /// The bytes are not a valid encoding of the message.
    case malformed(message: String, bytes: Int)
    /// A `string` field holds bytes that are not UTF-8 (proto3 requires UTF-8).
    case invalidUTF8(message: String, field: String)
    /// Memory for building a message to send could not be allocated.
    case outOfMemory(bytes: Int)

    public var description: String {
        switch self {
        case .messageTooLarge(let message, let bytes, let limit):
            return "\(message) is \(bytes) bytes, over the \(limit)-byte message size limit"
        case .malformed(let message, let bytes):
            return "cannot decode \(bytes) bytes as a \(message) protobuf message"
        case .invalidUTF8(let message, let field):
            return "\(message).\(field) is not valid UTF-8 (protobuf string fields must be UTF-8; send bytes as token ids)"
        case .outOfMemory(let bytes):
            return "out of memory: cannot allocate \(bytes) bytes to encode the response; retry later"
        }
    }
}

/// Packs and unpacks any protobuf-c message given its descriptor (libprotobuf-c does the
/// wire format; this type adds the size limit and typed errors), and converts to and from
/// Swift value types at this boundary.
///
/// Guarantees: encoded messages never exceed `maxMessageBytes`; decoding never reads more
/// than the given bytes, and C memory from unpacking is freed before `decode` returns.
public struct ProtobufCCodec: @unchecked Sendable {
    // @unchecked: `descriptor` points at an immutable static C global (generated code), so
    // sharing it across threads is safe.

    /// The default limit on one encoded message, as gRPC's default receive limit.
    public static let defaultMaxMessageBytes = 4 << 20

    /// The message type this codec handles.
    public let descriptor: UnsafePointer<ProtobufCMessageDescriptor>
    /// The largest encoded message accepted in either direction.
    public let maxMessageBytes: Int

    /// Creates a codec for the message type `descriptor` describes.
    public init(descriptor: UnsafePointer<ProtobufCMessageDescriptor>, maxMessageBytes: Int = defaultMaxMessageBytes) {
        precondition(descriptor.pointee.magic == PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC, "not a protobuf-c message descriptor")
        precondition(maxMessageBytes > 0, "the message size limit must be positive")
        self.descriptor = descriptor
        self.maxMessageBytes = maxMessageBytes
    }

    /// The fully qualified name of the message type, e.g. `canopy.v1.GenerateRequest`.
    public var messageName: String { String(cString: descriptor.pointee.name) }

    /// Encodes a C message of this codec's type.
    public func pack(_ message: UnsafePointer<ProtobufCMessage>) throws(ProtobufCCodecError) -> [UInt8] {
        precondition(message.pointee.descriptor == descriptor, "message of type \(String(cString: message.pointee.descriptor.pointee.name)) given to the \(messageName) codec")
        let size = protobuf_c_message_get_packed_size(message)
        guard size <= maxMessageBytes else {
            throw .messageTooLarge(message: messageName, bytes: size, limit: maxMessageBytes)
        }
        // An empty message is the empty array itself: `unsafeUninitializedCapacity: 0` would
        // store its count into the shared empty-array storage, a race ThreadSanitizer reports
        // when two threads pack empty messages at once.
        guard size > 0 else { return [] }
        return [UInt8](unsafeUninitializedCapacity: size) { buffer, count in
            let written = protobuf_c_message_pack(message, buffer.baseAddress!)
            precondition(written == size, "protobuf-c packed \(written) bytes, sized \(size)")
            count = written
        }
    }

    /// Decodes `bytes` and passes the C message to `body`; it is freed when `body` returns.
    public func unpack<R>(
        _ bytes: UnsafeRawBufferPointer, _ body: (UnsafePointer<ProtobufCMessage>) throws -> R
    ) throws -> R {
        guard bytes.count <= maxMessageBytes else {
            throw ProtobufCCodecError.messageTooLarge(message: messageName, bytes: bytes.count, limit: maxMessageBytes)
        }
        var empty: UInt8 = 0
        let message = withUnsafePointer(to: &empty) { fallback in
            protobuf_c_message_unpack(
                descriptor, nil, bytes.count,
                bytes.baseAddress?.assumingMemoryBound(to: UInt8.self) ?? fallback)
        }
        guard let message else {
            throw ProtobufCCodecError.malformed(message: messageName, bytes: bytes.count)
        }
        defer { protobuf_c_message_free_unpacked(message, nil) }
        if let field = ProtobufCUTF8Check.firstInvalidField(in: message) {
            throw ProtobufCCodecError.invalidUTF8(message: messageName, field: field)
        }
        return try body(message)
    }

    /// Encodes a Swift value of this codec's type.
    public func encode<M: ProtobufCRepresentable>(_ value: M) throws(ProtobufCCodecError) -> [UInt8] {
        precondition(M.descriptor == descriptor, "\(M.self) given to the \(messageName) codec")
        let arena = ProtobufCArena()
        let c: UnsafeMutablePointer<M.CStruct>
        do {
            c = try value.makeC(in: arena)
        } catch let error as ProtobufCCodecError {
            throw error
        } catch {
            preconditionFailure("makeC threw \(error); only the arena's errors are expected")
        }
        return try withExtendedLifetime(arena) { () throws(ProtobufCCodecError) -> [UInt8] in
            try pack(UnsafeRawPointer(c).assumingMemoryBound(to: ProtobufCMessage.self))
        }
    }

    /// Decodes bytes into a Swift value of this codec's type.
    public func decode<M: ProtobufCRepresentable>(_ type: M.Type, from bytes: UnsafeRawBufferPointer) throws(ProtobufCCodecError) -> M {
        precondition(M.descriptor == descriptor, "\(M.self) given to the \(messageName) codec")
        do {
            return try unpack(bytes) { message in
                M(c: UnsafeRawPointer(message).assumingMemoryBound(to: M.CStruct.self))
            }
        } catch let error as ProtobufCCodecError {
            throw error
        } catch {
            preconditionFailure("unreachable: the conversion does not throw")
        }
    }
}

extension ProtobufCCodec {
    /// A codec for `M` with the given limit.
    public static func forMessage<M: ProtobufCRepresentable>(_ type: M.Type, maxMessageBytes: Int = defaultMaxMessageBytes) -> ProtobufCCodec {
        ProtobufCCodec(descriptor: M.descriptor, maxMessageBytes: maxMessageBytes)
    }

    /// Encodes `value` with its own descriptor.
    public static func encode<M: ProtobufCRepresentable>(_ value: M, maxMessageBytes: Int = defaultMaxMessageBytes) throws(ProtobufCCodecError) -> [UInt8] {
        try forMessage(M.self, maxMessageBytes: maxMessageBytes).encode(value)
    }

    /// Decodes a value of type `M` from `bytes`.
    public static func decode<M: ProtobufCRepresentable>(_ type: M.Type, from bytes: [UInt8], maxMessageBytes: Int = defaultMaxMessageBytes) throws(ProtobufCCodecError) -> M {
        let codec = forMessage(M.self, maxMessageBytes: maxMessageBytes)
        return try bytes.withUnsafeBytes { buffer in
            Result { () throws(ProtobufCCodecError) -> M in try codec.decode(M.self, from: buffer) }
        }.get()
    }
}
