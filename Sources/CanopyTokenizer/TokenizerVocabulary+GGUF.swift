import CanopyGGUF

extension TokenizerVocabulary {
    /// Reads the `tokenizer.*` metadata of a GGUF model.
    /// - Throws: `TokenizerError.missingMetadata` when the model name, tokens or token types
    ///   are absent, and for `gpt2` vocabularies when the merges are absent.
    ///
    /// Defaults follow llama.cpp: a SentencePiece (`llama`) vocabulary adds BOS and a space
    /// prefix unless the file says otherwise; a BPE one adds neither.
    public init(gguf: GGUFFile) throws(TokenizerError) {
        guard let model = gguf.string("tokenizer.ggml.model") else {
            throw .missingMetadata(key: "tokenizer.ggml.model")
        }
        guard let tokens = gguf.stringArray("tokenizer.ggml.tokens") else {
            throw .missingMetadata(key: "tokenizer.ggml.tokens")
        }
        // llama.cpp treats every token as normal when the types are absent.
        let types = gguf.intArray("tokenizer.ggml.token_type").map { $0.map { Int32(truncatingIfNeeded: $0) } }
            ?? [Int32](repeating: TokenType.normal.rawValue, count: tokens.count)
        let merges = gguf.stringArray("tokenizer.ggml.merges")
        if model == "gpt2" && merges == nil { throw .missingMetadata(key: "tokenizer.ggml.merges") }
        let sentencePiece = model == "llama"
        // Scores are f32 in the file, so the narrowing is exact.
        let scores = gguf.floatArray("tokenizer.ggml.scores").map { $0.map { Float($0) } } ?? []
        func id(_ key: String) -> TokenID? {
            // Some converters write -1 (or UINT32_MAX) for "no such token".
            guard let v = gguf.int(key), v >= 0, v < tokens.count else { return nil }
            return TokenID(v)
        }
        self.init(
            model: model, preTokenizer: gguf.string("tokenizer.ggml.pre"), tokens: tokens,
            tokenTypes: types, merges: merges ?? [], scores: scores,
            bosTokenID: id("tokenizer.ggml.bos_token_id"), eosTokenID: id("tokenizer.ggml.eos_token_id"),
            eotTokenID: id("tokenizer.ggml.eot_token_id"),
            unknownTokenID: id("tokenizer.ggml.unknown_token_id"),
            paddingTokenID: id("tokenizer.ggml.padding_token_id"),
            addBOS: gguf.bool("tokenizer.ggml.add_bos_token") ?? sentencePiece,
            addEOS: gguf.bool("tokenizer.ggml.add_eos_token") ?? false,
            addSpacePrefix: gguf.bool("tokenizer.ggml.add_space_prefix") ?? sentencePiece,
            chatTemplate: gguf.string("tokenizer.chat_template"), modelName: gguf.string("general.name"))
    }
}
