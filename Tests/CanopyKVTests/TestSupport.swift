import CanopyKV
import CanopyKernels

/// A small layout so pools of a few dozen blocks stay tiny: 4 positions per block, 2 layers,
/// one head of 2 floats (8-byte rows, 128-byte blocks).
let smallLayout = PagedKVLayout(blockSize: 4, layers: 2, kvHeads: 1, headDimension: 2, precision: .f32)

/// Deterministic generator (SplitMix64) so randomized tests replay exactly.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Row contents derived from a token's whole prefix, standing in for the K/V a model would
/// compute: two different prefixes give different rows, so a block served to the wrong
/// sequence, or overwritten by another one, is caught when the rows are read back.
enum RowPattern {
    /// Fingerprint of a prefix extended by `token` (FNV-1a style fold, then a final mix).
    static func extend(_ fingerprint: UInt64, with token: Int32) -> UInt64 {
        var h = fingerprint ^ UInt64(UInt32(bitPattern: token))
        h = h &* 0x100_0000_01B3
        h ^= h >> 29
        return h &* 0xBF58_476D_1CE4_E5B9
    }

    static let emptyPrefix: UInt64 = 0xCBF2_9CE4_8422_2325

    /// Fingerprints of every prefix of `tokens` (element `i` covers tokens `0...i`).
    static func fingerprints(_ tokens: [Int32]) -> [UInt64] {
        var out: [UInt64] = []
        var h = emptyPrefix
        for token in tokens {
            h = extend(h, with: token)
            out.append(h)
        }
        return out
    }

    static func word(_ fingerprint: UInt64, layer: Int, isValue: Bool, index: Int) -> UInt32 {
        var x = fingerprint &+ UInt64(layer * 4 + (isValue ? 2 : 0) + index) &* 0x9E37_79B9_7F4A_7C15
        x ^= x >> 31
        return UInt32(truncatingIfNeeded: x)
    }

    private static func rowOffsets(_ layout: PagedKVLayout, _ slot: KVSlot, layer: Int) -> [(Int, Bool)] {
        let b = Int(slot.block), p = Int(slot.offset)
        return [
            (layout.keyRowOffset(block: b, layer: layer, position: p), false),
            (layout.valueRowOffset(block: b, layer: layer, position: p), true),
        ]
    }

    /// Writes the rows of `slot` (every layer, keys and values) for a token whose prefix
    /// fingerprint is `fingerprint`.
    static func write(_ arena: KVArena, slot: KVSlot, fingerprint: UInt64) {
        let layout = arena.layout
        let words = layout.rowBytes / 4
        for layer in 0..<layout.layers {
            for (offset, isValue) in rowOffsets(layout, slot, layer: layer) {
                let row = (arena.base + offset).assumingMemoryBound(to: UInt32.self)
                for i in 0..<words { row[i] = word(fingerprint, layer: layer, isValue: isValue, index: i) }
            }
        }
    }

    /// Whether the rows of `slot` hold exactly what `write` put there for `fingerprint`.
    static func matches(_ arena: KVArena, slot: KVSlot, fingerprint: UInt64) -> Bool {
        let layout = arena.layout
        let words = layout.rowBytes / 4
        for layer in 0..<layout.layers {
            for (offset, isValue) in rowOffsets(layout, slot, layer: layer) {
                let row = (arena.base + offset).assumingMemoryBound(to: UInt32.self)
                for i in 0..<words where row[i] != word(fingerprint, layer: layer, isValue: isValue, index: i) {
                    return false
                }
            }
        }
        return true
    }
}

extension KVCacheManager {
    /// The slot of token position `position` of `id`, from its block table.
    func slot(_ id: SequenceID, position: Int) -> KVSlot {
        let table = blockTable(id)
        return KVSlot(block: table[position / blockSize], offset: Int32(position % blockSize))
    }

    /// Reserves slots for `tokens` of `id` (whose full token list after the append is
    /// `allTokens`) and writes each new row's pattern. Returns false when out of blocks.
    @discardableResult
    func appendAndWrite(_ id: SequenceID, tokens: [Int32], allTokens: [Int32]) -> Bool {
        let start = tokenCount(id)
        guard let slots = appendSlots(id, tokens: tokens) else { return false }
        let prints = RowPattern.fingerprints(allTokens)
        for (i, slot) in slots.enumerated() {
            RowPattern.write(arena, slot: slot, fingerprint: prints[start + i])
        }
        return true
    }

    /// Positions among the first `count` of `id` whose rows do not match `tokens`' patterns.
    func mismatchedPositions(_ id: SequenceID, tokens: [Int32], count: Int? = nil) -> [Int] {
        let prints = RowPattern.fingerprints(tokens)
        let n = count ?? tokenCount(id)
        return (0..<n).filter { !RowPattern.matches(arena, slot: slot(id, position: $0), fingerprint: prints[$0]) }
    }
}
