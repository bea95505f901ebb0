import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A minimal HTTP/1.1 client over a blocking POSIX TCP socket, for the live-server tests:
/// one request per connection (`Connection: close`), the response read to end of file and
/// de-chunked. It is written here rather than taken from an HTTP library so that the tests
/// see exactly the bytes a client gets, and so that a test can walk away mid-response.
struct RawHTTPClient {
    /// A parsed response.
    struct Response {
        /// The status code.
        let status: Int
        /// Header fields, names lower-cased.
        let headers: [String: String]
        /// The body, de-chunked when the server chunked it.
        let body: Data

        /// The body as a JSON object.
        func json() throws -> [String: Any] {
            guard let object = try JSONSerialization.jsonObject(with: body) as? [String: Any] else {
                throw RawHTTPError.malformed("the body is not a JSON object: \(String(decoding: body, as: UTF8.self))")
            }
            return object
        }

        /// The `data:` payloads of a server-sent-events body, in order.
        var events: [String] {
            String(decoding: body, as: UTF8.self).components(separatedBy: "\n")
                .filter { $0.hasPrefix("data: ") }.map { String($0.dropFirst("data: ".count)) }
        }
    }

    /// The loopback port the server listens on.
    let port: Int

    /// Sends `method path` with `body` (JSON when given) and reads the whole response.
    func send(_ method: String, _ path: String, body: Data? = nil) throws -> Response {
        let fd = try connect()
        defer { close(fd) }
        try write(fd, Self.request(method, path, body: body))
        var received = Data()
        var buffer = [UInt8](repeating: 0, count: 16 << 10)
        while true {
            let count = Glibc.recv(fd, &buffer, buffer.count, 0)
            if count < 0 { throw RawHTTPError.socket("recv: \(String(cString: strerror(errno)))") }
            if count == 0 { break }
            received.append(contentsOf: buffer[0..<count])
        }
        return try Self.parse(received)
    }

    /// Sends `method path` with `body`, reads until `bytes` bytes of the response have come,
    /// and closes the connection: a client that goes away mid-response.
    func sendAndHangUp(_ method: String, _ path: String, body: Data, after bytes: Int) throws {
        let fd = try connect()
        defer { close(fd) }
        try write(fd, Self.request(method, path, body: body))
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while received.count < bytes {
            let count = Glibc.recv(fd, &buffer, buffer.count, 0)
            if count <= 0 {
                throw RawHTTPError.socket("the server closed after \(received.count) bytes: \(String(decoding: received, as: UTF8.self))")
            }
            received += buffer[0..<count]
        }
    }

    private func connect() throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw RawHTTPError.socket("socket: \(String(cString: strerror(errno)))") }
        var timeout = timeval(tv_sec: 600, tv_usec: 0)  // see LiveHTTPServerTests.withServer
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard result == 0 else {
            close(fd)
            throw RawHTTPError.socket("connect to 127.0.0.1:\(port): \(String(cString: strerror(errno)))")
        }
        return fd
    }

    private func write(_ fd: Int32, _ data: Data) throws {
        var sent = 0
        while sent < data.count {
            let count = data.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + sent, data.count - sent, Int32(MSG_NOSIGNAL)) }
            guard count > 0 else { throw RawHTTPError.socket("send: \(String(cString: strerror(errno)))") }
            sent += count
        }
    }

    private static func request(_ method: String, _ path: String, body: Data?) -> Data {
        var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        if let body { head += "Content-Type: application/json\r\nContent-Length: \(body.count)\r\n" }
        var data = Data((head + "\r\n").utf8)
        if let body { data.append(body) }
        return data
    }

    /// Splits a whole response into status, headers and (de-chunked) body.
    static func parse(_ data: Data) throws -> Response {
        let bytes = [UInt8](data)
        guard let end = bytes.firstRange(of: Array("\r\n\r\n".utf8)) else {
            throw RawHTTPError.malformed("no end of headers in \(bytes.count) bytes")
        }
        let lines = String(decoding: bytes[..<end.lowerBound], as: UTF8.self).components(separatedBy: "\r\n")
        let statusParts = lines[0].split(separator: " ")
        guard statusParts.count >= 2, statusParts[0].hasPrefix("HTTP/1."), let status = Int(statusParts[1]) else {
            throw RawHTTPError.malformed("bad status line \(lines[0])")
        }
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { throw RawHTTPError.malformed("bad header line \(line)") }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        var body = Array(bytes[end.upperBound...])
        if headers["transfer-encoding"]?.lowercased() == "chunked" { body = try dechunk(body) }
        return Response(status: status, headers: headers, body: Data(body))
    }

    /// The payload of a chunked body; throws unless it ends with the zero-length chunk.
    static func dechunk(_ bytes: [UInt8]) throws -> [UInt8] {
        var payload: [UInt8] = []
        var index = 0
        while true {
            guard let lineEnd = bytes[index...].firstRange(of: Array("\r\n".utf8)) else {
                throw RawHTTPError.malformed("a chunk size line is cut short")
            }
            let sizeText = String(decoding: bytes[index..<lineEnd.lowerBound], as: UTF8.self)
            guard let size = Int(sizeText.split(separator: ";")[0], radix: 16) else {
                throw RawHTTPError.malformed("bad chunk size \(sizeText)")
            }
            index = lineEnd.upperBound
            if size == 0 { return payload }
            guard index + size + 2 <= bytes.count else { throw RawHTTPError.malformed("a chunk is cut short") }
            payload += bytes[index..<(index + size)]
            index += size + 2
        }
    }
}

/// Why a live-server exchange failed.
enum RawHTTPError: Error, CustomStringConvertible {
    case socket(String)
    case malformed(String)

    var description: String {
        switch self {
        case .socket(let what): return "socket error: \(what)"
        case .malformed(let what): return "malformed response: \(what)"
        }
    }
}
