/// Scratch buffers for `BPEModel.encodeWord`, reused across the words of one encode call so
/// the merge loop allocates nothing per word.
struct BPEWorkspace {
    /// A candidate merge of the adjacent symbols at `left` and `right`.
    struct Pair: HeapOrdered {
        var rank: Int32
        var left: Int32
        var right: Int32
        var leftSymbol: Int32
        var rightSymbol: Int32
        var merged: Int32

        /// Heap order: lower rank first, then the leftmost position (llama.cpp's comparator).
        @inline(__always)
        func precedes(_ other: Pair) -> Bool {
            rank < other.rank || (rank == other.rank && left < other.left)
        }
    }

    /// Current symbol of each position; -1 once merged into its left neighbour.
    var symbols: [Int32] = []
    var prev: [Int32] = []
    var next: [Int32] = []
    var heap = BinaryHeap<Pair>()

    mutating func reset() {
        symbols.removeAll(keepingCapacity: true)
        prev.removeAll(keepingCapacity: true)
        next.removeAll(keepingCapacity: true)
        heap.removeAll(keepingCapacity: true)
    }
}
