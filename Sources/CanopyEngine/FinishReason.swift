/// Why generation of a sequence ended.
public enum FinishReason: String, Sendable, Equatable {
    /// An end-of-generation token, a stop token id or a stop string was produced.
    case stop
    /// `max_tokens` (or the context end) was reached.
    case length
    /// The client cancelled the request.
    case cancelled
}
