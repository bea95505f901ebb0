import CanopyModel

/// Why a perplexity measurement (`PerplexityEvaluator`) could not run; each message says
/// what to change.
public enum PerplexityError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The text file could not be read.
    case unreadableFile(path: String, reason: String)
    /// The file is not UTF-8 text (the tokenizer works on text; llama.cpp would tokenize
    /// the raw bytes differently than any decoded string, so there is nothing to compare).
    case notUTF8(path: String)
    /// The context is too short for any token to be scored: a chunk scores the tokens after
    /// its first half, so it needs at least `minimum` tokens.
    case contextTooSmall(context: Int, minimum: Int)
    /// The context is longer than the model's (`<arch>.context_length`): positions past it
    /// were never trained, so the number would not describe the model.
    case contextTooLarge(context: Int, modelContext: Int)
    /// A chunk limit below 1.
    case invalidChunkLimit(Int)
    /// The text has fewer than two contexts' worth of tokens (llama-perplexity's rule, so
    /// that at least two chunks are scored).
    case textTooShort(tokens: Int, context: Int)
    /// A token id outside the model's vocabulary (tokens given directly, not from a text).
    case tokenOutOfRange(id: Int32, vocabularySize: Int)
    /// The chunk's KV cache or logit rows could not be allocated.
    case outOfMemory(bytes: Int)
    /// A forward pass failed.
    case forwardFailed(ForwardError)

    public var description: String {
        switch self {
        case .unreadableFile(let path, let reason):
            return "cannot read the text file \(path): \(reason)"
        case .notUTF8(let path):
            return "\(path) is not UTF-8 text; perplexity needs a text file (convert it with iconv -t UTF-8)"
        case .contextTooSmall(let context, let minimum):
            return "--ctx \(context) is too small: a chunk scores the tokens after its first half, so it needs at least \(minimum) tokens"
        case .contextTooLarge(let context, let modelContext):
            return "--ctx \(context) is longer than the model's context of \(modelContext) tokens; use --ctx \(modelContext) or less"
        case .invalidChunkLimit(let chunks):
            return "--chunks must be at least 1, got \(chunks) (leave it out to score every chunk of the text)"
        case .textTooShort(let tokens, let context):
            let fix = tokens / 2 >= PerplexityEvaluator.minimumContext
                ? "use a longer text or --ctx \(tokens / 2) or less" : "use a longer text"
            return "the text tokenizes to \(tokens) tokens, but a context of \(context) needs at least \(2 * context) "
                + "(two chunks); \(fix)"
        case .tokenOutOfRange(let id, let size):
            return "token id \(id) is outside the model's vocabulary of \(size) tokens; tokenize the text with this model's tokenizer"
        case .outOfMemory(let bytes):
            return "out of memory: could not allocate \(bytes) bytes for a chunk's KV cache and logits; use a smaller --ctx"
        case .forwardFailed(let error):
            return "forward pass failed: \(error)"
        }
    }
}
