import Testing
@testable import CanopyGGUF

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The real default model, truncated and damaged: every variant must be rejected with the
/// error naming the damage, and none may crash.
///
/// Layout facts (offsets of fields, the header's end at 1,785,664 = the data section start,
/// tensor offsets and sizes) were read from the file with gguf-py 0.19.0. Most tests call the
/// shared parser on the bytes in place (`GGUFHeader.parse`, the same code `GGUFFile` runs) to
/// avoid copying the 98 MB model for every variant.
@Suite("Corrupt copies of the default model")
struct GGUFModelCorruptionTests {
    typealias T = TestSupport
    static let headerEnd = 1_785_664
    static let fileSize = 98_362_432
    /// Each parse of the model's header is ~10x slower unoptimized, so debug builds sample
    /// fewer cuts and flips (release: about 2,300 cuts and 2,100 flips).
    #if DEBUG
    static let sampling = 4
    #else
    static let sampling = 1
    #endif

    /// Parses the first `cut` bytes of the model in place.
    static func parsePrefix(_ cut: Int) -> GGUFError? {
        T.modelBytes.withUnsafeBytes { buffer -> GGUFError? in
            do throws(GGUFError) {
                _ = try GGUFHeader.parse(UnsafeRawBufferPointer(rebasing: buffer[0..<cut]))
                return nil
            } catch {
                return error
            }
        }
    }

    /// Checks that a truncation inside the header is reported as one, at or before the cut.
    static func checkHeaderCut(_ cut: Int) {
        let error = parsePrefix(cut)
        switch error {
        case let .truncated(_, offset, needed, fileSize)?:
            #expect(fileSize == cut && offset <= cut && offset + needed > cut, "cut at \(cut): \(error!)")
        case let .stringPastEnd(_, length, offset, remaining)?:
            #expect(offset + 8 + remaining == cut && length > UInt64(remaining), "cut at \(cut): \(error!)")
        case let .countTooLarge(what, _, offset, remaining)?:
            // The tensor count (at 8) is checked against the bytes after both header counts.
            let end = what == "tensor count" ? offset + 16 : offset + 8
            #expect(end + remaining == cut, "cut at \(cut): \(error!)")
        default:
            Issue.record("cut at \(cut): expected a truncation error, got \(String(describing: error))")
        }
    }

    @Test("every cut in the first 4 KB")
    func firstBytes() throws {
        try #require(T.modelBytes.count == Self.fileSize)
        for cut in 0..<4096 { Self.checkHeaderCut(cut) }
        // The same through the public initializer, on a sample of the cuts.
        for cut in stride(from: 0, to: 4096, by: 97) {
            #expect(T.caseName(T.openError(Array(T.modelBytes[0..<cut]))) == T.caseName(Self.parsePrefix(cut)))
        }
    }

    @Test("cuts spread through the metadata and tensor-info region")
    func spreadCuts() throws {
        try #require(T.modelBytes.count == Self.fileSize)
        var generator = SeededGenerator(seed: 42)
        var cuts = Array(stride(from: 4096, to: Self.headerEnd, by: 9973))
        // Around the scalar entries after the vocabulary, and through the tensor infos
        // (which start at 1,769,507).
        cuts += (1_768_860..<1_769_560)
        cuts += (0..<300).map { _ in Int.random(in: 1_769_507..<Self.headerEnd, using: &generator) }
        cuts += ((Self.headerEnd - 64)..<Self.headerEnd)
        for cut in stride(from: 0, to: cuts.count, by: Self.sampling).map({ cuts[$0] }) { Self.checkHeaderCut(cut) }
    }

