import CanopyTokenizer
import Foundation
import Testing

@testable import CanopyEngine
@testable import CanopyHTTP

/// Streaming an answer that forks (APAR): the deltas a client joins are the assembled answer,
/// never the branches' tokens interleaved, and every choice ends with one finish chunk after
/// its last delta. A sample that does not fork streams token by token as before.
@Suite struct ChunkWriterForkTests {
    static func writer(_ kind: OpenAIResponder.Kind) throws -> ChunkWriter {
        let tokens = (0..<256).map { String(UnicodeScalar(UInt8($0))) }
        let tokenizer = try Tokenizer(vocabulary: TokenizerVocabulary(
            model: "gpt2", preTokenizer: "gpt2", tokens: tokens, tokenTypes: tokens.map { _ in 1 }, merges: []))
        return ChunkWriter(kind: kind, id: "x", created: 0, model: "m", tokenizer: tokenizer, wantsLogprobs: false)
    }

    static func token(_ sample: Int, branch: Int, _ text: String) -> EngineEvent {
        .token(TokenOutput(
            sample: sample, branch: branch, parentBranch: branch == 0 ? nil : 0,
            token: SampledToken(id: 1, logprob: nil, topLogprobs: []), text: text))
    }

    static func output(_ texts: [String]) -> RequestOutput {
        RequestOutput(
            id: "x", promptTokenIDs: [1],
            samples: texts.map { SampleOutput(tokenIDs: [], text: $0, finishReason: .stop, logprobs: []) },
            metrics: RequestMetrics(), failure: nil)
    }

    /// Runs `events` through the writer as the responder does; returns each choice's joined
    /// text and the index of its finish chunk among all chunks, and the chunks' count.
    static func stream(_ kind: OpenAIResponder.Kind, _ events: [EngineEvent]) throws -> (text: [Int: String], finish: [Int: Int], count: Int) {
        let writer = try writer(kind)
        var state = writer.startState()
        var chunks: [Data] = []
        for event in events {
            switch event {
            case .token(let token): chunks += writer.chunks(for: token, state: &state)
            case .finished(let sample, let reason): chunks += writer.finishChunks(sample: sample, reason: reason, state: &state)
            case .completed(let output): chunks += writer.forkedEndings(output, state: &state)
            }
        }
        var text: [Int: String] = [:], finish: [Int: Int] = [:]
        for (position, chunk) in chunks.enumerated() {
            let json = try #require(try JSONSerialization.jsonObject(with: chunk) as? [String: Any])
            for choice in try #require(json["choices"] as? [[String: Any]]) {
                let index = try #require(choice["index"] as? Int)
                let piece = kind == .chat
                    ? (choice["delta"] as? [String: Any])?["content"] as? String
                    : choice["text"] as? String
                #expect(finish[index] == nil, "choice \(index) got text after its finish chunk")
                text[index, default: ""] += piece ?? ""
                if choice["finish_reason"] is String { finish[index] = position }
            }
        }
        return (text, finish, chunks.count)
    }

    @Test(arguments: [OpenAIResponder.Kind.completion, .chat])
    func forkedAnswerArrivesAssembled(kind: OpenAIResponder.Kind) throws {
        // Sample 0 forks after "Steps: " (its child writes "one, two" at the fork point while
        // the root goes on with " Done."); sample 1 does not fork.
        let events: [EngineEvent] = [
            Self.token(0, branch: 0, "Steps: "), Self.token(1, branch: 0, "Plain"),
            Self.token(0, branch: 0, ""), Self.token(0, branch: 1, "one,"),
            Self.token(0, branch: 0, " Done."), Self.token(0, branch: 1, " two"), Self.token(1, branch: 0, " text"),
            .finished(sample: 1, reason: .stop), .finished(sample: 0, reason: .stop),
            .completed(Self.output(["Steps: one, two Done.", "Plain text"])),
        ]
        let result = try Self.stream(kind, events)
        #expect(result.text[0] == "Steps: one, two Done.")
        #expect(result.text[1] == "Plain text")
        #expect(result.finish[0] == result.count - 1, "the forked choice's finish comes after its assembled rest")
        #expect(result.finish[1] != nil)
    }

    @Test func unforkedStreamIsUnchanged() throws {
        let events: [EngineEvent] = [
            Self.token(0, branch: 0, "a"), Self.token(0, branch: 0, "b"), .finished(sample: 0, reason: .length),
            .completed(Self.output(["ab"])),
        ]
        let result = try Self.stream(.completion, events)
        #expect(result.text[0] == "ab" && result.count == 3)
    }
}
