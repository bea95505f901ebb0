import CanopyGGUF
import CanopyKernels

/// The part of every layer one rank of a tensor-parallel group computes, Megatron-style:
/// attention by whole key/value heads (each with its group of query heads), the
/// feed-forward network by hidden columns, and the token embedding and output projection by
/// vocabulary rows.
///
/// Q, K, V, gate and up are split by output rows, so a rank computes its heads and hidden
/// units from the whole residual stream; the attention output and down projections are split
/// by input columns, so each rank's product is a partial sum of the full output, which
/// `ShardExchange.sum` adds up in rank order (the same bits on every rank, whatever the
/// timing). Every range is contiguous and the ranges of ranks `0..<ranks` tile the whole,
/// in order. Column splits fall on whole quantization blocks of the tensor they cut, so each
/// rank's columns are whole blocks of the file's rows.
public struct TensorShard: Sendable, Equatable, CustomStringConvertible {
    /// This rank, `0..<ranks`.
    public let rank: Int
    /// Ranks in the group (`--tensor-parallel`).
    public let ranks: Int
    /// Key/value heads this rank attends with (and keeps in its KV cache).
    public let keyValueHeads: Range<Int>
    /// Query heads: the groups of `keyValueHeads`.
    public let queryHeads: Range<Int>
    /// Hidden units of the feed-forward network: rows of gate and up, columns of down.
    public let feedForward: Range<Int>
    /// Rows of the output projection whose logits this rank computes.
    public let vocabulary: Range<Int>

    /// Splits `config`'s model over `ranks` ranks, as rank `rank`.
    ///
    /// - Throws: `ModelError.cannotShard` when the model cannot be split that way: fewer
    ///   key/value heads or feed-forward blocks than ranks, a mixture-of-experts model, or a
    ///   split that would cut a quantization block of `attn_output`.
    public init(rank: Int, ranks: Int, config c: ModelConfig, file: GGUFFile) throws(ModelError) {
        precondition(ranks >= 1 && (0..<ranks).contains(rank), "rank \(rank) outside 0..<\(ranks)")
        guard c.experts == nil else {
            throw .cannotShard("tensor parallelism does not split mixture-of-experts models yet")
        }
        guard c.headCountKV >= ranks else {
            throw .cannotShard("the model has \(c.headCountKV) key/value heads, fewer than the \(ranks) ranks; use at most \(c.headCountKV)")
        }
        self.rank = rank
        self.ranks = ranks
        keyValueHeads = Self.part(c.headCountKV, of: ranks, rank)
        let group = c.headCount / c.headCountKV
        queryHeads = (keyValueHeads.lowerBound * group)..<(keyValueHeads.upperBound * group)
        // The down projection's columns are cut on whole units (see `feedForwardUnit`).
        let downBlock = Self.feedForwardUnit(c, file: file)
        guard c.feedForwardLength % downBlock == 0, c.feedForwardLength / downBlock >= ranks else {
            throw .cannotShard("the feed-forward width \(c.feedForwardLength) has fewer blocks of \(downBlock) than the \(ranks) ranks")
        }
        let blocks = Self.part(c.feedForwardLength / downBlock, of: ranks, rank)
        feedForward = (blocks.lowerBound * downBlock)..<(blocks.upperBound * downBlock)
        vocabulary = Self.part(c.vocabularySize, of: ranks, rank)
        let outputBlock = file.tensor(named: "blk.0.attn_output.weight")?.type.blockSize ?? 1
        for head in [queryHeads.lowerBound, queryHeads.upperBound] where head * c.headDimension % outputBlock != 0 {
            throw .cannotShard("splitting attn_output after query head \(head) cuts its blocks of \(outputBlock) values; try another rank count")
        }
    }

    /// The feed-forward width is split in units of this many values: its quantization blocks
    /// (K-quant super-blocks included), and 256-value units where the width allows, so that
    /// parts fall on the same boundaries for every weight type.
    static func feedForwardUnit(_ c: ModelConfig, file: GGUFFile) -> Int {
        let quantBlock = file.tensor(named: "blk.0.ffn_down.weight")?.type.blockSize ?? 1
        return c.feedForwardLength % 256 == 0 && 256 % quantBlock == 0 ? 256 : quantBlock
    }

    /// The column groups the split products sum in float before adding the groups in double
    /// (`LayerSteps.projectSplit`), in 32-value blocks: the first of the two parts two ranks
    /// take, of the attention output (whole key/value heads) and of the down projection. So
    /// the groups are the parts of a 2-rank job, whose partial sums then add up to one
    /// process's bits; other rank counts cut inside a group and round a little differently.
    /// nil values: the width is not whole blocks (the products then sum in float).
    public static func columnGroups(_ c: ModelConfig, file: GGUFFile) -> (attentionOutput: Int?, feedForward: Int?) {
        let headColumns = c.headCount / max(c.headCountKV, 1) * c.headDimension
        let attention = part(c.headCountKV, of: 2, 0).count * headColumns
        let unit = feedForwardUnit(c, file: file)
        let feedForward = part(c.feedForwardLength / unit, of: 2, 0).count * unit
        return (attention % 32 == 0 ? max(attention / 32, 1) : nil,
                feedForward % 32 == 0 && c.feedForwardLength % unit == 0 ? max(feedForward / 32, 1) : nil)
    }

    /// `count` units split into `ranks` contiguous parts as even as can be (the first
    /// `count % ranks` parts one larger); part `index`.
    public static func part(_ count: Int, of ranks: Int, _ index: Int) -> Range<Int> {
        let base = count / ranks, extra = count % ranks
        let start = index * base + min(index, extra)
        return start..<(start + base + (index < extra ? 1 : 0))
    }

    /// The configuration this rank's layers run with: its heads and hidden units, the full
    /// embedding width, vocabulary and depth (logits are whole once gathered).
    public func localConfig(_ c: ModelConfig) -> ModelConfig {
        var local = c
        local.headCount = queryHeads.count
        local.headCountKV = keyValueHeads.count
        local.feedForwardLength = feedForward.count
        return local
    }

    /// Whether the tensor called `name` is read in part on each rank (the split matrices);
    /// everything else (the norms) is read whole on every rank.
    public static func isSplit(_ name: String) -> Bool {
        if name == "output.weight" || name == "token_embd.weight" { return true }
        guard name.hasPrefix("blk.") else { return false }
        return splitSuffixes.contains { name.hasSuffix($0) }
    }

    private static let splitSuffixes = [
        ".attn_q.weight", ".attn_k.weight", ".attn_v.weight", ".attn_qkv.weight", ".attn_output.weight",
        ".ffn_gate.weight", ".ffn_up.weight", ".ffn_down.weight",
    ]

    public var description: String {
        "rank \(rank)/\(ranks): kv heads \(keyValueHeads), query heads \(queryHeads), ffn \(feedForward), vocab \(vocabulary)"
    }
}

/// Which part of a matrix a rank reads (`WeightStore.matrix(_:rows:cols:part:)`).
public enum MatrixPart: Sendable, Equatable {
    /// Rows `range` (output features), every column.
    case rows(Range<Int>)
    /// Columns `range` (input features) of every row; whole quantization blocks.
    case columns(Range<Int>)
}
