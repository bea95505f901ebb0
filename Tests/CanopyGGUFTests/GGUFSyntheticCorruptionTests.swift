import CanopyKernels
import Testing
@testable import CanopyGGUF

/// Small files built by `GGUFWriter`, then damaged at known places: each must be rejected with
/// the error that names the damage.
@Suite("Corrupt small files")
struct GGUFSyntheticCorruptionTests {
    typealias T = TestSupport

    /// A file with two keys and two F32 tensors; returns its bytes.
    static func sample(alignment: Int = 32, extra: (inout GGUFWriter) -> Void = { _ in }) -> [UInt8] {
        var writer = GGUFWriter(alignment: alignment)
        writer.add("key.aaaa", .uint32(1))
        writer.add("key.aaab", .string("v"))
        extra(&writer)
        writer.addTensor(name: "tensor.a", dimensions: [8, 2], floats: Array(repeating: 1, count: 16))
        writer.addTensor(name: "tensor.b", dimensions: [8], floats: Array(repeating: 2, count: 8))
        return writer.bytes()
    }

    /// Offset of the tensor info of `name` (its name-length field) in `bytes`.
    static func tensorInfo(_ name: String, in bytes: [UInt8]) -> Int {
        T.find(Array(name.utf8), in: bytes)! - 8
    }

    @Test("the unmodified sample parses")
    func sampleIsValid() throws {
        let file = try GGUFFile(bytes: Self.sample())
        #expect(file.tensors.count == 2)
    }

    @Test("duplicate metadata keys")
    func duplicateKeys() {
        var bytes = Self.sample()
        let at = T.find(Array("key.aaab".utf8), in: bytes)!
        bytes[at + 7] = UInt8(ascii: "a")
        #expect(T.openError(bytes) == .duplicateKey("key.aaaa"))
    }

    @Test("duplicate tensor names")
    func duplicateTensors() {
        var bytes = Self.sample()
        let at = T.find(Array("tensor.b".utf8), in: bytes)!
        bytes[at + 7] = UInt8(ascii: "a")
        #expect(T.openError(bytes) == .duplicateTensor("tensor.a"))
    }

    @Test("invalid UTF-8 in a key or a tensor name")
    func invalidUTF8() {
        var bytes = Self.sample()
        let key = T.find(Array("key.aaab".utf8), in: bytes)!
        bytes[key + 4] = 0xFF
        #expect(T.openError(bytes) == .invalidUTF8(what: "key of metadata entry 1", offset: key - 8))

        bytes = Self.sample()
        let name = T.find(Array("tensor.b".utf8), in: bytes)!
        bytes[name + 1] = 0xC3  // a lead byte followed by ASCII
        #expect(T.openError(bytes) == .invalidUTF8(what: "name of tensor 1", offset: name - 8))
    }

    @Test("invalid UTF-8 in a string value is repaired, not rejected")
    func lenientValues() throws {
        var bytes = Self.sample()
        let value = T.find(Array("key.aaab".utf8), in: bytes)! + 8 + 4 + 8
        #expect(bytes[value] == UInt8(ascii: "v"))
        bytes[value] = 0xFF
        let file = try GGUFFile(bytes: bytes)
        #expect(file.string("key.aaab") == "\u{FFFD}")
    }

    @Test("general.alignment of the wrong type or value")
    func badAlignment() {
        let wrongType = Self.sample { $0.add("general.alignment", .uint64(32)) }
        #expect(T.openError(wrongType) == .invalidAlignmentType(found: "uint64"))
        for value: UInt32 in [0, 3, 48, 1 << 31] {
            let bytes = Self.sample { $0.add("general.alignment", .uint32(value)) }
            #expect(T.openError(bytes) == .invalidAlignmentValue(UInt64(value)))
        }
    }

    @Test("a declared alignment the layout does not follow")
    func misaligned() {
        // Laid out at 32 but declaring 64: y's data starts at 32.
        var writer = GGUFWriter()
        writer.add("general.alignment", .uint32(64))
        writer.addTensor(name: "x", dimensions: [8], floats: Array(repeating: 0, count: 8))
        writer.addTensor(name: "y", dimensions: [8], floats: Array(repeating: 0, count: 8))
        #expect(T.openError(writer.bytes()) == .misalignedTensorOffset(tensor: "y", offset: 32, alignment: 64))
    }

    @Test("tensor dimension counts, dimensions and types")
    func tensorFields() {
        let base = Self.sample()
        let info = Self.tensorInfo("tensor.a", in: base)
        let nDims = info + 8 + 8
        var bytes = base
        T.patch(&bytes, at: nDims, UInt32(0))
        #expect(T.openError(bytes) == .invalidDimensionCount(tensor: "tensor.a", count: 0))
        T.patch(&bytes, at: nDims, UInt32(5))
        #expect(T.openError(bytes) == .invalidDimensionCount(tensor: "tensor.a", count: 5))

        bytes = base
        T.patch(&bytes, at: nDims + 4 + 8, Int64(0))
        #expect(T.openError(bytes) == .invalidDimension(tensor: "tensor.a", index: 1, value: 0))
        T.patch(&bytes, at: nDims + 4 + 8, Int64(-3))
        #expect(T.openError(bytes) == .invalidDimension(tensor: "tensor.a", index: 1, value: -3))

        bytes = base
        T.patch(&bytes, at: nDims + 4 + 8, Int64(1) << 62)
        #expect(T.openError(bytes) == .elementCountOverflow(tensor: "tensor.a", dimensions: [8, 1 << 62]))
        // The element count fits but the byte count (4 bytes each) does not.
        T.patch(&bytes, at: nDims + 4 + 8, Int64(1) << 59)
        #expect(T.openError(bytes) == .elementCountOverflow(tensor: "tensor.a", dimensions: [8, 1 << 59]))
        // Fits in Int, far past the end of the file.
        T.patch(&bytes, at: nDims + 4 + 8, Int64(1) << 40)
        #expect(T.caseName(T.openError(bytes)) == "tensorDataOutOfBounds")

        bytes = base
        let type = nDims + 4 + 16
        T.patch(&bytes, at: type, UInt32(99))
        #expect(T.openError(bytes) == .unknownTensorType(id: 99, tensor: "tensor.a"))
        T.patch(&bytes, at: type, UInt32(4))  // Q4_2: removed from GGML, unknown here
        #expect(T.openError(bytes) == .unknownTensorType(id: 4, tensor: "tensor.a"))
        T.patch(&bytes, at: type, GGMLType.q8_0.rawValue)  // rows of 8 values, blocks of 32
        #expect(T.openError(bytes) == .rowNotMultipleOfBlock(tensor: "tensor.a", rowLength: 8, type: "Q8_0", blockSize: 32))
    }

