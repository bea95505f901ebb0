import CanopyKernels

/// How the ranks of a tensor-parallel group combine their partial results inside a forward
/// pass. Every rank calls the same methods in the same order with the same counts; the
/// implementation carries the values between ranks (MPI in `CanopyParallel`).
///
/// Methods never throw in the middle of a layer: when a peer is lost (it died, or did not
/// answer within the group's timeout), the exchange records `failure`, later calls return at
/// once, and the forward pass ends with `ForwardError.rankLost`.
public protocol ShardExchange: AnyObject, Sendable {
    /// This rank, `0..<ranks`.
    var rank: Int { get }
    /// Ranks in the group.
    var ranks: Int { get }

    /// Rank 0's model calls this first in every pass: the other ranks are told to run the
    /// same pass over `batch`, after repeating `copies` on their KV arenas (they then call
    /// the same collectives in the same order).
    func distribute(_ batch: ForwardBatch, copies: [BlockCopyLog.Copy])

    /// Replaces `values` (`count` floats) on every rank by the sum of every rank's `values`,
    /// added in rank order 0, 1, 2, ..., so all ranks hold the same bits and the result does
    /// not depend on which partial arrived first.
    func sum(_ values: UnsafeMutablePointer<Float>, count: Int)

    /// Collects the logits every rank computed for its vocabulary rows onto rank 0: `part`
    /// holds `rows × columns.count` values (this rank's `columns`, row-major); on rank 0,
    /// `whole` (`rows × width`) receives each rank's columns in place. Other ranks pass a nil
    /// `whole`.
    func gatherColumns(
        _ part: UnsafePointer<Float>, rows: Int, columns: Range<Int>, width: Int, into whole: UnsafeMutablePointer<Float>?)

    /// Why the group stopped working (which rank was lost, and how); nil while it works.
    var failure: String? { get }
}
