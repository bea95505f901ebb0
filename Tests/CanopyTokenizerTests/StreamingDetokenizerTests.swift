import CanopyTokenizer
import Testing

/// Streaming output must be complete UTF-8 at every step and add up to `decode`.
@Suite struct StreamingDetokenizerTests {
    @Test func emojiAndCJKSplitAcrossTokensAreHeldBack() throws {
        let tokenizer = try SmolLM2.tokenizer()
        // From tokenizer.jsonl: "😀" alone takes 3 tokens and "模" is split across tokens.
        for text in ["emoji 😀🎉 and ❤️ hearts", "大模型推理优化技术", "한국어 텍스트"] {
            let ids = tokenizer.encode(text)
            var detokenizer = StreamingDetokenizer(tokenizer: tokenizer)
            var pieces: [String] = []
            var sawHeldBack = false
            for id in ids {
                let piece = detokenizer.append(id)
                #expect(!piece.unicodeScalars.contains("\u{FFFD}"))
                if detokenizer.hasPendingBytes { sawHeldBack = true }
                pieces.append(piece)
            }
            pieces.append(detokenizer.finish())
            #expect(pieces.joined() == text)
            #expect(sawHeldBack, "expected \(text) to split a character across tokens")
        }
    }

    @Test func emojiIsReturnedOnlyWhenItsLastByteArrives() throws {
        let tokenizer = try SmolLM2.tokenizer()
        // llama.cpp's ids for "emoji 😀🎉": "em", "oji", " F0 9F 98", "80", "F0 9F", "8E", "89".
        var detokenizer = StreamingDetokenizer(tokenizer: tokenizer)
        #expect(detokenizer.append(391) == "em")
        #expect(detokenizer.append(33777) == "oji")
        #expect(detokenizer.append(40303) == " ")
        #expect(detokenizer.hasPendingBytes)
        #expect(detokenizer.append(218) == "😀")
        #expect(detokenizer.append(10813) == "")
        #expect(detokenizer.append(232) == "")
        #expect(detokenizer.append(227) == "🎉")
        #expect(!detokenizer.hasPendingBytes)
        #expect(detokenizer.finish() == "")
    }

    @Test func invalidBytesBecomeReplacementOnlyWhenProven() {
        var decoder = UTF8StreamDecoder()
        #expect(decoder.append([0xE4, 0xB8]) == "")  // first two bytes of 中
        #expect(decoder.append([0xAD]) == "中")
        #expect(decoder.append([0xE4]) == "")
        // A lead byte followed by ASCII is proven invalid: one U+FFFD, then the ASCII.
        #expect(decoder.append([0x41]) == "\u{FFFD}A")
        #expect(decoder.append([0xFF, 0x42]) == "\u{FFFD}B")
        // A truncated sequence at the end is flushed as one U+FFFD.
        #expect(decoder.append([0xF0, 0x9F, 0x98]) == "")
        #expect(decoder.finish() == "\u{FFFD}")
        #expect(!decoder.hasPendingBytes)
        // Surrogates (ED A0..BF) and overlongs (E0 80..9F) fail at the second byte.
        #expect(decoder.append([0xED, 0xA0, 0x80]) == "\u{FFFD}\u{FFFD}\u{FFFD}")
    }

    @Test func streamingEqualsWholeDecodingForArbitraryBytes() {
        var generator = SystemRandomNumberGenerator()
        let alphabet: [UInt8] = [0x41, 0x80, 0xBF, 0xC2, 0xDF, 0xE0, 0xA0, 0xED, 0x9F, 0xF0, 0x90, 0xF4, 0x8F, 0xF5, 0xFF, 0x0A]
        for _ in 0..<500 {
            let bytes = (0..<Int.random(in: 0...24, using: &generator)).map { _ in
                alphabet.randomElement(using: &generator)!
            }
            var decoder = UTF8StreamDecoder()
            var out = ""
            var i = 0
            while i < bytes.count {
                let n = Int.random(in: 1...3, using: &generator)
                out += decoder.append(bytes[i..<min(i + n, bytes.count)])
                i += n
            }
            out += decoder.finish()
            #expect(out == String(decoding: bytes, as: UTF8.self), "bytes \(bytes)")
        }
    }

    @Test func streamingMatchesDecodeWithControlTokens() throws {
        let tokenizer = try SmolLM2.tokenizer()
        let ids = tokenizer.encode("<|im_start|>user\n日本語<|im_end|>", parseSpecial: true)
        for renderSpecial in [false, true] {
            var detokenizer = StreamingDetokenizer(tokenizer: tokenizer, renderSpecial: renderSpecial)
            var text = ids.map { detokenizer.append($0) }.joined()
            text += detokenizer.finish()
            #expect(text == tokenizer.decode(ids, renderSpecial: renderSpecial))
        }
    }
}
