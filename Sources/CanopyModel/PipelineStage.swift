/// The layers one pipeline stage runs: a contiguous range of transformer blocks, stage 0
/// first. The first stage also embeds the tokens; the last also applies the final norm and
/// the output projection. Stages pass the residual stream on, one pass at a time.
public struct PipelineStage: Sendable, Equatable, CustomStringConvertible {
    /// This stage, `0..<stages`.
    public let stage: Int
    /// Stages in the pipeline (`--pipeline-parallel`).
    public let stages: Int
    /// The blocks this stage runs (their global indices).
    public let layers: Range<Int>

    /// Splits `config`'s blocks over `stages` stages as evenly as can be, as stage `stage`.
    /// - Throws: `.cannotShard` when there are fewer blocks than stages.
    public init(stage: Int, stages: Int, config c: ModelConfig) throws(ModelError) {
        precondition(stages >= 1 && (0..<stages).contains(stage), "stage \(stage) outside 0..<\(stages)")
        guard c.blockCount >= stages else {
            throw .cannotShard("the model has \(c.blockCount) blocks, fewer than the \(stages) pipeline stages")
        }
        self.stage = stage
        self.stages = stages
        layers = TensorShard.part(c.blockCount, of: stages, stage)
    }

    /// Whether this stage embeds the tokens.
    public var isFirst: Bool { stage == 0 }
    /// Whether this stage computes the logits.
    public var isLast: Bool { stage == stages - 1 }

    /// The configuration this stage's layers run with: its blocks only.
    public func localConfig(_ c: ModelConfig) -> ModelConfig {
        var local = c
        local.blockCount = layers.count
        return local
    }

    /// Whether this stage reads the tensor called `name` at all: the blocks it runs, the
    /// embedding on the first stage (and on the last when the output projection is tied to
    /// it), the final norm and output projection on the last.
    public func reads(_ name: String, tiedOutput: Bool) -> Bool {
        if name.hasPrefix("blk.") {
            let index = name.dropFirst(4).prefix { $0.isNumber }
            return Int(index).map { layers.contains($0) } ?? true
        }
        switch name {
        case "token_embd.weight": return isFirst || (isLast && tiedOutput)
        case "output.weight", "output_norm.weight": return isLast
        default: return true
        }
    }

    public var description: String { "stage \(stage)/\(stages): blocks \(layers)" }
}
