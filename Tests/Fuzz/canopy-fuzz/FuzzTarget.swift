import Foundation

/// The decoders a client or a file reaches, one fuzz target each. A target feeds arbitrary
/// bytes to the real decoding path and checks the invariants the path promises; any trap,
/// sanitizer report or broken invariant is a finding.
enum FuzzTarget: String, CaseIterable {
    /// `GGUFFile(bytes:)`, then everything a model load reads from the header: metadata
    /// accessors, tensor data bounds, the tokenizer vocabulary and the model configuration.
    case gguf
    /// A `GenerateRequest` as the daemon receives it: protobuf-c decoding, the mapping to an
    /// engine `Request` and the engine's validation and tokenization of it.
    case request
    /// The tokenizers (BPE and SentencePiece) with special-token parsing, and the streaming
    /// detokenizer.
    case tokenizer
    /// Chat-template detection from template text and rendering of arbitrary messages.
    case chatTemplate = "chat-template"
    /// A line of `canopy batch` JSONL input, decoded and validated.
    case batchLine = "batch-line"

    static var allNames: String { allCases.map(\.rawValue).joined(separator: ", ") }

    /// Runs one input.
    func run(_ input: UnsafeRawBufferPointer) {
        let bytes = Array(input)
        switch self {
        case .gguf: GGUFFuzzTarget.run(bytes)
        case .request: RequestFuzzTarget.run(bytes)
        case .tokenizer: TokenizerFuzzTarget.run(bytes)
        case .chatTemplate: ChatTemplateFuzzTarget.run(bytes)
        case .batchLine: BatchLineFuzzTarget.run(bytes)
        }
    }
}

/// Reports a broken invariant: a trap, so libFuzzer saves the input (or the replay driver
/// stops on it).
func invariantFailed(_ message: String) -> Never {
    fatalError("canopy-fuzz invariant: \(message)")
}
