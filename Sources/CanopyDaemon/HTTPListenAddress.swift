/// The TCP address of the HTTP API (`--http`): `HOST:PORT`, `[IPv6]:PORT`, or `PORT` alone
/// for loopback, so turning the API on never exposes it beyond the machine by accident.
public struct HTTPListenAddress: Sendable, Equatable, CustomStringConvertible {
    /// The host or address to bind, without brackets.
    public var host: String
    /// The port; 0 picks a free one.
    public var port: Int

    /// Parses `text`; nil when it is not one of the forms above or the port is outside 0...65535.
    public init?(_ text: String) {
        let portText: Substring
        if let plain = Int(text) {
            host = "127.0.0.1"
            guard (0...65_535).contains(plain) else { return nil }
            port = plain
            return
        } else if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else { return nil }
            host = String(text[text.index(after: text.startIndex)..<close])
            portText = text[text.index(close, offsetBy: 2)...]
        } else {
            guard let colon = text.lastIndex(of: ":"), !text[..<colon].contains(":") else { return nil }
            host = String(text[..<colon])
            portText = text[text.index(after: colon)...]
        }
        guard !host.isEmpty, let port = Int(portText), (0...65_535).contains(port) else { return nil }
        self.port = port
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}
