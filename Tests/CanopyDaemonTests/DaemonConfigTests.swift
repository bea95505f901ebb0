import CanopyEngine
import CanopyKernels
import Foundation
import Logging
import Testing
@testable import CanopyDaemon

@Suite struct DaemonConfigTests {
    private func write(_ text: String, in directory: TemporaryDirectory) -> String {
        let path = directory.file("canopyd.conf")
        #expect(FileManager.default.createFile(atPath: path, contents: Data(text.utf8)))
        return path
    }

    @Test func fileValuesOverrideDefaultsAndFlagsOverrideFile() throws {
        let directory = TemporaryDirectory()
        let path = write(
            """
            # canopyd test configuration
            ; also a comment
            model = /models/a.gguf
            kv-cache-memory = 1G
            block-size = 32
            kv-precision = q8
            prefix-caching = no
            max-batched-tokens = 512
            max-seqs = 8
            max-waiting = 100
            max-buffered-events = 32
            stalled-reader-timeout = 2500ms
            default-max-tokens = none
            threads = 2
            grace-period = 1500ms
            allowed-uids = 0, 1000 1001
            allowed-gids = root
            log-level = debug
            socket = "/run/x/c.sock"
            """, in: directory)
        let config = try DaemonConfig.load(
            configFile: path, flags: [(key: "block-size", value: "64"), (key: "model", value: "/m/b.gguf")])
        #expect(config.modelPath == "/m/b.gguf")
        #expect(config.engine.blockSize == 64)
        #expect(config.engine.kvCacheMemory == 1 << 30)
        #expect(config.engine.kvPrecision == .q8)
        #expect(config.engine.prefixCaching == false)
        #expect(config.engine.maxBatchedTokens == 512)
        #expect(config.engine.maxSequences == 8)
        #expect(config.engine.maxWaitingRequests == 100)
        #expect(config.engine.maxBufferedEvents == 32)
        #expect(config.engine.stalledReaderTimeout == 2.5)
        #expect(config.engine.defaultMaxTokens == nil)
        #expect(config.threads == 2)
        #expect(config.gracePeriod == .milliseconds(1500))
        #expect(config.allowedUIDs == [0, 1000, 1001])
        #expect(config.allowedGIDs == [0])
        #expect(config.logLevel == .debug)
        #expect(config.socketPath == "/run/x/c.sock")
        #expect(config.engineConfig == config.engine)
    }

    @Test func defaultsMatchTheEngineDefaults() throws {
        let config = try DaemonConfig.load(configFile: nil, flags: [(key: "model", value: "/m.gguf")])
        #expect(config.engineConfig == EngineConfig())
        #expect(config.gracePeriod == .seconds(30))
        #expect(config.socketPath == nil)
        #expect(config.logLevel == .info)
        #expect(config.accessPolicy.allowsEveryone)
    }

