import Foundation
import Testing

@testable import CanopyKernels

/// Loads the gguf-py reference vectors copied into `Tests/Fixtures/quant-vectors/`.
enum QuantFixtures {
    static let rows = 4
    static let cols = 512

    static var directory: URL {
        URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent()
            .deletingLastPathComponent()
            .appendingPathComponent("Fixtures/quant-vectors")
    }

    /// Every type the fixtures cover.
    static let types: [GGMLType] = [
        .f16, .bf16, .q8_0, .q4_0, .q4_1, .q5_0, .q5_1, .q2_K, .q3_K, .q4_K, .q5_K, .q6_K,
    ]

    /// The raw blocks of all 4 rows of `type`.
    static func raw(_ type: GGMLType) throws -> [UInt8] {
        let url = directory.appendingPathComponent("\(type).raw")
        let data = try Data(contentsOf: url)
        #expect(data.count == rows * type.byteCount(forElements: cols)!, "size of \(url.path)")
        return [UInt8](data)
    }

    /// gguf-py's dequantization of `raw(type)`: 4 × 512 little-endian f32.
    static func expected(_ type: GGMLType) throws -> [Float] {
        let url = directory.appendingPathComponent("\(type).f32")
        let data = try Data(contentsOf: url)
        #expect(data.count == rows * cols * 4, "size of \(url.path)")
        return data.withUnsafeBytes { raw in
            (0..<(data.count / 4)).map {
                Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self)))
            }
        }
    }
}
