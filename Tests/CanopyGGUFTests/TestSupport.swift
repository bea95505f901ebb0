import Testing
@testable import CanopyGGUF

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Shared helpers for the GGUF tests.
enum TestSupport {
    /// The default model: `$CANOPY_MODEL`, else `<repo>/models/SmolLM2-135M-Instruct.Q4_1.gguf`
    /// located from this source file.
    static var modelPath: String {
        if let path = getenv("CANOPY_MODEL").map({ String(cString: $0) }), !path.isEmpty { return path }
        var components = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
        components.removeLast(3)  // TestSupport.swift, CanopyGGUFTests, Tests
        return components.joined(separator: "/") + "/models/SmolLM2-135M-Instruct.Q4_1.gguf"
    }

    /// Fails the test with a message saying how to get the model when it is missing.
    static func requireModel() -> String? {
        let path = modelPath
        guard access(path, R_OK) == 0 else {
            Issue.record("default model missing at \(path): run `make model` or set CANOPY_MODEL")
            return nil
        }
        return path
    }

    /// Reads a whole file (or its first `limit` bytes) into memory.
    static func readFile(_ path: String, limit: Int = .max) -> [UInt8] {
        guard let handle = fopen(path, "rb") else { return [] }
        defer { fclose(handle) }
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while result.count < limit {
            let wanted = min(chunk.count, limit - result.count)
            let got = chunk.withUnsafeMutableBytes { fread($0.baseAddress, 1, wanted, handle) }
            if got == 0 { break }
            result.append(contentsOf: chunk[0..<got])
        }
        return result
    }

    /// The whole default model, read once and shared by the corruption tests.
    static let modelBytes: [UInt8] = requireModel().map { readFile($0) } ?? []

    /// The error opening `bytes` throws, or nil when they parse.
    static func openError(_ bytes: [UInt8]) -> GGUFError? {
        do {
            _ = try GGUFFile(bytes: bytes)
            return nil
        } catch {
            return error
        }
    }

    /// The error the shared parser throws for `bytes` (without copying them), or nil.
    static func parseError(_ bytes: [UInt8]) -> GGUFError? {
        bytes.withUnsafeBytes { buffer -> GGUFError? in
            do throws(GGUFError) {
                _ = try GGUFHeader.parse(buffer)
                return nil
            } catch {
                return error
            }
        }
    }

    /// The name of an error's case (`truncated`, `badMagic`, ...), to assert on the kind of
    /// problem without restating every payload.
    static func caseName(_ error: GGUFError?) -> String {
        guard let error else { return "none" }
        return Mirror(reflecting: error).children.first?.label ?? "\(error)"
    }

    /// Overwrites bytes at `offset` with the little-endian bytes of `value`.
    static func patch<T: FixedWidthInteger>(_ bytes: inout [UInt8], at offset: Int, _ value: T) {
        withUnsafeBytes(of: value.littleEndian) { raw in
            for (index, byte) in raw.enumerated() { bytes[offset + index] = byte }
        }
    }

    /// Reads a little-endian integer at `offset`.
    static func load<T: FixedWidthInteger>(_ bytes: [UInt8], at offset: Int, as: T.Type) -> T {
        var value: T = 0
        for index in (0..<MemoryLayout<T>.size).reversed() { value = value << 8 | T(bytes[offset + index]) }
        return value
    }

    /// The offset of the first occurrence of `needle` in `haystack`.
    static func find(_ needle: [UInt8], in haystack: [UInt8], from start: Int = 0) -> Int? {
        guard let first = needle.first, needle.count <= haystack.count else { return nil }
        var index = start
        while index <= haystack.count - needle.count {
            if haystack[index] == first, haystack[index..<(index + needle.count)].elementsEqual(needle) { return index }
            index += 1
        }
        return nil
    }
}

/// SplitMix64: a small seeded generator so randomized tests are reproducible.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
