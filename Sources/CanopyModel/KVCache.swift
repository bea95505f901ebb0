/// Keys and values of every layer for a fixed number of sequence slots, each holding up to
/// `capacity` positions, stored contiguously.
///
/// This is the simple cache used by single-sequence generation; the serving engine's paged
/// cache replaces it behind the same model code. Layout: for each layer, for each slot, for
/// each position, `width` keys (and likewise values).
///
/// Not thread-safe: one forward pass at a time writes it.
public final class KVCache: @unchecked Sendable {
    /// Number of layers.
    public let layers: Int
    /// Number of independent sequences.
    public let slots: Int
    /// Positions per slot.
    public let capacity: Int
    /// Values per position per layer (key heads × head size).
    public let width: Int
    /// Whether stored values are rounded to half precision, as llama.cpp's default f16 cache
    /// does; keeps our numerics closer to it at no cost in speed.
    public let roundsToHalf: Bool

    private let keys: UnsafeMutablePointer<Float>
    private let values: UnsafeMutablePointer<Float>

    /// Allocates a zeroed cache.
    public init(layers: Int, slots: Int, capacity: Int, width: Int, roundsToHalf: Bool = true) {
        precondition(layers > 0 && slots > 0 && capacity > 0 && width > 0, "empty KV cache")
        self.layers = layers
        self.slots = slots
        self.capacity = capacity
        self.width = width
        self.roundsToHalf = roundsToHalf
        let count = layers * slots * capacity * width
        keys = .allocate(capacity: count)
        keys.initialize(repeating: 0, count: count)
        values = .allocate(capacity: count)
        values.initialize(repeating: 0, count: count)
    }

    deinit {
        keys.deallocate()
        values.deallocate()
    }

    private func offset(layer: Int, slot: Int, position: Int) -> Int {
        precondition(layer < layers && slot < slots && position < capacity, "KV cache index out of range")
        return ((layer * slots + slot) * capacity + position) * width
    }

    /// Stores one position's keys and values.
    public func store(layer: Int, slot: Int, position: Int, key: UnsafePointer<Float>, value: UnsafePointer<Float>) {
        let base = offset(layer: layer, slot: slot, position: position)
        for i in 0..<width {
            if roundsToHalf {
                keys[base + i] = Float(Float16(key[i]))
                values[base + i] = Float(Float16(value[i]))
            } else {
                keys[base + i] = key[i]
                values[base + i] = value[i]
            }
        }
    }

    /// Keys of `slot` in `layer`, position-major (`capacity × width`).
    public func keys(layer: Int, slot: Int) -> UnsafePointer<Float> {
        UnsafePointer(keys + offset(layer: layer, slot: slot, position: 0))
    }

    /// Values of `slot` in `layer`, position-major (`capacity × width`).
    public func values(layer: Int, slot: Int) -> UnsafePointer<Float> {
        UnsafePointer(values + offset(layer: layer, slot: slot, position: 0))
    }
}
