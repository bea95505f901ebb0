import GRPCCore

/// Turns errors from a call to `canopyd` into the one line the CLI prints after `error: `.
enum DaemonErrorMessage {
    /// A readable message for `error`, which came from talking to the daemon at `socket`.
    /// gRPC status codes become a short prefix a user can act on; the server's own message
    /// (which names the bad parameter) is kept verbatim.
    static func describe(_ error: any Error, socket: String) -> String {
        if let failure = error as? CommandFailure { return failure.description }
        guard let rpc = error as? RPCError else { return "\(error)" }
        switch rpc.code {
        case .unavailable:
            // The server says UNAVAILABLE itself while draining...
            if rpc.message.localizedCaseInsensitiveContains("shutting down")
                || rpc.message.localizedCaseInsensitiveContains("draining")
            {
                return "canopyd is shutting down: \(rpc.message)"
            }
            // ...and when its model file changed under it (it serves nothing until restarted).
            if rpc.message.localizedCaseInsensitiveContains("model file") {
                return "canopyd cannot serve: \(rpc.message)"
            }
            // The transport says it when nothing answers on the socket.
            if rpc.message.localizedCaseInsensitiveContains("establish a connection") {
                return "cannot connect to \(socket) (is canopyd running?)"
            }
            return "cannot connect to \(socket) (is canopyd running?): \(rpc.message)"
        case .invalidArgument:
            return "invalid argument: \(rpc.message)"
        case .resourceExhausted:
            return "server busy: \(rpc.message) (retry later or lower the load)"
        case .cancelled:
            return "cancelled: \(rpc.message)"
        case .deadlineExceeded:
            return "timed out: \(rpc.message)"
        case .unimplemented:
            return "canopyd does not support this call (is it older than this client?): \(rpc.message)"
        case .permissionDenied, .unauthenticated:
            return "permission denied by canopyd: \(rpc.message)"
        default:
            return "canopyd failed (\(rpc.code)): \(rpc.message)"
        }
    }
}
