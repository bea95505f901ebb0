import CCanopyProto

/// A Swift value type with a protobuf-c counterpart: the bridge `ProtobufCCodec` uses to
/// pack and unpack it. Conversions copy everything, so no C pointer outlives the codec call.
public protocol ProtobufCRepresentable: Sendable {
    /// The generated C struct (its first member is `ProtobufCMessage base`).
    associatedtype CStruct
    /// The message's protobuf-c descriptor (the real global, from a C accessor).
    static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { get }
    /// Builds the C form, allocating everything it points to in `arena`.
    ///
    /// - Throws: only the arena's `ProtobufCCodecError.outOfMemory`.
    func makeC(in arena: ProtobufCArena) throws -> UnsafeMutablePointer<CStruct>
    /// Copies an unpacked C message into a Swift value.
    init(c: UnsafePointer<CStruct>)
}
