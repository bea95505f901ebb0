import CanopyKernels
import CanopyModel
import CanopyTokenizer
import Foundation

/// A stand-in model whose log-probabilities are known exactly, for checking which tokens
/// `PerplexityEvaluator` runs and scores: the logits after token `t` at position `p` are 0
/// except `bump(p)` on token `(t + 1) % V`. It records every slice it is given.
struct PerplexityOracleModel: CausalLanguageModel {
    /// One slice of a forward pass, as the model saw it.
    struct Slice: Equatable {
        let firstPosition: Int
        let tokens: [Int32]
        let logitRows: Int
    }

    /// The slices seen, in order (forward passes run one at a time).
    final class Log: @unchecked Sendable {
        private let lock = NSLock()
        private var stored: [Slice] = []

        func append(_ slice: Slice) {
            lock.lock()
            stored.append(slice)
            lock.unlock()
        }

        var slices: [Slice] {
            lock.lock()
            defer { lock.unlock() }
            return stored
        }
    }

    let config: ModelConfig
    let bump: @Sendable (Int) -> Float
    let log = Log()

    func forward(_ batch: ForwardBatch, kv: KVStorage, logits: UnsafeMutableBufferPointer<Float>) throws(ForwardError) {
        let vocabulary = config.vocabularySize
        var row = 0
        for slice in batch.sequences {
            let range = slice.tokenStart..<(slice.tokenStart + slice.tokenCount)
            log.append(Slice(firstPosition: slice.firstPosition, tokens: Array(batch.tokens[range]), logitRows: slice.logitRows))
            for i in slice.logitTokens {
                let out = logits.baseAddress! + row * vocabulary
                for x in 0..<vocabulary { out[x] = 0 }
                out[(Int(batch.tokens[i]) + 1) % vocabulary] = bump(slice.firstPosition + i - slice.tokenStart)
                row += 1
            }
        }
    }

    /// `-log p(target)` after `token` at `position`, from the definition, in Double.
    func negativeLogLikelihood(token: Int32, position: Int, target: Int32) -> Double {
        let vocabulary = config.vocabularySize
        let b = Double(bump(position))
        let hit = (Int(token) + 1) % vocabulary == Int(target)
        return Foundation.log(exp(b) + Double(vocabulary - 1)) - (hit ? b : 0)
    }

    /// A byte-level tokenizer over `TinyModel`'s 258 symbols whose token 257 (`<s>`) is BOS
    /// and EOS, with `addBOS` as given and `add_eos_token` set (which perplexity must ignore).
    static func tokenizer(addBOS: Bool) throws -> Tokenizer {
        let tokens = TinyModel.byteSymbols() + ["Ġt", "<s>"]
        return try Tokenizer(vocabulary: TokenizerVocabulary(
            model: "gpt2", preTokenizer: "gpt2", tokens: tokens,
            tokenTypes: tokens.indices.map { $0 == 257 ? 3 : 1 }, merges: ["Ġ t"],
            bosTokenID: 257, eosTokenID: 257, addBOS: addBOS, addEOS: true))
    }
}
