import ArgumentParser
import CanopyWire
import Foundation

/// `canopy info`: the served model and the engine configuration.
struct InfoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "info", abstract: "Show the served model and the engine configuration.")

    @ParentCommand var root: Canopy

    @Flag(help: "Print the response as JSON.")
    var json = false

    func run() async throws {
        try await root.client.withDaemon { client in
            let info = try await client.info()
            if json {
                try JSONOutput.print(InfoJSON(info))
            } else {
                FileHandle.standardOutput.write(Data(Self.render(info).utf8))
            }
        }
    }

    /// Aligned `key: value` lines describing `info`.
    static func render(_ info: CanopyV1.InfoResponse) -> String {
        let e = info.engine
        let rows: [(String, String)] = [
            ("server", info.serverVersion),
            ("model", info.modelPath),
            ("architecture", info.architecture),
            ("parameters", Format.grouped(info.parameterCount)),
            ("tensors", "\(info.tensorCount)"),
            ("quantization", info.quantization),
            ("context length", "\(info.contextLength)"),
            ("vocabulary", "\(info.vocabSize)"),
            ("embedding", "\(info.embeddingLength)"),
            ("blocks", "\(info.blockCount)"),
            ("heads", "\(info.headCount) (kv \(info.headCountKV))"),
            ("chat template", info.chatTemplate.isEmpty ? "none" : info.chatTemplate),
            ("sampling defaults", info.samplingDefaults?.description ?? "unknown (older server)"),
            ("kv cache", "\(Format.bytes(e.kvCacheMemoryBytes)), \(e.kvTotalBlocks) blocks of \(e.blockSize) tokens, \(e.kvPrecision)"),
            ("prefix caching", e.prefixCaching ? "on" : "off"),
            ("max batched tokens", "\(e.maxBatchedTokens)"),
            ("max decode stall", e.maxDecodeStall > 0 ? "\(e.maxDecodeStall)x a decode step" : "off"),
            ("max sequences", "\(e.maxSequences)"),
            ("max waiting", "\(e.maxWaitingRequests)"),
            ("default max tokens", e.defaultMaxTokens.map { "\($0)" } ?? "up to the context length"),
            ("speculative", speculation(e)),
            ("draft model", e.draftModel.isEmpty ? "none" : e.draftModel),
            ("weight memory", info.weightPlacement.isEmpty ? "all resident" : info.weightPlacement),
        ]
        let width = rows.map(\.0.count).max() ?? 0
        return rows.map { key, value in
            key + ":" + String(repeating: " ", count: width - key.count + 1) + value + "\n"
        }.joined()
    }

    /// The speculative decoding settings in a few words, e.g. `ngram, up to 8 tokens, in
    /// steps of up to 8 decode tokens`.
    static func speculation(_ e: CanopyV1.EngineConfig) -> String {
        guard !e.speculative.isEmpty else { return "unknown (older server)" }
        guard e.speculativeStepTokens > 0 else { return "off (speculative step tokens 0)" }
        guard e.speculative != "off" else { return "off unless a request asks" }
        return "\(e.speculative), up to \(e.speculativeTokens) tokens, in steps of up to \(e.speculativeStepTokens) decode tokens"
    }
}

/// The `info --json` output; keys follow the proto's field names.
private struct InfoJSON: Encodable {
    struct Engine: Encodable {
        let kv_cache_memory_bytes: UInt64
        let block_size: UInt32
        let kv_precision: String
        let max_batched_tokens: UInt32
        let max_sequences: UInt32
        let max_waiting_requests: UInt32
        let prefix_caching: Bool
        let default_max_tokens: UInt32?
        let kv_total_blocks: UInt32
        let speculative: String
        let speculative_tokens: UInt32
        let speculative_step_tokens: UInt32
        let draft_model: String
        let max_decode_stall: Double
    }

    let model_path: String
    let architecture: String
    let context_length: UInt32
    let vocab_size: UInt32
    let quantization: String
    let parameter_count: UInt64
    let tensor_count: UInt32
    let engine: Engine
    let server_version: String
    let embedding_length: UInt32
    let block_count: UInt32
    let head_count: UInt32
    let head_count_kv: UInt32
    let chat_template: String
    let weight_placement: String
    let weight_read_bytes_per_pass: UInt64
    let sampling_defaults: SamplingDefaults?

    struct SamplingDefaults: Encodable {
        let temperature: Float
        let top_k: Int32
        let top_p: Float
        let min_p: Float
        let repetition_penalty: Float
        let keys_from_file: [String]
    }

    init(_ i: CanopyV1.InfoResponse) {
        let e = i.engine
        engine = Engine(
            kv_cache_memory_bytes: e.kvCacheMemoryBytes, block_size: e.blockSize, kv_precision: e.kvPrecision,
            max_batched_tokens: e.maxBatchedTokens, max_sequences: e.maxSequences,
            max_waiting_requests: e.maxWaitingRequests, prefix_caching: e.prefixCaching,
            default_max_tokens: e.defaultMaxTokens, kv_total_blocks: e.kvTotalBlocks,
            speculative: e.speculative, speculative_tokens: e.speculativeTokens,
            speculative_step_tokens: e.speculativeStepTokens, draft_model: e.draftModel,
            max_decode_stall: e.maxDecodeStall)
        model_path = i.modelPath
        architecture = i.architecture
        context_length = i.contextLength
        vocab_size = i.vocabSize
        quantization = i.quantization
        parameter_count = i.parameterCount
        tensor_count = i.tensorCount
        server_version = i.serverVersion
        embedding_length = i.embeddingLength
        block_count = i.blockCount
        head_count = i.headCount
        head_count_kv = i.headCountKV
        chat_template = i.chatTemplate
        weight_placement = i.weightPlacement
        weight_read_bytes_per_pass = i.weightReadBytesPerPass
        sampling_defaults = i.samplingDefaults.map {
            SamplingDefaults(
                temperature: $0.temperature, top_k: $0.topK, top_p: $0.topP, min_p: $0.minP,
                repetition_penalty: $0.repetitionPenalty, keys_from_file: $0.keysFromFile)
        }
    }
}
