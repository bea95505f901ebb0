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
}
