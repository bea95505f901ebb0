/// Why generation of a sequence ended.
public enum FinishReason: String, Sendable, Equatable {
    /// An end-of-generation token, a stop token id or a stop string was produced.
    case stop
    /// `max_tokens` (or the context end) was reached.
    case length
    /// The client cancelled the request.
    case cancelled
}

/// The finished result of one request.
public struct Completion: Sendable, Equatable {
    /// The request's identifier.
    public var id: String
    /// Ids of the prompt as run.
    public var promptTokenIDs: [Int32]
    /// Generated ids, including the end-of-generation token or the token that completed a
    /// stop string when generation stopped on one.
    public var tokenIDs: [Int32]
    /// Generated text, without end-of-generation tokens and cut before a matched stop string.
    public var text: String
    /// Why generation ended.
    public var finishReason: FinishReason
}
