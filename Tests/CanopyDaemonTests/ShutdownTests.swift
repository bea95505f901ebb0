import Dispatch
import Foundation
import Logging
import Synchronization
import Testing
@testable import CanopyDaemon

@Suite struct GracefulShutdownTests {
    @Test func quickDrainFinishesWithoutForce() {
        let forced = Counter()
        let outcome = GracefulShutdown(gracePeriod: .seconds(5)).run(
            drain: { usleep(10_000) }, force: { forced.increment() })
        #expect(outcome == .drained)
        #expect(forced.value == 0)
    }

    @Test func slowDrainIsForcedAfterTheGracePeriod() {
        let release = DispatchSemaphore(value: 0)
        let start = ContinuousClock.now
        let outcome = GracefulShutdown(gracePeriod: .milliseconds(200), forceTimeout: .seconds(5)).run(
            drain: { release.wait() }, force: { release.signal() })
        let elapsed = ContinuousClock.now - start
        #expect(outcome == .forced)
        #expect(elapsed >= .milliseconds(200))
        #expect(elapsed < .seconds(4))
    }

    @Test func drainThatIgnoresForceIsAbandoned() async {
        let release = DispatchSemaphore(value: 0)
        let outcome = await GracefulShutdown(gracePeriod: .milliseconds(50), forceTimeout: .milliseconds(100)).run(
            drain: { release.wait() }, force: {})
        #expect(outcome == .abandoned)
        release.signal()
    }
}

@Suite(.serialized) struct SignalHandlingTests {
    @Test func firstSignalDrainsSecondForcesHangupIsIgnored() {
        let drained = DispatchSemaphore(value: 0)
        let forced = DispatchSemaphore(value: 0)
        let drains = Counter()
        let forces = Counter()
        let handling = SignalHandling(
            logger: Logger(label: "test"),
            onDrain: { _ in drains.increment(); drained.signal() },
            onForce: { _ in forces.increment(); forced.signal() })
        handling.install()
        handling.install()
        defer { handling.uninstall() }

        kill(getpid(), SIGHUP)
        #expect(drained.wait(timeout: .now() + .milliseconds(200)) == .timedOut, "SIGHUP must not drain")

        kill(getpid(), SIGTERM)
        #expect(drained.wait(timeout: .now() + .seconds(5)) == .success)
        #expect(forces.value == 0)

        kill(getpid(), SIGINT)
        #expect(forced.wait(timeout: .now() + .seconds(5)) == .success)
        kill(getpid(), SIGTERM)
        usleep(100_000)
        #expect(drains.value == 1)
        #expect(forces.value == 1)
        #expect(handling.shutdownSignalsReceived == 3)
    }
}
