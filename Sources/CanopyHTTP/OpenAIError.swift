import CanopyEngine
import CanopyModel
import Foundation
import HTTPTypes

/// An error answered in OpenAI's shape, `{"error": {"message", "type", "param", "code"}}`,
/// with the HTTP status the official SDKs turn into their typed exceptions (400
/// `BadRequestError`, 401 `AuthenticationError`, 404 `NotFoundError`, 429 `RateLimitError`,
/// 5xx `InternalServerError`).
///
/// Every refusal of the HTTP front is one of these; the mapping from engine errors lives
/// here and nowhere else.
public struct OpenAIError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The HTTP status.
    public var status: HTTPResponse.Status
    /// What went wrong, in words a client can act on.
    public var message: String
    /// OpenAI's error type, e.g. `invalid_request_error`.
    public var type: String
    /// The request field at fault, when one is.
    public var param: String?
    /// A machine-readable code, e.g. `context_length_exceeded`.
    public var code: String?

    /// Creates an error.
    public init(
        status: HTTPResponse.Status, message: String, type: String = "invalid_request_error",
        param: String? = nil, code: String? = nil
    ) {
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
    }

    public var description: String { "\(status.code) \(type): \(message)" }

    /// A bad request body or parameter (400).
    public static func badRequest(_ message: String, param: String? = nil) -> OpenAIError {
        OpenAIError(status: .badRequest, message: message, param: param)
    }

    /// The answer to a refusal by `Engine.submit`: 400 for a request that can never run
    /// (naming the parameter, and `context_length_exceeded` for a prompt too long), 429 when
    /// the queue is full, 503 while shutting down.
    public static func engine(_ error: EngineError) -> OpenAIError {
        switch error {
        case .rejected(let reason):
            switch reason {
            case .invalidParameter(let name, _):
                return .badRequest(error.description, param: name)
            case .contextOverflow, .cacheOverflow:
                return OpenAIError(status: .badRequest, message: error.description, code: "context_length_exceeded")
            case .emptyPrompt, .unknownTokenID:
                return .badRequest(error.description, param: "prompt")
            case .chatTemplateUnavailable:
                return .badRequest(error.description, param: "messages")
            }
        case .queueFull:
            return OpenAIError(status: .tooManyRequests, message: error.description, type: "rate_limit_error")
        case .shuttingDown:
            return .unavailable(error.description)
        case .invalidConfiguration:
            return OpenAIError(status: .internalServerError, message: error.description, type: "server_error")
        }
    }

    /// The answer when the engine failed a request mid-flight: 503 when its memory ran out
    /// (retrying later may succeed) or the model file can no longer be read.
    public static func failure(_ failure: ForwardError) -> OpenAIError {
        .unavailable(failure.description)
    }

    /// The server takes no requests now (draining, or failed until restarted): 503.
    public static func unavailable(_ message: String) -> OpenAIError {
        OpenAIError(status: .serviceUnavailable, message: message, type: "server_error")
    }

    /// The body as JSON bytes.
    public var body: Data {
        struct Envelope: Encodable {
            struct Inner: Encodable {
                let message: String
                let type: String
                let param: String?
                let code: String?

                func encode(to encoder: any Encoder) throws {
                    var c = encoder.container(keyedBy: CodingKeys.self)
                    try c.encode(message, forKey: .message)
                    try c.encode(type, forKey: .type)
                    try c.encode(param, forKey: .param)  // null when absent, as OpenAI sends it
                    try c.encode(code, forKey: .code)
                }

                enum CodingKeys: String, CodingKey { case message, type, param, code }
            }

            let error: Inner
        }
        let envelope = Envelope(error: .init(message: message, type: type, param: param, code: code))
        return OpenAIJSON.encode(envelope)
    }
}
