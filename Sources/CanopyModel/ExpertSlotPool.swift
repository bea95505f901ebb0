import CanopyGGUF
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The mutable heart of `ExpertCache`: resident slots, the (block, expert) → slot map, LRU
/// order, pins, counters and the prefetch queue, all behind one condition lock.
///
/// Protocol per slot: a thread that claims a slot for loading marks it `loading` (nobody
/// reads or evicts it), fills it with the lock released, then clears the mark and wakes
/// waiters. Readers pin a ready slot; a pinned or loading slot is never chosen as a victim.
final class ExpertSlotPool: @unchecked Sendable {
    // @unchecked Sendable: every `var` below is touched only while `condition` is locked, and a
    // slot's bytes are written only by the one thread that marked it loading and read only
    // by threads holding a pin on it after loading finished; the lock orders those accesses.

    /// A routed expert: block index and expert index within the block.
    struct Key: Hashable, Sendable {
        var block: Int
        var expert: Int
    }

    private struct PrefetchRequest {
        var keys: [Key]
        var protected: Set<Key>
    }

    let layout: ExpertFileLayout
    let slotBytes: Int
    private let memory: [UnsafeMutableRawPointer]
    private let descriptor: Int32
    private let path: String
    private let condition = NSCondition()

    private var slotKey: [Key?]
    private var loading: [Bool]
    private var pins: [Int]
    private var lastUse: [UInt64]
    private var prefetched: [Bool]
    private var index: [Key: Int] = [:]
    private var clock: UInt64 = 0
    private var stats = ExpertCacheStats()
    /// Failed reads since load (see `ReadFailureLog`: permanent once the file changed).
    private var readFailures = ReadFailureLog()
    /// How the model file differs from the one loaded (nil: it does not).
    private let fileChange: @Sendable () -> String?
    /// Per block: the experts the most recent pass through it used, most tokens first.
    private var lastRouting: [[Int]]
    private var queue: [PrefetchRequest] = []
    private var stopping = false
    /// Most pending prefetch requests; older ones are dropped (they predict a layer the
    /// forward pass has likely reached already).
    private let queueLimit = 4

