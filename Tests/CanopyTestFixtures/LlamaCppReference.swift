import Foundation

/// llama.cpp's references for the default model (`Tests/Fixtures/smollm2-greedy`), one set per
/// machine they were made on.
///
/// llama.cpp's own output moves between instruction sets: the same build gives first-step
/// logits up to 0.93 apart on an AVX-512 and an AVX2 machine, and its greedy runs part at near
/// ties after 3 to 32 tokens. A correct engine therefore follows one machine's run or the
/// other's, and each record is judged against every set: against the one it follows longest
/// (where the contexts are still the same), passing when the rule holds there against any set
/// that follows it that long.
public struct LlamaCppReference: Sendable {
    /// One machine's set of references.
    public struct Machine: Sendable {
        /// What the machine was, for messages.
        public let name: String
        /// The set's folder under `Tests/Fixtures`.
        public let directory: String
        /// Its greedy records, in the same order (same prompts) on every machine.
        public let records: [GreedyRecord]
    }

    /// Every set, the AVX-512 one first.
    public let machines: [Machine]

    /// The sets in `Tests/Fixtures/smollm2-greedy` (see its README for provenance).
    public static func load() throws -> LlamaCppReference {
        let sets = [
            ("llama.cpp on AVX-512 VNNI (AMD EPYC Zen 5)", "smollm2-greedy"),
            ("llama.cpp on AVX2 (AMD EPYC Zen 3)", "smollm2-greedy/avx2"),
        ]
        let machines = try sets.map { name, directory in
            Machine(name: name, directory: directory, records: try GreedyRecord.load("\(directory)/greedy.jsonl"))
        }
        for machine in machines.dropFirst() {
            guard machine.records.map(\.prompt_ids) == machines[0].records.map(\.prompt_ids) else {
                throw Mismatch(description: "\(machine.directory)/greedy.jsonl holds other prompts than \(machines[0].directory)")
            }
        }
        return LlamaCppReference(machines: machines)
    }

    /// The number of records (prompts).
    public var count: Int { machines[0].records.count }

    /// Record `index` as the first set holds it (the prompt is the same in every set).
    public subscript(index: Int) -> GreedyRecord { machines[0].records[index] }

    /// Every set's first-step logits for record `index` (49152 floats each), where the fixtures
    /// have them (records 0 and 8).
    public func firstStepLogits(record index: Int) throws -> [(machine: String, logits: [Float])] {
        try machines.map { ($0.name, try FixturePaths.readFloats("\($0.directory)/logits-\(index).f32")) }
    }

    /// Judges our greedy tokens for record `index` (see the type's description).
    public func judge(_ ours: [Int32], record index: Int) -> Result<Verdict, GreedyRecord.ComparisonFailure> {
        let followed = machines.map { $0.records[index].identicalPrefix(of: ours) }
        let longest = followed.max() ?? 0
        var failures: [String] = []
        for (machine, length) in zip(machines, followed) where length == longest {
            switch machine.records[index].compare(ours) {
            case .success(let identical): return .success(Verdict(identical: identical, machine: machine.name))
            case .failure(let failure): failures.append("against \(machine.name): \(failure)")
            }
        }
        return .failure(GreedyRecord.ComparisonFailure(description: failures.joined(separator: "; ")))
    }

    /// A record that passed: how many leading tokens equal the reference it follows longest.
    public struct Verdict: Sendable {
        public let identical: Int
        public let machine: String
    }

    /// The sets disagree about their prompts.
    public struct Mismatch: Error, CustomStringConvertible {
        public let description: String
    }
}
