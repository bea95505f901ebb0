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

    /// Streamed units are filled on reused slot memory while a slot is free and on their own
    /// pages when none is, and the two never alias: each unit reads as the file's bytes while
    /// filled, and its whole pages as zeros once released, whatever the order.
    @Test func streamedUnitsReadTheFileOnSlotsOrTheirOwnPagesAndZeroWhenReleased() throws {
        let (path, values) = try Self.writeSample()
        defer { unlink(path) }
        let file = try GGUFFile(path: path)
        let a = try #require(file.tensor(named: "a")), b = try #require(file.tensor(named: "b"))
        let unitA = [(file.dataOffset + a.offset)..<(file.dataOffset + a.offset + a.byteCount)]
        let unitB = [(file.dataOffset + b.offset)..<(file.dataOffset + b.offset + b.byteCount)]
        try file.readIntoMemory(streaming: [unitA, unitB], streamingWindow: 1)
        let reversed = Array(values.reversed())
        #expect(Self.wholePages(file.data(of: a)).allSatisfy { $0 == 0 })

        #expect(file.readStreamed(unitA) == nil)
        #expect(Self.floats(file.data(of: a)) == values)
        #expect(Self.onSlot(file.data(of: a)))
        file.releaseStreamed(unitA)
        #expect(Self.wholePages(file.data(of: a)).allSatisfy { $0 == 0 })

        // b takes the one slot; a, filled meanwhile, gets pages of its own.
        #expect(file.readStreamed(unitB) == nil)
        #expect(Self.onSlot(file.data(of: b)))
        #expect(file.readStreamed(unitA) == nil)
        #expect(!Self.onSlot(file.data(of: a)))
        #expect(Self.floats(file.data(of: a)) == values)
        #expect(Self.floats(file.data(of: b)) == reversed)
        file.releaseStreamed(unitB)
        #expect(Self.wholePages(file.data(of: b)).allSatisfy { $0 == 0 })
        #expect(Self.floats(file.data(of: a)) == values)
        file.releaseStreamed(unitA)
        #expect(Self.wholePages(file.data(of: a)).allSatisfy { $0 == 0 })

        // The slot is free again.
        #expect(file.readStreamed(unitA) == nil)
        #expect(Self.onSlot(file.data(of: a)))
        #expect(Self.floats(file.data(of: a)) == values)
    }

    /// The bytes of `data`'s whole pages (those it shares with nothing else), as floats.
    static func wholePages(_ data: UnsafeRawBufferPointer) -> [Float] {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = UInt(bitPattern: data.baseAddress!)
        let first = Int((start + UInt(page) - 1) / UInt(page) * UInt(page) - start)
        let end = Int((start + UInt(data.count)) / UInt(page) * UInt(page) - start)
        return end > first ? floats(UnsafeRawBufferPointer(rebasing: data[first..<end])) : []
    }

    /// Whether the middle of `data` lies in a mapping of the streaming slots' memory file
    /// (always true where there is no /proc/self/maps to tell).
    static func onSlot(_ data: UnsafeRawBufferPointer) -> Bool {
        // Read to the end: the kernel hands /proc files out a page at a time.
        guard let handle = FileHandle(forReadingAtPath: "/proc/self/maps"),
              let bytes = try? handle.readToEnd(), let maps = String(data: bytes, encoding: .utf8)
        else { return true }
        let address = UInt(bitPattern: data.baseAddress! + data.count / 2)
        return maps.split(separator: "\n").contains { line in
            guard line.contains("canopy-streamed-weights"), let span = line.split(separator: " ").first else { return false }
            let bounds = span.split(separator: "-").compactMap { UInt($0, radix: 16) }
            return bounds.count == 2 && (bounds[0]..<bounds[1]).contains(address)
        }
    }
}
