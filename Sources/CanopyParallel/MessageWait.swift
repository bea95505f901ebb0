import CMPI
import Foundation

/// Waiting for nonblocking MPI operations with a deadline. Inside a pass a peer's partial
/// sums usually arrive within microseconds to a few milliseconds (whatever the ranks' work
/// differs by), and a sleep there would add its whole timer slack to every one of a pass's
/// sixty exchanges: so a rank polls, yielding its core to anything else that wants it,
/// for the first `spin`, and only then sleeps between polls, so a long wait costs no core.
enum MessageWait {
    /// How long a wait polls (yielding) before it starts to sleep between polls.
    static let spin: Duration = .milliseconds(5)

    /// Waits until every request in `requests` completes, or `timeout` passes.
    /// Returns nil when all completed, else the index of the first that did not.
    static func all(_ requests: inout [MPI_Request?], timeout: Duration) -> Int? {
        let clock = ContinuousClock()
        let start = clock.now
        var done = Array(repeating: false, count: requests.count)
        var polls = 0
        while true {
            var pending: Int?
            for i in requests.indices where !done[i] {
                var flag: Int32 = 0
                MPI_Test(&requests[i], &flag, canopy_mpi_status_ignore())
                if flag != 0 { done[i] = true } else if pending == nil { pending = i }
            }
            guard let pending else { return nil }
            polls += 1
            if polls % 64 == 0 {
                let waited = clock.now - start
                if waited > timeout { return pending }
                if waited > spin { usleep(waited > .seconds(1) ? 1000 : 50) }
            }
            sched_yield()
        }
    }

    /// Waits for a message with `tag` from `source` without a deadline (a rank idles here
    /// between passes for as long as the daemon has no work); returns its `Int64` count.
    static func probe(source: Int, tag: Int32) -> Int {
        var flag: Int32 = 0
        var status = MPI_Status()
        var polls = 0
        while true {
            MPI_Iprobe(Int32(source), tag, canopy_mpi_comm_world(), &flag, &status)
            if flag != 0 { break }
            polls += 1
            if polls > 2000 { usleep(polls > 20000 ? 2000 : 50) }
        }
        var count: Int32 = 0
        MPI_Get_count(&status, canopy_mpi_int64(), &count)
        return Int(count)
    }
}
