import CanopyKernels
import Foundation
import Testing

@Suite struct LockedTests {
    private struct Refused: Error, Equatable {}

    @Test("increments from 4 threads under the lock all land")
    func concurrentIncrementsAreExact() {
        let counts = Locked<[Int: Int]>([:])
        let done = Locked(0)
        for thread in 0..<4 {
            Thread {
                for i in 0..<20_000 { counts.withLock { $0[(i + thread) % 7, default: 0] += 1 } }
                done.withLock { $0 += 1 }
            }.start()
        }
        while done.withLock({ $0 }) < 4 { usleep(1000) }
        #expect(counts.withLock { $0.values.reduce(0, +) } == 80_000)
    }

    @Test("an error thrown inside releases the lock and keeps its type; changes made before it stay")
    func throwingBodyReleasesTheLock() {
        let value = Locked(1)
        #expect(throws: Refused()) {
            try value.withLock { (number: inout Int) throws(Refused) in
                number = 2
                throw Refused()
            }
        }
        // A lock left held would block this call forever.
        #expect(value.withLock { $0 } == 2)
    }
}
