import CanopyEngine
import CanopyModel
import CanopyTokenizer
import CanopyWire
import GRPCCore

/// Conversions between the protocol's value types and the engine's, and from engine errors
/// to gRPC status codes. The engine does all range validation; this layer only refuses
/// what the engine's types cannot express.
package enum EngineMapping {
    /// The engine request for `message`; `fallbackID` is used when the client sent none.
    /// Sampling parameters the client left unset take `defaults`; those it set are used as
    /// sent.
    ///
    /// - Throws: INVALID_ARGUMENT when no input is set or a value does not fit the engine's
    ///   types.
    package static func request(
        _ message: CanopyV1.GenerateRequest, fallbackID: String, defaults: SamplingDefaults
    ) throws(RPCError) -> Request {
        let prompt: Request.Prompt
        switch message.input {
        case nil:
            throw RPCError(code: .invalidArgument, message: "GenerateRequest has no input: set one of prompt, prompt_ids or messages")
        case .prompt(let text):
            prompt = .text(text)
        case .promptIDs(let ids):
            prompt = .tokenIDs(ids)
        case .messages(let messages):
            prompt = .messages(messages.map { ChatMessage(role: $0.role, content: $0.content) })
        }
        var request = Request(
            id: message.requestID.isEmpty ? fallbackID : message.requestID, prompt: prompt, sampling: defaults.params)
        let s = message.sampling
        if let temperature = s.temperature { request.sampling.temperature = temperature }
        if let topK = s.topK { request.sampling.topK = Int(topK) }
        if let topP = s.topP { request.sampling.topP = topP }
        if let minP = s.minP { request.sampling.minP = minP }
        request.sampling.seed = s.seed
        if let penalty = s.repetitionPenalty { request.sampling.repetitionPenalty = penalty }
        request.sampling.frequencyPenalty = s.frequencyPenalty
        request.sampling.presencePenalty = s.presencePenalty
        if let n = s.n { request.sampling.n = Int(n) }
        request.sampling.logprobs = s.logprobs.map(Int.init)
        let stop = message.stop
        request.stop.maxTokens = stop.maxTokens.map(Int.init)
        request.stop.stopStrings = stop.stop
        request.stop.stopTokenIDs = Set(stop.stopTokenIDs)
        request.stop.ignoreEndOfGeneration = stop.ignoreEOS
        request.speculativeTokens = message.speculativeTokens.map(Int.init)
        if let parallel = message.parallel {
            request.parallel.enabled = parallel.apar
            if let depth = parallel.maxDepth { request.parallel.maxDepth = Int(depth) }
            if let branches = parallel.maxBranches { request.parallel.maxBranches = Int(branches) }
        }
        return request
    }

    /// The protocol event for an engine event.
    package static func event(_ event: EngineEvent) -> CanopyV1.GenerateEvent {
        switch event {
        case .token(let output):
            return .token(CanopyV1.TokenDelta(
                sample: UInt32(output.sample), token: token(output.token), text: output.text,
                branch: UInt32(clamping: output.branch), parentBranch: output.parentBranch.map { UInt32(clamping: $0) }))
        case .finished(let sample, let reason):
            return .sampleFinished(CanopyV1.SampleFinished(sample: UInt32(sample), reason: finishReason(reason)))
        case .completed(let output):
            return .summary(summary(output))
        }
    }

    /// The summary of a finished request.
    package static func summary(_ output: RequestOutput) -> CanopyV1.GenerateSummary {
        var summary = CanopyV1.GenerateSummary()
        summary.requestID = output.id
        summary.promptTokenIDs = output.promptTokenIDs
        summary.samples = output.samples.enumerated().map { index, sample in
            CanopyV1.SampleResult(
                index: UInt32(index), finishReason: finishReason(sample.finishReason),
                tokenIDs: sample.tokenIDs, text: sample.text, logprobs: sample.logprobs.map(token),
                branches: sample.branches.map(branch))
        }
        let m = output.metrics
        summary.usage.promptTokens = UInt32(clamping: m.promptTokens)
        summary.usage.completionTokens = UInt32(clamping: m.generatedTokens)
        summary.usage.cachedPromptTokens = UInt32(clamping: m.cachedPromptTokens)
        summary.usage.preemptions = UInt32(clamping: m.preemptions)
        summary.usage.branches = UInt32(clamping: m.branches)
        summary.timings.queueSeconds = m.queueTime
        summary.timings.timeToFirstTokenSeconds = m.timeToFirstToken
        summary.timings.meanInterTokenLatencySeconds = m.meanInterTokenLatency
        summary.timings.endToEndSeconds = m.endToEndLatency
        return summary
    }

    package static func branch(_ branch: BranchOutput) -> CanopyV1.BranchResult {
        CanopyV1.BranchResult(
            id: UInt32(clamping: branch.id), parent: branch.parent.map { UInt32(clamping: $0) },
            finishReason: finishReason(branch.finishReason), tokenIDs: branch.tokenIDs, text: branch.text,
            forks: branch.forks.map {
                CanopyV1.BranchFork(textOffset: UInt32(clamping: $0.textOffset), child: UInt32(clamping: $0.child))
            })
    }

    package static func token(_ token: SampledToken) -> CanopyV1.SampledToken {
        CanopyV1.SampledToken(
            id: token.id, logprob: token.logprob,
            topLogprobs: token.topLogprobs.map { CanopyV1.TokenLogprob(id: $0.id, logprob: $0.logprob) })
    }

    package static func finishReason(_ reason: FinishReason) -> CanopyV1.FinishReason {
        switch reason {
        case .stop: return .stop
        case .length: return .length
        case .cancelled: return .cancelled
        }
    }

    /// The gRPC status an engine refusal means.
    package static func rpcError(_ error: EngineError) -> RPCError {
        switch error {
        case .rejected: return RPCError(code: .invalidArgument, message: error.description)
        case .queueFull: return RPCError(code: .resourceExhausted, message: error.description)
        case .shuttingDown: return RPCError(code: .unavailable, message: error.description)
        case .invalidConfiguration: return RPCError(code: .internalError, message: error.description)
        }
    }

    /// The gRPC status of a request the engine failed mid-flight: RESOURCE_EXHAUSTED when
    /// the forward pass ran out of memory (retrying later may succeed), UNAVAILABLE when the
    /// model file could not be read (after `.weightsUnreadable` and `.rankLost` canopyd
    /// reports NOT_SERVING until restarted; after `.readFailed` a retry may succeed).
    package static func rpcError(_ failure: ForwardError) -> RPCError {
        switch failure {
        case .outOfMemory: return RPCError(code: .resourceExhausted, message: failure.description)
        case .weightsUnreadable, .readFailed, .rankLost: return RPCError(code: .unavailable, message: failure.description)
        }
    }

    /// The protocol form of a parallel job's counters, as rank 0 (`loaded`) sees them.
    package static func parallel(_ counters: ExchangeCounters, loaded: LoadedModel) -> CanopyV1.ParallelStats {
        var p = CanopyV1.ParallelStats()
        p.tensorParallel = UInt32(clamping: loaded.exchange?.ranks ?? 1)
        p.pipelineParallel = UInt32(clamping: loaded.exchange?.stages ?? 1)
        p.passes = UInt64(clamping: counters.passes)
        p.passSeconds = counters.passSeconds
        p.exchangeSeconds = counters.seconds
        p.bytesSent = UInt64(clamping: counters.bytesSent)
        p.residentWeightBytes = UInt64(clamping: loaded.residentWeightBytes)
        return p
    }

    /// The protocol form of engine metrics (without uptime and Prometheus text).
    package static func stats(_ m: EngineMetrics) -> CanopyV1.StatsResponse {
        var s = CanopyV1.StatsResponse()
        s.waitingSequences = UInt32(clamping: m.waitingSequences)
        s.runningSequences = UInt32(clamping: m.runningSequences)
        s.steps = UInt64(clamping: m.steps)
        s.batchedTokens = UInt64(clamping: m.batchedTokens)
        s.generatedTokens = UInt64(clamping: m.generatedTokens)
        s.requestsCompleted = UInt64(clamping: m.requestsCompleted)
        s.requestsCancelled = UInt64(clamping: m.requestsCancelled)
        s.requestsFailed = UInt64(clamping: m.requestsFailed)
        s.promptTokens = UInt64(clamping: m.promptTokens)
        s.cachedPromptTokens = UInt64(clamping: m.cachedPromptTokens)
        s.preemptions = UInt64(clamping: m.preemptions)
        s.preemptionsSwapped = UInt64(clamping: m.swapPreemptions)
        s.preemptionsRecomputed = UInt64(clamping: m.recomputePreemptions)
        s.aparForks = UInt64(clamping: m.forks)
        s.speculation = CanopyV1.SpeculationStats(m.speculation)
        s.kvSwap = CanopyV1.KVSwapStats(m.kv)
        s.kv.totalBlocks = UInt32(clamping: m.kv.totalBlocks)
        s.kv.usedBlocks = UInt32(clamping: m.kv.usedBlocks)
        s.kv.freeBlocks = UInt32(clamping: m.kv.freeBlocks)
        s.kv.cachedBlocks = UInt32(clamping: m.kv.cachedBlocks)
        s.kv.prefixQueries = UInt64(clamping: m.kv.prefixQueries)
        s.kv.prefixHits = UInt64(clamping: m.kv.prefixHits)
        s.kv.evictions = UInt64(clamping: m.kv.evictions)
        s.kv.copyOnWrites = UInt64(clamping: m.kv.copyOnWrites)
        s.kv.peakUsedBlocks = UInt32(clamping: m.kv.peakUsedBlocks)
        s.meanQueueSeconds = m.meanQueueTime
        s.meanTimeToFirstTokenSeconds = m.meanTimeToFirstToken
        s.meanInterTokenLatencySeconds = m.meanInterTokenLatency
        s.meanEndToEndSeconds = m.meanEndToEndLatency
        s.setExpertMetrics(m)
        s.weightStreaming = m.weightStreaming.map { CanopyV1.WeightStreamingStats($0) }
        return s
    }
}
