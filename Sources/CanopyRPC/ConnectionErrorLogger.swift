import Logging
import NIOCore
import NIOHTTP2

/// Logs the errors of one client connection's HTTP/2 layer: the reason behind a GOAWAY the
/// server sends (a client over the stream limit, a protocol violation), which gRPC's
/// connection handler consumes silently. Passes every error on unchanged.
final class ConnectionErrorLogger: ChannelInboundHandler, Sendable {
    typealias InboundIn = Any

    private let logger: Logger

    private init(logger: Logger) { self.logger = logger }

    /// Places a logger right after the connection's `NIOHTTP2Handler`, where its errors pass
    /// before gRPC's connection handler ends their journey. Does nothing on a pipeline
    /// without one.
    static func install(on channel: any Channel, logger: Logger) {
        let pipeline = channel.pipeline.syncOperations
        guard let http2 = try? pipeline.handler(type: NIOHTTP2Handler.self) else { return }
        try? pipeline.addHandler(ConnectionErrorLogger(logger: logger), position: .after(http2))
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        logger.warning("HTTP/2 connection error", metadata: ["error": "\(String(reflecting: error))"])
        context.fireErrorCaught(error)
    }
}
