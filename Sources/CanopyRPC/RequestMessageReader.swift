import GRPCCore
import NIOCore

/// Collects the one request message of a unary or server-streaming call from its DATA
/// frames, following the gRPC length prefix as bytes arrive.
///
/// Guarantees: a message over `limit` is refused as soon as its prefix is complete, so an
/// oversize request is never buffered (RESOURCE_EXHAUSTED with both sizes); a compressed
/// message (none is negotiated) is refused as soon as its flag arrives (INTERNAL, as the
/// gRPC protocol asks); at the end of the request exactly one message must have arrived,
/// else INVALID_ARGUMENT. Bytes held never exceed `limit + 5`.
struct RequestMessageReader {
    private let limit: Int
    private var buffer = ByteBuffer()
    /// Complete messages seen so far; the first one is kept in `message`.
    private var messages = 0
    private var message: [UInt8] = []

    /// A reader accepting messages of up to `limit` bytes.
    init(limit: Int) { self.limit = limit }

    /// Takes the bytes of a DATA frame. Returns the call's error when they break a rule
    /// above; the caller then ends the call with it and feeds nothing more.
    mutating func append(_ bytes: ByteBuffer) -> RPCError? {
        var bytes = bytes
        buffer.writeBuffer(&bytes)
        while buffer.readableBytes >= 5 {
            let flag = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self)!
            let length = Int(buffer.getInteger(at: buffer.readerIndex + 1, as: UInt32.self)!)
            if flag != 0 {
                return RPCError(code: .internalError, message: "the request message is compressed, but no compression was negotiated")
            }
            if length > limit {
                return RPCError(
                    code: .resourceExhausted,
                    message: "request message is \(length) bytes, over the \(limit)-byte message size limit")
            }
            guard buffer.readableBytes >= 5 + length else { break }
            buffer.moveReaderIndex(forwardBy: 5)
            let bytes = buffer.readBytes(length: length)!
            if messages == 0 { message = bytes }
            messages += 1
            buffer.discardReadBytes()
        }
        return nil
    }

    /// The request message once the client has ended its side of the stream.
    func finish() -> Result<[UInt8], RPCError> {
        if buffer.readableBytes > 0 {
            return .failure(RPCError(code: .invalidArgument, message: "the request ended inside a message (\(buffer.readableBytes) bytes of it)"))
        }
        switch messages {
        case 0: return .failure(RPCError(code: .invalidArgument, message: "the call carried no request message"))
        case 1: return .success(message)
        default: return .failure(RPCError(code: .invalidArgument, message: "the call carried \(messages) request messages; this method takes one"))
        }
    }
}
