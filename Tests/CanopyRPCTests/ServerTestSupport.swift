import CanopyClient
import CanopyEngine
import CanopyModel
import CanopyRPC
import CanopyWire
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2Posix

/// The default model and an in-process server on a temporary Unix socket.
enum RPCFixtures {
    static let modelPath: String = ProcessInfo.processInfo.environment["CANOPY_MODEL"]
        ?? URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("models/SmolLM2-135M-Instruct.Q4_1.gguf").path
    private static let shared = Result { try LoadedModel(path: modelPath) }

    /// The default model, or an error saying how to get it (tests fail, not skip).
    static func model() throws -> LoadedModel {
        guard FileManager.default.fileExists(atPath: modelPath) else {
            throw CocoaError(.fileNoSuchFile, userInfo: [NSFilePathErrorKey: modelPath + " is missing (run `make model`)"])
        }
        return try shared.get()
    }

    /// A small engine configuration: 64 MiB of KV cache.
    static var engineConfig: EngineConfig {
        var config = EngineConfig()
        config.kvCacheMemory = 64 << 20
        return config
    }

    /// A socket path short enough for `sun_path` (108 bytes).
    static func socketPath() -> String {
        "/tmp/canopy-rpc-\(getpid())-\(UUID().uuidString.prefix(8)).sock"
    }

    /// Runs `body` against a fresh engine served on a fresh socket, then shuts both down.
    static func withServer<R: Sendable>(
        config: EngineConfig = engineConfig, clientMaxMessageBytes: Int = ProtobufCCodec.defaultMaxMessageBytes,
        peerFilter: PeerFilter? = nil,
        _ body: @Sendable (CanopyServer, CanopyClient, Engine, String) async throws -> R
    ) async throws -> R {
        let engine = try Engine(loaded: try model(), config: config)
        defer { engine.shutdown(drain: false) }
        let path = socketPath()
        defer { unlink(path) }
        let server = CanopyServer(engine: engine, socketPath: path, peerFilter: peerFilter)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.run() }
            _ = try await server.listeningAddress
            let result = try await CanopyClient.withClient(socketPath: path, maxMessageBytes: clientMaxMessageBytes) { client in
                try await body(server, client, engine, path)
            }
            server.beginShutdown()
            try await group.waitForAll()
            return result
        }
    }

    /// Runs `request` in process, bypassing RPC: the reference for what Generate streams.
    static func runInProcess(_ engine: Engine, _ request: Request) async throws -> RequestOutput {
        let (_, events) = try engine.submit(request)
        for await event in events {
            if case .completed(let output) = event { return output }
        }
        throw CancellationError()
    }

    /// Waits (up to `timeout` seconds) until `condition` holds.
    static func eventually(timeout: Double = 60, _ condition: () -> Bool) async throws -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if condition() { return true }
            try await Task.sleep(for: .milliseconds(20))
        }
        return condition()
    }
}

/// Sends caller-chosen bytes as the request message, to test the server's decoding.
struct RawBytesSerializer: MessageSerializer {
    func serialize<Bytes: GRPCContiguousBytes>(_ message: [UInt8]) throws -> Bytes { Bytes(message) }
}
