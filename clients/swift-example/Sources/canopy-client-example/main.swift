// Asks a running canopyd for its model, then streams a short chat answer.
// Usage: canopy-client-example SOCKET [QUESTION]
import CanopyClient
import Foundation

let arguments = CommandLine.arguments
guard arguments.count >= 2 else {
    FileHandle.standardError.write(Data("usage: canopy-client-example SOCKET [QUESTION]\n".utf8))
    exit(2)
}
let question = arguments.count > 2 ? arguments[2] : "Name three rivers."

/// Writes unbuffered, so the streamed tokens and the other lines keep their order.
@Sendable func write(_ text: String) { FileHandle.standardOutput.write(Data(text.utf8)) }

try await CanopyClient.withClient(socketPath: arguments[1]) { client in
    let info = try await client.info()
    write("model: \(info.modelPath) (\(info.architecture)); sampling defaults: \(info.samplingDefaults?.description ?? "?")\n")
    var stop = CanopyV1.StopParams()
    stop.maxTokens = 48
    let request = CanopyV1.GenerateRequest(
        input: .messages([CanopyV1.ChatMessage(role: "user", content: question)]), stop: stop)
    let summary = try await client.generate(request) { event in
        if case .token(let delta) = event {
            write(delta.text)
        }
    }
    write("\n(\(summary.usage.completionTokens) tokens)\n")
}
