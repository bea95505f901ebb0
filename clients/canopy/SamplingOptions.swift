import ArgumentParser
import CanopyWire

/// Sampling and stopping flags shared by `generate` and `chat`. Unset flags stay unset in
/// the request so the server applies its defaults; values are checked by the server,
/// whose INVALID_ARGUMENT message names the offending parameter. Every option takes its
/// next argument as its value even when it starts with `-`, so negative numbers (which
/// the server then refuses with a precise message) and stop strings like `-` parse.
struct SamplingOptions: ParsableArguments {
    @Option(parsing: .unconditional, help: "Most tokens to generate per sample (default: the server's).")
    var maxTokens: Int32?

    @Option(parsing: .unconditional, help: "Softmax temperature; 0 is greedy (default: the model's, see `canopy info`).")
    var temperature: Float?

    @Option(parsing: .unconditional, help: "Keep only the K most likely tokens; 0 disables the cut (default: the model's).")
    var topK: Int32?

    @Option(parsing: .unconditional, help: "Nucleus sampling: keep the smallest set with this much probability, in (0, 1]; 1 disables it (default: the model's).")
    var topP: Float?

    @Option(parsing: .unconditional, help: "Drop tokens less likely than this fraction of the best one; 0 disables it (default: the model's).")
    var minP: Float?

    @Option(parsing: .unconditional, help: "Seed of the request's random stream (default: random).")
    var seed: UInt64?

    @Option(parsing: .unconditional, help: "Repetition penalty (1 disables).")
    var repetitionPenalty: Float?

    @Option(parsing: .unconditional, help: "OpenAI frequency penalty in [-2, 2].")
    var frequencyPenalty: Float?

    @Option(parsing: .unconditional, help: "OpenAI presence penalty in [-2, 2].")
    var presencePenalty: Float?

    @Option(name: [.customShort("n"), .customLong("n"), .long], parsing: .unconditional, help: "Samples to generate for the prompt (1...64).")
    var samples: Int32?

    @Option(parsing: .unconditional, help: "Report log-probabilities with this many alternatives per token (0...20).")
    var logprobs: Int32?

    @Option(parsing: .unconditionalSingleValue, help: "Stop when this text is generated (repeatable); it is not emitted.")
    var stop: [String] = []

    @Option(parsing: .unconditionalSingleValue, help: "Stop when this token id is generated (repeatable).")
    var stopTokenId: [Int32] = []

    @Flag(help: "Keep generating past end-of-generation tokens.")
    var ignoreEos = false

    @Flag(help: "APAR models: do not fork (decode one branch, as an ordinary model).")
    var noApar = false

    @Option(parsing: .unconditional, help: "APAR models: deepest fork nesting (server default 2).")
    var aparMaxDepth: Int32?

    @Option(parsing: .unconditional, help: "APAR models: most branches alive at once (server default 32).")
    var aparMaxBranches: Int32?

    @Option(
        parsing: .unconditional,
        help: "Most speculative tokens proposed per step, 1...32; 0 turns speculation off (default: the server's). Output is the same.")
    var speculativeTokens: Int32?

    /// The sampling parameters these flags describe.
    var samplingParams: CanopyV1.SamplingParams {
        var params = CanopyV1.SamplingParams()
        params.temperature = temperature
        params.topK = topK
        params.topP = topP
        params.minP = minP
        params.seed = seed
        params.repetitionPenalty = repetitionPenalty
        if let frequencyPenalty { params.frequencyPenalty = frequencyPenalty }
        if let presencePenalty { params.presencePenalty = presencePenalty }
        params.n = samples
        params.logprobs = logprobs
        return params
    }

    /// The stop parameters these flags describe.
    var stopParams: CanopyV1.StopParams {
        var params = CanopyV1.StopParams()
        params.maxTokens = maxTokens
        params.stop = stop
        params.stopTokenIDs = stopTokenId
        params.ignoreEOS = ignoreEos
        return params
    }

    /// The APAR parameters these flags describe; nil when none is set.
    var parallelParams: CanopyV1.ParallelParams? {
        guard noApar || aparMaxDepth != nil || aparMaxBranches != nil else { return nil }
        return CanopyV1.ParallelParams(apar: noApar ? false : nil, maxDepth: aparMaxDepth, maxBranches: aparMaxBranches)
    }

    /// A request for `input` with these flags.
    func request(_ input: CanopyV1.GenerateRequest.Input) -> CanopyV1.GenerateRequest {
        CanopyV1.GenerateRequest(
            input: input, sampling: samplingParams, stop: stopParams, parallel: parallelParams,
            speculativeTokens: speculativeTokens)
    }
}
