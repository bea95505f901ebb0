import CanopyKernels
import Foundation
import Testing
@testable import CanopyDaemon

@Suite struct ModelLoadProgressTests {
    private struct LoadFailed: Error, Equatable {}

    @Test func reportsEveryStepThenTheLoadTime() throws {
        let directory = TemporaryDirectory()
        let path = directory.file("model.gguf")
        // 20 MB: several 8 MiB reads, so intermediate percentages occur.
        #expect(FileManager.default.createFile(atPath: path, contents: Data(count: 20_000_000)))
        let lines = Locked<[String]>([])
        let progress = ModelLoadProgress(path: path, step: 25) { line in lines.withLock { $0.append(line) } }
        let value = progress.run { () -> Int in 42 }
        #expect(value == 42)
        let recorded = lines.withLock { $0 }
        #expect(recorded.first == "loading model model.gguf (20.0 MB): 0%")
        #expect(recorded.dropLast().last == "loading model model.gguf (20.0 MB): 100%")
        #expect(recorded.contains("loading model model.gguf (20.0 MB): 25%"))
        #expect(recorded.contains("loading model model.gguf (20.0 MB): 75%"))
        let last = try #require(recorded.last)
        #expect(last.hasPrefix("loaded model model.gguf (20.0 MB) in "))
        #expect(last.hasSuffix(" s"))
        // Percentages never go backwards.
        let percents = recorded.dropLast().compactMap { Int($0.split(separator: " ").last!.dropLast()) }
        #expect(percents == percents.sorted())
    }

    @Test func linesNameTheRole() throws {
        let directory = TemporaryDirectory()
        let path = directory.file("draft.gguf")
        #expect(FileManager.default.createFile(atPath: path, contents: Data(count: 1000)))
        let lines = Locked<[String]>([])
        ModelLoadProgress(path: path, role: "draft model") { line in lines.withLock { $0.append(line) } }.run {}
        let recorded = lines.withLock { $0 }
        #expect(recorded.first == "loading draft model draft.gguf (0.0 MB): 0%")
        #expect(recorded.last?.hasPrefix("loaded draft model draft.gguf (0.0 MB) in ") == true, "\(recorded)")
    }

    @Test func loaderErrorsPropagateAndMissingFilesSkipPrefetch() {
        let lines = Locked<[String]>([])
        let progress = ModelLoadProgress(path: "/nonexistent/model.gguf") { line in lines.withLock { $0.append(line) } }
        #expect(throws: LoadFailed()) {
            try progress.run { () throws(LoadFailed) -> Int in throw LoadFailed() }
        }
        #expect(lines.withLock { $0 }.isEmpty)
    }
}
