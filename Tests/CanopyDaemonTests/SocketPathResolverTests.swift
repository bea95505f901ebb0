import Foundation
import Testing
@testable import CanopyDaemon

@Suite struct SocketPathResolverTests {
    @Test func explicitPathWins() throws {
        let resolver = SocketPathResolver(environment: ["RUNTIME_DIRECTORY": "/run/canopy", "XDG_RUNTIME_DIR": "/run/user/1"], effectiveUID: 0)
        #expect(try resolver.resolve(explicit: "/srv/c.sock") == "/srv/c.sock")
    }

    @Test func runtimeDirectoryComesNext() throws {
        let resolver = SocketPathResolver(
            environment: ["RUNTIME_DIRECTORY": "/run/canopy:/run/other", "INVOCATION_ID": "x", "XDG_RUNTIME_DIR": "/run/user/1"],
            effectiveUID: 1000)
        #expect(try resolver.resolve(explicit: nil) == "/run/canopy/canopyd.sock")
    }

    @Test func rootUnderSystemdUsesRunCanopy() throws {
        let env = ["INVOCATION_ID": "abc", "XDG_RUNTIME_DIR": "/run/user/0"]
        #expect(try SocketPathResolver(environment: env, effectiveUID: 0).resolve(explicit: nil) == "/run/canopy/canopyd.sock")
        // Not root: /run is not writable, fall through to XDG.
        #expect(try SocketPathResolver(environment: env, effectiveUID: 1000).resolve(explicit: nil) == "/run/user/0/canopy/canopyd.sock")
    }

    @Test func xdgRuntimeDirOutsideSystemd() throws {
        let resolver = SocketPathResolver(environment: ["XDG_RUNTIME_DIR": "/run/user/1000/"], effectiveUID: 0)
        #expect(try resolver.resolve(explicit: nil) == "/run/user/1000/canopy/canopyd.sock")
    }

    @Test func nothingToGoOnIsAnErrorMentioningTheFlag() {
        let resolver = SocketPathResolver(environment: [:], effectiveUID: 1000)
        #expect(throws: DaemonError.noSocketPath) { try resolver.resolve(explicit: nil) }
        #expect(DaemonError.noSocketPath.description.contains("--socket"))
    }

    @Test func tooLongPathsAreRejected() {
        let long = "/tmp/" + String(repeating: "d", count: 120) + "/c.sock"
        #expect(throws: DaemonError.socketPathTooLong(path: long, limit: 107)) {
            try SocketPathResolver(environment: [:]).resolve(explicit: long)
        }
    }

    @Test func parentDirectoryIsCreatedWithMode0750() throws {
        let directory = TemporaryDirectory()
        let socket = directory.file("a/b/canopyd.sock")
        let previous = umask(0o022)
        defer { umask(previous) }
        try SocketPathResolver.prepareParentDirectory(of: socket)
        var info = stat()
        #expect(stat(directory.file("a/b"), &info) == 0)
        #expect(info.st_mode & 0o7777 == 0o750)
        #expect(info.st_mode & S_IFMT == S_IFDIR)
        // Existing directories are accepted as they are.
        try SocketPathResolver.prepareParentDirectory(of: socket)
    }

    @Test func parentThatIsAFileIsAnError() throws {
        let directory = TemporaryDirectory()
        #expect(FileManager.default.createFile(atPath: directory.file("f"), contents: Data()))
        #expect(throws: DaemonError.directory(path: directory.file("f"), reason: "exists and is not a directory")) {
            try SocketPathResolver.prepareParentDirectory(of: directory.file("f/canopyd.sock"))
        }
    }
}
