/// Prompt-lookup speculation (n-gram proposals, as llama.cpp's `llama-lookup` and vLLM's
/// `ngram` speculator): finds the sequence's last `n` tokens earlier in its own context (the
/// prompt and what it generated), and proposes the tokens that followed them there. Text
/// that repeats its input — a summary quoting its source, an edited copy of code, an
/// extraction — continues the earlier occurrence for many tokens at a time.
///
/// Proposals cost no model work; a wrong one costs only the positions it adds to a step
/// (see `SpeculationState`), and the verification keeps the output exactly what decoding
/// without speculation gives.
public struct NGramProposer: Sendable, Equatable {
    /// The longest n-gram matched; longer ones are tried first.
    public let maximumN: Int
    /// The shortest n-gram matched.
    public let minimumN: Int

    /// Creates a proposer matching suffixes of `maximumN` down to `minimumN` tokens.
    /// Precondition: `1 <= minimumN <= maximumN`.
    public init(maximumN: Int = 4, minimumN: Int = 1) {
        precondition(minimumN >= 1 && minimumN <= maximumN, "n-gram sizes must satisfy 1 <= minimum <= maximum")
        self.maximumN = maximumN
        self.minimumN = minimumN
    }

    /// Appends to `proposal` up to `limit` tokens that followed the most recent earlier
    /// occurrence of the longest suffix of `tokens` (from `maximumN` down to `minimumN`
    /// tokens) that occurs earlier; returns how many it appended (0 when no suffix recurs).
    ///
    /// The most recent occurrence is taken because the text being copied is usually the
    /// latest place the context was at. Allocates nothing once `proposal` has room for
    /// `limit` more. O(`tokens.count` × n) per n tried.
    @discardableResult
    public func propose(following tokens: [Int32], limit: Int, into proposal: inout [Int32]) -> Int {
        let count = tokens.count
        guard limit > 0 else { return 0 }
        return tokens.withUnsafeBufferPointer { t -> Int in
            var n = min(maximumN, count - 1)
            while n >= minimumN {
                let suffix = count - n
                // Occurrences may overlap the suffix (a run of one token) but must leave at
                // least one token after them to propose.
                var start = count - n - 1
                while start >= 0 {
                    var i = 0
                    while i < n && t[start + i] == t[suffix + i] { i += 1 }
                    if i == n {
                        let from = start + n
                        let taken = min(limit, count - from)
                        for j in 0..<taken { proposal.append(t[from + j]) }
                        return taken
                    }
                    start -= 1
                }
                n -= 1
            }
            return 0
        }
    }
}
