import GRPCCore
import NIOCore
import Testing
@testable import CanopyRPC

/// The server's reading of the gRPC-over-HTTP/2 framing, against the protocol document
/// (github.com/grpc/grpc, doc/PROTOCOL-HTTP2.md): length-prefixed messages, `grpc-timeout`.
struct GRPCWireTests {
    /// `payload` behind a prefix with `flag` and `length` (the payload's own by default).
    static func message(_ payload: [UInt8], flag: UInt8 = 0, length: Int? = nil) -> [UInt8] {
        let n = UInt32(length ?? payload.count)
        return [flag, UInt8(n >> 24), UInt8(n >> 16 & 0xFF), UInt8(n >> 8 & 0xFF), UInt8(n & 0xFF)] + payload
    }

    @Test func aMessageSplitAcrossFramesAtEveryByteIsReassembled() {
        let payload: [UInt8] = Array(0..<40)
        let bytes = Self.message(payload)
        for cut in 0...bytes.count {
            var reader = RequestMessageReader(limit: 100)
            #expect(reader.append(ByteBuffer(bytes: bytes[..<cut])) == nil)
            #expect(reader.append(ByteBuffer(bytes: bytes[cut...])) == nil)
            #expect((try? reader.finish().get()) == payload, "cut at \(cut)")
        }
        var empty = RequestMessageReader(limit: 0)
        #expect(empty.append(ByteBuffer(bytes: Self.message([]))) == nil)
        #expect((try? empty.finish().get()) == [])
    }

    @Test func anOversizeMessageIsRefusedFromItsPrefixAlone() {
        var reader = RequestMessageReader(limit: 1000)
        // Only the prefix has arrived: the claimed length alone refuses it.
        let error = reader.append(ByteBuffer(bytes: Self.message([], length: 1001)))
        #expect(error?.code == .resourceExhausted)
        #expect(error?.message.contains("1001") == true && error?.message.contains("1000") == true)
        var atLimit = RequestMessageReader(limit: 1000)
        #expect(atLimit.append(ByteBuffer(bytes: Self.message([], length: 1000))) == nil)
    }

    @Test func compressedTruncatedMissingAndExtraMessagesAreErrors() {
        var compressed = RequestMessageReader(limit: 100)
        #expect(compressed.append(ByteBuffer(bytes: Self.message([1, 2], flag: 1)))?.code == .internalError)

        var truncated = RequestMessageReader(limit: 100)
        #expect(truncated.append(ByteBuffer(bytes: Self.message([1, 2, 3]).dropLast())) == nil)
        #expect(Self.code(truncated.finish()) == .invalidArgument)

        #expect(Self.code(RequestMessageReader(limit: 100).finish()) == .invalidArgument)

        var two = RequestMessageReader(limit: 100)
        #expect(two.append(ByteBuffer(bytes: Self.message([1]) + Self.message([2]))) == nil)
        #expect(Self.code(two.finish()) == .invalidArgument)
    }

    static func code(_ result: Result<[UInt8], RPCError>) -> RPCError.Code? {
        if case .failure(let error) = result { return error.code }
        return nil
    }

    @Test func grpcTimeoutValues() {
        #expect(GRPCWire.timeout("3S") == .seconds(3))
        #expect(GRPCWire.timeout("2999m") == .milliseconds(2999))
        #expect(GRPCWire.timeout("1H") == .hours(1))
        #expect(GRPCWire.timeout("5M") == .minutes(5))
        #expect(GRPCWire.timeout("100u") == .microseconds(100))
        #expect(GRPCWire.timeout("99999999n") == .nanoseconds(99_999_999))
        // At most 8 digits, a known unit, digits only.
        for bad in ["", "S", "123456789S", "10s", "1.5S", "-1S", "10"] {
            #expect(GRPCWire.timeout(bad) == nil, "\(bad)")
        }
    }

    @Test func trailersCarryTheStatusAndTheEncodedMessage() {
        let error = RPCError(code: .resourceExhausted, message: "100% full\n")
        let trailersOnly = GRPCWire.trailersOnly(error)
        #expect(trailersOnly.first(name: ":status") == "200")
        #expect(trailersOnly.first(name: "content-type") == "application/grpc")
        #expect(trailersOnly.first(name: "grpc-status") == "8")
        #expect(trailersOnly.first(name: "grpc-message") == "100%25 full%0A")
        #expect(GRPCWire.trailers(nil).first(name: "grpc-status") == "0")
        let framed = GRPCWire.framed([7, 8, 9], allocator: ByteBufferAllocator())
        #expect(Array(framed.readableBytesView) == Self.message([7, 8, 9]))
    }
}
