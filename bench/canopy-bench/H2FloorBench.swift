import ArgumentParser
import CanopyWire
import NIOCore
import NIOHPACK
import NIOHTTP2
import NIOPosix

/// `canopy-bench h2-floor`: a reference server for the Health round trip, not a gRPC server.
///
/// It answers every HTTP/2 stream on a Unix socket as canopyd answers `Health`: the request
/// message decoded and the response encoded with the same protobuf-c codec, sent as gRPC
/// response headers, one length-prefixed message and `grpc-status: 0` trailers. It works on
/// swift-nio-http2's frames on the connection's own channel: no child channel, handler task or
/// async sequence per call, and no routing, limits or cancellation. `bench/run-rpc-bench.sh`
/// times it with the same C client as canopyd, so the two figures show what the gRPC
/// library's per-call machinery costs on top of HTTP/2 and the socket.
struct H2FloorBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "h2-floor",
        abstract: "Serve a Health-shaped gRPC answer at the HTTP/2 frame level (a latency reference).")

    @Option(help: "The Unix socket to listen on (replaced if it exists).")
    var socket: String

    func run() throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let started = NIODeadline.now()
        let channel = try ServerBootstrap(group: group)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(NIOHTTP2Handler(mode: .server))
                    try channel.pipeline.syncOperations.addHandler(HealthFrameHandler(started: started))
                }
            }
            .bind(unixDomainSocketPath: socket, cleanupExistingSocketFile: true).wait()
        try channel.closeFuture.wait()
    }
}

/// Collects each stream's request body and answers at its end; flushes once per read batch.
private final class HealthFrameHandler: ChannelInboundHandler {
    typealias InboundIn = HTTP2Frame
    typealias OutboundOut = HTTP2Frame

    private let started: NIODeadline
    private var bodies: [HTTP2StreamID: ByteBuffer] = [:]
    private var answered = false

    init(started: NIODeadline) { self.started = started }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.payload {
        case .headers(let headers):
            bodies[frame.streamID] = context.channel.allocator.buffer(capacity: 0)
            if headers.endStream { answer(frame.streamID, context: context) }
        case .data(let payload):
            if case .byteBuffer(var bytes) = payload.data { bodies[frame.streamID, default: ByteBuffer()].writeBuffer(&bytes) }
            if payload.endStream { answer(frame.streamID, context: context) }
        case .rstStream:
            bodies[frame.streamID] = nil
        default:
            break
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if answered {
            answered = false
            context.flush()
        }
        context.fireChannelReadComplete()
    }

    private func answer(_ stream: HTTP2StreamID, context: ChannelHandlerContext) {
        guard var body = bodies.removeValue(forKey: stream) else { return }
        let status: String
        var message: [UInt8] = []
        if body.readInteger(as: UInt8.self) == 0, let length = body.readInteger(as: UInt32.self),
           let bytes = body.readBytes(length: Int(length)),
           (try? ProtobufCCodec.decode(CanopyV1.HealthRequest.self, from: bytes)) != nil,
           let encoded = try? ProtobufCCodec.encode(CanopyV1.HealthResponse(
               status: .serving, uptimeSeconds: Double((NIODeadline.now() - started).nanoseconds) / 1e9)) {
            status = "0"
            message = encoded
        } else {
            status = "3"  // INVALID_ARGUMENT
        }
        let headers: HPACKHeaders = [":status": "200", "content-type": "application/grpc"]
        context.write(wrapOutboundOut(HTTP2Frame(streamID: stream, payload: .headers(.init(headers: headers)))), promise: nil)
        if status == "0" {
            var framed = context.channel.allocator.buffer(capacity: 5 + message.count)
            framed.writeInteger(UInt8(0))
            framed.writeInteger(UInt32(message.count))
            framed.writeBytes(message)
            context.write(wrapOutboundOut(HTTP2Frame(streamID: stream, payload: .data(.init(data: .byteBuffer(framed))))), promise: nil)
        }
        let trailers: HPACKHeaders = ["grpc-status": status]
        context.write(
            wrapOutboundOut(HTTP2Frame(streamID: stream, payload: .headers(.init(headers: trailers, endStream: true)))), promise: nil)
        answered = true
    }
}
