import Foundation

// Two builds of one target. With `-DCANOPY_FUZZ` (and `-sanitize=fuzzer,address`, see
// `make fuzz`) libFuzzer owns `main` and calls `LLVMFuzzerTestOneInput` with each input; the
// target is chosen by `CANOPY_FUZZ_TARGET`. Without it this is a replay driver: it runs the
// inputs of a corpus once each, so a crash found by a long run stays fixed (`make test`
// replays every committed corpus).

#if CANOPY_FUZZ
/// libFuzzer's entry point: runs one input through the target named by `CANOPY_FUZZ_TARGET`.
/// Returns 0 (the input is kept if it found new coverage); a broken invariant traps.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    FuzzSession.shared.target.run(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}

/// The target of this process, read once from the environment.
final class FuzzSession: Sendable {
    static let shared = FuzzSession()
    let target: FuzzTarget

    private init() {
        let name = ProcessInfo.processInfo.environment["CANOPY_FUZZ_TARGET"] ?? ""
        guard let target = FuzzTarget(rawValue: name) else {
            FileHandle.standardError.write(Data("canopy-fuzz: set CANOPY_FUZZ_TARGET to one of \(FuzzTarget.allNames)\n".utf8))
            exit(2)
        }
        self.target = target
    }
}
#else
/// `canopy-fuzz TARGET PATH...`: runs every file under each PATH (a file or a directory) through
/// TARGET once. Exits non-zero on a usage error; a broken invariant traps, naming the file.
@main
enum FuzzReplay {
    static func main() {
        let arguments = CommandLine.arguments.dropFirst()
        guard let name = arguments.first, let target = FuzzTarget(rawValue: name), arguments.count > 1 else {
            FileHandle.standardError.write(Data("usage: canopy-fuzz TARGET PATH... (targets: \(FuzzTarget.allNames))\n".utf8))
            exit(2)
        }
        var count = 0
        for path in arguments.dropFirst() {
            for file in inputFiles(under: path) {
                guard let bytes = FileManager.default.contents(atPath: file) else {
                    FileHandle.standardError.write(Data("canopy-fuzz: cannot read \(file)\n".utf8))
                    exit(1)
                }
                FuzzReplay.current = file
                bytes.withUnsafeBytes { target.run($0) }
                count += 1
            }
        }
        print("canopy-fuzz \(name): \(count) inputs replayed, no failure")
    }

    /// The input being run, for the message of a failed invariant.
    nonisolated(unsafe) static var current = ""

    private static func inputFiles(under path: String) -> [String] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { return [] }
        guard isDirectory.boolValue else { return [path] }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        return names.sorted().filter { !$0.hasPrefix(".") && $0 != "README.md" }.map { "\(path)/\($0)" }
    }
}
#endif
