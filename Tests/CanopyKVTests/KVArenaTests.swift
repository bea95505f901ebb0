import CanopyKV
import CanopyKernels
import Testing

@Suite("KV arena")
struct KVArenaTests {
    @Test("arena is page aligned, sized blockBytes × blockCount, and zeroed")
    func alignedAndZeroed() {
        let arena = KVArena(layout: smallLayout, blockCount: 7)
        #expect(Int(bitPattern: arena.base) % 4096 == 0)
        #expect(arena.byteCount == smallLayout.blockBytes * 7)
        let bytes = UnsafeRawBufferPointer(start: arena.base, count: arena.byteCount)
        #expect(bytes.allSatisfy { $0 == 0 })
    }

    @Test("copyBlock copies exactly one whole block and touches nothing else")
    func copyBlock() {
        let arena = KVArena(layout: smallLayout, blockCount: 4)
        let size = smallLayout.blockBytes
        let bytes = UnsafeMutableRawBufferPointer(start: arena.base, count: arena.byteCount)
        for i in 0..<bytes.count { bytes[i] = UInt8(truncatingIfNeeded: i &* 31 &+ 7) }
        let before = Array(bytes)
        arena.copyBlock(from: 1, to: 3)
        for i in 0..<bytes.count {
            let block = i / size
            let want = block == 3 ? before[size + i % size] : before[i]
            if bytes[i] != want {
                Issue.record("byte \(i) (block \(block)) is \(bytes[i]), want \(want)")
                return
            }
        }
    }

    @Test("the last row of the last block is addressable through the layout")
    func lastRowInBounds() {
        let layout = PagedKVLayout(blockSize: 16, layers: 3, kvHeads: 2, headDimension: 8, precision: .q8)
        let arena = KVArena(layout: layout, blockCount: 5)
        let end = layout.valueRowOffset(block: 4, layer: 2, position: 15) + layout.rowBytes
        #expect(end == arena.byteCount)
        (arena.base + end - 1).storeBytes(of: 0xAB, as: UInt8.self)
        #expect(arena.blockPointer(4).load(fromByteOffset: layout.blockBytes - 1, as: UInt8.self) == 0xAB)
    }
}
