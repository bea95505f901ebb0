import Foundation
import Synchronization
import Testing
@testable import CanopyDaemon

@Suite struct SystemdNotifierTests {
    @Test func readyArrivesOnAPathSocket() throws {
        let directory = TemporaryDirectory()
        let path = directory.file("notify")
        let fd = bindUnixSocket(path: path, type: datagramType)
        defer { close(fd) }
        let notifier = SystemdNotifier(environment: ["NOTIFY_SOCKET": path])
        #expect(notifier.isEnabled)
        #expect(try notifier.ready(status: "serving"))
        let message = try #require(receiveDatagram(fd))
        let lines = message.split(separator: "\n").map(String.init)
        #expect(lines.first == "READY=1")
        #expect(lines.contains("STATUS=serving"))
        #expect(lines.contains("MAINPID=\(getpid())"))
        try notifier.stopping()
        #expect(receiveDatagram(fd) == "STOPPING=1")
        try notifier.watchdog()
        #expect(receiveDatagram(fd) == "WATCHDOG=1")
        try notifier.extendTimeout(by: .seconds(90))
        #expect(receiveDatagram(fd) == "EXTEND_TIMEOUT_USEC=90000000")
    }

    @Test func abstractSocketNamesWork() throws {
        let name = "@canopyd-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = bindUnixSocket(path: name, type: datagramType)
        defer { close(fd) }
        try SystemdNotifier(socketPath: name).status("loading")
        #expect(receiveDatagram(fd) == "STATUS=loading")
    }

    @Test func withoutNotifySocketNothingIsSent() throws {
        let notifier = SystemdNotifier(environment: [:])
        #expect(!notifier.isEnabled)
        #expect(try notifier.ready() == false)
    }

    @Test func unreachableOrUnsupportedSocketsAreErrors() {
        let directory = TemporaryDirectory()
        #expect(throws: DaemonError.self) { try SystemdNotifier(socketPath: directory.file("nobody")).ready() }
        #expect(throws: DaemonError.self) { try SystemdNotifier(socketPath: "vsock:2:1234").ready() }
    }

    @Test func watchdogIntervalIsHalfTheTimeout() throws {
        #expect(try WatchdogPinger.interval(environment: ["WATCHDOG_USEC": "30000000"], pid: 42) == .seconds(15))
        #expect(try WatchdogPinger.interval(environment: ["WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "42"], pid: 42) == .seconds(15))
        #expect(try WatchdogPinger.interval(environment: ["WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "7"], pid: 42) == nil)
        #expect(try WatchdogPinger.interval(environment: [:], pid: 42) == nil)
        #expect(throws: DaemonError.self) { try WatchdogPinger.interval(environment: ["WATCHDOG_USEC": "soon"], pid: 42) }
        #expect(throws: DaemonError.self) { try WatchdogPinger.interval(environment: ["WATCHDOG_USEC": "0"], pid: 42) }
    }

    @Test func pingerPingsRepeatedlyWhileHealthyAndStops() throws {
        let directory = TemporaryDirectory()
        let path = directory.file("notify")
        let fd = bindUnixSocket(path: path, type: datagramType)
        defer { close(fd) }
        let environment = ["NOTIFY_SOCKET": path, "WATCHDOG_USEC": "100000"]
        let pinger = try #require(try WatchdogPinger.fromEnvironment(environment))
        #expect(pinger.interval == .milliseconds(50))
        pinger.start()
        for _ in 0..<3 { #expect(receiveDatagram(fd) == "WATCHDOG=1") }
        pinger.stop()
        // Drain anything already in flight, then expect silence.
        while receiveDatagram(fd, timeoutMilliseconds: 100) != nil {}
        #expect(receiveDatagram(fd, timeoutMilliseconds: 200) == nil)
    }

    @Test func pingerIsSilentWhileUnhealthy() throws {
        let directory = TemporaryDirectory()
        let path = directory.file("notify")
        let fd = bindUnixSocket(path: path, type: datagramType)
        defer { close(fd) }
        let healthy = Counter()
        let pinger = WatchdogPinger(
            interval: .milliseconds(20), notifier: SystemdNotifier(socketPath: path),
            isHealthy: { healthy.value == 1 })
        pinger.start()
        defer { pinger.stop() }
        #expect(receiveDatagram(fd, timeoutMilliseconds: 150) == nil)
        healthy.set(1)
        #expect(receiveDatagram(fd) == "WATCHDOG=1")
    }
}
