/// An element of a `BinaryHeap`: a strict order, first element first.
protocol HeapOrdered {
    /// Whether `self` comes out of the heap before `other`.
    func precedes(_ other: Self) -> Bool
}

/// A binary heap whose top is the element that precedes all others (the merge queues of
/// both tokenizers: BPE's lowest rank, SentencePiece's highest score; leftmost on ties).
/// `push` and `pop` are O(log n); `removeAll` keeps the storage for the next word.
struct BinaryHeap<Element: HeapOrdered> {
    private(set) var items: [Element] = []

    mutating func push(_ item: Element) {
        items.append(item)
        var child = items.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard items[child].precedes(items[parent]) else { break }
            items.swapAt(child, parent)
            child = parent
        }
    }

    mutating func pop() -> Element? {
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

    mutating func removeAll(keepingCapacity: Bool) {
        items.removeAll(keepingCapacity: keepingCapacity)
    }
}
