import CanopyTokenizer
import Testing

/// Encodes a few megabytes of text and reports the speed (meaningful in release builds).
@Suite struct ThroughputTests {
    /// Deterministic pseudo-words so that most words are new to the per-call word cache.
    static func syntheticText(bytes: Int) -> String {
        let syllables = ["ka", "lo", "mi", "ten", "sor", "ai", "qu", "bre", "st", "on", "ell", "ing",
            "tion", "pre", "ver", "al", "ex", "um", "zy", "ph", "é", "ö", "ç", "ñ"]
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next(_ n: Int) -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((state >> 33) % UInt64(n))
        }
        var text = ""
        while text.utf8.count < bytes {
            var word = ""
            for _ in 0...next(4) { word += syllables[next(syllables.count)] }
            if next(12) == 0 { word = word.capitalized() }
            text += word
            switch next(20) {
            case 0: text += ", "
            case 1: text += ". "
            case 2: text += " \(next(100_000)) "
            case 3: text += "\n"
            default: text += " "
            }
        }
        return text
    }

    static func measure(_ tokenizer: Tokenizer, _ text: String, label: String) -> [TokenID] {
        let start = ContinuousClock.now
        let ids = tokenizer.encode(text)
        let elapsed = ContinuousClock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        let megabytes = Double(text.utf8.count) / 1e6
        print("encode throughput (\(label)): \(megabytes) MB in \(seconds) s = \(megabytes / seconds) MB/s, "
            + "\(ids.count) tokens")
        return ids
    }

    @Test func encodeThroughputOnSyntheticWords() throws {
        let tokenizer = try SmolLM2.tokenizer()
        let text = Self.syntheticText(bytes: 4_000_000)
        let ids = Self.measure(tokenizer, text, label: "synthetic words")
        #expect(tokenizer.decode(ids) == text)
    }

    @Test func encodeThroughputOnFixtureText() throws {
        let tokenizer = try SmolLM2.tokenizer()
        let records = try Fixtures.jsonLines("tokenizer.jsonl", as: TokenizerRecord.self)
        let prompts = try Fixtures.jsonLines("greedy-prompts.jsonl", as: PromptRecord.self)
        let paragraph = (records.map(\.text) + prompts.map(\.prompt)).joined(separator: "\n")
        var text = ""
        var block = 0
        while text.utf8.count < 4_000_000 {
            text += "Section \(block): " + paragraph + "\n"
            block += 1
        }
        let ids = Self.measure(tokenizer, text, label: "repeated fixture text")
        #expect(tokenizer.decode(ids) == text)
        // The first block tokenizes as it does alone (up to the whitespace run that joins
        // it to the next block): no state leaks between words.
        let firstIDs = tokenizer.encode("Section 0: " + paragraph + "\n")
        #expect(Array(ids.prefix(firstIDs.count - 1)) == Array(firstIDs.dropLast()))
    }
}

extension String {
    fileprivate func capitalized() -> String { prefix(1).uppercased() + dropFirst() }
}
