/// Finds stop strings in streamed text, even when one spans several tokens, and holds back
/// only the text that could still become a stop string.
///
/// Invariant: `pending` never contains a complete stop string and is always shorter than
/// the longest stop string, so the text held back is bounded.
public struct StopStringMatcher: Sendable {
    private let stops: [[Unicode.Scalar]]
    private var pending: [Unicode.Scalar] = []

    /// Creates a matcher for `stops`; an empty list passes all text straight through.
    public init(stops: [String]) {
        self.stops = stops.map { Array($0.unicodeScalars) }.filter { !$0.isEmpty }
    }

    /// Adds `delta` and returns the text that is now safe to emit, and whether a stop string
    /// was found (in which case nothing after its start is ever emitted).
    public mutating func feed(_ delta: String) -> (text: String, stopped: Bool) {
        if stops.isEmpty { return (delta, false) }
        pending.append(contentsOf: delta.unicodeScalars)
        if let start = firstStop() {
            let text = String(String.UnicodeScalarView(pending[..<start]))
            pending.removeAll()
            return (text, true)
        }
        let keep = heldSuffixStart()
        let text = String(String.UnicodeScalarView(pending[..<keep]))
        pending.removeFirst(keep)
        return (text, false)
    }

    /// Releases the held-back text at the end of generation.
    public mutating func finish() -> String {
        defer { pending.removeAll() }
        return String(String.UnicodeScalarView(pending))
    }

    /// Start of the earliest complete stop string in `pending`.
    private func firstStop() -> Int? {
        var best: Int?
        for stop in stops where stop.count <= pending.count {
            for start in 0...(pending.count - stop.count) where best == nil || start < best! {
                if pending[start..<(start + stop.count)].elementsEqual(stop) {
                    best = start
                    break
                }
            }
        }
        return best
    }

    /// Earliest index from which the rest of `pending` is a proper prefix of a stop string.
    private func heldSuffixStart() -> Int {
        for start in 0..<pending.count {
            let suffix = pending[start...]
            if stops.contains(where: { $0.count > suffix.count && $0.starts(with: suffix) }) {
                return start
            }
        }
        return pending.count
    }
}
