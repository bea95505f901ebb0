import CanopyKernels
import CanopyModel
import CanopyTokenizer
import Foundation

/// Measures a model's perplexity on a text the way llama.cpp's `llama-perplexity` does, so
/// that the two numbers can be compared for the same model file, text and settings.
///
/// The method (llama.cpp `tools/perplexity`, default mode):
/// - the text is tokenized whole, with the BOS token first when the model adds one, and
///   control tokens written in the text are not parsed (`common_tokenize(text, true)`);
/// - it is cut into `min(maxChunks, tokens / context)` non-overlapping chunks of `context`
///   tokens; the rest of the text is not used;
/// - each chunk runs alone from position 0 (nothing carried over from the previous chunk),
///   its first token replaced by BOS when the model adds one;
/// - only the second half is scored: the logits at positions `context/2 ... context-2`
///   predict the tokens after them, so every scored token has at least half a context
///   before it; `-log softmax(logits)[next]` is added to a running `PerplexityEstimate`.
///
/// Guarantees: the same tokens, context and chunk limit give the same chunks and the same
/// scored positions as llama-perplexity; log-probabilities are computed and summed in
/// Double; each run uses a KV cache of its own, released when `evaluate` returns, so it
/// never touches an engine's cache. Errors a user can cause are thrown as
/// `PerplexityError`, never trapped.
public struct PerplexityEvaluator: Sendable {
    /// llama-perplexity's default context (`-c 512`).
    public static let defaultContext = 512
    /// The shortest context that scores a token: positions `context/2 ... context-2` must
    /// not be empty.
    public static let minimumContext = 3
    /// Tokens per forward pass; a chunk longer than this runs in several passes over the
    /// same KV cache (llama.cpp's default micro-batch, `-ub 512`). Batching changes speed,
    /// not logits (`CausalLanguageModel.forward`), so this only bounds working memory.
    public static let defaultPassTokens = 512

    /// The model scored.
    public let model: any CausalLanguageModel
    /// Its tokenizer.
    public let tokenizer: Tokenizer
    /// Tokens per forward pass (at least 1).
    public let passTokens: Int

    /// An evaluator for `model` with `tokenizer`.
    public init(model: any CausalLanguageModel, tokenizer: Tokenizer, passTokens: Int = defaultPassTokens) {
        self.model = model
        self.tokenizer = tokenizer
        self.passTokens = max(1, passTokens)
    }

    /// An evaluator for a loaded model file.
    public init(loaded: LoadedModel, passTokens: Int = defaultPassTokens) {
        self.init(model: loaded.model, tokenizer: loaded.tokenizer, passTokens: passTokens)
    }

