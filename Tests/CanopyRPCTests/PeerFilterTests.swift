import CanopyClient
import CanopyEngine
import CanopyKernels
import CanopyWire
import Foundation
import GRPCCore
import Testing
@testable import CanopyRPC

/// The peer filter over real gRPC on a Unix socket: refused peers get PERMISSION_DENIED with
/// the filter's message on every method, the filter sees this process's real credentials,
/// and the engine never sees a refused request.
@Suite(.serialized) struct PeerFilterTests {
    /// Records every call the server makes to the filter.
    final class FilterLog: Sendable {
        private let calls = Locked<[PeerCredential]>([])
        /// What the filter answers: refuse (with `reason`) or serve.
        let refusing = Locked(false)
        var recorded: [PeerCredential] { calls.withLock { $0 } }
        func record(_ pid: pid_t, _ uid: uid_t, _ gid: gid_t) {
            calls.withLock { $0.append(PeerCredential(pid: pid, uid: uid, gid: gid)) }
        }
    }

    static let me = PeerCredential(pid: getpid(), uid: geteuid(), gid: getegid())
    // `%`, a newline and non-ASCII text exercise grpc-message's percent-encoding end to end.
    static let reason = "uid \(geteuid()) is 100% refused ✓\nask the admin"

    static func isDenied(_ error: any Error) -> Bool {
        guard let rpc = error as? RPCError else { return false }
        return rpc.code == .permissionDenied && rpc.message == reason
    }

    @Test func refusedPeerGetsPermissionDeniedOnEveryMethod() async throws {
        let log = FilterLog()
        try await RPCFixtures.withServer(peerFilter: { pid, uid, gid in
            log.record(pid, uid, gid)
            return Self.reason
        }) { _, client, engine, _ in
            await #expect { try await client.health() } throws: { Self.isDenied($0) }
            await #expect { try await client.info() } throws: { Self.isDenied($0) }
            await #expect { try await client.stats() } throws: { Self.isDenied($0) }
            await #expect { try await client.tokenize(.init(text: "hi")) } throws: { Self.isDenied($0) }
            await #expect { try await client.detokenize(.init(ids: [1, 2])) } throws: { Self.isDenied($0) }
            let events = EventLog()
            await #expect {
                try await client.generate(.init(input: .prompt("The capital of France is"))) { await events.append($0) }
            } throws: { Self.isDenied($0) }
            #expect(await events.events.isEmpty)
            // The engine saw none of it.
            let metrics = engine.metrics()
            #expect(metrics.promptTokens == 0 && metrics.steps == 0 && metrics.requestsCompleted == 0)
            #expect(metrics.waitingSequences == 0 && metrics.runningSequences == 0)
        }
        // One check per RPC, each with this process's kernel-reported identity.
        #expect(log.recorded == Array(repeating: Self.me, count: 6))
    }

    @Test func allowedPeerIsServedAndCheckedPerRPC() async throws {
        let log = FilterLog()
        try await RPCFixtures.withServer(peerFilter: { pid, uid, gid in
            log.record(pid, uid, gid)
            return log.refusing.withLock { $0 } ? Self.reason : nil
        }) { _, client, _, _ in
            #expect(try await client.health().status == .serving)
            var request = CanopyV1.GenerateRequest(input: .prompt("The capital of France is"))
            request.sampling.temperature = 0
            request.stop.maxTokens = 3
            let summary = try await client.generate(request)
            #expect(summary.samples.count == 1 && summary.samples[0].tokenIDs.count == 3)
            // The decision is made per RPC, so a policy change applies on the same connection.
            log.refusing.withLock { $0 = true }
            await #expect { try await client.health() } throws: { Self.isDenied($0) }
            log.refusing.withLock { $0 = false }
            #expect(try await client.health().status == .serving)
        }
        #expect(log.recorded == Array(repeating: Self.me, count: 4))
    }

    @Test func inheritedListeningSocketIsFilteredToo() async throws {
        let engine = try Engine(loaded: try RPCFixtures.model(), config: RPCFixtures.engineConfig)
        defer { engine.shutdown(drain: false) }
        let path = RPCFixtures.socketPath()
        defer { unlink(path) }
        let fd = try Self.listeningSocket(path: path)
        let server = CanopyServer(engine: engine, listeningSocketDescriptor: fd, peerFilter: { _, _, _ in Self.reason })
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.run() }
            _ = try await server.listeningAddress
            try await CanopyClient.withClient(socketPath: path) { client in
                await #expect { try await client.health() } throws: { Self.isDenied($0) }
                await #expect { try await client.generate(.init(input: .prompt("Hi"))) } throws: { Self.isDenied($0) }
            }
            server.beginShutdown()
            try await group.waitForAll()
        }
        #expect(engine.metrics().promptTokens == 0)
    }

    @Test func grpcMessagePercentEncoding() {
        #expect(GRPCWire.percentEncoded("plain text; ok/fine") == "plain text; ok/fine")
        #expect(GRPCWire.percentEncoded("100%\n✓") == "100%25%0A%E2%9C%93")
        #expect(GRPCWire.percentEncoded("\u{7F}~ ") == "%7F~ ")
    }

    /// A bound, listening Unix socket, as systemd would pass it.
    static func listeningSocket(path: String) throws -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        try #require(fd >= 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8)) }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        try #require(bound == 0 && listen(fd, 16) == 0)
        return fd
    }
}
