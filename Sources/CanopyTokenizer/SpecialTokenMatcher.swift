/// Finds special tokens written literally in text before BPE runs, as llama.cpp's
/// `tokenizer_st_partition` does: candidates are tried longest text first, each one splits
/// every remaining text fragment at all its (non-overlapping, left-to-right) occurrences.
struct SpecialTokenMatcher: Sendable {
    /// A piece of the input: either raw text (a byte range) or an already chosen token.
    enum Fragment: Equatable {
        case text(Range<Int>)
        case token(TokenID)
    }

    struct Candidate: Sendable {
        let id: TokenID
        let bytes: [UInt8]
        /// Control and unknown tokens are matched only when parsing special tokens;
        /// user-defined tokens are always matched (llama.cpp behaviour).
        let needsParseSpecial: Bool
        /// Whitespace right after a match is dropped (llama.cpp's `LLAMA_TOKEN_ATTR_RSTRIP`).
        var stripsSpaceAfter = false
    }

    /// Sorted by byte length, longest first; equal lengths by id for determinism.
    let candidates: [Candidate]

    init(candidates unsorted: [Candidate]) {
        candidates = unsorted.filter { !$0.bytes.isEmpty }.sorted {
            $0.bytes.count != $1.bytes.count ? $0.bytes.count > $1.bytes.count : $0.id < $1.id
        }
    }

    /// Splits `utf8` into fragments; with no matches the result is one text fragment
    /// (or none for empty input).
    ///
    /// A token that needs `parseSpecial` is not matched where it would overlap one of
    /// `literalRanges` (ascending, disjoint byte ranges that are always text).
    func partition(_ utf8: [UInt8], parseSpecial: Bool, literalRanges: [Range<Int>] = []) -> [Fragment] {
        guard !utf8.isEmpty else { return [] }
        var fragments: [Fragment] = [.text(0..<utf8.count)]
        for candidate in candidates where parseSpecial || !candidate.needsParseSpecial {
            var next: [Fragment] = []
            next.reserveCapacity(fragments.count)
            var changed = false
            for fragment in fragments {
                guard case .text(let range) = fragment else {
                    next.append(fragment)
                    continue
                }
                var start = range.lowerBound
                var searchFrom = start
                while let match = Self.find(candidate.bytes, in: utf8, from: searchFrom, to: range.upperBound) {
                    if candidate.needsParseSpecial,
                        Self.overlaps(match..<(match + candidate.bytes.count), literalRanges)
                    {
                        searchFrom = match + 1
                        continue
                    }
                    changed = true
                    if match > start { next.append(.text(start..<match)) }
                    next.append(.token(candidate.id))
                    start = match + candidate.bytes.count
                    if candidate.stripsSpaceAfter {
                        while start < range.upperBound, Self.isSpace(utf8[start]) { start += 1 }
                    }
                    searchFrom = start
                }
                if start < range.upperBound { next.append(.text(start..<range.upperBound)) }
            }
            if changed { fragments = next }
        }
        return fragments
    }

    /// C's `isspace` in the "C" locale: space, \t, \n, \v, \f, \r.
    private static func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || (0x09...0x0D).contains(byte) }

    /// Whether `span` shares a byte with any of `ranges` (ascending, disjoint).
    private static func overlaps(_ span: Range<Int>, _ ranges: [Range<Int>]) -> Bool {
        // Few messages per prompt; a linear scan is cheaper than keeping a search structure.
        for range in ranges {
            if range.lowerBound >= span.upperBound { return false }
            if range.overlaps(span) { return true }
        }
        return false
    }

    /// First index `i` in `from..<to` where `needle` occurs entirely within `..<to`.
    private static func find(_ needle: [UInt8], in haystack: [UInt8], from: Int, to: Int) -> Int? {
        let n = needle.count
        guard to - from >= n else { return nil }
        let first = needle[0]
        var i = from
        let lastStart = to - n
        while i <= lastStart {
            if haystack[i] == first {
                var k = 1
                while k < n && haystack[i + k] == needle[k] { k += 1 }
                if k == n { return i }
            }
            i += 1
        }
        return nil
    }
}
