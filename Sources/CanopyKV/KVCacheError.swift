/// Why a KV cache could not be set up.
public enum KVCacheError: Error, CustomStringConvertible, Equatable {
    /// The memory budget does not hold a single block.
    case budgetTooSmall(budgetBytes: Int, minimumBytes: Int)
    /// The memory budget holds more blocks than 32-bit block ids can address.
    case tooManyBlocks(requested: Int, maximum: Int)

    /// A message that says what to change.
    public var description: String {
        switch self {
        case .budgetTooSmall(let budget, let minimum):
            return "KV cache memory budget of \(budget) bytes is smaller than one block; "
                + "it must be at least \(minimum) bytes (one block of blockSize × layers × 2 "
                + "rows). Raise the budget or use a smaller block size or KV precision."
        case .tooManyBlocks(let requested, let maximum):
            return "KV cache memory budget gives \(requested) blocks, more than the \(maximum) "
                + "that block ids can address. Lower the budget or use a larger block size."
        }
    }
}
