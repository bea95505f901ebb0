import CanopyKernels
import Testing
import CanopyGGUF

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Files built by `GGUFWriter` read back with the values and tensors they were built from.
@Suite("Writer → reader round trip")
struct GGUFRoundTripTests {
    /// One value of every type, at the extremes of its range where that is a risk.
    static let everyType: [(String, GGUFValue)] = [
        ("u8", .uint8(255)), ("i8", .int8(-128)), ("u16", .uint16(65535)), ("i16", .int16(-32768)),
        ("u32", .uint32(4_000_000_000)), ("i32", .int32(-2_000_000_000)),
        ("u64", .uint64(UInt64.max)), ("i64", .int64(Int64.min)),
        ("f32", .float32(-1.5e-7)), ("f64", .float64(3.141592653589793)),
        ("t", .bool(true)), ("f", .bool(false)),
        ("s", .string("héllo ✓ 🌲")), ("empty", .string("")), ("nul", .string("a\u{0}b")),
        ("floats", .array([.float32(1), .float32(-2.5), .float32(.infinity)])),
        ("strings", .array([.string("Ġthe"), .string(""), .string("ĊĊ")])),
        ("ints", .array([.int32(-1), .int32(7)])),
        ("bools", .array([.bool(true), .bool(false)])),
        ("u64s", .array([.uint64(0), .uint64(UInt64.max)])),
        ("nested", .array([
            .array([.uint8(1), .uint8(2)]),
            .array([.string("x")]),
            .array([]),
            .array([.array([.float64(-0.0)])]),
        ])),
        ("nothing", .array([])),
    ]

    @Test("every metadata value type, in file order", arguments: [UInt32(2), 3])
    func everyValueType(version: UInt32) throws {
        var writer = GGUFWriter(version: version)
        for (key, value) in Self.everyType { writer.add(key, value) }
        let file = try GGUFFile(bytes: writer.bytes())
        #expect(file.version == version)
        #expect(file.metadataKeys == Self.everyType.map(\.0))
        for (key, value) in Self.everyType {
            #expect(file.metadata[key] == value, "\(key)")
        }
        #expect(file.tensors.isEmpty)
    }

    @Test("typed helpers convert only what they promise")
    func typedHelpers() throws {
        var writer = GGUFWriter()
        for (key, value) in Self.everyType { writer.add(key, value) }
        let file = try GGUFFile(bytes: writer.bytes())
        #expect(file.int("u8") == 255)
        #expect(file.int("i64") == Int(Int64.min))
        #expect(file.int("u64") == nil)  // does not fit in Int
        #expect(file.int("f32") == nil)
        #expect(file.float("f64") == 3.141592653589793)
        #expect(file.float("f32") == Double(Float(-1.5e-7)))
        #expect(file.float("u32") == 4_000_000_000)
        #expect(file.float("s") == nil)
        #expect(file.bool("t") == true)
        #expect(file.bool("u8") == nil)
        #expect(file.string("s") == "héllo ✓ 🌲")
        #expect(file.string("nul")?.utf8.count == 3)
        #expect(file.stringArray("strings") == ["Ġthe", "", "ĊĊ"])
        #expect(file.stringArray("ints") == nil)
        #expect(file.intArray("ints") == [-1, 7])
        #expect(file.intArray("u64s") == nil)
        #expect(file.floatArray("floats") == [1, -2.5, .infinity])
        #expect(file.floatArray("ints") == [-1, 7])
        #expect(file.stringArray("nothing") == [])
        #expect(file.intArray("s") == nil)
    }

