/// An intrusive doubly linked list over block ids `0..<capacity`, ordered from least to most
/// recently released: the evictable cached blocks.
///
/// Every operation is O(1); links live in two flat arrays indexed by block id, so the list
/// allocates nothing after init. A block is in the list at most once.
struct BlockLRU {
    private static let none: Int32 = -1
    private var previous: [Int32]
    private var next: [Int32]
    private var member: [Bool]
    private(set) var head: Int32 = BlockLRU.none
    private(set) var tail: Int32 = BlockLRU.none
    private(set) var count = 0

    init(capacity: Int) {
        previous = Array(repeating: Self.none, count: capacity)
        next = Array(repeating: Self.none, count: capacity)
        member = Array(repeating: false, count: capacity)
    }

    func contains(_ block: Int32) -> Bool { member[Int(block)] }

    /// The least recently used block, or nil when empty.
    var front: Int32? { head == Self.none ? nil : head }

    /// Appends `block` as the most recently used. Precondition: not already in the list.
    mutating func pushBack(_ block: Int32) {
        let b = Int(block)
        precondition(!member[b], "block \(block) already evictable")
        member[b] = true
        previous[b] = tail
        next[b] = Self.none
        if tail == Self.none { head = block } else { next[Int(tail)] = block }
        tail = block
        count += 1
    }

    /// Unlinks `block`. Precondition: in the list.
    mutating func remove(_ block: Int32) {
        let b = Int(block)
        precondition(member[b], "block \(block) is not evictable")
        let p = previous[b]
        let n = next[b]
        if p == Self.none { head = n } else { next[Int(p)] = n }
        if n == Self.none { tail = p } else { previous[Int(n)] = p }
        previous[b] = Self.none
        next[b] = Self.none
        member[b] = false
        count -= 1
    }

    /// Removes and returns the least recently used block, or nil when empty.
    mutating func popFront() -> Int32? {
        guard head != Self.none else { return nil }
        let block = head
        remove(block)
        return block
    }

    /// Walks the list from least to most recent, checking its links; returns the blocks in
    /// order and a description of the first broken link found (nil when consistent).
    /// O(count); stops after `capacity` steps, so a cycle is reported, not looped.
    func auditedOrder() -> (blocks: [Int32], problem: String?) {
        var order: [Int32] = []
        var expectedPrevious = Self.none
        var cursor = head
        while cursor != Self.none {
            if order.count >= member.count { return (order, "LRU list has a cycle") }
            let c = Int(cursor)
            if !member[c] { return (order, "LRU links to block \(cursor) not marked as member") }
            if previous[c] != expectedPrevious {
                return (order, "LRU back link of block \(cursor) is \(previous[c]), expected \(expectedPrevious)")
            }
            order.append(cursor)
            expectedPrevious = cursor
            cursor = next[c]
        }
        if tail != expectedPrevious { return (order, "LRU tail \(tail) is not the last block \(expectedPrevious)") }
        if order.count != count { return (order, "LRU count \(count) but \(order.count) linked blocks") }
        let marked = member.reduce(0) { $0 + ($1 ? 1 : 0) }
        if marked != count { return (order, "LRU has \(marked) blocks marked but \(count) linked") }
        return (order, nil)
    }
}
