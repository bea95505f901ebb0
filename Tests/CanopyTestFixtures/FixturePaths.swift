import CanopyKernels
import Foundation

/// Where the tests' reference data and the default model live.
public enum FixturePaths {
    /// `<repo>/Tests/Fixtures`.
    public static let directory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures")

    /// The default model: `$CANOPY_MODEL`, else `<repo>/models/SmolLM2-135M-Instruct.Q4_1.gguf`.
    public static let defaultModel: String = {
        if let path = ProcessInfo.processInfo.environment["CANOPY_MODEL"] { return path }
        return directory.deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("models/SmolLM2-135M-Instruct.Q4_1.gguf").path
    }()

    /// Gemma 3 270M (`make model MODEL=gemma3-270m`, fetched by `make test`):
    /// `$CANOPY_GEMMA3_MODEL`, else `<repo>/models/gemma-3-270m-q4_k_m.gguf`.
    public static let gemma3Model: String = {
        if let path = ProcessInfo.processInfo.environment["CANOPY_GEMMA3_MODEL"], !path.isEmpty { return path }
        return directory.deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("models/gemma-3-270m-q4_k_m.gguf").path
    }()

    /// `relativePath` under ``directory``.
    public static func url(_ relativePath: String) -> URL {
        directory.appendingPathComponent(relativePath)
    }

    /// Reads a little-endian f32 file under ``directory``.
    public static func readFloats(_ relativePath: String) throws -> [Float] {
        let data = try Data(contentsOf: url(relativePath))
        return data.withUnsafeBytes { raw in
            (0..<(data.count / 4)).map {
                Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self)))
            }
        }
    }

    /// Reads a little-endian IEEE half-float file under ``directory`` as floats.
    public static func readHalfFloats(_ relativePath: String) throws -> [Float] {
        let data = try Data(contentsOf: url(relativePath))
        return data.withUnsafeBytes { raw in
            (0..<(data.count / 2)).map {
                HalfFloat.toFloat(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 2, as: UInt16.self)))
            }
        }
    }
}

/// Cosine similarity in double precision.
///
/// - Precondition: `a.count == b.count`.
public func cosine(_ a: [Float], _ b: [Float]) -> Double {
    precondition(a.count == b.count)
    var dot = 0.0, na = 0.0, nb = 0.0
    for i in a.indices {
        dot += Double(a[i]) * Double(b[i])
        na += Double(a[i]) * Double(a[i])
        nb += Double(b[i]) * Double(b[i])
    }
    return dot / (na.squareRoot() * nb.squareRoot())
}

/// The index of the largest of the first `count` values (the lowest index among ties).
public func argmax(_ values: [Float], count: Int) -> Int32 {
    var best = 0
    for i in 1..<count where values[i] > values[best] { best = i }
    return Int32(best)
}
