import CanopyKernels
import Foundation

/// The feed-forward weights of one block: a single SwiGLU network, or routed experts.
enum FeedForwardWeights: Sendable {
    /// One SwiGLU network (`ffn_gate`, `ffn_up`, `ffn_down`; gate and up may be one fused
    /// tensor in the file).
    case dense(gate: WeightMatrix, up: WeightMatrix, down: WeightMatrix)
    /// Routed experts, with an optional shared expert.
    case experts(MixtureOfExperts)

    /// Binds block `prefix`'s feed-forward weights: experts when the model declares them and
    /// the block has a router (`ffn_gate_inp`), the dense network otherwise.
    /// With `shard`, only that rank's hidden units: its rows of gate and up, its columns of
    /// down (dense networks only; `TensorShard` refuses experts).
    init(store: WeightStore, config: ModelConfig, prefix p: String, shard: TensorShard? = nil) throws(ModelError) {
        let e = config.embeddingLength
        if let shard {
            let f = config.feedForwardLength, h = shard.feedForward
            let down = try store.matrix(p + "ffn_down.weight", rows: e, cols: f, part: .columns(h))
            if store.contains(p + "ffn_gate.weight") {
                self = .dense(
                    gate: try store.matrix(p + "ffn_gate.weight", rows: f, cols: e, part: .rows(h)),
                    up: try store.matrix(p + "ffn_up.weight", rows: f, cols: e, part: .rows(h)), down: down)
            } else {
                let name = p + "ffn_up.weight"
                self = .dense(
                    gate: try store.matrix(name, rows: 2 * f, cols: e, part: .rows(h)),
                    up: try store.matrix(name, rows: 2 * f, cols: e, part: .rows((f + h.lowerBound)..<(f + h.upperBound))),
                    down: down)
            }
        } else if let experts = config.experts, store.contains(p + "ffn_gate_inp.weight") {
            // The block index keys the expert cache; prefixes are always `blk.<index>.`.
            guard let block = Int(p.dropFirst(4).dropLast()) else { preconditionFailure("unexpected block prefix \(p)") }
            self = .experts(try MixtureOfExperts(store: store, config: config, experts: experts, prefix: p, block: block))
        } else {
            let f = config.feedForwardLength
            let down = try store.matrix(p + "ffn_down.weight", rows: e, cols: f)
            if store.contains(p + "ffn_gate.weight") {
                self = .dense(
                    gate: try store.matrix(p + "ffn_gate.weight", rows: f, cols: e),
                    up: try store.matrix(p + "ffn_up.weight", rows: f, cols: e), down: down)
            } else {
                // Phi-3's layout: gate and up stacked in one `ffn_up` of 2f rows, the gate
                // first (ggml_swiglu applies SiLU to the first half).
                let fused = try store.matrix(p + "ffn_up.weight", rows: 2 * f, cols: e)
                self = .dense(gate: fused.rows(0..<f), up: fused.rows(f..<(2 * f)), down: down)
            }
        }
    }
}

/// Where a block's routed experts' weights are read from.
enum RoutedExperts: Sendable {
    /// Every expert as views into the memory-mapped file (zero copy).
    case mapped([SwiGLUWeights])
    /// Experts loaded on demand by the model's offloading cache, keyed by block index.
    case cached(ExpertCache, block: Int)
}

/// A SwiGLU network's three matrices: `down(silu(gate·x) ⊙ up·x)`.
struct SwiGLUWeights: Sendable {
    var gate: WeightMatrix
    var up: WeightMatrix
    var down: WeightMatrix

    /// Hidden width.
    var width: Int { gate.rows }

    /// `output[t] = down(silu(gate·x[t]) ⊙ up·x[t])` for `tokens` rows; `hidden` and `up`
    /// scratch hold `tokens × width` floats each. `output` may be `input` (the input is read
    /// only by the first two products), but must not overlap the scratch buffers.
    func apply(
        _ input: UnsafePointer<Float>, tokens: Int, hidden: UnsafeMutablePointer<Float>,
        upScratch: UnsafeMutablePointer<Float>, output: UnsafeMutablePointer<Float>, precision: MatMulPrecision
    ) {
        MatMul.multiply(gate, input: input, tokens: tokens, output: hidden, precision: precision)
        MatMul.multiply(up, input: input, tokens: tokens, output: upScratch, precision: precision)
        Activation.swiGLU(gate: hidden, up: upScratch, count: tokens * width)
        MatMul.multiply(down, input: hidden, tokens: tokens, output: output, precision: precision)
    }
}

/// A block's routed experts (Mixtral, Qwen2-MoE) and optional sigmoid-gated shared expert.
///
/// A batched step groups the batch's tokens by expert: each selected expert's matrices are
/// read once and multiplied against all of its tokens' rows together. A token's result
/// depends only on its own row (routing and every product are per row, and its experts'
/// outputs are summed in its own slot order), so batching never changes outputs.
struct MixtureOfExperts: Sendable {
    let router: ExpertRouter
    /// `expert_count × n_embd` router (`ffn_gate_inp`).
    let routerWeights: WeightMatrix
    /// The routed experts' weights: views into the mapped file, or an offloading cache.
    let experts: RoutedExperts
    /// Hidden width of one routed expert.
    let expertWidth: Int
    /// The shared expert and its `1 × n_embd` gate (`ffn_gate_inp_shexp`), if any.
    let shared: (ffn: SwiGLUWeights, gate: WeightMatrix?)?

