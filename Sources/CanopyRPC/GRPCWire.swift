import GRPCCore
import NIOCore
import NIOHPACK

/// What gRPC over HTTP/2 puts on the wire around a message (the "gRPC over HTTP2" protocol
/// document): response headers, trailers, the 5-byte length prefix, `grpc-timeout` and
/// `grpc-message` encodings. Values only; `GRPCConnectionHandler` decides when to send them.
enum GRPCWire {
    /// The content type every gRPC request carries (`application/grpc`, optionally `+proto`).
    static let contentType = "application/grpc"

    /// The headers that open a response with messages.
    static let responseHeaders = HPACKHeaders([(":status", "200"), ("content-type", contentType)])

    /// Trailers ending a response: `error` nil is OK.
    static func trailers(_ error: RPCError?) -> HPACKHeaders {
        guard let error else { return HPACKHeaders([("grpc-status", "0")]) }
        return HPACKHeaders([("grpc-status", "\(error.code.rawValue)"), ("grpc-message", percentEncoded(error.message))])
    }

    /// A response that is only trailers (an error before any message): status 200, the
    /// content type and the gRPC status in one HEADERS frame.
    static func trailersOnly(_ error: RPCError) -> HPACKHeaders {
        var headers = responseHeaders
        headers.add(contentsOf: trailers(error))
        return headers
    }

    /// `message` behind its length prefix: a zero compression flag, then the length as a
    /// big-endian UInt32.
    static func framed(_ message: [UInt8], allocator: ByteBufferAllocator) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: 5 + message.count)
        buffer.writeInteger(UInt8(0))
        buffer.writeInteger(UInt32(message.count))
        buffer.writeBytes(message)
        return buffer
    }

    /// `grpc-message` encoding: UTF-8 bytes outside printable ASCII (0x20...0x7E), and `%`
    /// itself, become `%XX` with uppercase hex digits.
    static func percentEncoded(_ message: String) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var encoded: [UInt8] = []
        encoded.reserveCapacity(message.utf8.count)
        for byte in message.utf8 {
            if byte >= 0x20 && byte <= 0x7E && byte != UInt8(ascii: "%") {
                encoded.append(byte)
            } else {
                encoded += [UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 0x0F)]]
            }
        }
        return String(decoding: encoded, as: UTF8.self)
    }

    /// The duration a `grpc-timeout` header gives: up to 8 ASCII digits and a unit (`H`
    /// hours, `M` minutes, `S` seconds, `m` milliseconds, `u` microseconds, `n`
    /// nanoseconds). Nil for anything else, which the call then runs without a deadline,
    /// as other gRPC servers do.
    static func timeout(_ value: String) -> TimeAmount? {
        let utf8 = Array(value.utf8)
        guard utf8.count >= 2, utf8.count <= 9, let unit = utf8.last else { return nil }
        var amount: Int64 = 0
        for byte in utf8.dropLast() {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            amount = amount * 10 + Int64(byte - UInt8(ascii: "0"))
        }
        switch unit {
        case UInt8(ascii: "H"): return .hours(amount)
        case UInt8(ascii: "M"): return .minutes(amount)
        case UInt8(ascii: "S"): return .seconds(amount)
        case UInt8(ascii: "m"): return .milliseconds(amount)
        case UInt8(ascii: "u"): return .microseconds(amount)
        case UInt8(ascii: "n"): return .nanoseconds(amount)
        default: return nil
        }
    }
}
