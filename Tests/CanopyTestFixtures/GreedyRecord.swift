import Foundation

/// One record of a llama.cpp greedy reference (`greedy.jsonl`): a prompt, llama.cpp's greedy
/// tokens for it, and its five best logits before each choice.
public struct GreedyRecord: Decodable, Sendable {
    public let prompt: String?
    public let prompt_ids: [Int32]
    public let n_predict: Int
    public let greedy_ids: [Int32]
    /// `[token_id, logit]` pairs, five per step.
    public let top5_per_step: [[[Double]]]

    /// The largest gap to llama.cpp's top-1 logit at which a different choice still counts as
    /// a near tie (the fixtures' README; not to be widened).
    public static let tieMargin = 0.25

    /// The records of `relativePath` under `Tests/Fixtures`.
    public static func load(_ relativePath: String) throws -> [GreedyRecord] {
        let text = try String(contentsOf: FixturePaths.url(relativePath), encoding: .utf8)
        return try text.split(separator: "\n").map { try JSONDecoder().decode(GreedyRecord.self, from: Data($0.utf8)) }
    }

    /// How many of `ours` equal llama.cpp's leading tokens.
    public func identicalPrefix(of ours: [Int32]) -> Int {
        zip(ours, greedy_ids).prefix { $0 == $1 }.count
    }

    /// The fixtures' rule: our tokens equal llama.cpp's up to the first differing step, where
    /// ours must be in llama.cpp's top-5 within ``tieMargin`` of its top-1 (a near tie; after
    /// it the contexts differ and the comparison stops). Returns the number of identical
    /// leading tokens, or a description of the violation.
    public func compare(_ ours: [Int32]) -> Result<Int, ComparisonFailure> {
        let step = identicalPrefix(of: ours)
        guard step < min(ours.count, greedy_ids.count) else { return .success(step) }
        let top = top5_per_step[step]
        let best = top[0][1]
        guard let entry = top.first(where: { Int32($0[0]) == ours[step] }) else {
            return .failure(ComparisonFailure(description: "step \(step): chose \(ours[step]), not in llama.cpp's top-5 \(top)"))
        }
        guard best - entry[1] <= Self.tieMargin else {
            return .failure(ComparisonFailure(
                description: "step \(step): chose \(ours[step]) with llama.cpp logit \(entry[1]), top-1 \(best): not a near tie"))
        }
        return .success(step)
    }

    /// At the first step where `ours` differs from llama.cpp's tokens, how far below
    /// llama.cpp's top-1 logit our choice is (`.infinity` when it is not in llama.cpp's
    /// top-5); nil when no step differs.
    public func gapAtDivergence(_ ours: [Int32]) -> Double? {
        let step = identicalPrefix(of: ours)
        guard step < min(ours.count, greedy_ids.count) else { return nil }
        let top = top5_per_step[step]
        guard let entry = top.first(where: { Int32($0[0]) == ours[step] }) else { return .infinity }
        return top[0][1] - entry[1]
    }

    /// Why our tokens do not follow llama.cpp's.
    public struct ComparisonFailure: Error, CustomStringConvertible, Sendable {
        public let description: String
    }
}
