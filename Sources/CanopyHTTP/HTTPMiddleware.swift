import CanopyRPC
import Foundation
import Hummingbird

/// Answers every error in OpenAI's JSON shape (`OpenAIError`): the handlers' own, Hummingbird's
/// (404 for an unknown route, 413 for an oversize body) and anything else as a 500 that says
/// what failed, so a client never gets an empty body.
struct OpenAIErrorMiddleware: RouterMiddleware {
    typealias Context = CanopyRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as OpenAIError {
            return Self.response(error)
        } catch let error as HTTPError {
            let message: String
            switch error.status {
            case .notFound: message = "no route \(request.method) \(request.uri.path); see GET /v1/models, POST /v1/completions, POST /v1/chat/completions, GET /health, GET /metrics"
            case .contentTooLarge: message = "the request body is larger than the server accepts"
            default: message = error.body ?? error.status.reasonPhrase
            }
            let type = error.status.code >= 500 ? "server_error" : "invalid_request_error"
            return Self.response(OpenAIError(status: error.status, message: message, type: type))
        } catch {
            return Self.response(OpenAIError(status: .internalServerError, message: "\(error)", type: "server_error"))
        }
    }

    static func response(_ error: OpenAIError) -> Response {
        OpenAIResponder.json(error.body, status: error.status)
    }
}

/// With `--http-token-file`, requires `Authorization: Bearer <token>` on every route but
/// `/health` (which load balancers probe without credentials), as vLLM's `--api-key` does.
struct BearerTokenMiddleware: RouterMiddleware {
    typealias Context = CanopyRequestContext
    let token: String

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if request.uri.path == "/health" { return try await next(request, context) }
        guard let header = request.headers[.authorization], header == "Bearer \(token)" else {
            throw OpenAIError(
                status: .unauthorized, message: "a valid bearer token is required (Authorization: Bearer <token>)",
                type: "authentication_error", code: "invalid_api_key")
        }
        return try await next(request, context)
    }
}

/// On the HTTP Unix socket, the gRPC socket's access policy (`--allowed-uids`/`--allowed-gids`):
/// every request's connection peer (`SO_PEERCRED`) is checked, and a refused one gets 403
/// with the policy's message before any route runs (`/health` included: the socket's peers
/// are local processes, not a load balancer).
struct PeerFilterMiddleware: RouterMiddleware {
    typealias Context = CanopyRequestContext
    let filter: PeerFilter

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if let reason = await peerRefusal(of: context.channel, filter: filter) {
            throw OpenAIError(status: .forbidden, message: reason, type: "permission_error", code: "permission_denied")
        }
        return try await next(request, context)
    }
}