    init(path: String, layout: ExpertFileLayout, slots: Int, fileChange: @escaping @Sendable () -> String?) throws(ExpertCacheError) {
        precondition(slots > 0, "an expert cache needs at least one slot")
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .cannotOpen(path: path, reason: String(cString: strerror(errno))) }
        descriptor = fd
        self.path = path
        self.fileChange = fileChange
        self.layout = layout
        // Slots start at 64-byte boundaries like mapped tensors, so kernels see the same alignment.
        let bytes = (layout.largestExpertBytes + 63) / 64 * 64
        slotBytes = bytes
        memory = (0..<slots).map { _ in UnsafeMutableRawPointer.allocate(byteCount: max(64, bytes), alignment: 64) }
        slotKey = Array(repeating: nil, count: slots)
        loading = Array(repeating: false, count: slots)
        pins = Array(repeating: 0, count: slots)
        lastUse = Array(repeating: 0, count: slots)
        prefetched = Array(repeating: false, count: slots)
        lastRouting = Array(repeating: [], count: layout.blocks.count)
        stats.slots = slots
        stats.slotBytes = layout.largestExpertBytes
        stats.totalExperts = layout.totalExperts
    }

    deinit {
        for slot in memory { slot.deallocate() }
        close(descriptor)
    }

    /// Pins `key`'s expert resident (reading it from the file on a miss) and returns its slot.
    /// Blocks while every slot is pinned or loading.
    func acquire(_ key: Key) -> Int {
        condition.lock()
        defer { condition.unlock() }
        while true {
            if let slot = index[key] {
                if loading[slot] {
                    condition.wait()
                    continue
                }
                pins[slot] += 1
                touch(slot)
                stats.hits += 1
                if prefetched[slot] {
                    stats.prefetchHits += 1
                    prefetched[slot] = false
                }
                return slot
            }
            guard let slot = victim(protecting: []) else {
                condition.wait()
                continue
            }
            claim(slot, for: key)
            pins[slot] = 1
            stats.misses += 1
            fill(slot, with: key)
            return slot
        }
    }

    /// The reads of expert weights that failed since load. A slot whose read failed holds
    /// other bytes; a forward pass that used it must fail.
    var failures: ReadFailureLog {
        condition.lock()
        defer { condition.unlock() }
        return readFailures
    }

    /// Unpins a slot returned by `acquire`.
    func release(_ slot: Int) {
        condition.lock()
        pins[slot] -= 1
        precondition(pins[slot] >= 0, "expert slot released more often than acquired")
        if pins[slot] == 0 { condition.broadcast() }
        condition.unlock()
    }

    /// The bytes of a slot; valid while the caller holds a pin on it.
    func base(of slot: Int) -> UnsafeRawPointer { UnsafeRawPointer(memory[slot]) }

    /// Records which experts block `block` just used (`tokens[expert]` rows each) and asks the
    /// prefetcher for the experts the next MoE block used last time, keeping this block's
    /// experts resident while it computes.
    func routed(block: Int, tokens: [Int]) {
        let used = tokens.indices.filter { tokens[$0] > 0 }.sorted { tokens[$0] > tokens[$1] }
        let blocks = layout.blocks.count
        condition.lock()
        defer { condition.unlock() }
        lastRouting[block] = used
        // The next block with experts; after the last one, the first (the next step's).
        var next = (block + 1) % blocks
        while layout.blocks[next] == nil { next = (next + 1) % blocks }
        let predicted = lastRouting[next].map { Key(block: next, expert: $0) }.filter { index[$0] == nil }
        guard !predicted.isEmpty, !stopping else { return }
        if queue.count >= queueLimit { queue.removeFirst() }
        queue.append(PrefetchRequest(keys: predicted, protected: Set(used.map { Key(block: block, expert: $0) })))
        condition.broadcast()
    }

    /// The prefetch thread's loop: loads predicted experts into free or least recently used
    /// slots, never evicting protected, pinned or loading ones, until `stop`.
    func runPrefetcher() {
        condition.lock()
        defer { condition.unlock() }
        while true {
            while queue.isEmpty && !stopping { condition.wait() }
            if stopping { return }
            let request = queue.removeFirst()
            let keep = request.protected.union(request.keys)
            for key in request.keys where index[key] == nil {
                guard let slot = victim(protecting: keep) else { break }
                claim(slot, for: key)
                prefetched[slot] = true
                stats.prefetchLoads += 1
                fill(slot, with: key)
                if stopping { return }
            }
        }
    }

    /// Ends `runPrefetcher` and drops pending requests.
    func stop() {
        condition.lock()
        stopping = true
        queue.removeAll()
        condition.broadcast()
        condition.unlock()
    }

    /// A snapshot of the counters.
    func snapshot() -> ExpertCacheStats {
        condition.lock()
        defer { condition.unlock() }
        return stats
    }

    // MARK: - Locked helpers

    /// An empty slot, else the least recently used one not pinned, loading or protected.
    private func victim(protecting protected: Set<Key>) -> Int? {
        var best: Int?
        for slot in slotKey.indices where pins[slot] == 0 && !loading[slot] {
            guard let key = slotKey[slot] else { return slot }
            if protected.contains(key) { continue }
            if best == nil || lastUse[slot] < lastUse[best!] { best = slot }
        }
        return best
    }

    private func claim(_ slot: Int, for key: Key) {
        if let old = slotKey[slot] {
            index[old] = nil
            stats.evictions += 1
        }
        slotKey[slot] = key
        index[key] = slot
        loading[slot] = true
        prefetched[slot] = false
    }

    /// Reads `key`'s matrices into a slot marked loading, with the lock released, then
    /// publishes it. Called and returns with the lock held.
    private func fill(_ slot: Int, with key: Key) {
        guard let block = layout.blocks[key.block] else { preconditionFailure("block \(key.block) has no experts") }
        let destination = memory[slot]
        condition.unlock()
        var offset = 0
        var failure: String?
        for projection in [block.gate, block.up, block.down] where failure == nil {
            let range = projection.range(of: key.expert)
            failure = read(into: destination + offset, count: range.count, at: range.offset)
            offset += range.count
        }
        condition.lock()
        loading[slot] = false
        if let failure {
            // The slot's bytes are not the expert's: forget them (the next use reads them
            // again) and fail the pass (every pass, once the file changed).
            index[key] = nil
            slotKey[slot] = nil
            readFailures.record(failure, fileChange: fileChange())
        }
        stats.bytesRead += UInt64(offset)
        touch(slot)
        condition.broadcast()
    }

    private func touch(_ slot: Int) {
        clock += 1
        lastUse[slot] = clock
    }

    /// `pread` until `count` bytes arrived; nil on success, else why not. The file was
    /// validated when the model loaded, so a failure means it changed or the disk failed
    /// under a running model: there is no correct output to give.
    private func read(into destination: UnsafeMutableRawPointer, count: Int, at offset: Int) -> String? {
        preadFully(descriptor, into: destination, count: count, at: offset)?.message(reading: "expert weights", from: path)
    }
}
