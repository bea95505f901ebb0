import CanopyTokenizer

/// Text a client sends (a prompt with special tokens written in it) and token ids a client or
/// the model produces. The first byte picks the tokenizer and the flags; the rest is the text
/// and, read as 16-bit little-endian values, the ids.
///
/// Invariants: ids are in the vocabulary; byte-level BPE decodes its own encoding back to the
/// text when the vocabulary has a token for each of its bytes (llama.cpp drops the others); the
/// streaming detokenizer's pieces add up to `decode` for any ids.
enum TokenizerFuzzTarget {
    static func run(_ bytes: [UInt8]) {
        guard let flags = bytes.first else { return }
        let tokenizers = FuzzResources.tokenizers
        let tokenizer = tokenizers[Int(flags & 1)]
        let addSpecial = flags & 2 != 0, parseSpecial = flags & 4 != 0, renderSpecial = flags & 8 != 0
        let text = FuzzInput.text(bytes.dropFirst())
        let ids = tokenizer.encode(text, addSpecial: addSpecial, parseSpecial: parseSpecial)
        guard ids.allSatisfy({ $0 >= 0 && Int($0) < tokenizer.vocabularySize }) else {
            invariantFailed("encode produced an id outside the vocabulary")
        }
        // A byte-level vocabulary need not hold every byte (SmolLM2's does not), and llama.cpp
        // drops a byte without a token as we do, so the round trip holds for the other texts.
        if tokenizer.preTokenizer != nil, !addSpecial, !parseSpecial, tokenizer.hasTokenForEveryByte(of: text) {
            let decoded = tokenizer.decode(ids, renderSpecial: renderSpecial)
            guard decoded == text else {
                invariantFailed("BPE round trip changed \(text.debugDescription) into \(decoded.debugDescription)")
            }
        }
        checkStreaming(ids, tokenizer, renderSpecial: renderSpecial)
        // Arbitrary ids, as a Detokenize request or a sampled sequence could carry.
        var arbitrary: [TokenID] = []
        var index = 1
        while index + 1 < bytes.count {
            arbitrary.append(TokenID(Int(bytes[index]) | Int(bytes[index + 1]) << 8) % TokenID(tokenizer.vocabularySize))
            index += 2
        }
        checkStreaming(arbitrary, tokenizer, renderSpecial: renderSpecial)
    }

    private static func checkStreaming(_ ids: [TokenID], _ tokenizer: Tokenizer, renderSpecial: Bool) {
        var streaming = StreamingDetokenizer(tokenizer: tokenizer, renderSpecial: renderSpecial)
        var pieces = ""
        for id in ids { pieces += streaming.append(id) }
        pieces += streaming.finish()
        let whole = tokenizer.decode(ids, renderSpecial: renderSpecial)
        guard pieces == whole else {
            invariantFailed("streamed pieces \(pieces.debugDescription) differ from decode \(whole.debugDescription)")
        }
    }
}
