import Logging
import NIOCore
import NIOHPACK
import NIOHTTP2

/// Sits first in the HTTP/2 stream channel of a refused peer: answers the request's HEADERS
/// with a gRPC trailers-only response (status PERMISSION_DENIED, code 7, and `reason`),
/// logs the denial, then closes the stream.
///
/// Guarantees: nothing inbound reaches gRPC's stream handler, so the RPC is never routed and
/// the engine never sees it; the transport's pending method lookup fails when the stream
/// closes, which ends its per-stream task (no leak). Other streams and connections are not
/// affected.
final class PermissionDeniedHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTP2Frame.FramePayload
    typealias OutboundOut = HTTP2Frame.FramePayload

    /// gRPC's status code for PERMISSION_DENIED.
    static let permissionDeniedCode = 7

    private let reason: String
    private let peer: PeerCredential?
    private let logger: Logger
    private var answered = false

    /// A handler that refuses the stream with `reason`; `peer` (nil when its credentials
    /// could not be read) is for the log line.
    init(reason: String, peer: PeerCredential?, logger: Logger) {
        self.reason = reason
        self.peer = peer
        self.logger = logger
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // Only the first HEADERS frame is answered; request messages, trailers and resets
        // are dropped (forwarding them without the headers would confuse gRPC's handler).
        guard !answered, case .headers(let request) = unwrapInboundIn(data) else { return }
        answered = true
        var metadata: Logger.Metadata = ["method": "\(request.headers.first(name: ":path") ?? "?")"]
        if let peer {
            metadata["pid"] = "\(peer.pid)"
            metadata["uid"] = "\(peer.uid)"
            metadata["gid"] = "\(peer.gid)"
        }
        logger.warning("permission denied", metadata: metadata)

        Self.answer(context, status: Self.permissionDeniedCode, message: reason)
    }

    /// Ends the stream of `context` with a gRPC trailers-only response carrying `status` and
    /// `message`, then RST_STREAM NO_ERROR (a response complete before its request, RFC 9113
    /// 8.1), so a client that never half-closes cannot hold the stream open, and one still
    /// sending sees the status rather than a CANCEL reset; then closes the stream channel.
    static func answer(_ context: ChannelHandlerContext, status: Int, message: String) {
        let trailers = HPACKHeaders([
            (":status", "200"),
            ("content-type", "application/grpc"),
            ("grpc-status", "\(status)"),
            ("grpc-message", percentEncoded(message)),
        ])
        context.write(NIOAny(HTTP2Frame.FramePayload.headers(.init(headers: trailers, endStream: true))), promise: nil)
        let written = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(NIOAny(HTTP2Frame.FramePayload.rstStream(.noError)), promise: written)
        written.futureResult.assumeIsolated().whenComplete { _ in
            context.close(promise: nil)
        }
    }

    /// `grpc-message` encoding (gRPC over HTTP/2 spec): UTF-8 bytes outside printable ASCII
    /// (0x20...0x7E), and `%` itself, become `%XX` with uppercase hex digits.
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
}
