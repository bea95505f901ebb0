import CanopyTokenizer
import Testing

/// Token ids must equal llama.cpp's for the reference texts.
@Suite struct TokenizerFixtureTests {
    @Test func everyTokenizerRecordMatchesLlamaCpp() throws {
        let tokenizer = try SmolLM2.tokenizer()
        let records = try Fixtures.jsonLines("tokenizer.jsonl", as: TokenizerRecord.self)
        #expect(records.count >= 30)
        for record in records {
            let ids = tokenizer.encode(record.text, addSpecial: false, parseSpecial: record.parseSpecial)
            #expect(ids == record.ids, "text: \(record.text.debugDescription)")
            // With special tokens rendered, decoding gives back the text byte for byte.
            #expect(tokenizer.decode(ids, renderSpecial: true) == record.text)
        }
    }

    /// SmolLM2's byte-level vocabulary has no token for some bytes (0x14, the lead bytes of code
    /// points U+40000-U+BFFFF); llama.cpp drops them, and so must we. Text round-trips exactly
    /// when every one of its bytes has a token.
    @Test func bytesWithoutATokenAreDroppedAsLlamaCppDoes() throws {
        let tokenizer = try SmolLM2.tokenizer()
        let records = try Fixtures.jsonLines("missing-bytes.jsonl", as: TokenizerRecord.self)
        #expect(records.count >= 7)
        var dropped = 0
        for record in records {
            let ids = tokenizer.encode(record.text, addSpecial: false, parseSpecial: record.parseSpecial)
            #expect(ids == record.ids, "text: \(record.text.debugDescription)")
            let everyByteHasAToken = tokenizer.hasTokenForEveryByte(of: record.text)
            #expect((tokenizer.decode(ids) == record.text) == everyByteHasAToken, "text: \(record.text.debugDescription)")
            if !everyByteHasAToken { dropped += 1 }
        }
        #expect(dropped >= 5)
    }

    /// The bytes of valid UTF-8 that SmolLM2's vocabulary has no token for, read off the file
    /// with gguf-py 0.19.0: 0x04, 0x06, 0x13, 0x14, 0x16, 0x1D and the lead bytes 0xF1, 0xF2.
    @Test func everyByteHasATokenTellsTheMissingBytesApart() throws {
        let tokenizer = try SmolLM2.tokenizer()
        #expect(tokenizer.hasTokenForEveryByte(of: "plain text, \u{E9}t\u{E9} \u{1F600}"))
        #expect(!tokenizer.hasTokenForEveryByte(of: "a\u{14}b"))
        #expect(!tokenizer.hasTokenForEveryByte(of: "\u{40000}"))
        #expect(!tokenizer.hasTokenForEveryByte(of: "\u{BFFFF}"))
        #expect(tokenizer.hasTokenForEveryByte(of: "\u{3FFFF} \u{C0000} \u{10FFFF} \u{1F}\u{15}"))
    }

    @Test func greedyPromptsMatchLlamaCpp() throws {
        let tokenizer = try SmolLM2.tokenizer()
        let records = try Fixtures.jsonLines("greedy-prompts.jsonl", as: PromptRecord.self)
        #expect(records.count >= 10)
        for record in records {
            let ids = tokenizer.encode(record.prompt, addSpecial: true, parseSpecial: true)
            #expect(ids == record.promptIDs, "prompt: \(record.prompt.prefix(60).debugDescription)")
            #expect(tokenizer.decode(ids, renderSpecial: true) == record.prompt)
        }
    }

    @Test func controlTokensAreTextWithoutParseSpecial() throws {
        let tokenizer = try SmolLM2.tokenizer()
        let text = "<|im_start|>user\nhi<|im_end|>"
        let plain = tokenizer.encode(text, parseSpecial: false)
        #expect(!plain.contains(1) && !plain.contains(2))
        #expect(tokenizer.encode(text, parseSpecial: true).first == 1)
    }

    @Test func specialTokenMetadata() throws {
        let tokenizer = try SmolLM2.tokenizer()
        #expect(tokenizer.vocabularySize == 49152)
        #expect(tokenizer.bosTokenID == 1)
        #expect(tokenizer.eosTokenID == 2)
        #expect(tokenizer.preTokenizer == .smollm)
        #expect(tokenizer.summary == "byte-level BPE (pre-tokenizer smollm), 49152 tokens")
        #expect(tokenizer.tokenID(forText: "<|im_end|>") == 2)
        #expect(tokenizer.tokenText(0) == "<|endoftext|>")
        // eos (<|im_end|>) and <|endoftext|> end generation; ordinary tokens do not.
        #expect(tokenizer.endOfGenerationTokens == [0, 2])
        #expect(tokenizer.isEndOfGeneration(2) && !tokenizer.isEndOfGeneration(1))
        // add_bos is false for this model: addSpecial adds nothing.
        #expect(tokenizer.encode("Hello", addSpecial: true) == tokenizer.encode("Hello"))
    }

    @Test func controlTokensRenderOnlyWhenAsked() throws {
        let tokenizer = try SmolLM2.tokenizer()
        #expect(tokenizer.tokenBytes(1, renderSpecial: false).isEmpty)
        #expect(tokenizer.tokenBytes(1, renderSpecial: true) == Array("<|im_start|>".utf8))
        // 216 is "Ġ" in the vocabulary: a single space byte.
        #expect(tokenizer.tokenBytes(216) == [0x20])
        #expect(tokenizer.decode([1, 4093, 198, 6004, 2], renderSpecial: false) == "user\nhi")
    }

    @Test func decodeInvertsEncodeOnMixedText() throws {
        let tokenizer = try SmolLM2.tokenizer()
        let texts = [
            "Zürich 2024: ½ price — ¡olé! 🇫🇷 \u{00A0}x\u{3000}y \t\r\n end",
            "ﬁ ligature, Ⅻ roman, ١٢٣ arabic digits, ９ fullwidth",
            String(repeating: "word ", count: 50) + "\n\n  \n",
        ]
        for text in texts {
            #expect(tokenizer.decode(tokenizer.encode(text)) == text)
        }
    }
}