    @Test("tensors of every type keep their dimensions and bytes", arguments: [UInt32(2), 3])
    func everyTensorType(version: UInt32) throws {
        var generator = SeededGenerator(seed: 7)
        var writer = GGUFWriter(version: version)
        var expected: [(String, GGMLType, [Int], [UInt8])] = []
        for (index, type) in GGMLType.allCases.enumerated() {
            // Two rows of two blocks, and a 3- or 4-dimensional shape for some types.
            let dims = index % 2 == 0 ? [type.blockSize * 2, 2] : [type.blockSize, 1, 2, 1 + index % 3]
            let count = type.byteCount(forElements: dims.reduce(1, *))!
            let data = (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
            writer.addTensor(name: "t.\(type)", type: type, dimensions: dims, data: data)
            expected.append(("t.\(type)", type, dims, data))
        }
        let bytes = writer.bytes()
        let file = try GGUFFile(bytes: bytes)
        #expect(file.tensors.map(\.name) == expected.map(\.0))
        for (name, type, dims, data) in expected {
            let tensor = try #require(file.tensor(named: name))
            #expect(tensor.type == type)
            #expect(tensor.dimensions == dims)
            #expect(tensor.elementCount == dims.reduce(1, *))
            #expect(tensor.byteCount == data.count)
            #expect(tensor.offset % 32 == 0)
            let stored = file.data(of: tensor)
            #expect(Array(stored) == data, "\(name)")
            #expect(Int(bitPattern: stored.baseAddress!) % 32 == 0, "\(name) data is not aligned in memory")
            // The bytes also sit where the format says: data section start + offset.
            let start = file.dataOffset + tensor.offset
            #expect(Array(bytes[start..<(start + data.count)]) == data)
        }
    }

    @Test("custom alignment is written, read and honoured", arguments: [1, 8, 64, 4096])
    func customAlignment(alignment: Int) throws {
        var writer = GGUFWriter(alignment: alignment)
        writer.add("general.architecture", .string("llama"))
        writer.addTensor(name: "a", dimensions: [3], floats: [1, 2, 3])
        writer.addTensor(name: "b", dimensions: [5, 1], floats: [4, 5, 6, 7, 8])
        let bytes = writer.bytes()
        let file = try GGUFFile(bytes: bytes)
        #expect(file.alignment == alignment)
        #expect(file.metadata["general.alignment"] == (alignment == 32 ? nil : .uint32(UInt32(alignment))))
        #expect(file.dataOffset % alignment == 0)
        for tensor in file.tensors { #expect(tensor.offset % alignment == 0) }
        let b = try #require(file.tensor(named: "b"))
        let values = (0..<5).map { file.data(of: b).loadUnaligned(fromByteOffset: $0 * 4, as: Float.self) }
        #expect(values == [4, 5, 6, 7, 8])
        #expect(file.tensor(named: "a")?.rowCount == 1)
        #expect(b.rowLength == 5)
    }

    @Test("files written to disk open through the memory mapping")
    func pathRoundTrip() throws {
        var writer = GGUFWriter()
        writer.add("general.name", .string("tiny"))
        writer.addTensor(name: "w", dimensions: [4, 2], floats: [0, 1, 2, 3, 4, 5, 6, 7])
        let path = "/tmp/canopy-gguf-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).gguf"
        defer { unlink(path) }
        try writer.write(to: path)
        let file = try GGUFFile(path: path)
        #expect(file.path == path)
        #expect(file.string("general.name") == "tiny")
        let w = try #require(file.tensor(named: "w"))
        let data = file.data(of: w)
        #expect(Int(bitPattern: data.baseAddress!) % 32 == 0)
        #expect((0..<8).map { data.loadUnaligned(fromByteOffset: $0 * 4, as: Float.self) } == [0, 1, 2, 3, 4, 5, 6, 7])
        #expect(file.fileSize == writer.bytes().count)
    }

    @Test("opening a missing or unreadable path names the path")
    func missingPath() {
        let path = "/nonexistent/canopy/model.gguf"
        #expect(throws: GGUFError.cannotOpen(path: path, reason: "No such file or directory")) {
            try GGUFFile(path: path)
        }
        #expect(throws: GGUFError.cannotOpen(path: "/tmp", reason: "not a regular file")) {
            try GGUFFile(path: "/tmp")
        }
        var writer = GGUFWriter()
        writer.add("k", .bool(true))
        #expect(throws: GGUFError.self) { try writer.write(to: "/nonexistent/dir/x.gguf") }
    }

    @Test("an empty file is reported as truncated, from disk and from memory")
    func emptyFile() throws {
        let path = "/tmp/canopy-gguf-empty-\(getpid()).gguf"
        defer { unlink(path) }
        try GGUFWriter().write(to: path)  // write something valid first, then empty it
        #expect(truncate(path, 0) == 0)
        let expected = GGUFError.truncated(reading: "magic", offset: 0, needed: 4, fileSize: 0)
        #expect(throws: expected) { try GGUFFile(path: path) }
        #expect(throws: expected) { try GGUFFile(bytes: []) }
    }
}
