import Logging
import NIOCore
import NIOHTTP2

/// Sits first in every HTTP/2 stream and reads the 5-byte length prefix of each request
/// message as its DATA frames pass. A message longer than `limit` is refused the moment its
/// prefix arrives: a gRPC trailers-only response with RESOURCE_EXHAUSTED and the sizes, then
/// the stream is closed and nothing more of it is passed on.
///
/// Why here: grpc-swift-nio-transport answers a message over its own payload limit by
/// resetting the stream (the client sees UNAVAILABLE or CANCELLED, with no reason), and below
/// that limit it buffers the whole message before the codec can refuse it. Reading the prefix
/// refuses every oversize message with a status, whatever its size, without buffering it.
///
/// Guarantees: frames of messages within the limit pass unchanged and in order; the gRPC
/// handler behind sees the stream close, which ends its RPC (no leak); other streams are not
/// affected.
final class OversizeMessageHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTP2Frame.FramePayload
    typealias InboundOut = HTTP2Frame.FramePayload
    typealias OutboundOut = HTTP2Frame.FramePayload

    /// gRPC's status code for RESOURCE_EXHAUSTED.
    static let resourceExhaustedCode = 8

    private let limit: Int
    private let logger: Logger
    /// Bytes of the current message's 5-byte prefix seen so far, and its length once known.
    private var prefixBytes = 0
    private var length = 0
    /// Payload bytes of the current message still to pass.
    private var payloadLeft = 0
    private var refused = false

    /// A handler refusing request messages over `limit` bytes.
    init(limit: Int, logger: Logger) {
        self.limit = limit
        self.logger = logger
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !refused else { return }
        if case .data(let frame) = unwrapInboundIn(data), case .byteBuffer(let buffer) = frame.data,
           let oversize = scan(buffer)
        {
            refuse(oversize, context: context)
            return
        }
        context.fireChannelRead(data)
    }

    /// Follows the message framing through `buffer`; returns the length of the first message
    /// over the limit whose prefix completes in it, if any.
    private func scan(_ buffer: ByteBuffer) -> Int? {
        var offset = 0
        let count = buffer.readableBytes
        while offset < count {
            if payloadLeft > 0 {
                let skipped = min(payloadLeft, count - offset)
                payloadLeft -= skipped
                offset += skipped
                continue
            }
            // Prefix: a compression flag byte, then the length as a big-endian UInt32.
            let byte = buffer.getInteger(at: buffer.readerIndex + offset, as: UInt8.self)!
            if prefixBytes > 0 { length = length << 8 | Int(byte) }
            prefixBytes += 1
            offset += 1
            guard prefixBytes == 5 else { continue }
            if length > limit { return length }
            payloadLeft = length
            prefixBytes = 0
            length = 0
        }
        return nil
    }

    private func refuse(_ bytes: Int, context: ChannelHandlerContext) {
        refused = true
        let reason = "request message is \(bytes) bytes, over the \(limit)-byte message size limit"
        logger.notice("refused an oversize request message", metadata: ["bytes": "\(bytes)", "limit": "\(limit)"])
        // The client is most likely still sending the message: the answer ends the stream
        // with NO_ERROR (a plain close would reset with CANCEL, and a gRPC client that reads
        // the reset before the trailers reports CANCELLED instead of the status).
        PermissionDeniedHandler.answer(context, status: Self.resourceExhaustedCode, message: reason)
    }
}
