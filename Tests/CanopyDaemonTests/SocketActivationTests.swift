import Foundation
import Testing
@testable import CanopyDaemon

@Suite struct SocketActivationTests {
    @Test func parsesDescriptorsAndNames() throws {
        let env = ["LISTEN_FDS": "2", "LISTEN_PID": "99", "LISTEN_FDNAMES": "canopyd.socket:metrics"]
        let activation = try #require(try SocketActivation.parse(environment: env, pid: 99))
        #expect(activation.listeners == [
            .init(descriptor: 3, name: "canopyd.socket"),
            .init(descriptor: 4, name: "metrics"),
        ])
        #expect(activation.listener(named: "metrics")?.descriptor == 4)
    }

    @Test func namesDefaultToUnknown() throws {
        let activation = try #require(try SocketActivation.parse(environment: ["LISTEN_FDS": "1", "LISTEN_PID": "5"], pid: 5))
        #expect(activation.listeners == [.init(descriptor: 3, name: "unknown")])
    }

    @Test func variablesForAnotherProcessOrAbsentAreIgnored() throws {
        #expect(try SocketActivation.parse(environment: ["LISTEN_FDS": "1", "LISTEN_PID": "6"], pid: 5) == nil)
        #expect(try SocketActivation.parse(environment: [:], pid: 5) == nil)
        #expect(try SocketActivation.parse(environment: ["LISTEN_FDS": "0", "LISTEN_PID": "5"], pid: 5) == nil)
    }

    @Test func malformedVariablesAreErrors() {
        let cases: [[String: String]] = [
            ["LISTEN_FDS": "1"],
            ["LISTEN_FDS": "x", "LISTEN_PID": "5"],
            ["LISTEN_FDS": "-1", "LISTEN_PID": "5"],
            ["LISTEN_FDS": "1", "LISTEN_PID": "me"],
            ["LISTEN_FDS": "2", "LISTEN_PID": "5", "LISTEN_FDNAMES": "only-one"],
        ]
        for env in cases {
            #expect(throws: DaemonError.self, "\(env)") { try SocketActivation.parse(environment: env, pid: 5) }
        }
    }

    @Test func prepareSetsCloseOnExecOnSockets() throws {
        var pair: [Int32] = [0, 0]
        #expect(socketpair(AF_UNIX, streamType, 0, &pair) == 0)
        defer { close(pair[0]); close(pair[1]) }
        #expect(fcntl(pair[0], F_GETFD) & FD_CLOEXEC == 0)
        try SocketActivation.prepare(descriptor: pair[0])
        #expect(fcntl(pair[0], F_GETFD) & FD_CLOEXEC != 0)
    }

    @Test func prepareRejectsNonSockets() throws {
        let directory = TemporaryDirectory()
        let path = directory.file("plain")
        #expect(FileManager.default.createFile(atPath: path, contents: Data()))
        let fd = open(path, O_RDONLY)
        defer { close(fd) }
        #expect(throws: DaemonError.self) { try SocketActivation.prepare(descriptor: fd) }
    }
}
