import CanopyWire
import GRPCCore
import NIOCore
import NIOHTTP2

/// One call's stream, for the task answering it. Its methods run on the connection's loop,
/// where that task runs (`EventLoopTaskExecutor`); `NIOLoopBound` checks it.
struct CallStream: MessageSink, Sendable {
    let handler: NIOLoopBound<GRPCConnectionHandler>
    let id: HTTP2StreamID

    /// The call's stream is gone (the client cancelled or disconnected).
    struct Gone: Error {}

    func send(_ message: [UInt8]) async throws {
        guard let sent = handler.value.send(message, on: id) else { throw Gone() }
        if sent.backlogged { try await sent.written.get() }
    }

    func respond(_ result: Result<[UInt8], RPCError>) { handler.value.respond(id, result) }

    func finish(_ error: RPCError?) { handler.value.finish(id, error) }

    /// A task running `body` on `executor` (the connection's loop). A function of its own
    /// because Swift 6.3's region-based isolation checker rejects `Task(executorPreference:)`
    /// written inline in `GRPCConnectionHandler.dispatch` ("pattern ... does not understand").
    static func start(on executor: EventLoopTaskExecutor, _ body: @escaping @Sendable () async -> Void) -> Task<Void, Never> {
        Task(executorPreference: executor, operation: body)
    }
}

/// Where a streaming method's encoded response messages go: one call's stream.
protocol MessageSink {
    /// Sends one message; returns once the stream can take more (a slow reader holds the
    /// sender here). Throws when the stream is gone.
    func send(_ message: [UInt8]) async throws
}