    init(
        store: WeightStore, config: ModelConfig, experts x: ExpertConfig, prefix p: String, block: Int
    ) throws(ModelError) {
        let e = config.embeddingLength
        let f = x.feedForwardLength
        router = ExpertRouter(config: x)
        routerWeights = try store.matrix(p + "ffn_gate_inp.weight", rows: x.count, cols: e)
        expertWidth = f
        if let cache = store.expertCache {
            // The cache validated every block's expert tensors when it was made; touching
            // them through the mapping here would page them in, which offloading avoids.
            experts = .cached(cache, block: block)
        } else {
            let gates = try store.expertMatrices(p + "ffn_gate_exps.weight", experts: x.count, rows: f, cols: e)
            let ups = try store.expertMatrices(p + "ffn_up_exps.weight", experts: x.count, rows: f, cols: e)
            let downs = try store.expertMatrices(p + "ffn_down_exps.weight", experts: x.count, rows: e, cols: f)
            experts = .mapped((0..<x.count).map { SwiGLUWeights(gate: gates[$0], up: ups[$0], down: downs[$0]) })
        }
        if store.contains(p + "ffn_up_shexp.weight") {
            let s = x.sharedFeedForwardLength ?? config.feedForwardLength
            let ffn = SwiGLUWeights(
                gate: try store.matrix(p + "ffn_gate_shexp.weight", rows: s, cols: e),
                up: try store.matrix(p + "ffn_up_shexp.weight", rows: s, cols: e),
                down: try store.matrix(p + "ffn_down_shexp.weight", rows: e, cols: s))
            let gateName = p + "ffn_gate_inp_shexp.weight"
            shared = (ffn, store.contains(gateName) ? try store.rowMatrix(gateName, cols: e) : nil)
        } else {
            shared = nil
        }
    }

    /// Replaces each of the `tokens` rows of `x` (normed hidden states, `n_embd` wide) by the
    /// mixture's output for it, and adds the number of rows routed to each expert to `load`.
    func apply(
        _ x: UnsafeMutablePointer<Float>, tokens n: Int, embedding e: Int, precision: MatMulPrecision,
        layer: Int, load: ExpertLoadCounters?
    ) {
        let count = router.config.count
        let k = router.config.usedCount
        let logits = UnsafeMutablePointer<Float>.allocate(capacity: n * count)
        let scores = UnsafeMutablePointer<Float>.allocate(capacity: count)
        let chosen = UnsafeMutablePointer<Int32>.allocate(capacity: n * k)
        let weights = UnsafeMutablePointer<Float>.allocate(capacity: n * k)
        // Every (token, slot) pair's weighted expert output, summed per token at the end.
        let slotOutputs = UnsafeMutablePointer<Float>.allocate(capacity: n * k * e)
        defer {
            for p in [logits, scores, weights, slotOutputs] { p.deallocate() }
            chosen.deallocate()
        }
        MatMul.multiply(routerWeights, input: x, tokens: n, output: logits, precision: precision)
        for t in 0..<n {
            router.route(logits: logits + t * count, scratch: scores, experts: chosen + t * k, weights: weights + t * k)
        }

        // Group (token, slot) pairs by expert, tokens in batch order.
        var assigned = [[Int]](repeating: [], count: count)
        for pair in 0..<(n * k) { assigned[Int(chosen[pair])].append(pair) }
        let most = assigned.map(\.count).max() ?? 0
        if case .cached(let cache, let block) = experts {
            cache.routed(block: block, tokens: assigned.map(\.count))
        }
        let width = max(expertWidth, shared?.ffn.width ?? 0)
        let rows = max(most, shared == nil ? 0 : n)
        let gathered = UnsafeMutablePointer<Float>.allocate(capacity: rows * e)
        let hidden = UnsafeMutablePointer<Float>.allocate(capacity: rows * width)
        let up = UnsafeMutablePointer<Float>.allocate(capacity: rows * width)
        let out = UnsafeMutablePointer<Float>.allocate(capacity: rows * e)
        defer { for p in [gathered, hidden, up, out] { p.deallocate() } }

        for (expert, pairs) in assigned.enumerated() where !pairs.isEmpty {
            load?.add(layer: layer, expert: expert, tokens: pairs.count)
            for (row, pair) in pairs.enumerated() {
                (gathered + row * e).update(from: x + (pair / k) * e, count: e)
            }
            switch experts {
            case .mapped(let weights):
                weights[expert].apply(gathered, tokens: pairs.count, hidden: hidden, upScratch: up, output: out, precision: precision)
            case .cached(let cache, let block):
                cache.withExpert(block: block, expert: expert) {
                    $0.apply(gathered, tokens: pairs.count, hidden: hidden, upScratch: up, output: out, precision: precision)
                }
            }
            for (row, pair) in pairs.enumerated() {
                let w = weights[pair]
                let source = out + row * e
                let destination = slotOutputs + pair * e
                for i in 0..<e { destination[i] = source[i] * w }
            }
        }

        if let shared {
            shared.ffn.apply(x, tokens: n, hidden: hidden, upScratch: up, output: out, precision: precision)
            if let gate = shared.gate {
                // The gate logit per token, in `logits`: routing has read it (it holds n × count ≥ n floats).
                MatMul.multiply(gate, input: x, tokens: n, output: logits, precision: precision)
                for t in 0..<n {
                    let g = 1 / (1 + expf(-logits[t]))
                    for i in 0..<e { out[t * e + i] *= g }
                }
            }
        }
        // ggml adds the experts' views in slot order, then the shared expert.
        for t in 0..<n {
            let row = x + t * e
            let first = slotOutputs + t * k * e
            row.update(from: first, count: e)
            for slot in 1..<k {
                let next = first + slot * e
                for i in 0..<e { row[i] += next[i] }
            }
            if shared != nil {
                for i in 0..<e { row[i] += out[t * e + i] }
            }
        }
    }
}
