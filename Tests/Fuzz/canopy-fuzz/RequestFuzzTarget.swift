import CanopyEngine
import CanopyWireMapping
import CanopyWire

/// A request message as the socket delivers it. The daemon decodes it with protobuf-c, maps
/// it to an engine `Request` (`EngineMapping`) and validates and tokenizes it
/// (`PromptPreparer`) before queueing: each step either refuses the input with an error or
/// passes on something the next step accepts, and a prepared request always fits the cache.
enum RequestFuzzTarget {
    static func run(_ bytes: [UInt8]) {
        // The other request types are decoded too: only their decoding is exposed to a client.
        _ = try? ProtobufCCodec.decode(CanopyV1.TokenizeRequest.self, from: bytes)
        _ = try? ProtobufCCodec.decode(CanopyV1.DetokenizeRequest.self, from: bytes)
        _ = try? ProtobufCCodec.decode(CanopyV1.InfoRequest.self, from: bytes)
        _ = try? ProtobufCCodec.decode(CanopyV1.StatsRequest.self, from: bytes)
        _ = try? ProtobufCCodec.decode(CanopyV1.HealthRequest.self, from: bytes)

        guard let message = try? ProtobufCCodec.decode(CanopyV1.GenerateRequest.self, from: bytes) else { return }
        checkReencoding(message)
        guard let request = try? EngineMapping.request(message, fallbackID: "fuzz", defaults: FuzzResources.samplingDefaults)
        else { return }
        let preparer = FuzzResources.preparer
        guard let prepared = try? preparer.prepare(request, forking: request.parallel.enabled == true) else { return }
        let vocabulary = preparer.loaded.config.vocabularySize
        guard !prepared.promptTokenIDs.isEmpty, prepared.promptTokenIDs.allSatisfy({ $0 >= 0 && Int($0) < vocabulary }) else {
            invariantFailed("a prepared prompt is empty or holds an id outside the vocabulary")
        }
        guard prepared.maxTokens >= 1, prepared.promptTokenIDs.count + prepared.maxTokens <= preparer.cacheCapacity else {
            invariantFailed("a prepared request does not fit the cache: \(prepared.promptTokenIDs.count) + \(prepared.maxTokens)")
        }
    }

    /// Encoding what was decoded and decoding it again gives the same message (compared as
    /// bytes: a NaN parameter never equals itself).
    private static func checkReencoding(_ message: CanopyV1.GenerateRequest) {
        guard let first = try? ProtobufCCodec.encode(message) else {
            invariantFailed("a decoded GenerateRequest cannot be encoded")
        }
        guard let again = try? ProtobufCCodec.decode(CanopyV1.GenerateRequest.self, from: first),
              let second = try? ProtobufCCodec.encode(again), second == first
        else { invariantFailed("a GenerateRequest changed when encoded and decoded again") }
    }
}
