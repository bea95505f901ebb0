import CCanopyProto
import Foundation

/// Finds a `string` field holding bytes that are not UTF-8 in an unpacked protobuf-c message.
///
/// proto3 requires `string` fields to be valid UTF-8 and the official runtimes refuse a
/// message that breaks it; protobuf-c does not check, and `String(cString:)` would quietly
/// replace the bad bytes with U+FFFD, so a prompt would not be what the client sent. The
/// codec runs this after unpacking, so every message type is covered by one walk over its
/// descriptor (nested, repeated and oneof fields included).
enum ProtobufCUTF8Check {
    /// The dotted path of the first string field with invalid UTF-8 (e.g.
    /// `messages.messages[1].content`), or nil when every string is valid.
    static func firstInvalidField(in message: UnsafePointer<ProtobufCMessage>) -> String? {
        firstInvalidField(UnsafeRawPointer(message), path: "")
    }

    private static func firstInvalidField(_ message: UnsafeRawPointer, path: String) -> String? {
        let descriptor = message.assumingMemoryBound(to: ProtobufCMessage.self).pointee.descriptor!.pointee
        for index in 0..<Int(descriptor.n_fields) {
            let field = descriptor.fields[index]
            guard field.type == PROTOBUF_C_TYPE_STRING || field.type == PROTOBUF_C_TYPE_MESSAGE else { continue }
            let name = path.isEmpty ? String(cString: field.name) : path + "." + String(cString: field.name)
            let slot = message + Int(field.offset)
            if field.label == PROTOBUF_C_LABEL_REPEATED {
                let count = (message + Int(field.quantifier_offset)).load(as: Int.self)
                guard count > 0, let items = slot.load(as: UnsafeRawPointer?.self) else { continue }
                for item in 0..<count {
                    guard let element = (items + item * MemoryLayout<UnsafeRawPointer>.stride).load(as: UnsafeRawPointer?.self)
                    else { continue }
                    if let bad = check(field, element, path: "\(name)[\(item)]") { return bad }
                }
                continue
            }
            if field.flags & UInt32(PROTOBUF_C_FIELD_FLAG_ONEOF.rawValue) != 0,
                (message + Int(field.quantifier_offset)).load(as: UInt32.self) != field.id
            {
                continue  // another member of the oneof is set; this slot holds its bytes
            }
            guard let value = slot.load(as: UnsafeRawPointer?.self) else { continue }
            if let bad = check(field, value, path: name) { return bad }
        }
        return nil
    }

    /// Checks one string (a C string) or sub-message.
    private static func check(_ field: ProtobufCFieldDescriptor, _ value: UnsafeRawPointer, path: String) -> String? {
        if field.type == PROTOBUF_C_TYPE_MESSAGE { return firstInvalidField(value, path: path) }
        let bytes = UnsafeBufferPointer(start: value.assumingMemoryBound(to: UInt8.self), count: strlen(value.assumingMemoryBound(to: CChar.self)))
        return isValidUTF8(bytes) ? nil : path
    }

    /// Whether `bytes` is well-formed UTF-8 (no overlongs, surrogates or values past U+10FFFF).
    static func isValidUTF8(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        var iterator = bytes.makeIterator()
        var decoder = UTF8()
        while true {
            switch decoder.decode(&iterator) {
            case .scalarValue: continue
            case .emptyInput: return true
            case .error: return false
            }
        }
    }
}
