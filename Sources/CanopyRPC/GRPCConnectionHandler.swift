import CanopyWire
import GRPCCore
import Logging
import NIOCore
import NIOHPACK
import NIOHTTP2

/// One client connection's gRPC calls, read and answered at the level of HTTP/2 frames: it
/// sits behind the connection's `NIOHTTP2Handler` and keeps each call's state in a table by
/// stream id, so a call costs no child channel, no task per stream and no async bridge.
///
/// A call's life: request HEADERS (method, content type, encoding, deadline and the peer
/// checked; a refusal is a trailers-only answer), DATA into a `RequestMessageReader`, the
/// client's end of stream, then the answer: `Health`, `Info` and `Stats` inline on this
/// loop; `Tokenize`, `Detokenize` and `Generate` in a task on this loop whose CPU work runs
/// on the global pool. `Generate` streams its events as they come and waits while the
/// client's flow-control window holds more than `maxPendingBytes` of them.
///
/// Guarantees: every call that is answered ends with trailers carrying a gRPC status; a call
/// whose stream closes before its answer (client cancel, RST_STREAM, the connection gone,
/// its deadline) has its task cancelled, which cancels its engine request; on
/// `ChannelShouldQuiesceEvent` the connection sends GOAWAY, refuses new calls, lets running
/// ones finish and closes once none is left. Everything runs on the connection's loop.
final class GRPCConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = HTTP2Frame
    typealias OutboundOut = HTTP2Frame

    /// Response bytes of one call that may wait in HTTP/2's buffers (a slow reader's
    /// window is full) before its task waits for them to be written.
    static let maxPendingBytes = 4096
    /// The inbound flow-control window kept open for the connection and each stream: the
    /// HTTP/2 default, topped up once half of it is used.
    static let inboundWindow = 65_535

    private struct Call {
        let method: CanopyRPCMethod
        var reader: RequestMessageReader
        var requestEnded = false
        var headersSent = false
        var answered = false
        var dispatched = false
        var pendingBytes = 0
        var task: Task<Void, Never>?
        var deadline: Scheduled<Void>?
    }

    private let service: CanopyService
    private let peer: PeerCredential?
    private let filter: PeerFilter?
    private let logger: Logger
    private var context: ChannelHandlerContext!
    private var executor: EventLoopTaskExecutor!
    private var calls: [HTTP2StreamID: Call] = [:]
    private var reading = false
    private var flushPending = false
    private var quiescing = false
    private var lastStreamID = HTTP2StreamID.rootStream

    /// A handler serving `service` to one connection from `peer` (nil: its credentials could
    /// not be read), checking every call against `filter` when there is one.
    init(service: CanopyService, peer: PeerCredential?, filter: PeerFilter?, logger: Logger) {
        self.service = service
        self.peer = peer
        self.filter = filter
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        executor = EventLoopTaskExecutor(eventLoop: context.eventLoop)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        reading = true
        let frame = unwrapInboundIn(data)
        switch frame.payload {
        case .headers(let headers): receive(headers, on: frame.streamID)
        case .data(let data): receive(data, on: frame.streamID)
        default: break  // SETTINGS, PING, WINDOW_UPDATE, GOAWAY: NIOHTTP2Handler's; resets arrive as StreamClosedEvent
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        reading = false
        if flushPending {
            flushPending = false
            context.flush()
        }
        context.fireChannelReadComplete()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        switch event {
        case let closed as StreamClosedEvent:
            if let call = calls.removeValue(forKey: closed.streamID) {
                call.deadline?.cancel()
                call.task?.cancel()
            }
            if quiescing && calls.isEmpty { goAway(thenClose: true) }
        case let window as NIOHTTP2WindowUpdatedEvent:
            // Top the client's window up as its bytes are taken (they are, at once: a call's
            // reader holds at most one message, within the size limit).
            guard let size = window.inboundWindowSize, size <= Self.inboundWindow / 2 else { break }
            if window.streamID != .rootStream {
                guard let call = calls[window.streamID], !call.requestEnded else { break }
            }
            write(.windowUpdate(windowSizeIncrement: Self.inboundWindow - size), on: window.streamID)
        case is ChannelShouldQuiesceEvent:
            quiescing = true
            goAway(thenClose: calls.isEmpty)
        default:
            context.fireUserInboundEventTriggered(event)
        }
    }

    /// Sends GOAWAY naming the last call taken; with `thenClose`, closes the connection once
    /// it is written. Every frame of a finished call is ahead of it by then (a stream closes
    /// when its last frame leaves HTTP/2's buffers), so closing after this write loses none.
    private func goAway(thenClose: Bool) {
        let written = context.eventLoop.makePromise(of: Void.self)
        write(.goAway(lastStreamID: lastStreamID, errorCode: .noError, opaqueData: nil), on: .rootStream, promise: written)
        guard thenClose else { return }
        written.futureResult.assumeIsolated().whenComplete { [context] _ in context!.close(promise: nil) }
    }

    func channelInactive(context: ChannelHandlerContext) {
        for call in calls.values {
            call.deadline?.cancel()
            call.task?.cancel()
        }
        calls.removeAll()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // Protocol errors: NIOHTTP2Handler has already reset the stream or sent GOAWAY.
        logger.warning("HTTP/2 connection error", metadata: ["error": "\(String(reflecting: error))"])
    }

    // MARK: - Requests

    private func receive(_ frame: HTTP2Frame.FramePayload.Headers, on id: HTTP2StreamID) {
        if calls[id] != nil {
            if frame.endStream { endRequest(id) }  // request trailers: only their end matters
            return
        }
        lastStreamID = max(lastStreamID, id)
        let headers = frame.headers
        let path = headers.first(name: ":path") ?? ""
        if let refusal = refusal(of: headers, path: path) {
            answer(id, headersSent: false, error: refusal, requestEnded: frame.endStream)
            return
        }
        guard let method = CanopyRPCMethod(path: path[...]) else {
            let error = RPCError(code: .unimplemented, message: "canopyd has no method \(path) (canopy.v1.Canopy serves \(CanopyRPCMethod.allCases.map(\.descriptor.method).joined(separator: ", ")))")
            answer(id, headersSent: false, error: error, requestEnded: frame.endStream)
            return
        }
        var call = Call(method: method, reader: RequestMessageReader(limit: service.maxMessageBytes))
        if let timeout = headers.first(name: "grpc-timeout").flatMap(GRPCWire.timeout) {
            call.deadline = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) { [self] in
                deadlinePassed(id)
            }
        }
        calls[id] = call
        if frame.endStream { endRequest(id) }
    }

    /// Why a new call is refused before its method is looked up, if it is.
    private func refusal(of headers: HPACKHeaders, path: String) -> RPCError? {
        if quiescing {
            return RPCError(code: .unavailable, message: "canopyd is shutting down; this connection takes no new calls")
        }
        guard let type = headers.first(name: "content-type"), type.hasPrefix(GRPCWire.contentType) else {
            return RPCError(code: .invalidArgument, message: "not a gRPC request: content-type must be application/grpc")
        }
        if let encoding = headers.first(name: "grpc-encoding"), encoding != "identity" {
            return RPCError(code: .unimplemented, message: "canopyd does not accept \(encoding)-compressed messages; send them uncompressed")
        }
        guard let filter else { return nil }
        let reason = peer.map { filter($0.pid, $0.uid, $0.gid) } ?? PeerCredential.unreadableReason
        guard let reason else { return nil }
        var metadata: Logger.Metadata = ["method": "\(path)"]
        if let peer {
            metadata["pid"] = "\(peer.pid)"
            metadata["uid"] = "\(peer.uid)"
            metadata["gid"] = "\(peer.gid)"
        }
        logger.warning("permission denied", metadata: metadata)
        return RPCError(code: .permissionDenied, message: reason)
    }

    private func receive(_ frame: HTTP2Frame.FramePayload.Data, on id: HTTP2StreamID) {
        guard var call = calls[id], !call.answered, !call.dispatched else { return }
        if case .byteBuffer(let bytes) = frame.data, let error = call.reader.append(bytes) {
            call.requestEnded = frame.endStream
            calls[id] = call
            if error.code == .resourceExhausted {
                logger.notice("refused an oversize request message", metadata: ["error": "\(error.message)"])
            }
            finish(id, error)
            return
        }
        calls[id] = call
        if frame.endStream { endRequest(id) }
    }

    /// The client has sent all of its request: answer it.
    private func endRequest(_ id: HTTP2StreamID) {
        guard var call = calls[id] else { return }
        call.requestEnded = true
        guard !call.answered, !call.dispatched else {
            calls[id] = call
            return
        }
        switch call.reader.finish() {
        case .failure(let error):
            calls[id] = call
            finish(id, error)
        case .success(let message):
            call.dispatched = true
            calls[id] = call
            dispatch(call.method, message, on: id)
        }
    }

    private func dispatch(_ method: CanopyRPCMethod, _ message: [UInt8], on id: HTTP2StreamID) {
        let service = self.service
        guard method.runsOnPool else {
            respond(id, Result { () throws(RPCError) in try service.answer(method, message) })
            return
        }
        let stream = CallStream(handler: NIOLoopBound(self, eventLoop: context.eventLoop), id: id)
        calls[id]?.task = CallStream.start(on: executor) { await Self.serve(method, message, service: service, on: stream) }
    }

    /// Answers a call whose work runs off the loop: the task's own steps run on the loop,
    /// the CPU work on the global pool.
    private static func serve(_ method: CanopyRPCMethod, _ message: [UInt8], service: CanopyService, on stream: CallStream) async {
        guard method == .generate else {
            stream.respond(await onPool { () throws(RPCError) in try service.answer(method, message) })
            return
        }
        let started = await onPool { () throws(RPCError) in try service.startGeneration(message) }
        guard case .success(let submitted) = started else {
            if case .failure(let error) = started { stream.finish(error) }
            return
        }
        stream.finish(await service.stream(submitted, to: stream))
    }

    /// Runs `work` on the global pool; its caller's task comes back to this loop after.
    private static func onPool<Output: Sendable>(
        _ work: @Sendable () throws(RPCError) -> Output
    ) async -> Result<Output, RPCError> {
        await withTaskExecutorPreference(globalConcurrentExecutor) { Result(catching: work) }
    }

    private func deadlinePassed(_ id: HTTP2StreamID) {
        guard let call = calls[id], !call.answered else { return }
        call.task?.cancel()
        finish(id, RPCError(code: .deadlineExceeded, message: "the call's deadline passed before it completed"))
    }

    // MARK: - Answers

    /// Sends one response message on `id`: the response headers first if they are not out
    /// yet. Returns the write's future and whether the call's unwritten bytes are over
    /// `maxPendingBytes`; nil if the call is gone or already answered.
    func send(_ message: [UInt8], on id: HTTP2StreamID) -> (written: EventLoopFuture<Void>, backlogged: Bool)? {
        guard var call = calls[id], !call.answered else { return nil }
        if !call.headersSent {
            call.headersSent = true
            context.write(wrapOutboundOut(HTTP2Frame(streamID: id, payload: .headers(.init(headers: GRPCWire.responseHeaders)))), promise: nil)
        }
        let framed = GRPCWire.framed(message, allocator: context.channel.allocator)
        let size = framed.readableBytes
        call.pendingBytes += size
        calls[id] = call
        let promise = context.eventLoop.makePromise(of: Void.self)
        promise.futureResult.assumeIsolated().whenComplete { [self] _ in calls[id]?.pendingBytes -= size }
        write(.data(.init(data: .byteBuffer(framed))), on: id, promise: promise)
        return (promise.futureResult, (calls[id]?.pendingBytes ?? 0) > Self.maxPendingBytes)
    }

    /// Answers a unary call: its one message and OK, or the error.
    func respond(_ id: HTTP2StreamID, _ result: Result<[UInt8], RPCError>) {
        switch result {
        case .success(let message):
            guard send(message, on: id) != nil else { return }
            finish(id, nil)
        case .failure(let error):
            finish(id, error)
        }
    }

    /// Ends call `id` with its status (nil: OK), unless it is gone or already answered.
    func finish(_ id: HTTP2StreamID, _ error: RPCError?) {
        guard var call = calls[id], !call.answered else { return }
        call.answered = true
        call.deadline?.cancel()
        calls[id] = call
        answer(id, headersSent: call.headersSent, error: error, requestEnded: call.requestEnded)
    }

    /// Writes the trailers (or a trailers-only response) ending stream `id`. A response
    /// complete before its request is followed by RST_STREAM NO_ERROR (RFC 9113 8.1), so a
    /// client that never half-closes cannot hold the stream open, and one still sending
    /// sees the status rather than a CANCEL reset.
    private func answer(_ id: HTTP2StreamID, headersSent: Bool, error: RPCError?, requestEnded: Bool) {
        let trailers: HPACKHeaders
        if headersSent {
            trailers = GRPCWire.trailers(error)
        } else if let error {
            trailers = GRPCWire.trailersOnly(error)
        } else {
            var headers = GRPCWire.responseHeaders
            headers.add(contentsOf: GRPCWire.trailers(nil))
            trailers = headers
        }
        context.write(wrapOutboundOut(HTTP2Frame(streamID: id, payload: .headers(.init(headers: trailers, endStream: true)))), promise: nil)
        write(requestEnded ? nil : .rstStream(.noError), on: id)
    }

    /// Writes `payload` on `id` (nothing when nil) and flushes: at the end of the current
    /// read when inside one, so the answers to one read go out in one write, else now.
    private func write(_ payload: HTTP2Frame.FramePayload?, on id: HTTP2StreamID, promise: EventLoopPromise<Void>? = nil) {
        if let payload {
            context.write(wrapOutboundOut(HTTP2Frame(streamID: id, payload: payload)), promise: promise)
        }
        if reading {
            flushPending = true
        } else {
            context.flush()
        }
    }
}