    @Test("overlapping tensors")
    func overlapping() {
        var bytes = Self.sample()
        let offsetField = Self.tensorInfo("tensor.b", in: bytes) + 8 + 8 + 4 + 8 + 4
        #expect(T.load(bytes, at: offsetField, as: UInt64.self) == 64)
        T.patch(&bytes, at: offsetField, UInt64(32))  // tensor.a spans 0..<64
        #expect(T.openError(bytes) == .overlappingTensors(first: "tensor.a", second: "tensor.b"))
    }

    @Test("booleans other than 0 and 1, unknown value types, deep nesting")
    func values() {
        var bytes = Self.sample { $0.add("flag", .bool(true)) }
        let flag = T.find(Array("flag".utf8), in: bytes)! + 4 + 4
        bytes[flag] = 2
        #expect(T.openError(bytes) == .invalidBool(key: "flag", byte: 2, offset: flag))

        bytes = Self.sample()
        let type = T.find(Array("key.aaab".utf8), in: bytes)! + 8
        T.patch(&bytes, at: type, UInt32(13))
        #expect(T.openError(bytes) == .unknownValueType(id: 13, key: "key.aaab", offset: type))

        var deep = GGUFValue.array([.uint8(1)])
        for _ in 0..<16 { deep = .array([deep]) }
        bytes = Self.sample { $0.add("deep", deep) }
        #expect(T.caseName(T.openError(bytes)) == "arrayNestingTooDeep")
        var allowed = GGUFValue.array([.uint8(1)])
        for _ in 0..<15 { allowed = .array([allowed]) }
        #expect(T.openError(Self.sample { $0.add("deep", allowed) }) == nil)
    }

    @Test("magic, version and byte order")
    func preamble() {
        var bytes = Self.sample()
        bytes[0] = UInt8(ascii: "g")
        #expect(T.openError(bytes) == .badMagic(found: Array("gGUF".utf8)))
        for version: UInt32 in [0, 1, 4, 0x0100_0000] {
            bytes = Self.sample()
            T.patch(&bytes, at: 4, version)
            #expect(T.openError(bytes) == .unsupportedVersion(version), "\(version)")
        }
        bytes = Self.sample()
        T.patch(&bytes, at: 4, UInt32(3).byteSwapped)
        #expect(T.openError(bytes) == .bigEndian(version: 3))
        #expect(T.openError(Array("GGU".utf8)) == .truncated(reading: "magic", offset: 0, needed: 4, fileSize: 3))
    }

    @Test("every truncation of a small file is reported, never crashes")
    func everyTruncation() {
        let bytes = Self.sample { $0.add("nested", .array([.array([.string("a"), .string("bc")])])) }
        let dataStart = Self.tensorInfo("tensor.b", in: bytes) + 8 + 8 + 4 + 8 + 4 + 8
        for cut in 0..<bytes.count {
            let error = T.openError(Array(bytes[0..<cut]))
            let allowed = cut < dataStart
                ? ["truncated", "stringPastEnd", "countTooLarge"] : ["tensorDataOutOfBounds"]
            #expect(allowed.contains(T.caseName(error)), "cut at \(cut): \(String(describing: error))")
        }
    }
}

/// String values that are not valid UTF-8 are repaired the way the standard library repairs
/// them (Unicode's maximal-subpart substitution), only faster.
@Suite("Lenient string decoding")
struct GGUFTextTests {
    @Test("matches String(decoding:as:) on valid, invalid and random bytes")
    func matchesStandardLibrary() {
        var generator = SeededGenerator(seed: 99)
        var samples: [[UInt8]] = [
            [], Array("plain ascii".utf8), Array("Ġhé ✓ 🌲".utf8),
            [0xFF], [0xC0, 0x80], [0xE0, 0x80, 0x80], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80],
            [0xF0, 0x9F, 0x8C], [0xE2, 0x9C], [0x61, 0xF0, 0x9F, 0x8C, 0x62], [0x80, 0xBF, 0xC2],
        ]
        for _ in 0..<3000 {
            let length = Int.random(in: 0...24, using: &generator)
            // Bias towards bytes that form (and break) multi-byte sequences.
            samples.append((0..<length).map { _ in
                Bool.random(using: &generator)
                    ? UInt8.random(in: 0x80...0xF5, using: &generator) : UInt8.random(in: 0...255, using: &generator)
            })
        }
        for sample in samples {
            let ours = sample.withUnsafeBytes { GGUFText.lenient($0) }
            #expect(Array(ours.utf8) == Array(String(decoding: sample, as: UTF8.self).utf8), "\(sample)")
        }
    }
}
