import CanopyKernels
import Foundation
import Logging

/// A swift-log handler writing one line per message to stderr, formatted for where stderr goes.
///
/// Under systemd (`$JOURNAL_STREAM` set) each line starts with the syslog priority, `<6>`,
/// which journald strips and records as the entry's priority (so `journalctl -p warning`
/// works), and carries no timestamp, since the journal adds its own. On a terminal or file
/// each line starts with an ISO 8601 timestamp and the level name.
public struct StderrLogHandler: LogHandler {
    /// Whether lines are formatted for journald.
    public let journald: Bool
    /// The logger label, printed before each message.
    public let label: String
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]

    /// A handler for `label`; `journald` defaults to whether `$JOURNAL_STREAM` is set.
    public init(label: String, level: Logger.Level = .info, journald: Bool? = nil) {
        self.label = label
        self.logLevel = level
        self.journald = journald ?? (ProcessInfo.processInfo.environment["JOURNAL_STREAM"]?.isEmpty == false)
    }

    /// Installs this handler for every logger, at `level`. Call once, first thing in `main`.
    public static func bootstrap(level: Logger.Level) {
        LoggingSystem.bootstrap { label in StderrLogHandler(label: label, level: level) }
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var extra = event.metadata ?? [:]
        if let error = event.error { extra["error"] = "\(error)" }
        Self.write(format(level: event.level, message: event.message, metadata: extra) + "\n")
    }

    /// The line (without newline) `log` writes.
    public func format(level: Logger.Level, message: Logger.Message, metadata extra: Logger.Metadata?) -> String {
        var merged = metadata
        if let extra { merged.merge(extra) { $1 } }
        let fields = merged.isEmpty ? "" : " " + merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        // A newline inside a message would start a new journal entry without a priority.
        let text = "\(label): \(message)\(fields)".replacingOccurrences(of: "\n", with: "\\n")
        if journald { return "<\(Self.syslogPriority(level))>\(text)" }
        let timestamp = Date().formatted(.iso8601)
        return "\(timestamp) \(level) \(text)"
    }

    /// The syslog priority journald records for `level`.
    public static func syslogPriority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: return 7
        case .info: return 6
        case .notice: return 5
        case .warning: return 4
        case .error: return 3
        case .critical: return 2
        }
    }

    // One lock for all handlers, so lines from different threads never interleave.
    private static let output = Locked(())

    private static func write(_ line: String) {
        output.withLock { _ in
            let bytes = Array(line.utf8)
            var offset = 0
            while offset < bytes.count {
                let written = bytes[offset...].withUnsafeBytes { Glibc.write(STDERR_FILENO, $0.baseAddress, $0.count) }
                if written < 0 && errno == EINTR { continue }
                guard written > 0 else { return }
                offset += written
            }
        }
    }
}
