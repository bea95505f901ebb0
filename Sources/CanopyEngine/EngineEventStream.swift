import Synchronization

/// How far a request's reader is behind: events the engine produced that the reader has not
/// taken yet. Shared by the engine thread (which produces) and the reading task.
///
/// The engine holds a request back — decodes none of its tokens — while `isFull`, and
/// resumes it once the reader has taken it down to half the limit; so a reader that does
/// not keep up costs at most `limit` buffered events, never `max_tokens × n` of them, and
/// the batch slot goes to requests whose readers do.
final class EventBacklog: Sendable {
    /// Events at which the request is held back.
    let limit: Int
    private let pending = Atomic<Int>(0)

    init(limit: Int) {
        precondition(limit >= 2, "an event backlog limit below 2 cannot resume at half")
        self.limit = limit
    }

    /// Whether the reader is `limit` or more events behind.
    var isFull: Bool { pending.load(ordering: .relaxed) >= limit }

    /// Counts an event handed to the reader's buffer.
    func produced() {
        pending.add(1, ordering: .relaxed)
    }

    /// Counts an event the reader took; true when that brought the backlog down to the
    /// resume mark, so the engine should look at the request again.
    func consumed() -> Bool {
        pending.subtract(1, ordering: .relaxed).newValue == limit / 2
    }
}

/// The events of one request, in order, ending with `.completed` (see `EngineEvent`), as
/// `Engine.submit(_:)` returns them. Reading is what lets the request go on: the engine stops
/// decoding a request whose reader is `EngineConfig.maxBufferedEvents` events behind, and
/// cancels it after `EngineConfig.stalledReaderTimeout` seconds of that. Dropping the stream,
/// or cancelling the task reading it, cancels the request.
public struct EngineEventStream: AsyncSequence, Sendable {
    public typealias Element = EngineEvent
    public typealias Failure = Never

    let base: AsyncStream<EngineEvent>
    let backlog: EventBacklog
    /// Wakes the engine thread when the backlog falls to the resume mark.
    let resume: @Sendable () -> Void

    /// Iterates the events; each one taken counts as read.
    public struct AsyncIterator: AsyncIteratorProtocol {
        var base: AsyncStream<EngineEvent>.AsyncIterator
        let backlog: EventBacklog
        let resume: @Sendable () -> Void

        /// The next event, or nil after `.completed` (or when the request was dropped).
        public mutating func next() async -> EngineEvent? {
            guard let event = await base.next() else { return nil }
            if backlog.consumed() { resume() }
            return event
        }

        /// `next()`, on the caller's actor.
        public mutating func next(isolation actor: isolated (any Actor)?) async -> EngineEvent? {
            guard let event = await base.next(isolation: actor) else { return nil }
            if backlog.consumed() { resume() }
            return event
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(base: base.makeAsyncIterator(), backlog: backlog, resume: resume)
    }
}
