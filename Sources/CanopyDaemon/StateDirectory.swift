import Foundation

/// Where canopyd keeps files of its own (the KV swap file of `--kv-swap-space`).
public enum StateDirectory {
    /// `$STATE_DIRECTORY` (systemd's `StateDirectory=`; the first entry when several are
    /// listed), else the directory of the socket (its runtime directory; `.` for a bare
    /// name). Reads only `environment`, touches no file.
    public static func resolve(
        socketPath: String, environment: [String: String] = ProcessInfo.processInfo.environment
    ) -> String {
        if let state = environment["STATE_DIRECTORY"]?.split(separator: ":").first, !state.isEmpty {
            return String(state)
        }
        let parent = (socketPath as NSString).deletingLastPathComponent
        return parent.isEmpty ? "." : parent
    }
}
