import CanopyEngine
import Testing

@Suite("Stop strings")
struct StopStringMatcherTests {
    /// Feeds `pieces` and returns everything emitted and whether a stop was seen.
    func run(_ stops: [String], _ pieces: [String]) -> (String, Bool) {
        var matcher = StopStringMatcher(stops: stops)
        var out = ""
        for piece in pieces {
            let (text, stopped) = matcher.feed(piece)
            out += text
            if stopped { return (out, true) }
        }
        return (out + matcher.finish(), false)
    }

    @Test func noStopsPassesThrough() {
        #expect(run([], ["a", "b"]) == ("ab", false))
    }

    @Test func stopInsideOnePiece() {
        #expect(run(["END"], ["hello END world"]) == ("hello ", true))
    }

    @Test func stopAcrossPieces() {
        #expect(run(["###"], ["one #", "#", "# two"]) == ("one ", true))
    }

    @Test func partialMatchIsReleasedWhenItFails() {
        var matcher = StopStringMatcher(stops: ["abc"])
        #expect(matcher.feed("xa") == ("x", false))
        #expect(matcher.feed("b") == ("", false))
        #expect(matcher.feed("d") == ("abd", false))
    }

    @Test func heldTextIsFlushedAtTheEnd() {
        #expect(run(["abc"], ["xyz a", "b"]) == ("xyz ab", false))
    }

    @Test func earliestOfSeveralStopsWins() {
        #expect(run(["world", "lo w"], ["hello world"]) == ("hel", true))
    }

    @Test func multiByteCharacters() {
        #expect(run(["日本"], ["こんにちは日", "本語"]) == ("こんにちは", true))
        #expect(run(["🙂!"], ["ok 🙂", "?"]) == ("ok 🙂?", false))
    }
}