    @Test func unknownKeyNamesFileLineAndSuggestion() {
        let directory = TemporaryDirectory()
        let path = write("model = /m.gguf\n\nkv-cache-memroy = 1G\n", in: directory)
        #expect(throws: DaemonConfigError.unknownKey(
            source: .file(path: path, line: 3), key: "kv-cache-memroy", suggestion: "kv-cache-memory")
        ) {
            try DaemonConfig.load(configFile: path)
        }
        let message = DaemonConfigError.unknownKey(
            source: .file(path: path, line: 3), key: "kv-cache-memroy", suggestion: "kv-cache-memory").description
        #expect(message.hasPrefix("\(path):3: key 'kv-cache-memroy'"))
        #expect(message.contains("did you mean 'kv-cache-memory'?"))
    }

    @Test func badValueNamesFileLineKeyAndExpectation() {
        let directory = TemporaryDirectory()
        let path = write("model = /m.gguf\nblock-size = 0\n", in: directory)
        do {
            _ = try DaemonConfig.load(configFile: path)
            Issue.record("block-size = 0 was accepted")
        } catch {
            guard case .invalidValue(.file(path, 2), "block-size", "0", _) = error else {
                Issue.record("unexpected error \(error)")
                return
            }
            #expect(error.description.contains("\(path):2: block-size"))
            #expect(error.description.contains("1...256"))
        }
    }

    @Test func badFlagValueNamesTheFlag() {
        do {
            _ = try DaemonConfig.load(configFile: nil, flags: [("model", "/m.gguf"), ("kv-precision", "q4")])
            Issue.record("kv-precision q4 was accepted")
        } catch {
            #expect(error == .invalidValue(source: .flag, key: "kv-precision", value: "q4", expected: "f32, f16, q8"))
            #expect(error.description.hasPrefix("--kv-precision"))
        }
    }

    @Test func syntaxErrorsAndDuplicatesAreRejected() {
        #expect(throws: DaemonConfigError.syntax(source: .file(path: "f", line: 2), line: "model /x")) {
            try ConfigFileParser.parse(text: "# ok\nmodel /x\n", path: "f")
        }
        #expect(throws: DaemonConfigError.duplicateKey(source: .file(path: "f", line: 3), key: "threads", firstLine: 1)) {
            try ConfigFileParser.parse(text: "threads = 1\n\nthreads = 2\n", path: "f")
        }
        #expect(throws: DaemonConfigError.syntax(source: .file(path: "f", line: 1), line: "= 3")) {
            try ConfigFileParser.parse(text: "= 3", path: "f")
        }
    }

    @Test func parserKeepsHashesInsideValuesAndHandlesCRLF() throws {
        let entries = try ConfigFileParser.parse(text: "model = /a#b.gguf\r\nsocket=\"  /s \"\r\n", path: "f")
        #expect(entries == [
            ConfigEntry(key: "model", value: "/a#b.gguf", line: 1),
            ConfigEntry(key: "socket", value: "  /s ", line: 2),
        ])
    }

    @Test func missingFileIsAnErrorOnlyWhenRequired() throws {
        let directory = TemporaryDirectory()
        let missing = directory.file("absent.conf")
        #expect(throws: DaemonConfigError.cannotRead(path: missing, reason: "no such file")) {
            try DaemonConfig.load(configFile: missing, flags: [("model", "/m.gguf")])
        }
        let config = try DaemonConfig.load(configFile: missing, configFileRequired: false, flags: [("model", "/m.gguf")])
        #expect(config.modelPath == "/m.gguf")
    }

    @Test func modelIsRequired() {
        #expect(throws: DaemonConfigError.missingModel) { try DaemonConfig.load(configFile: nil) }
    }

    @Test func unknownUserNameIsRejected() {
        #expect(throws: DaemonConfigError.self) {
            try DaemonConfig.load(configFile: nil, flags: [("model", "/m"), ("allowed-uids", "no-such-user-canopy-xyz")])
        }
    }

    @Test func valueSyntaxes() {
        #expect(ConfigValueParser.bytes("512M") == 512 << 20)
        #expect(ConfigValueParser.bytes("2GiB") == 2 << 30)
        #expect(ConfigValueParser.bytes("64k") == 64 << 10)
        #expect(ConfigValueParser.bytes("1.5G") == 3 << 29)
        #expect(ConfigValueParser.bytes("1000") == 1000)
        for bad in ["", "M", "-1G", "0", "12X", "1e3"] { #expect(ConfigValueParser.bytes(bad) == nil, "\(bad)") }
        #expect(ConfigValueParser.duration("30") == .seconds(30))
        #expect(ConfigValueParser.duration("2m") == .seconds(120))
        #expect(ConfigValueParser.duration("2min") == .seconds(120))
        #expect(ConfigValueParser.duration("250ms") == .milliseconds(250))
        #expect(ConfigValueParser.duration("0.5s") == .milliseconds(500))
        for bad in ["", "s", "-1", "1h", "abc"] { #expect(ConfigValueParser.duration(bad) == nil, "\(bad)") }
        #expect(ConfigValueParser.boolean("Yes") == true)
        #expect(ConfigValueParser.boolean("off") == false)
        #expect(ConfigValueParser.boolean("maybe") == nil)
        #expect(ConfigValueParser.userIDs("") == [])
        #expect(ConfigValueParser.userIDs("root,5") == [0, 5])
        #expect(ConfigValueParser.groupIDs("root") == [0])
        #expect(ConfigValueParser.positiveSeconds("90s") == 90)
        #expect(ConfigValueParser.positiveSeconds("0") == nil)
        #expect(ConfigValueParser.noneOr("None", ConfigValueParser.positiveSeconds) == .some(nil))
        #expect(ConfigValueParser.noneOr("1m", ConfigValueParser.positiveSeconds) == .some(60))
        #expect(ConfigValueParser.noneOr("soon", ConfigValueParser.positiveSeconds) == nil)
    }

    @Test func engineLimitsAreValidatedAfterMerging() {
        #expect(throws: DaemonConfigError.self) {
            // Below one KV block is only caught by Engine.init; out-of-range limits are caught here.
            try DaemonConfig.load(configFile: nil, flags: [("model", "/m"), ("block-size", "300")])
        }
    }

    @Test func everyKeyIsDocumentedInTheExampleFile() throws {
        let example = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("systemd/canopyd.conf.example").path
        let text = try String(contentsOfFile: example, encoding: .utf8)
        for key in DaemonConfig.keys {
            #expect(text.contains("\(key.name) ="), "systemd/canopyd.conf.example does not mention \(key.name)")
        }
        // The example itself (uncommented lines) must load.
        _ = try DaemonConfig.load(configFile: example)
    }
}

/// `kv-swap-space` and where its file goes.
@Suite struct KVSwapConfigTests {
    @Test func swapSpaceParsesSizesAndZero() throws {
        let flags: [(key: String, value: String)] = [("model", "/m.gguf")]
        #expect(try DaemonConfig.load(configFile: nil, flags: flags).engine.kvSwapSpace == 0, "off by default")
        let sized = try DaemonConfig.load(configFile: nil, flags: flags + [("kv-swap-space", "2G")])
        #expect(sized.engine.kvSwapSpace == 2 << 30)
        let off = try DaemonConfig.load(configFile: nil, flags: flags + [("kv-swap-space", "0")])
        #expect(off.engine.kvSwapSpace == 0)
        #expect(throws: DaemonConfigError.self) {
            try DaemonConfig.load(configFile: nil, flags: flags + [("kv-swap-space", "lots")])
        }
    }

    @Test func swapFileGoesToTheStateDirectoryElseBesideTheSocket() {
        #expect(StateDirectory.resolve(socketPath: "/run/canopy/canopyd.sock", environment: [:]) == "/run/canopy")
        #expect(StateDirectory.resolve(
            socketPath: "/run/canopy/canopyd.sock", environment: ["STATE_DIRECTORY": "/var/lib/canopy/state:/other"])
            == "/var/lib/canopy/state")
        #expect(StateDirectory.resolve(socketPath: "canopyd.sock", environment: ["STATE_DIRECTORY": ""]) == ".")
    }
}
