import CanopyEngine
import Testing

@Suite("N-gram proposer")
struct NGramProposerTests {
    @Test("proposes what followed the most recent earlier occurrence of the longest recurring suffix")
    func longestSuffixMostRecent() {
        let proposer = NGramProposer(maximumN: 3, minimumN: 1)
        var out: [Int32] = []
        // Suffix [2, 3] recurs at 1 and at 6; the 3-gram [9, 2, 3] recurs only at 5.
        let tokens: [Int32] = [1, 2, 3, 4, 9, 9, 2, 3, 7, 8, 9, 2, 3]
        #expect(proposer.propose(following: tokens, limit: 4, into: &out) == 4)
        #expect(out == [7, 8, 9, 2])
        out.removeAll()
        // Limited by the tokens after the match.
        #expect(proposer.propose(following: [5, 6, 7, 5, 6], limit: 8, into: &out) == 3)
        #expect(out == [7, 5, 6])
    }

    @Test("falls back to shorter n-grams, proposes nothing without a match or room")
    func fallbackAndNothing() {
        var out: [Int32] = []
        let twoOnly = NGramProposer(maximumN: 4, minimumN: 2)
        #expect(twoOnly.propose(following: [1, 2, 3, 2], limit: 4, into: &out) == 0)
        let one = NGramProposer(maximumN: 4, minimumN: 1)
        #expect(one.propose(following: [1, 2, 3, 2], limit: 4, into: &out) == 2)
        #expect(out == [3, 2])
        out.removeAll()
        #expect(one.propose(following: [1, 2, 3], limit: 4, into: &out) == 0)
        #expect(one.propose(following: [1, 1], limit: 0, into: &out) == 0)
        #expect(one.propose(following: [7], limit: 3, into: &out) == 0)
        // A run of one token overlaps itself.
        #expect(one.propose(following: [4, 4, 4], limit: 3, into: &out) == 1)
        #expect(out == [4])
    }

    @Test("a match measures how far back the copy agrees with the context's end, at most 64 tokens")
    func matchLength() {
        let proposer = NGramProposer(maximumN: 4, minimumN: 2)
        // [2, 3, 4, 5] recurs at 1; before it 1 = 1, before that the context starts.
        let tokens: [Int32] = [1, 2, 3, 4, 5, 9, 1, 2, 3, 4, 5]
        #expect(proposer.match(following: tokens) == NGramProposer.Match(continuation: 5, length: 5))
        // The agreement stops at the first differing token (7 against 8).
        #expect(proposer.match(following: [7, 2, 3, 4, 5, 6, 8, 2, 3, 4, 5]) == NGramProposer.Match(continuation: 5, length: 4))
        // A 2-gram only: the 4- and 3-grams do not recur.
        #expect(proposer.match(following: [5, 6, 1, 9, 8, 5, 6]) == NGramProposer.Match(continuation: 2, length: 2))
        #expect(proposer.match(following: [1, 2, 3, 4]) == nil)
        // A text repeated in full: the match is capped.
        let text = (0..<100).map { Int32($0) }
        let repeated = text + [1000] + text
        let long = proposer.match(following: repeated)
        #expect(long == NGramProposer.Match(continuation: 100, length: NGramProposer.maximumMatchLength))
        var out: [Int32] = []
        #expect(proposer.propose(from: long!, in: repeated, limit: 3, into: &out) == 3)
        #expect(out == [1000, 0, 1])
    }
}
