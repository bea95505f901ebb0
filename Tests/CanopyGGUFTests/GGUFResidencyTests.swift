import CanopyGGUF
import Foundation
import Testing

/// A file read into memory cannot be reached by what happens to it on disk afterwards, and
/// the change is reported.
@Suite struct GGUFResidencyTests {
    static func writeSample(floats: Int = 40_000) throws -> (path: String, values: [Float]) {
        var writer = GGUFWriter()
        writer.add("general.name", .string("resident"))
        let values = (0..<floats).map { Float($0) * 0.5 }
        writer.addTensor(name: "a", dimensions: [floats], floats: values)
        writer.addTensor(name: "b", dimensions: [floats], floats: values.reversed())
        let path = "/tmp/canopy-gguf-resident-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).gguf"
        try writer.write(to: path)
        return (path, values)
    }

    static func floats(_ data: UnsafeRawBufferPointer) -> [Float] {
        (0..<(data.count / 4)).map { data.loadUnaligned(fromByteOffset: $0 * 4, as: Float.self) }
    }

    @Test func truncatedAfterLoadingTheWeightsStayReadableAndTheChangeIsReported() throws {
        let (path, values) = try Self.writeSample()
        defer { unlink(path) }
        let file = try GGUFFile(path: path)
        try file.readIntoMemory()
        #expect(file.changeOnDisk() == nil)
        #expect(truncate(path, 100) == 0)
        // Through a mapping this read would raise SIGBUS and end the test process.
        let a = try #require(file.tensor(named: "a"))
        #expect(Self.floats(file.data(of: a)) == values)
        #expect(file.changeOnDisk()?.contains("size changed") == true)
    }

    @Test func rewrittenInPlaceTheWeightsAreTheLoadedOnesAndTheChangeIsReported() throws {
        let (path, values) = try Self.writeSample()
        defer { unlink(path) }
        let file = try GGUFFile(path: path)
        try file.readIntoMemory()
        Thread.sleep(forTimeInterval: 0.02)  // a later modification time than the load's
        let handle = try #require(FileHandle(forWritingAtPath: path))
        try handle.seek(toOffset: UInt64(file.dataOffset))
        handle.write(Data(repeating: 0xFF, count: 4096))
        try handle.close()
        let a = try #require(file.tensor(named: "a"))
        #expect(Self.floats(file.data(of: a)) == values)
        #expect(file.changeOnDisk() == "it was modified in place")
    }

    @Test func replacedOrRemovedFilesAreReported() throws {
        let (path, _) = try Self.writeSample(floats: 16)
        defer { unlink(path) }
        let file = try GGUFFile(path: path)
        try file.readIntoMemory()
        let (other, _) = try Self.writeSample(floats: 16)
        #expect(rename(other, path) == 0)
        #expect(file.changeOnDisk()?.contains("replaced") == true)
        #expect(unlink(path) == 0)
        #expect(file.changeOnDisk()?.contains("removed") == true)
    }

    @Test func skippedRangesAreNotReadAndTheRestIsTheFile() throws {
        let (path, values) = try Self.writeSample()
        defer { unlink(path) }
        let file = try GGUFFile(path: path)
        let a = try #require(file.tensor(named: "a")), b = try #require(file.tensor(named: "b"))
        let skipped = (file.dataOffset + b.offset)..<(file.dataOffset + b.offset + b.byteCount)
        try file.readIntoMemory(skipping: [skipped])
        #expect(Self.floats(file.data(of: a)) == values)
        #expect(Self.floats(file.data(of: b)).allSatisfy { $0 == 0 })
        #expect(file.string("general.name") == "resident")
    }
}
