/// Everything that can go wrong while building a tokenizer or a chat template from model
/// metadata. Each message names what was found and what the user can do about it.
public enum TokenizerError: Error, CustomStringConvertible, Equatable, Sendable {
    /// A required metadata key is absent from the model file.
    case missingMetadata(key: String)
    /// `tokenizer.ggml.model` names a tokenizer family Canopy does not implement.
    case unsupportedTokenizerModel(String)
    /// `tokenizer.ggml.pre` names a pre-tokenizer Canopy does not implement.
    case unsupportedPreTokenizer(String)
    /// The vocabulary arrays are inconsistent (lengths differ, ids out of range, bad merges).
    case invalidVocabulary(String)
    /// The model carries no `tokenizer.chat_template`.
    case missingChatTemplate
    /// The chat template does not match any template family Canopy can render.
    case unsupportedChatTemplate(excerpt: String)

    private static let rawPromptHint =
        "send an already formatted `prompt` (raw text) or `prompt_ids` (token ids) instead of chat messages"

    /// A message naming the problem and what to do about it.
    public var description: String {
        switch self {
        case .missingMetadata(let key):
            return "the model file has no '\(key)' metadata key, which the tokenizer needs; "
                + "re-convert the model with a current GGUF converter"
        case .unsupportedTokenizerModel(let name):
            return "tokenizer model '\(name)' is not supported (tokenizer.ggml.model); "
                + "Canopy supports byte-level BPE ('gpt2') and SentencePiece ('llama') vocabularies"
        case .unsupportedPreTokenizer(let name):
            return "pre-tokenizer '\(name)' is not supported (tokenizer.ggml.pre); supported: "
                + PreTokenizer.supportedNames.joined(separator: ", ")
        case .invalidVocabulary(let detail):
            return "the tokenizer vocabulary in the model file is inconsistent: \(detail)"
        case .missingChatTemplate:
            return "the model has no chat template (tokenizer.chat_template), so chat messages "
                + "cannot be formatted; \(Self.rawPromptHint)"
        case .unsupportedChatTemplate(let excerpt):
            return "the model's chat template is not supported (it starts with \"\(excerpt)\"); "
                + "supported families: ChatML, Llama 3, Llama 2/Mistral [INST], Gemma, Zephyr, Phi-3; "
                + Self.rawPromptHint
        }
    }
}
