import CanopyEngine
import Testing
@testable import CanopyDaemon

/// The `expert-cache` setting (file key and `--expert-cache` flag).
@Suite struct ExpertCacheConfigTests {
    @Test func sizesNoneAndDefault() throws {
        let unset = try DaemonConfig.load(configFile: nil, flags: [("model", "/m.gguf")])
        #expect(unset.engine.expertCacheBytes == nil, "by default every expert stays memory-mapped")
        let sized = try DaemonConfig.load(configFile: nil, flags: [("model", "/m.gguf"), ("expert-cache", "320K")])
        #expect(sized.engine.expertCacheBytes == 320 * 1024)
        let none = try DaemonConfig.load(configFile: nil, flags: [("model", "/m.gguf"), ("expert-cache", "none")])
        #expect(none.engine.expertCacheBytes == nil)
    }

    @Test func badValueNamesTheExpectation() {
        do {
            _ = try DaemonConfig.load(configFile: nil, flags: [("model", "/m.gguf"), ("expert-cache", "lots")])
            Issue.record("expert-cache 'lots' was accepted")
        } catch {
            #expect(error.description.contains("--expert-cache"))
            #expect(error.description.contains("512M"))
        }
    }
}
