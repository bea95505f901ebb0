import CanopyEngine
import Foundation
import Testing
@testable import CanopyDaemon

/// The speculative decoding settings: `speculative`, `draft-model`, `spec-tokens`,
/// `spec-step-tokens` and `spec-draft-cost` (file keys and flags), and the rule tying the mode
/// to the draft model (`DaemonConfig+Speculative.swift`).
@Suite struct SpeculativeConfigTests {
    private let model: [(key: String, value: String)] = [("model", "/m.gguf")]

    @Test func defaultsAreTheEngines() throws {
        let config = try DaemonConfig.load(configFile: nil, flags: model)
        let engine = EngineConfig()
        #expect(config.engine.speculative == engine.speculative)
        #expect(config.engine.speculativeTokens == engine.speculativeTokens)
        #expect(config.engine.speculativeStepTokens == engine.speculativeStepTokens)
        #expect(config.engine.speculativeDraftCost == engine.speculativeDraftCost)
        #expect(config.draftModelPath == nil)
    }

    @Test func valuesParse() throws {
        let config = try DaemonConfig.load(
            configFile: nil,
            flags: model + [("speculative", "OFF"), ("spec-tokens", "32"), ("spec-step-tokens", "0"), ("spec-draft-cost", "0.25")])
        #expect(config.engine.speculative == .off)
        #expect(config.engine.speculativeTokens == 32)
        #expect(config.engine.speculativeStepTokens == 0)
        #expect(config.engine.speculativeDraftCost == 0.25)
        let ngram = try DaemonConfig.load(configFile: nil, flags: model + [("speculative", "ngram"), ("spec-tokens", "1")])
        #expect(ngram.engine.speculative == .ngram && ngram.engine.speculativeTokens == 1)
        #expect(ngram.engineConfig.speculative == .ngram)
        for (text, cost) in [("auto", nil), ("AUTO", nil), ("0", 0), (" 1.5 ", 1.5)] as [(String, Double?)] {
            let parsed = try DaemonConfig.load(configFile: nil, flags: model + [("spec-draft-cost", text)])
            #expect(parsed.engine.speculativeDraftCost == cost, "spec-draft-cost \(text)")
        }
    }

    @Test func outOfRangeValuesNameTheFlagAndTheRange() {
        let cases: [(key: String, value: String, expected: String)] = [
            ("spec-tokens", "0", "1...32"), ("spec-tokens", "33", "1...32"), ("spec-tokens", "many", "1...32"),
            ("spec-step-tokens", "-1", "at least 0"), ("speculative", "eagle", "off, ngram or draft"),
            ("spec-draft-cost", "-0.5", "at least 0, or 'auto'"), ("spec-draft-cost", "nan", "at least 0"),
            ("spec-draft-cost", "cheap", "at least 0"), ("draft-model", " ", "a file path"),
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

    // MARK: - The mode and the draft model

    @Test func aDraftModelMakesTheModeDraftUnlessTheModeWasChosen() throws {
        let drafted = try DaemonConfig.load(configFile: nil, flags: model + [("draft-model", "/d.gguf")])
        #expect(drafted.draftModelPath == "/d.gguf")
        #expect(drafted.engineConfig.speculative == .draft)
        // An explicit choice wins, whichever comes first.
        for flags in [[("speculative", "off"), ("draft-model", "/d.gguf")], [("draft-model", "/d.gguf"), ("speculative", "off")]] {
            let config = try DaemonConfig.load(configFile: nil, flags: model + flags)
            #expect(config.engineConfig.speculative == .off && config.draftModelPath == "/d.gguf", "\(flags)")
        }
        let explicit = try DaemonConfig.load(configFile: nil, flags: model + [("speculative", "draft"), ("draft-model", "/d.gguf")])
        #expect(explicit.engineConfig.speculative == .draft)
    }

    @Test func theFileAndTheFlagsCombine() throws {
        let directory = TemporaryDirectory()
        let path = directory.file("canopyd.conf")
        // A draft model in the file, the mode chosen by a flag: the flag's choice holds.
        try "model = /m.gguf\ndraft-model = /d.gguf\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(try DaemonConfig.load(configFile: path).engineConfig.speculative == .draft)
        let off = try DaemonConfig.load(configFile: path, flags: [("speculative", "off")])
        #expect(off.engineConfig.speculative == .off && off.sources["speculative"] == .flag)
        // The mode chosen in the file, the draft model by a flag.
        try "model = /m.gguf\nspeculative = off\n".write(toFile: path, atomically: true, encoding: .utf8)
        let fileOff = try DaemonConfig.load(configFile: path, flags: [("draft-model", "/d.gguf")])
        #expect(fileOff.engineConfig.speculative == .off && fileOff.draftModelPath == "/d.gguf")
        #expect(fileOff.sources["speculative"] == .file(path: path, line: 2))
    }

    @Test func ngramWithADraftModelIsRefusedNamingTheSettingAndTheFix() throws {
        do {
            _ = try DaemonConfig.load(configFile: nil, flags: model + [("speculative", "ngram"), ("draft-model", "/d.gguf")])
            Issue.record("speculative = ngram with a draft model was accepted")
        } catch {
            #expect(error == .draftModelUnused(speculativeSource: .flag, draftModel: "/d.gguf"))
            let text = error.description
            #expect(text.hasPrefix("--speculative ngram never uses the draft model /d.gguf"), "\(text)")
            #expect(text.contains("set it to draft") && text.contains("remove draft-model"), "\(text)")
        }
        // Set in the file: the message points at its line.
        let directory = TemporaryDirectory()
        let path = directory.file("canopyd.conf")
        try "model = /m.gguf\n\nspeculative = ngram\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(throws: DaemonConfigError.draftModelUnused(speculativeSource: .file(path: path, line: 3), draftModel: "/d.gguf")) {
            try DaemonConfig.load(configFile: path, flags: [("draft-model", "/d.gguf")])
        }
        #expect(
            DaemonConfigError.draftModelUnused(speculativeSource: .file(path: path, line: 3), draftModel: "/d.gguf")
                .description.hasPrefix("\(path):3: speculative = ngram never uses the draft model /d.gguf"))
    }

    @Test func draftWithoutADraftModelIsRefusedSayingHowToGiveOne() throws {
        do {
            _ = try DaemonConfig.load(configFile: nil, flags: model + [("speculative", "draft")])
            Issue.record("speculative = draft without a draft model was accepted")
        } catch {
            #expect(error == .draftModelMissing(speculativeSource: .flag))
            let text = error.description
            #expect(text.hasPrefix("--speculative draft needs a draft model"), "\(text)")
            #expect(text.contains("--draft-model PATH") && text.contains("'draft-model = PATH'"), "\(text)")
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
