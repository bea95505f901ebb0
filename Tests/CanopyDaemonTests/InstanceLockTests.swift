import Foundation
import Testing
@testable import CanopyDaemon

@Suite struct InstanceLockTests {
    @Test func secondHolderIsRefusedWithOurPid() throws {
        let directory = TemporaryDirectory()
        let socket = directory.file("canopyd.sock")
        let first = try InstanceLock(socketPath: socket)
        #expect(first.path == socket + ".lock")
        #expect(InstanceLock.holderPID(lockPath: first.path) == getpid())
        // flock locks belong to open file descriptions, so a second open in this process conflicts.
        #expect(throws: DaemonError.alreadyRunning(lockPath: socket + ".lock", pid: getpid())) {
            try InstanceLock(socketPath: socket)
        }
        first.release()
        #expect(!first.isHeld)
        let second = try InstanceLock(socketPath: socket)
        #expect(second.isHeld)
    }

    @Test func anotherProcessCannotTakeTheLock() throws {
        let directory = TemporaryDirectory()
        let lock = try InstanceLock(lockPath: directory.file("x.lock"))
        #expect(try runFlock(lock.path) == 1, "flock(1) got the lock while we held it")
        lock.release()
        #expect(try runFlock(lock.path) == 0, "flock(1) could not take the released lock")
    }

    @Test func lockHeldByAnotherProcessIsReported() throws {
        let directory = TemporaryDirectory()
        let path = directory.file("y.lock")
        // A child holds the lock (and records its pid like canopyd would) while we try.
        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/bin/sh")
        child.arguments = ["-c", "exec 9>>\"$1\"; flock -n 9 || exit 3; echo $$ > \"$1\"; echo locked; exec sleep 10", "sh", path]
        let output = Pipe()
        child.standardOutput = output
        try child.run()
        defer { child.terminate(); child.waitUntilExit() }
        let line = output.fileHandleForReading.availableData
        #expect(String(decoding: line, as: UTF8.self).hasPrefix("locked"))
        #expect(throws: DaemonError.alreadyRunning(lockPath: path, pid: child.processIdentifier)) {
            try InstanceLock(lockPath: path)
        }
    }

    /// A root daemon must not truncate and write a file another user pointed the lock path at.
    @Test func symlinkAtTheLockPathIsRefusedAndItsTargetUntouched() throws {
        let directory = TemporaryDirectory()
        let victim = directory.file("victim.txt")
        try "precious\n".write(toFile: victim, atomically: false, encoding: .utf8)
        let path = directory.file("x.sock.lock")
        try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: victim)
        #expect {
            try InstanceLock(lockPath: path)
        } throws: { error in
            guard case DaemonError.lockFailed(_, let reason) = error else { return false }
            return reason.contains("symbolic link")
        }
        #expect(try String(contentsOfFile: victim, encoding: .utf8) == "precious\n")
    }

    @Test func hardLinkOrFifoAtTheLockPathIsRefused() throws {
        let directory = TemporaryDirectory()
        let victim = directory.file("victim.txt")
        try "precious\n".write(toFile: victim, atomically: false, encoding: .utf8)
        let linked = directory.file("a.lock")
        #expect(link(victim, linked) == 0)
        #expect(throws: DaemonError.self) { try InstanceLock(lockPath: linked) }
        #expect(try String(contentsOfFile: victim, encoding: .utf8) == "precious\n")
        let fifo = directory.file("b.lock")
        #expect(mkfifo(fifo, 0o644) == 0)
        #expect(throws: DaemonError.self) { try InstanceLock(lockPath: fifo) }
    }

    @Test func unwritableLockLocationIsALockFailure() {
        #expect(throws: DaemonError.self) { try InstanceLock(lockPath: "/nonexistent-dir-canopy/x.lock") }
    }

    private func runFlock(_ path: String) throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/flock")
        process.arguments = ["-n", path, "true"]
        try process.run()
        process.waitUntilExit()
        return process.terminationStatus
    }
}
