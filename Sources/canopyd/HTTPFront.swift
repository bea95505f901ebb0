import CanopyDaemon
import CanopyHTTP
import CanopyRPC
import Foundation
import Logging

/// The OpenAI-compatible HTTP API where `--http` / `--http-socket` ask for it, on the gRPC
/// service's engine and serving state. An HTTP Unix socket gets what the gRPC socket gets: an
/// instance lock (`<path>.lock`, so a second daemon cannot take it over), mode 0660, the
/// allowed-uids/allowed-gids check on every request's peer, and removal at exit.
struct HTTPFront {
    private var tasks: [Task<Void, any Error>] = []
    private var locks: [InstanceLock] = []
    private var socketFiles: [SocketFile] = []

    /// Starts every configured listener; throws (having stopped those started) when one
    /// cannot listen or the token file cannot be read.
    static func start(settings: DaemonConfig, service: CanopyService, logger: Logger) async throws(DaemonFailure) -> HTTPFront {
        var front = HTTPFront()
        do {
            try await front.startAll(settings: settings, service: service, logger: logger)
        } catch {
            front.stop()
            throw error
        }
        return front
    }

    private mutating func startAll(settings: DaemonConfig, service: CanopyService, logger: Logger) async throws(DaemonFailure) {
        let token = try Self.token(settings.httpTokenFile)
        let guarded = token == nil ? "" : " (bearer token required)"
        if let tcp = settings.httpAddress {
            let http = CanopyHTTPServer(service: service, address: .tcp(host: tcp.host, port: tcp.port), bearerToken: token, logger: logger)
            try await run(http)
            var shown = tcp
            shown.port = http.listeningPort ?? tcp.port
            logger.info("http: OpenAI-compatible API on http://\(shown)/v1\(guarded)")
        }
        if let path = settings.httpSocketPath {
            do {
                try SocketPathResolver.prepareParentDirectory(of: path)
                locks.append(try InstanceLock(socketPath: path))
                _ = try SocketFile.removeStale(at: path)
            } catch {
                throw DaemonFailure(message: "cannot serve HTTP on \(path): \(error)")
            }
            try await run(CanopyHTTPServer(
                service: service, address: .unixSocket(path), bearerToken: token,
                peerFilter: Daemon.peerFilter(settings.accessPolicy), logger: logger))
            do {
                socketFiles.append(try SocketFile.adopt(path: path))
            } catch {
                throw DaemonFailure(message: "cannot serve HTTP on \(path): \(error)")
            }
            logger.info("http: OpenAI-compatible API on the Unix socket \(path)\(guarded)")
        }
    }

    private mutating func run(_ server: CanopyHTTPServer) async throws(DaemonFailure) {
        do {
            tasks.append(try await server.start())
        } catch {
            throw DaemonFailure(message: "\(error)")
        }
    }

    /// The first line of `file`, trimmed; nil without a file.
    private static func token(_ file: String?) throws(DaemonFailure) -> String? {
        guard let file else { return nil }
        guard let text = try? String(contentsOfFile: file, encoding: .utf8),
              let line = text.split(whereSeparator: \.isNewline).first?.trimmingCharacters(in: .whitespaces),
              !line.isEmpty
        else { throw DaemonFailure(message: "cannot read a bearer token from the first line of \(file) (http-token-file)") }
        return line
    }

    /// Stops the listeners, removes the sockets this process bound and releases their locks.
    func stop() {
        for task in tasks { task.cancel() }
        for file in socketFiles { file.remove() }
        for lock in locks { lock.release() }
    }
}