    @Test("cuts inside the tensor data name the tensor that no longer fits")
    func dataCuts() throws {
        try #require(T.modelBytes.count == Self.fileSize)
        let data = Self.headerEnd
        let cases: [(cut: Int, tensor: String, offset: Int, bytes: Int)] = [
            (data, "token_embd.weight", 0, 30_081_024),
            (data + 10, "token_embd.weight", 0, 30_081_024),
            (31_866_688 + 100, "blk.0.attn_norm.weight", 31_866_688 - data, 2304),
            (Self.fileSize - 1, "output_norm.weight", 98_360_128 - data, 2304),
        ]
        for (cut, tensor, offset, bytes) in cases {
            #expect(Self.parsePrefix(cut) == .tensorDataOutOfBounds(
                tensor: tensor, offset: UInt64(offset), byteCount: bytes, dataOffset: data, dataSize: cut - data))
        }
        #expect(Self.parsePrefix(Self.fileSize) == nil)
    }

    @Test("a truncated file on disk is rejected through the mapping")
    func truncatedOnDisk() throws {
        try #require(T.modelBytes.count == Self.fileSize)
        let path = "/tmp/canopy-gguf-truncated-\(getpid()).gguf"
        defer { unlink(path) }
        let prefix = Array(T.modelBytes[0..<(2 << 20)])
        let handle = try #require(fopen(path, "wb"))
        _ = prefix.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, handle) }
        fclose(handle)
        #expect(throws: GGUFError.tensorDataOutOfBounds(
            tensor: "token_embd.weight", offset: 0, byteCount: 30_081_024,
            dataOffset: Self.headerEnd, dataSize: (2 << 20) - Self.headerEnd)) {
            try GGUFFile(path: path)
        }
    }

    /// The model with `change` applied, parsed in place.
    static func mutated(_ change: (inout [UInt8]) -> Void) -> GGUFError? {
        var bytes = T.modelBytes
        change(&bytes)
        return T.parseError(bytes)
    }

    @Test("damaged header fields are named")
    func mutations() throws {
        try #require(T.modelBytes.count == Self.fileSize)
        let size = Self.fileSize
        #expect(Self.mutated { $0[1] = 0 } == .badMagic(found: [0x47, 0, 0x55, 0x46]))
        #expect(Self.mutated { T.patch(&$0, at: 4, UInt32(1)) } == .unsupportedVersion(1))
        #expect(Self.mutated { T.patch(&$0, at: 4, UInt32(7)) } == .unsupportedVersion(7))
        #expect(Self.mutated { T.patch(&$0, at: 4, UInt32(3).byteSwapped) } == .bigEndian(version: 3))
        #expect(Self.mutated { T.patch(&$0, at: 8, UInt64.max) }
                == .countTooLarge(what: "tensor count", count: .max, offset: 8, remainingBytes: size - 24))
        #expect(Self.mutated { T.patch(&$0, at: 8, UInt64(size / 16)) }
                == .countTooLarge(what: "tensor count", count: UInt64(size / 16), offset: 8, remainingBytes: size - 24))
        // Plausible-looking but wrong: 273 tensors means reading one more info past the real ones.
        #expect(T.caseName(Self.mutated { T.patch(&$0, at: 8, UInt64(273)) }) != "none")
        #expect(Self.mutated { T.patch(&$0, at: 16, UInt64(1) << 40) }
                == .countTooLarge(what: "metadata entry count", count: 1 << 40, offset: 16, remainingBytes: size - 24))
        // general.architecture: key length at 24, value type at 52, value length at 56.
        #expect(Self.mutated { T.patch(&$0, at: 24, UInt64(1) << 50) }
                == .stringPastEnd(reading: "key of metadata entry 0", length: 1 << 50, offset: 24, remainingBytes: size - 32))
        #expect(Self.mutated { T.patch(&$0, at: 56, UInt64(size)) }
                == .stringPastEnd(reading: "string value of 'general.architecture'", length: UInt64(size),
                                  offset: 56, remainingBytes: size - 64))
        #expect(Self.mutated { T.patch(&$0, at: 52, UInt32(99)) }
                == .unknownValueType(id: 99, key: "general.architecture", offset: 52))
        // tokenizer.ggml.tokens: key at 1062, element count at 1099.
        #expect(Self.mutated { T.patch(&$0, at: 1099, UInt64(1) << 60) }
                == .countTooLarge(what: "element count of array 'tokenizer.ggml.tokens'", count: 1 << 60,
                                  offset: 1099, remainingBytes: size - 1107))

        // token_embd.weight's info: name length at 1,769,507, then name, n_dims, 2 dims, type, offset.
        let info = try #require(T.find(Array("token_embd.weight".utf8), in: T.modelBytes)) - 8
        #expect(info == 1_769_507)
        let nDims = info + 8 + 17, type = nDims + 4 + 16, offset = type + 4
        let name = "token_embd.weight"
        #expect(Self.mutated { T.patch(&$0, at: nDims, UInt32(7)) } == .invalidDimensionCount(tensor: name, count: 7))
        #expect(Self.mutated { T.patch(&$0, at: type, UInt32(99)) } == .unknownTensorType(id: 99, tensor: name))
        #expect(Self.mutated { T.patch(&$0, at: offset, UInt64(16)) }
                == .misalignedTensorOffset(tensor: name, offset: 16, alignment: 32))
        #expect(Self.mutated { T.patch(&$0, at: offset, UInt64(1) << 40) }
                == .tensorDataOutOfBounds(tensor: name, offset: 1 << 40, byteCount: 30_081_024,
                                          dataOffset: Self.headerEnd, dataSize: size - Self.headerEnd))
        // Moving the next tensor (blk.0.attn_norm.weight) onto the embedding's bytes.
        let normInfo = try #require(T.find(Array("blk.0.attn_norm.weight".utf8), in: T.modelBytes, from: info)) - 8
        let overlap = Self.mutated { T.patch(&$0, at: normInfo + 8 + 22 + 4 + 8 + 4, UInt64(1024)) }
        #expect(overlap == .overlappingTensors(first: name, second: "blk.0.attn_norm.weight"))
        // The public initializer reports the same as the parser it shares.
        var bytes = T.modelBytes
        T.patch(&bytes, at: nDims, UInt32(7))
        #expect(T.openError(bytes) == .invalidDimensionCount(tensor: name, count: 7))
    }

    enum Region: String, CaseIterable, Sendable {
        case wholeHeader, scalarEntries, tensorInfos
        var range: Range<Int> {
            switch self {
            case .wholeHeader: return 0..<1_785_664
            case .scalarEntries: return 0..<1_107
            case .tensorInfos: return 1_768_860..<1_785_664
            }
        }
    }

    @Test("random byte flips never crash", arguments: Region.allCases)
    func randomFlips(region: Region) throws {
        try #require(T.modelBytes.count == Self.fileSize)
        var generator = SeededGenerator(seed: 1234 + UInt64(region.range.lowerBound))
        var bytes = T.modelBytes
        var outcomes: [String: Int] = [:]
        let rounds = 700 / Self.sampling
        for _ in 0..<rounds {
            var flipped: [(Int, UInt8)] = []
            for _ in 0..<Int.random(in: 1...3, using: &generator) {
                let at = Int.random(in: region.range, using: &generator)
                flipped.append((at, bytes[at]))
                bytes[at] ^= UInt8.random(in: 1...255, using: &generator)
            }
            let result = bytes.withUnsafeBytes { buffer in
                Result { () throws(GGUFError) in try GGUFHeader.parse(buffer) }
            }
            switch result {
            case let .success(header):
                outcomes["valid", default: 0] += 1
                // A file that parses keeps every promise GGUFFile makes.
                #expect(header.metadataKeys.count == header.metadata.count)
                #expect(Set(header.tensors.map(\.name)).count == header.tensors.count)
                for tensor in header.tensors {
                    #expect(header.dataOffset + tensor.offset + tensor.byteCount <= bytes.count)
                    #expect(tensor.offset % header.alignment == 0)
                }
            case let .failure(error):
                outcomes[T.caseName(error), default: 0] += 1
            }
            for (at, original) in flipped.reversed() { bytes[at] = original }
        }
        #expect(outcomes.values.reduce(0, +) == rounds)
        // Flips in these regions hit fields the parser must reject, not only string bytes.
        #expect(outcomes["valid", default: 0] < rounds)
        print("byte flips in \(region): \(outcomes.sorted { $0.key < $1.key })")
    }
}
