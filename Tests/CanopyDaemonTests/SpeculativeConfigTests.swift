import CanopyEngine
import Testing
@testable import CanopyDaemon

/// The speculative decoding settings: `speculative`, `spec-tokens` and `spec-step-tokens`
/// (file keys and flags).
@Suite struct SpeculativeConfigTests {
    private let model: [(key: String, value: String)] = [("model", "/m.gguf")]

    @Test func defaultsAreTheEngines() throws {
        let config = try DaemonConfig.load(configFile: nil, flags: model)
        #expect(config.engine.speculative == .ngram)
        #expect(config.engine.speculativeTokens == 8)
        #expect(config.engine.speculativeStepTokens == EngineConfig().speculativeStepTokens)
    }

    @Test func valuesParse() throws {
        let config = try DaemonConfig.load(
            configFile: nil, flags: model + [("speculative", "OFF"), ("spec-tokens", "32"), ("spec-step-tokens", "0")])
        #expect(config.engine.speculative == .off)
        #expect(config.engine.speculativeTokens == 32)
        #expect(config.engine.speculativeStepTokens == 0)
        let ngram = try DaemonConfig.load(configFile: nil, flags: model + [("speculative", "ngram"), ("spec-tokens", "1")])
        #expect(ngram.engine.speculative == .ngram && ngram.engine.speculativeTokens == 1)
        #expect(ngram.engineConfig.speculative == .ngram)
    }

    @Test func outOfRangeValuesNameTheFlagAndTheRange() {
        let cases: [(key: String, value: String, expected: String)] = [
            ("spec-tokens", "0", "1...32"), ("spec-tokens", "33", "1...32"), ("spec-tokens", "many", "1...32"),
            ("spec-step-tokens", "-1", "at least 0"), ("speculative", "eagle", "off or ngram"),
        ]
        for c in cases {
            do {
                _ = try DaemonConfig.load(configFile: nil, flags: model + [(c.key, c.value)])
                Issue.record("\(c.key) \(c.value) was accepted")
            } catch {
                #expect(error == .invalidValue(source: .flag, key: c.key, value: c.value, expected: error.expectedText))
                #expect(error.description.hasPrefix("--\(c.key): '\(c.value)' is not valid"), "\(error)")
                #expect(error.description.contains(c.expected), "\(error)")
            }
        }
    }
}

private extension DaemonConfigError {
    /// The `expected` text of an `.invalidValue` error ("" for others).
    var expectedText: String {
        if case .invalidValue(_, _, _, let expected) = self { return expected }
        return ""
    }
}
