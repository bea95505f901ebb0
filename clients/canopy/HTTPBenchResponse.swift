import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One HTTP/1.1 response read with blocking POSIX calls (see `HTTPBenchClient`): the status,
/// and either the whole body or, for a stream, the arrival time of every server-sent event
/// that carries completion text, the usage and whether `[DONE]` came. Handles chunked and
/// length-delimited bodies, and bodies that end at connection close.
struct HTTPBenchResponse: Sendable {
    var status = 0
    var body = Data()
    var arrivals: [ContinuousClock.Instant] = []
    var promptTokens: Int?
    var completionTokens: Int?
    var sawDone = false

    /// Why an exchange failed below HTTP.
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// Connects to `host:port` (an IPv4 address or name), sends `request`, reads the response.
    static func read(host: String, port: UInt16, request: Data, streaming: Bool) throws -> HTTPBenchResponse {
        let fd = try connect(host: host, port: port)
        defer { close(fd) }
        try request.withUnsafeBytes { raw in
            var sent = 0
            while sent < raw.count {
                let n = send(fd, raw.baseAddress! + sent, raw.count - sent, Int32(MSG_NOSIGNAL))
                guard n > 0 else { throw Failure(description: "send: \(String(cString: strerror(errno)))") }
                sent += n
            }
        }
        var reader = Reader(fd: fd)
        var response = HTTPBenchResponse()
        let headers = try reader.headers()
        response.status = headers.status
        // Only a 200 stream is parsed as events; anything else is kept whole for the message.
        var events = EventSplitter(enabled: streaming && headers.status == 200)
        try reader.body(chunked: headers.chunked, length: headers.contentLength) { bytes, now in
            if events.enabled {
                events.feed(bytes) { response.take(event: $0, at: now) }
            } else {
                response.body.append(bytes)
            }
        }
        return response
    }

    /// Reads one event's `data:` lines.
    mutating func take(event: Data, at now: ContinuousClock.Instant) {
        for line in String(decoding: event, as: UTF8.self).split(separator: "\n") where line.hasPrefix("data:") {
            let payload = line.dropFirst(5).trimmingCharacters(in: .whitespaces)
            if payload == "[DONE]" {
                sawDone = true
                continue
            }
            guard let object = try? JSONSerialization.jsonObject(with: Data(payload.utf8)) as? [String: Any] else { continue }
            if let choices = object["choices"] as? [[String: Any]],
               choices.contains(where: { ($0["text"] as? String).map { !$0.isEmpty } ?? false }) {
                arrivals.append(now)
            }
            if let usage = object["usage"] as? [String: Any] {
                promptTokens = (usage["prompt_tokens"] as? NSNumber)?.intValue
                completionTokens = (usage["completion_tokens"] as? NSNumber)?.intValue
            }
        }
    }

    private static func connect(host: String, port: UInt16) throws -> Int32 {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &list) == 0, let first = list else {
            throw Failure(description: "cannot resolve \(host)")
        }
        defer { freeaddrinfo(list) }
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let info = entry {
            let fd = socket(info.pointee.ai_family, info.pointee.ai_socktype, info.pointee.ai_protocol)
            if fd >= 0 {
                if Glibc.connect(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 {
                    var one: Int32 = 1
                    setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
                    return fd
                }
                close(fd)
            }
            entry = info.pointee.ai_next
        }
        throw Failure(description: "cannot connect to \(host):\(port): \(String(cString: strerror(errno)))")
    }
}

/// Splits a byte stream into server-sent events (separated by a blank line).
private struct EventSplitter {
    let enabled: Bool
    private var pending = Data()

    init(enabled: Bool) { self.enabled = enabled }

    mutating func feed(_ bytes: Data, _ each: (Data) -> Void) {
        pending.append(bytes)
        while let end = pending.range(of: Data("\n\n".utf8)) {
            each(pending.subdata(in: pending.startIndex..<end.lowerBound))
            pending.removeSubrange(pending.startIndex..<end.upperBound)
        }
    }
}

/// Buffered reads from a socket: the header block, then the body in whatever framing it has.
private struct Reader {
    let fd: Int32
    private var buffer = Data()
    private var closed = false

    init(fd: Int32) { self.fd = fd }

    /// Reads more into `buffer`; false at end of stream.
    private mutating func fill() throws -> Bool {
        guard !closed else { return false }
        var chunk = [UInt8](repeating: 0, count: 65_536)
        let n = recv(fd, &chunk, chunk.count, 0)
        guard n >= 0 else { throw HTTPBenchResponse.Failure(description: "recv: \(String(cString: strerror(errno)))") }
        if n == 0 {
            closed = true
            return false
        }
        buffer.append(contentsOf: chunk[0..<n])
        return true
    }

    /// The status line and the headers the body's framing depends on.
    mutating func headers() throws -> (status: Int, chunked: Bool, contentLength: Int?) {
        while buffer.range(of: Data("\r\n\r\n".utf8)) == nil {
            guard try fill() else { throw HTTPBenchResponse.Failure(description: "the connection closed before the response headers") }
        }
        let end = buffer.range(of: Data("\r\n\r\n".utf8))!
        let text = String(decoding: buffer[buffer.startIndex..<end.lowerBound], as: UTF8.self)
        buffer.removeSubrange(buffer.startIndex..<end.upperBound)
        let lines = text.components(separatedBy: "\r\n")
        let status = lines.first.flatMap { $0.split(separator: " ").dropFirst().first.flatMap { Int($0) } } ?? 0
        var chunked = false
        var length: Int?
        for line in lines.dropFirst() {
            let parts = line.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2 else { continue }
            switch parts[0].lowercased() {
            case "transfer-encoding": chunked = parts[1].lowercased().contains("chunked")
            case "content-length": length = Int(parts[1])
            default: break
            }
        }
        return (status, chunked, length)
    }

    /// Hands each piece of the decoded body to `each` with the time it was read.
    mutating func body(chunked: Bool, length: Int?, _ each: (Data, ContinuousClock.Instant) -> Void) throws {
        if chunked {
            while true {
                // The chunk-size line.
                while buffer.range(of: Data("\r\n".utf8)) == nil {
                    guard try fill() else { return }
                }
                let lineEnd = buffer.range(of: Data("\r\n".utf8))!
                let sizeText = String(decoding: buffer[buffer.startIndex..<lineEnd.lowerBound], as: UTF8.self)
                buffer.removeSubrange(buffer.startIndex..<lineEnd.upperBound)
                guard let size = Int(sizeText.split(separator: ";").first ?? "", radix: 16) else {
                    throw HTTPBenchResponse.Failure(description: "bad chunk size \(sizeText)")
                }
                if size == 0 { return }
                while buffer.count < size + 2 {
                    guard try fill() else { throw HTTPBenchResponse.Failure(description: "the connection closed inside a chunk") }
                }
                let now = ContinuousClock.now
                each(buffer.subdata(in: buffer.startIndex..<buffer.startIndex + size), now)
                buffer.removeSubrange(buffer.startIndex..<buffer.startIndex + size + 2)
            }
        }
        var remaining = length ?? Int.max
        while remaining > 0 {
            if buffer.isEmpty {
                guard try fill() else { return }
            }
            let take = min(buffer.count, remaining)
            each(buffer.subdata(in: buffer.startIndex..<buffer.startIndex + take), ContinuousClock.now)
            buffer.removeSubrange(buffer.startIndex..<buffer.startIndex + take)
            remaining -= take
        }
    }
}
