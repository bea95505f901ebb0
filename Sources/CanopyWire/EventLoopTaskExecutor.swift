import NIOCore
import NIOPosix

/// A task executor that runs jobs on one NIO event loop, so that tasks preferring it
/// (`withTaskExecutorPreference`) run on the thread that does their connection's I/O.
///
/// Why: grpc-swift runs every call's body (client) in a task on Swift's global pool, and
/// canopyd's server answers streaming calls in tasks, while the HTTP/2 frames are read and
/// written on an event loop; each message would cross threads twice, and a thread hand-off
/// costs tens of microseconds of wake-up on a small machine. Running both on one loop thread
/// (a one-thread event loop group, see `shared`) takes the hand-offs out of a unary call
/// and out of every streamed token (with grpc-swift's server: a Health round trip from 820
/// to 500 µs p50 from Python, the server's CPU per call from 390 to 250 µs).
///
/// A job must not block: it holds up the loop's I/O. Work that takes long on the CPU
/// belongs on the global pool (`withTaskExecutorPreference(globalConcurrentExecutor)`).
public final class EventLoopTaskExecutor: TaskExecutor, @unchecked Sendable {
    /// The loop the jobs run on.
    public let eventLoop: any EventLoop

    /// An executor on `eventLoop`.
    public init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    /// The process's gRPC I/O thread: a one-thread event loop group, for the transports of
    /// Canopy's gRPC server and clients, and an executor on its loop, for the tasks that use
    /// them. Created on first use; lives as long as the process, like NIO's singleton groups.
    public static let shared: (group: MultiThreadedEventLoopGroup, executor: EventLoopTaskExecutor) = {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        return (group, EventLoopTaskExecutor(eventLoop: group.next()))
    }()

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        eventLoop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