    /// Reads a text file as `llama-perplexity -f` does: the bytes as they are, less one
    /// final newline. Throws `.unreadableFile` or `.notUTF8`.
    public static func readText(path: String) throws(PerplexityError) -> String {
        var data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw .unreadableFile(path: path, reason: Self.reason(error))
        }
        // Byte-wise, as llama.cpp does: a final "\r\n" loses only its "\n" (Swift's
        // String would treat "\r\n" as one character).
        if data.last == UInt8(ascii: "\n") { data.removeLast() }
        guard let text = String(validating: data, as: UTF8.self) else { throw .notUTF8(path: path) }
        return text
    }

    /// The tokens llama-perplexity scores for `text`: BOS first when the model's vocabulary
    /// adds it, then the text with control tokens taken literally. No EOS is added even
    /// when the vocabulary asks for one (llama-perplexity refuses such models outright).
    public func tokenize(_ text: String) -> [TokenID] {
        var tokens: [TokenID] = []
        if let bos = addedBOS { tokens.append(bos) }
        tokens += tokenizer.encode(text, addSpecial: false, parseSpecial: false)
        return tokens
    }

    /// The number of chunks a text of `tokenCount` tokens gives: `tokenCount / context`,
    /// at most `maxChunks` (nil: no limit). Throws when the settings are unusable for this
    /// model or the text is shorter than two contexts.
    public func chunkCount(tokenCount: Int, context: Int, maxChunks: Int?) throws(PerplexityError) -> Int {
        guard context >= Self.minimumContext else {
            throw .contextTooSmall(context: context, minimum: Self.minimumContext)
        }
        guard context <= model.config.contextLength else {
            throw .contextTooLarge(context: context, modelContext: model.config.contextLength)
        }
        if let maxChunks, maxChunks < 1 { throw .invalidChunkLimit(maxChunks) }
        guard tokenCount >= 2 * context else { throw .textTooShort(tokens: tokenCount, context: context) }
        return min(maxChunks ?? Int.max, tokenCount / context)
    }

    /// Tokenizes `text` and scores it (see `evaluate(tokens:context:maxChunks:progress:)`).
    public func evaluate(
        text: String, context: Int = defaultContext, maxChunks: Int? = nil,
        progress: (PerplexityChunkReport) -> Void = { _ in }
    ) throws(PerplexityError) -> PerplexityResult {
        try evaluate(tokens: tokenize(text), context: context, maxChunks: maxChunks, progress: progress)
    }

    /// Scores `tokens` (as `tokenize` returns them) in chunks of `context`, calling
    /// `progress` after each chunk with the running estimate.
    ///
    /// - Throws: `PerplexityError` for unusable settings (see `chunkCount`), memory that
    ///   cannot be had, or a failed forward pass; nothing is scored partly in that case.
    public func evaluate(
        tokens: [TokenID], context: Int = defaultContext, maxChunks: Int? = nil,
        progress: (PerplexityChunkReport) -> Void = { _ in }
    ) throws(PerplexityError) -> PerplexityResult {
        let chunkCount = try chunkCount(tokenCount: tokens.count, context: context, maxChunks: maxChunks)
        let vocabulary = model.config.vocabularySize
        if let bad = tokens[..<(chunkCount * context)].first(where: { $0 < 0 || Int($0) >= vocabulary }) {
            throw .tokenOutOfRange(id: bad, vocabularySize: vocabulary)
        }
        let first = context / 2
        // Positions first..<context want logits (a pass's rows are always a suffix of it);
        // the last one predicts nothing and is not scored, as in llama.cpp.
        let maxRows = min(passTokens, context - first)
        let logitBytes = maxRows * vocabulary * MemoryLayout<Float>.stride
        // A cache of our own: no engine's blocks are touched, and it is unmapped on return.
        guard let cache = SingleSequenceCache.mapped(config: model.config, capacity: context),
              let logitMemory = PageMemory(mappingUpTo: logitBytes)
        else {
            throw .outOfMemory(bytes: logitBytes + SingleSequenceCache.byteCount(config: model.config, capacity: context))
        }
        let logits = UnsafeMutableBufferPointer(
            start: logitMemory.base.bindMemory(to: Float.self, capacity: maxRows * vocabulary),
            count: maxRows * vocabulary)
        var nll = [Double](repeating: 0, count: maxRows)
        var batch = ForwardBatch()
        batch.reserveCapacity(
            tokens: min(passTokens, context), sequences: 1,
            blockTableEntries: (context + cache.storage.layout.blockSize - 1) / cache.storage.layout.blockSize)

        var running = PerplexityEstimate()
        var reports: [PerplexityChunkReport] = []
        let runStart = ContinuousClock.now
        for index in 0..<chunkCount {
            let chunkStart = ContinuousClock.now
            var chunk = Array(tokens[(index * context)..<((index + 1) * context)])
            if let bos = addedBOS { chunk[0] = bos }
            // The previous chunk's K/V rows need no clearing: every position is rewritten
            // before a later position of this chunk reads it.
            var estimate = PerplexityEstimate()
            var passStart = 0
            while passStart < context {
                let passEnd = min(passStart + passTokens, context)
                let rows = max(0, passEnd - max(passStart, first))
                batch.removeAll()
                cache.append(chunk[passStart..<passEnd], at: passStart, to: &batch, logitRows: rows)
                do {
                    try model.forward(batch, kv: cache.storage, logits: logits)
                } catch {
                    throw .forwardFailed(error)
                }
                // Row r holds the logits after position passEnd - rows + r; every position
                // but the chunk's last is scored against the token that follows it.
                let scored = min(rows, context - 1 - (passEnd - rows))
                if scored > 0 {
                    let firstPosition = passEnd - rows
                    chunk.withUnsafeBufferPointer { chunkTokens in
                        nll.withUnsafeMutableBufferPointer { out in
                            Parallel.forEach(scored) { r in
                                out[r] = Self.negativeLogLikelihood(
                                    logits.baseAddress! + r * vocabulary, count: vocabulary,
                                    target: Int(chunkTokens[firstPosition + r + 1]))
                            }
                        }
                    }
                    // Summed in position order, so the estimate does not depend on threads.
                    for r in 0..<scored { estimate.add(nll[r]) }
                }
                passStart = passEnd
            }
            running.add(estimate)
            let report = PerplexityChunkReport(
                chunk: index + 1, chunkCount: chunkCount, chunkEstimate: estimate, runningEstimate: running,
                seconds: Self.seconds(ContinuousClock.now - chunkStart))
            reports.append(report)
            progress(report)
        }
        return PerplexityResult(
            context: context, textTokens: tokens.count, chunks: reports,
            seconds: Self.seconds(ContinuousClock.now - runStart))
    }

    /// The BOS token each chunk starts with, or nil when the model adds none.
    private var addedBOS: TokenID? {
        tokenizer.vocabulary.addBOS ? tokenizer.bosTokenID : nil
    }

    /// `-log softmax(logits)[target]`: the maximum is subtracted first for stability, and
    /// the normalizer is summed and logged in Double (llama.cpp sums `expf` terms in double
    /// too, so the two agree to float rounding).
    static func negativeLogLikelihood(_ logits: UnsafePointer<Float>, count: Int, target: Int) -> Double {
        var maxValue = logits[0]
        for i in 1..<count where logits[i] > maxValue { maxValue = logits[i] }
        var sum = 0.0
        for i in 0..<count { sum += Double(expf(logits[i] - maxValue)) }
        return log(sum) - Double(logits[target] - maxValue)
    }

    private static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) * 1e-18
    }

    /// The system's reason a file could not be read, without Foundation's wrapping.
    private static func reason(_ error: any Error) -> String {
        let nsError = error as NSError
        if let underlying = nsError.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain,
           let code = POSIXErrorCode(rawValue: Int32(underlying.code)) {
            return String(cString: strerror(code.rawValue))
        }
        return nsError.localizedDescription
    }
}
