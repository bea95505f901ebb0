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

    /// An earlier occurrence of the context's last tokens.
    public struct Match: Sendable, Equatable {
        /// Index in the context of the first token that followed the occurrence: what a
        /// proposal copies from.
        public let continuation: Int
        /// Tokens before `continuation` that equal the context's last ones (the matched
        /// suffix, extended back as far as the two agree, at most `maximumMatchLength`): how
        /// long the copy has held so far, which predicts how long it will go on holding.
        public let length: Int

        /// A match whose continuation starts at `continuation`, having held for `length` tokens.
        public init(continuation: Int, length: Int) {
            self.continuation = continuation
            self.length = length
        }
    }

    /// The most a match's `length` counts back: beyond it, a copy is as good as certain.
    public static let maximumMatchLength = 64

    /// The most recent earlier occurrence of the longest suffix of `tokens` (from `maximumN`
    /// down to `minimumN` tokens) that occurs earlier with at least one token after it; nil
    /// when no suffix recurs.
    ///
    /// The most recent occurrence is taken because the text being copied is usually the
    /// latest place the context was at. O(`tokens.count` × n) per n tried, plus
    /// `maximumMatchLength` to measure the match.
    public func match(following tokens: [Int32]) -> Match? {
        let count = tokens.count
        // The closure returns a plain `Match` (length 0: none), not a `Match?`: an optional
        // result has the runtime build `Optional<Match>`'s metadata (a heap allocation) on the
        // first call, which can fall in the middle of decoding.
        let found = tokens.withUnsafeBufferPointer { t -> Match in
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
                        var length = n
                        while length < Self.maximumMatchLength && from - length - 1 >= 0
                            && t[from - length - 1] == t[count - length - 1] {
                            length += 1
                        }
                        return Match(continuation: from, length: length)
                    }
                    start -= 1
                }
                n -= 1
            }
            return Match(continuation: 0, length: 0)
        }
        return found.length > 0 ? found : nil
    }

    /// Appends to `proposal` up to `limit` tokens of `tokens` from `match.continuation` on
    /// (fewer where the context ends); returns how many it appended. Allocates nothing once
    /// `proposal` has room for `limit` more. O(`limit`).
    @discardableResult
    public func propose(from match: Match, in tokens: [Int32], limit: Int, into proposal: inout [Int32]) -> Int {
        guard limit > 0, match.continuation >= 0, match.continuation < tokens.count else { return 0 }
        let taken = min(limit, tokens.count - match.continuation)
        for j in 0..<taken { proposal.append(tokens[match.continuation + j]) }
        return taken
    }

    /// Appends to `proposal` up to `limit` tokens that followed `match(following: tokens)`;
    /// returns how many it appended (0 when no suffix recurs).
    @discardableResult
    public func propose(following tokens: [Int32], limit: Int, into proposal: inout [Int32]) -> Int {
        guard limit > 0, let match = match(following: tokens) else { return 0 }
        return propose(from: match, in: tokens, limit: limit, into: &proposal)
    }
}
