#if canImport(Darwin)
import Darwin
#else
import Glibc
#endif

/// Why the KV swap tier could not be set up, or could not take or give back blocks.
///
/// Only `cannotCreate` and `tooSmall` are fatal (at start-up). The others happen on the
/// serving path and are never fatal: the scheduler falls back to recomputing the sequence,
/// and the prefix cache simply forgets the block.
public enum KVSwapError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The swap file could not be created in `directory` (`errno` from `open`).
    case cannotCreate(directory: String, errno: Int32)
    /// The swap space does not hold a single block.
    case tooSmall(capacityBytes: Int, slotBytes: Int)
    /// Fewer free slots than blocks to swap out, even after dropping every cached prefix
    /// block from the tier.
    case full(needed: Int, available: Int)
    /// A `pwrite` or `pread` of one slot failed (`errno`, 0 for a short transfer).
    case io(operation: String, slot: Int32, errno: Int32)

    /// A message that says what happened and what to change.
    public var description: String {
        switch self {
        case .cannotCreate(let directory, let code):
            return "cannot create the KV swap file in \(directory): \(String(cString: strerror(code))); "
                + "make the directory writable, or set --kv-swap-space 0 to run without swap"
        case .tooSmall(let capacity, let slot):
            return "KV swap space of \(capacity) bytes is smaller than one KV block (\(slot) bytes); "
                + "raise --kv-swap-space to at least \(slot) bytes, or 0 to turn swap off"
        case .full(let needed, let available):
            return "KV swap space is full: \(needed) slots needed, \(available) free"
        case .io(let operation, let slot, let code):
            let reason = code == 0 ? "short transfer" : String(cString: strerror(code))
            return "KV swap \(operation) of slot \(slot) failed: \(reason)"
        }
    }
}
