import CanopyKernels

/// How the ranks of a parallel job combine their work inside a forward pass: tensor
/// parallelism within a pipeline stage (ranks `0..<ranks` of the stage, summing partial
/// results), and pipeline parallelism between stages (activations passed to the next
/// stage, logits back to the job's first rank). Every rank calls the methods its place
/// implies, in the same order, with the same counts; the implementation carries the values
/// (MPI in `CanopyParallel`).
///
/// Methods never throw in the middle of a layer: when a peer is lost (it died, or did not
/// answer within the job's timeout), the exchange records `failure`, later calls return at
/// once, and the forward pass ends with `ForwardError.rankLost`.
public protocol ShardExchange: AnyObject, Sendable {
    /// This rank within its stage's tensor-parallel group, `0..<ranks`.
    var rank: Int { get }
    /// Ranks in each stage's tensor-parallel group (`--tensor-parallel`).
    var ranks: Int { get }
    /// This rank's pipeline stage, `0..<stages`.
    var stage: Int { get }
    /// Pipeline stages (`--pipeline-parallel`).
    var stages: Int { get }

    /// The job's first rank (rank 0 of stage 0, which runs the engine) calls this first in
    /// every pass: every other rank is told to run the same pass over `batch`, after
    /// repeating `copies` on its KV arena.
    func distribute(_ batch: ForwardBatch, copies: [BlockCopyLog.Copy])

    /// Replaces `values` (`count` doubles) on every rank of this stage by the sum of every
    /// stage rank's `values`, added in rank order 0, 1, 2, ..., so all of them hold the same
    /// bits and the result does not depend on which partial arrived first. Doubles, so that
    /// partial products summed here round to one process's floats (see `LayerSteps.projectSplit`).
    func sum(_ values: UnsafeMutablePointer<Double>, count: Int)

    /// Collects the logits every rank of this stage computed for its vocabulary rows onto
    /// the stage's rank 0: `part` holds `rows × columns.count` values (this rank's `columns`,
    /// row-major); on rank 0, `whole` (`rows × width`) receives each rank's columns in place.
    /// Other ranks pass a nil `whole`.
    func gatherColumns(
        _ part: UnsafePointer<Float>, rows: Int, columns: Range<Int>, width: Int, into whole: UnsafeMutablePointer<Float>?)

    /// Sends this stage's output activations (`count` floats, the residual stream) to the
    /// same rank of the next stage.
    func sendActivations(_ values: UnsafePointer<Float>, count: Int)

    /// Receives the previous stage's output activations into `values`.
    func receiveActivations(into values: UnsafeMutablePointer<Float>, count: Int)

    /// The last stage's rank 0 sends each micro-batch's logits to the job's first rank,
    /// which collects them with `collectLogits`.
    func sendLogits(_ values: UnsafePointer<Float>, count: Int)

    /// The job's first rank, under pipeline parallelism: runs `body` (its stage's part of
    /// the pass's micro-batches) while the logits of every micro-batch arrive into `parts`,
    /// one message each, in order, and returns once all have (or `body` failed). Receiving
    /// while it computes is what keeps the last stage from waiting on it.
    func collectLogits<E: Error>(into parts: [UnsafeMutableBufferPointer<Float>], while body: () throws(E) -> Void) throws(E)

    /// Why the job stopped working (which rank was lost, and how); nil while it works.
    var failure: String? { get }

    /// This rank's communication so far.
    var statistics: ExchangeCounters { get }
}

extension ShardExchange {
    /// Whether this is the job's first rank: it runs the engine and samples.
    public var isFirstRank: Bool { rank == 0 && stage == 0 }

    /// `sum` of `count` floats through `wide` (`count` doubles of scratch): exact where each
    /// element is nonzero on one rank at most, as the vocabulary-split embedding's rows are;
    /// elsewhere (products summed in float) the ranks' floats are added in double, rounded once.
    func sum(_ values: UnsafeMutablePointer<Float>, count: Int, through wide: UnsafeMutablePointer<Double>) {
        for i in 0..<count { wide[i] = Double(values[i]) }
        sum(wide, count: count)
        for i in 0..<count { values[i] = Float(wide[i]) }
    }
}
