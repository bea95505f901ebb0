import CanopyWire
import Foundation

/// The JSON form of a `GenerateSummary` printed by `generate --json`; keys follow the
/// proto's field names so scripts can treat CLI and gRPC output alike.
struct SummaryJSON: Encodable {
    struct Alternative: Encodable {
        let id: Int32
        let logprob: Float
    }

    struct Logprob: Encodable {
        let id: Int32
        let logprob: Float?
        let top_logprobs: [Alternative]
    }

    struct Fork: Encodable {
        let text_offset: UInt32
        let child: UInt32
    }

    /// One APAR branch.
    struct Branch: Encodable {
        let id: UInt32
        let parent: UInt32?
        let finish_reason: String
        let token_ids: [Int32]
        let text: String
        let forks: [Fork]
    }

    struct Sample: Encodable {
        let index: UInt32
        let finish_reason: String
        let token_ids: [Int32]
        let text: String
        let logprobs: [Logprob]?
        /// Present when APAR forked the sample; `text` is then assembled from them.
        let branches: [Branch]?
    }

    struct Usage: Encodable {
        let prompt_tokens: UInt32
        let completion_tokens: UInt32
        let cached_prompt_tokens: UInt32
        let preemptions: UInt32
        let branches: UInt32
    }

    struct Timings: Encodable {
        let queue_seconds: Double
        let time_to_first_token_seconds: Double
        let mean_inter_token_latency_seconds: Double
        let end_to_end_seconds: Double
    }

    let request_id: String
    let prompt_token_ids: [Int32]
    let samples: [Sample]
    let usage: Usage
    let timings: Timings

    /// The JSON form of `summary`.
    init(_ summary: CanopyV1.GenerateSummary) {
        request_id = summary.requestID
        prompt_token_ids = summary.promptTokenIDs
        samples = summary.samples.map { sample in
            Sample(
                index: sample.index, finish_reason: Self.name(sample.finishReason), token_ids: sample.tokenIDs,
                text: sample.text,
                logprobs: sample.logprobs.isEmpty
                    ? nil
                    : sample.logprobs.map { token in
                        Logprob(
                            id: token.id, logprob: token.logprob,
                            top_logprobs: token.topLogprobs.map { Alternative(id: $0.id, logprob: $0.logprob) })
                    },
                branches: sample.branches.isEmpty
                    ? nil
                    : sample.branches.map { branch in
                        Branch(
                            id: branch.id, parent: branch.parent, finish_reason: Self.name(branch.finishReason),
                            token_ids: branch.tokenIDs, text: branch.text,
                            forks: branch.forks.map { Fork(text_offset: $0.textOffset, child: $0.child) })
                    })
        }
        let u = summary.usage
        usage = Usage(
            prompt_tokens: u.promptTokens, completion_tokens: u.completionTokens,
            cached_prompt_tokens: u.cachedPromptTokens, preemptions: u.preemptions, branches: u.branches)
        let t = summary.timings
        timings = Timings(
            queue_seconds: t.queueSeconds, time_to_first_token_seconds: t.timeToFirstTokenSeconds,
            mean_inter_token_latency_seconds: t.meanInterTokenLatencySeconds, end_to_end_seconds: t.endToEndSeconds)
    }

    /// The proto's lower-case name of a finish reason ("stop", "length", "cancelled").
    static func name(_ reason: CanopyV1.FinishReason) -> String {
        switch reason {
        case .unspecified: return "unspecified"
        case .stop: return "stop"
        case .length: return "length"
        case .cancelled: return "cancelled"
        }
    }
}

/// Writes values to stdout as one line of JSON with sorted keys.
enum JSONOutput {
    /// Encodes `value` and prints it followed by a newline.
    static func print(_ value: some Encodable) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var data = try encoder.encode(value)
        data.append(UInt8(ascii: "\n"))
        FileHandle.standardOutput.write(data)
    }
}
