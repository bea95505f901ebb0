#if canImport(Darwin)
import Darwin
#else
import Glibc
#endif

/// The second KV tier (`--kv-swap-space`): a file of fixed slots, each holding one whole KV
/// block (`layout.blockBytes`: every layer's keys and values, contiguous in the arena), for
/// preempted sequences and for prefix-cache blocks evicted from the arena.
///
/// The file is created with `open(O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600)` under a
/// fresh name and unlinked right away: only this process holds it (through its descriptor,
/// visible as `/proc/<pid>/fd/N → … (deleted)`), nothing can open it by name, and its
/// space returns to the file system when the descriptor closes — at `deinit` or when the
/// process ends, however it ends. Disk space is taken as slots are first written (the file
/// is sparse), so a full disk shows up as a write error, which callers treat like a full
/// tier.
///
/// This type only hands out slots and moves bytes; what a slot holds is the
/// `KVCacheManager`'s business. I/O failures are typed errors, never traps.
///
/// Not thread-safe: owned by one `KVCacheManager`.
public final class KVSwapTier {
    /// Bytes of one slot (one KV block).
    public let slotBytes: Int
    /// Slots in the file: `capacityBytes / slotBytes`.
    public let slotCount: Int
    /// The swap file's directory, for messages.
    public let directory: String
    private let descriptor: Int32
    /// Unused slots; a stack so recently used (warm) slots are reused first.
    private(set) var freeSlots: [Int32]
    /// Test hook: consulted before each transfer; a non-nil errno fails it as if the system
    /// call had.
    var injectedFailure: ((_ operation: Operation, _ slot: Int32) -> Int32?)?

    /// The two transfers, for the fault-injection hook.
    enum Operation { case write, read }

    /// Creates an empty swap file of `capacityBytes / slotBytes` slots in `directory` and
    /// unlinks it at once (see the type's description).
    ///
    /// - Throws: `.tooSmall` when not one slot fits, `.cannotCreate` when the file cannot be
    ///   created (directory missing or not writable).
    /// - Precondition: `slotBytes > 0`, `capacityBytes >= 0`.
    public init(directory: String, capacityBytes: Int, slotBytes: Int) throws(KVSwapError) {
        precondition(slotBytes > 0 && capacityBytes >= 0, "KV swap tier sizes must be positive")
        let count = min(capacityBytes / slotBytes, Int(Int32.max))
        guard count >= 1 else { throw .tooSmall(capacityBytes: capacityBytes, slotBytes: slotBytes) }
        var opened: Int32 = -1
        var path = ""
        var lastError: Int32 = EEXIST
        // O_EXCL never reuses a file: retry with another name if one exists.
        for _ in 0..<16 where opened < 0 {
            let suffix = String(UInt64.random(in: 0...UInt64.max), radix: 36)
            path = (directory.hasSuffix("/") ? directory : directory + "/") + "canopy-kv-swap-\(getpid())-\(suffix)"
            opened = open(path, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0o600)
            if opened < 0 {
                lastError = errno
                if lastError != EEXIST { break }
            }
        }
        guard opened >= 0 else { throw .cannotCreate(directory: directory, errno: lastError) }
        // Crash-proof removal: from here on the file has no name.
        if unlink(path) != 0 {
            let code = errno
            close(opened)
            throw .cannotCreate(directory: directory, errno: code)
        }
        descriptor = opened
        self.directory = directory
        self.slotBytes = slotBytes
        slotCount = count
        freeSlots = (0..<Int32(count)).reversed()
    }

    deinit { close(descriptor) }

    /// Bytes the tier may use (`slotCount × slotBytes`).
    public var capacityBytes: Int { slotCount * slotBytes }

    /// Slots not holding anything.
    public var freeSlotCount: Int { freeSlots.count }

    /// Takes a free slot, or nil when none is free. O(1).
    func takeSlot() -> Int32? { freeSlots.popLast() }

    /// Gives a slot back. Precondition: taken and not yet returned (checked by the
    /// manager's invariants, not here). O(1).
    func returnSlot(_ slot: Int32) {
        precondition(slot >= 0 && Int(slot) < slotCount, "swap slot \(slot) out of range")
        freeSlots.append(slot)
    }

    /// Writes `slotBytes` bytes from `source` into `slot`. O(slotBytes) plus the I/O.
    func write(slot: Int32, from source: UnsafeRawPointer) throws(KVSwapError) {
        if let code = injectedFailure?(.write, slot) { throw .io(operation: "write", slot: slot, errno: code) }
        var done = 0
        while done < slotBytes {
            let n = pwrite(descriptor, source + done, slotBytes - done, off_t(offset(slot) + done))
            if n < 0 {
                if errno == EINTR { continue }
                throw .io(operation: "write", slot: slot, errno: errno)
            }
            if n == 0 { throw .io(operation: "write", slot: slot, errno: 0) }
            done += n
        }
    }

    /// Reads `slot`'s `slotBytes` bytes into `destination`. O(slotBytes) plus the I/O.
    func read(slot: Int32, into destination: UnsafeMutableRawPointer) throws(KVSwapError) {
        if let code = injectedFailure?(.read, slot) { throw .io(operation: "read", slot: slot, errno: code) }
        var done = 0
        while done < slotBytes {
            let n = pread(descriptor, destination + done, slotBytes - done, off_t(offset(slot) + done))
            if n < 0 {
                if errno == EINTR { continue }
                throw .io(operation: "read", slot: slot, errno: errno)
            }
            // A slot read before it was written would hit the sparse file's end: never
            // happens through the manager, and is reported rather than returning garbage.
            if n == 0 { throw .io(operation: "read", slot: slot, errno: 0) }
            done += n
        }
    }

    private func offset(_ slot: Int32) -> Int {
        precondition(slot >= 0 && Int(slot) < slotCount, "swap slot \(slot) out of range")
        return Int(slot) * slotBytes
    }
}

extension KVSwapTier {
    /// Writes and reads back the first `min(blocks, slotCount)` slots once and returns the
    /// bytes moved per second (writes and reads together), or nil when a transfer fails: a
    /// first bandwidth estimate for the preemption cost model, before any real swap.
    /// Precondition: every slot is free (call right after `init`).
    public func measureThroughput(blocks: Int = 4) -> Double? {
        precondition(freeSlots.count == slotCount, "measure the swap tier before it holds anything")
        let count = max(1, min(blocks, slotCount))
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: slotBytes, alignment: 64)
        defer { buffer.deallocate() }
        buffer.initializeMemory(as: UInt8.self, repeating: 0x5A, count: slotBytes)
        var start = timespec()
        clock_gettime(CLOCK_MONOTONIC, &start)
        do {
            for slot in 0..<Int32(count) { try write(slot: slot, from: buffer) }
            for slot in 0..<Int32(count) { try read(slot: slot, into: buffer) }
        } catch {
            return nil
        }
        var end = timespec()
        clock_gettime(CLOCK_MONOTONIC, &end)
        let seconds = Double(end.tv_sec - start.tv_sec) + Double(end.tv_nsec - start.tv_nsec) / 1e9
        return Double(2 * count * slotBytes) / max(seconds, 1e-6)
    }
}
