import CanopyEngine
import CanopyTokenizer
import Foundation
import Testing
@testable import CanopyHTTP

/// OpenAI request bodies as the SDKs send them, decoded and mapped to the engine's
/// `Request`: every accepted form of `prompt`, `stop` and chat `content`, the chat API's
/// logprobs pair, the model's sampling defaults under unset fields and exact values under set
/// ones, and 400s that name the field for what cannot be taken.
@Suite struct OpenAIRequestTests {
    static let defaults = SamplingDefaults(temperature: 0.7, topK: 30, topP: 0.9, minP: 0.02, repetitionPenalty: 1.05)

    static func completion(_ json: String) throws -> CompletionRequest {
        try JSONDecoder().decode(CompletionRequest.self, from: Data(json.utf8))
    }

    static func chat(_ json: String) throws -> ChatCompletionRequest {
        try JSONDecoder().decode(ChatCompletionRequest.self, from: Data(json.utf8))
    }

    static func refusal(_ body: () throws -> Void) -> OpenAIError? {
        do {
            try body()
            return nil
        } catch let error as OpenAIError {
            return error
        } catch {
            Issue.record("not an OpenAIError: \(error)")
            return nil
        }
    }

    @Test func everyPromptForm() throws {
        #expect(try Self.completion(#"{"prompt": "hi"}"#).prompt == .text("hi"))
        #expect(try Self.completion(#"{"prompt": ["hi"]}"#).prompt == .text("hi"))
        #expect(try Self.completion(#"{"prompt": [1, 2, 3]}"#).prompt == .tokenIDs([1, 2, 3]))
        #expect(try Self.completion(#"{"prompt": [[4, 5]]}"#).prompt == .tokenIDs([4, 5]))
        let two = Self.refusal { _ = try Self.completion(#"{"prompt": ["a", "b"]}"#) }
        #expect(two?.status == .badRequest && two?.param == "prompt")
        #expect(Self.refusal { _ = try Self.completion(#"{"prompt": {"x": 1}}"#) }?.param == "prompt")
    }

    @Test func parametersAndTheirAlternativeForms() throws {
        let p = try Self.completion(#"""
            {"prompt": "x", "model": "m", "max_tokens": 9, "temperature": 0.5, "top_p": 0.8, "n": 2,
             "stop": "END", "seed": -3, "frequency_penalty": 0.1, "presence_penalty": 0.2, "stream": true,
             "stream_options": {"include_usage": true}, "top_k": 5, "min_p": 0.1, "repetition_penalty": 1.2,
             "ignore_eos": true, "speculative_tokens": 0, "logprobs": 3, "user": "ignored", "logit_bias": {}}
            """#).parameters
        #expect(p.model == "m" && p.maxTokens == 9 && p.temperature == 0.5 && p.topP == 0.8 && p.n == 2)
        #expect(p.stop == ["END"] && p.seed == -3 && p.frequencyPenalty == 0.1 && p.presencePenalty == 0.2)
        #expect(p.stream == true && p.includeUsage == true && p.topK == 5 && p.minP == 0.1)
        #expect(p.repetitionPenalty == 1.2 && p.ignoreEOS == true && p.speculativeTokens == 0 && p.logprobs == 3)
        #expect(try Self.completion(#"{"prompt": "x", "stop": ["a", "b"]}"#).parameters.stop == ["a", "b"])

        // The chat API: logprobs is a bool, top_logprobs the count; max_completion_tokens.
        let chat = try Self.chat(#"{"messages": [], "logprobs": true, "top_logprobs": 4, "max_completion_tokens": 7}"#)
        #expect(chat.parameters.logprobs == 4 && chat.parameters.maxTokens == 7)
        #expect(try Self.chat(#"{"messages": [], "logprobs": true}"#).parameters.logprobs == 0)
        #expect(try Self.chat(#"{"messages": [], "logprobs": false, "top_logprobs": 4}"#).parameters.logprobs == nil)
        // A wrong type is a DecodingError, which the server's decoder answers as a 400 naming the field.
        #expect(throws: DecodingError.self) { _ = try Self.completion(#"{"prompt": "x", "max_tokens": "many"}"#) }
    }

    @Test func chatContentAsTextOrParts() throws {
        let body = try Self.chat(#"""
            {"messages": [{"role": "system", "content": "Be brief."},
                          {"role": "user", "content": [{"type": "text", "text": "Hello, "}, {"type": "text", "text": "there"}]},
                          {"role": "assistant", "content": null}]}
            """#)
        #expect(body.messages.map(\.content) == ["Be brief.", "Hello, there", ""])
        #expect(body.messages.map(\.role) == ["system", "user", "assistant"])
        let image = Self.refusal { _ = try Self.chat(#"{"messages": [{"role": "user", "content": [{"type": "image_url"}]}]}"#) }
        #expect(image?.param == "messages")
        #expect(Self.refusal { _ = try Self.chat(#"{"messages": [{"role": "user", "content": 5}]}"#) }?.param == "messages")
    }

    @Test func unsetFieldsTakeTheDefaultsAndSetOnesAreExact() throws {
        let bare = try OpenAIRequestMapping.request(Self.completion(#"{"prompt": "x"}"#), id: "a", defaults: Self.defaults)
        #expect(bare.sampling == Self.defaults.params && bare.stop.maxTokens == nil && bare.speculativeTokens == nil)
        let set = try OpenAIRequestMapping.request(
            Self.completion(#"""
                {"prompt": [7, 8], "temperature": 0, "top_k": 0, "top_p": 1, "min_p": 0, "repetition_penalty": 1,
                 "n": 3, "seed": 42, "max_tokens": 5, "stop": ["x"], "ignore_eos": true, "speculative_tokens": 2, "logprobs": 1}
                """#),
            id: "b", defaults: Self.defaults)
        #expect(set.id == "b" && set.prompt == .tokenIDs([7, 8]))
        let s = set.sampling
        #expect(s.temperature == 0 && s.topK == 0 && s.topP == 1 && s.minP == 0 && s.repetitionPenalty == 1)
        #expect(s.n == 3 && s.seed == 42 && s.logprobs == 1)
        #expect(set.stop.maxTokens == 5 && set.stop.stopStrings == ["x"] && set.stop.ignoreEndOfGeneration)
        #expect(set.speculativeTokens == 2)
        let chat = try OpenAIRequestMapping.request(
            Self.chat(#"{"messages": [{"role": "user", "content": "hi"}]}"#), id: "c", defaults: Self.defaults)
        #expect(chat.prompt == .messages([ChatMessage(role: "user", content: "hi")]))
    }

    @Test func whatTheEngineCannotTakeIsA400NamingTheField() throws {
        let echo = Self.refusal { _ = try OpenAIRequestMapping.request(Self.completion(#"{"prompt": "x", "echo": true}"#), id: "a", defaults: .llamaCpp) }
        #expect(echo?.status == .badRequest && echo?.param == "echo")
        let options = Self.refusal {
            _ = try OpenAIRequestMapping.request(
                Self.completion(#"{"prompt": "x", "stream_options": {"include_usage": true}}"#), id: "a", defaults: .llamaCpp)
        }
        #expect(options?.param == "stream_options")
        let empty = Self.refusal { _ = try OpenAIRequestMapping.request(Self.chat(#"{"messages": []}"#), id: "a", defaults: .llamaCpp) }
        #expect(empty?.param == "messages")
    }

    @Test func engineRefusalsMapToTheStatusesTheSDKsType() throws {
        #expect(OpenAIError.engine(.queueFull(waiting: 3)).status == .tooManyRequests)
        #expect(OpenAIError.engine(.shuttingDown).status == .serviceUnavailable)
        let long = OpenAIError.engine(.rejected(.contextOverflow(promptTokens: 9000, maxTokens: 10, contextLength: 8192)))
        #expect(long.status == .badRequest && long.code == "context_length_exceeded")
        let bad = OpenAIError.engine(.rejected(.invalidParameter(name: "top_p", reason: "must be in (0, 1], got 2.0")))
        #expect(bad.status == .badRequest && bad.param == "top_p" && bad.message == "invalid top_p: must be in (0, 1], got 2.0")
        // The body is OpenAI's shape, with null for what is absent.
        let body = try #require(try JSONSerialization.jsonObject(with: OpenAIError.badRequest("no").body) as? [String: Any])
        let inner = try #require(body["error"] as? [String: Any])
        #expect(inner["message"] as? String == "no" && inner["type"] as? String == "invalid_request_error")
        #expect(inner["param"] is NSNull && inner["code"] is NSNull)
    }
}
