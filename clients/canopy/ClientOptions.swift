import ArgumentParser
import CanopyClient
import Foundation

/// Where the daemon listens: the root command's `--socket`, shared by every subcommand
/// that talks to `canopyd`.
struct ClientOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "Unix socket of canopyd.",
            discussion: "Default: $CANOPY_SOCKET, else $XDG_RUNTIME_DIR/canopy/canopyd.sock, else /run/canopy/canopyd.sock."))
    var socket: String?

    /// The socket to connect to, resolved from the flag and the process environment.
    var socketPath: String {
        Self.resolveSocket(flag: socket, environment: ProcessInfo.processInfo.environment)
    }

    /// The socket path: `flag`, else `$CANOPY_SOCKET`, else
    /// `$XDG_RUNTIME_DIR/canopy/canopyd.sock`, else `/run/canopy/canopyd.sock`
    /// (the system service's). Empty values count as unset.
    static func resolveSocket(flag: String?, environment: [String: String]) -> String {
        if let flag, !flag.isEmpty { return flag }
        if let env = environment["CANOPY_SOCKET"], !env.isEmpty { return env }
        if let runtime = environment["XDG_RUNTIME_DIR"], !runtime.isEmpty {
            return (runtime as NSString).appendingPathComponent("canopy/canopyd.sock")
        }
        return "/run/canopy/canopyd.sock"
    }

    /// Runs `body` with a client connected to the daemon, turning every failure into one
    /// `error: ...` line on stderr and exit status 1 (gRPC errors get readable messages).
    func withDaemon(_ body: (CanopyClient) async throws -> Void) async throws {
        let path = socketPath
        do {
            try Self.checkSocket(path)
            try await CanopyClient.withClient(socketPath: path) { client in
                try await body(client)
            }
        } catch let exit as ExitCode {
            throw exit
        } catch {
            FileHandle.standardError.write(Data("error: \(DaemonErrorMessage.describe(error, socket: path))\n".utf8))
            throw ExitCode.failure
        }
    }

    /// Fails early with a precise message when the socket path plainly cannot work, since
    /// the transport otherwise reports only a generic connection failure.
    private static func checkSocket(_ path: String) throws {
        var info = stat()
        guard stat(path, &info) == 0 else {
            let reason = errno == ENOENT ? "no such file" : String(cString: strerror(errno))
            throw CommandFailure("cannot connect to \(path): \(reason) (is canopyd running? set --socket or CANOPY_SOCKET)")
        }
        guard (info.st_mode & S_IFMT) == S_IFSOCK else {
            throw CommandFailure("cannot connect to \(path): not a Unix socket")
        }
        guard access(path, W_OK) == 0 else {
            throw CommandFailure("cannot connect to \(path): permission denied (are you in the canopy group?)")
        }
    }
}
