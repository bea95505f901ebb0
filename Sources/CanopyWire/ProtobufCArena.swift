import CCanopyProto
import Foundation

/// Owns the C memory of messages built from Swift values for packing: strings, repeated
/// fields and sub-messages are allocated here and all freed together when the arena is
/// released, so a message tree is valid exactly as long as its arena.
///
/// Allocation failure is an error (`ProtobufCCodecError.outOfMemory`), never a trap: the
/// call that was encoding fails with RESOURCE_EXHAUSTED and the daemon goes on.
///
/// Not `Sendable`: an arena is created, filled and packed within one call.
public final class ProtobufCArena {
    private var allocations: [UnsafeMutableRawPointer] = []

    /// Creates an empty arena.
    public init() {}

    deinit {
        for pointer in allocations { free(pointer) }
    }

    /// A NUL-terminated copy of `string`. Text after an embedded NUL cannot be carried by
    /// protobuf-c's `char *` strings and is dropped.
    public func string(_ string: String) throws -> UnsafeMutablePointer<CChar> {
        guard let copy = strdup(string) else { throw ProtobufCCodecError.outOfMemory(bytes: string.utf8.count + 1) }
        allocations.append(copy)
        return copy
    }

    /// A C array copy of `values` (nil when empty, as protobuf-c expects for `n == 0`).
    public func array<T>(_ values: [T]) throws -> UnsafeMutablePointer<T>? {
        guard !values.isEmpty else { return nil }
        let pointer = try allocate(T.self, count: values.count)
        pointer.initialize(from: values, count: values.count)
        return pointer
    }

    /// An array of pointers to sub-messages (nil when empty).
    public func pointers<T>(_ values: [UnsafeMutablePointer<T>]) throws -> UnsafeMutablePointer<UnsafeMutablePointer<T>?>? {
        try array(values.map { Optional($0) })
    }

    /// A zeroed message struct on which `initialize` (the generated `*__init`) has run, so
    /// its descriptor and defaults are set.
    public func message<T>(_ type: T.Type, _ initialize: (UnsafeMutablePointer<T>?) -> Void) throws -> UnsafeMutablePointer<T> {
        let pointer = try allocate(T.self, count: 1)
        initialize(pointer)
        return pointer
    }

    private func allocate<T>(_ type: T.Type, count: Int) throws -> UnsafeMutablePointer<T> {
        let bytes = max(1, MemoryLayout<T>.stride * count)
        guard let raw = calloc(1, bytes) else { throw ProtobufCCodecError.outOfMemory(bytes: bytes) }
        allocations.append(raw)
        return raw.bindMemory(to: T.self, capacity: count)
    }
}

/// Readers for the C side of unpacked messages, used by the `init(c:)` conversions.
enum CRead {
    /// The string at `pointer`, empty for nil; invalid UTF-8 is repaired with U+FFFD.
    static func string(_ pointer: UnsafePointer<CChar>?) -> String {
        guard let pointer else { return "" }
        return String(cString: pointer)
    }

    /// `count` scalars from `pointer`.
    static func array<T>(_ pointer: UnsafePointer<T>?, _ count: Int) -> [T] {
        guard let pointer, count > 0 else { return [] }
        return Array(UnsafeBufferPointer(start: pointer, count: count))
    }

    /// The sub-messages of a repeated message field, converted with `convert`.
    static func messages<C, T>(
        _ pointer: UnsafeMutablePointer<UnsafeMutablePointer<C>?>?, _ count: Int,
        _ convert: (UnsafePointer<C>) -> T
    ) -> [T] {
        guard let pointer, count > 0 else { return [] }
        return (0..<count).compactMap { index in pointer[index].map { convert(UnsafePointer($0)) } }
    }

    /// An optional sub-message, converted with `convert`; nil when absent.
    static func message<C, T>(_ pointer: UnsafeMutablePointer<C>?, _ convert: (UnsafePointer<C>) -> T) -> T? {
        pointer.map { convert(UnsafePointer($0)) }
    }
}
