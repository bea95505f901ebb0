/// Why a forward pass returned no logits. The process is fine and later passes may succeed
/// (except after `.weightsUnreadable` and `.rankLost`); the K/V rows the failed pass was to write are
/// undefined, so the caller drops the sequences it carried (the engine fails their requests
/// and keeps their blocks out of the prefix cache).
public enum ForwardError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Working memory for the pass (activation buffers, kernel scratch, attention partials)
    /// could not be had: `bytes` is the allocation that failed.
    case outOfMemory(bytes: Int)
    /// Weights read from the model file on demand (routed experts behind an expert cache,
    /// streamed blocks) could not be read, and the file changed on disk since load (truncated
    /// or rewritten). Every later pass fails the same way; restart on an intact file.
    case weightsUnreadable(reason: String)
    /// A read of weights from the model file on demand failed while the file is still the
    /// one loaded (an I/O error). This pass fails; the next one reads the weights afresh.
    case readFailed(reason: String)
    /// A rank of the tensor-parallel group stopped answering or died (`reason` names it).
    /// The group cannot continue: every later pass fails the same way, and the daemon exits
    /// so that its supervisor restarts the whole job.
    case rankLost(reason: String)

    public var description: String {
        switch self {
        case .outOfMemory(let bytes):
            return "out of memory: the forward pass could not allocate \(bytes) bytes of working memory; "
                + "retry, or lower --max-batched-tokens or the load on this machine"
        case .weightsUnreadable(let reason):
            return "the model file can no longer be read as it was loaded (\(reason)); restart canopyd on an intact file"
        case .readFailed(let reason):
            return "reading weights from the model file failed (\(reason)); retry the request"
        case .rankLost(let reason):
            return "the tensor-parallel group lost a rank (\(reason)); canopyd exits so that the job restarts"
        }
    }
}
