import Foundation
import Testing
@testable import CanopyDaemon

@Suite struct SocketFileTests {
    @Test func adoptSetsMode0660AndRemoveDeletesIt() throws {
        let directory = TemporaryDirectory()
        let path = directory.file("s.sock")
        let fd = bindUnixSocket(path: path, type: streamType)
        defer { close(fd) }
        let file = try SocketFile.adopt(path: path)
        var info = stat()
        #expect(lstat(path, &info) == 0)
        #expect(info.st_mode & 0o777 == 0o660)
        #expect(file.isStillOurs)
        #expect(file.remove())
        #expect(access(path, F_OK) != 0)
        #expect(!file.remove())
    }

    @Test func aReplacedSocketIsNotRemoved() throws {
        let directory = TemporaryDirectory()
        let path = directory.file("s.sock")
        let first = bindUnixSocket(path: path, type: streamType)
        defer { close(first) }
        let file = try SocketFile.adopt(path: path)
        // Someone else takes over the path with a new socket (new inode).
        unlink(path)
        let second = bindUnixSocket(path: path, type: streamType)
        defer { close(second) }
        #expect(!file.isStillOurs)
        #expect(!file.remove())
        #expect(access(path, F_OK) == 0)
    }

    @Test func removeStaleDeletesOnlySockets() throws {
        let directory = TemporaryDirectory()
        #expect(try SocketFile.removeStale(at: directory.file("none.sock")) == false)
        let path = directory.file("s.sock")
        close(bindUnixSocket(path: path, type: streamType))
        #expect(try SocketFile.removeStale(at: path))
        #expect(access(path, F_OK) != 0)
        let regular = directory.file("r.sock")
        #expect(FileManager.default.createFile(atPath: regular, contents: Data("keep".utf8)))
        #expect(throws: DaemonError.self) { try SocketFile.removeStale(at: regular) }
        #expect(access(regular, F_OK) == 0)
        #expect(throws: DaemonError.self) { try SocketFile.adopt(path: regular) }
    }
}
