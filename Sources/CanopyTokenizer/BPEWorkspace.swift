/// Scratch buffers for `BPEModel.encodeWord`, reused across the words of one encode call so
/// the merge loop allocates nothing per word.
struct BPEWorkspace {
    /// A candidate merge of the adjacent symbols at `left` and `right`.
    struct Pair {
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

    /// A binary min-heap of pairs.
    struct Heap {
        var items: [Pair] = []

        mutating func push(_ item: Pair) {
            items.append(item)
            var child = items.count - 1
            while child > 0 {
                let parent = (child - 1) / 2
                guard items[child].precedes(items[parent]) else { break }
                items.swapAt(child, parent)
                child = parent
            }
        }

        mutating func pop() -> Pair? {
            guard let last = items.popLast() else { return nil }
            guard !items.isEmpty else { return last }
            let top = items[0]
            items[0] = last
            var parent = 0
            let n = items.count
            while true {
                let l = 2 * parent + 1
                guard l < n else { break }
                var best = l
                if l + 1 < n && items[l + 1].precedes(items[l]) { best = l + 1 }
                guard items[best].precedes(items[parent]) else { break }
                items.swapAt(best, parent)
                parent = best
            }
            return top
        }
    }

    /// Current symbol of each position; -1 once merged into its left neighbour.
    var symbols: [Int32] = []
    var prev: [Int32] = []
    var next: [Int32] = []
    var heap = Heap()

    mutating func reset() {
        symbols.removeAll(keepingCapacity: true)
        prev.removeAll(keepingCapacity: true)
        next.removeAll(keepingCapacity: true)
        heap.items.removeAll(keepingCapacity: true)
    }
}
