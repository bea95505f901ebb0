import ArgumentParser
import CanopyClient
import CanopyWire
import Foundation
import GRPCCore

/// `canopy chat`: a conversation with the served model. Each stdin line is a user turn;
/// the whole conversation is sent every turn and the server applies the chat template.
struct ChatCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chat",
        abstract: "Chat with the served model: each stdin line is a user turn.",
        discussion: """
            Replies stream to stdout, each ending with a newline. Commands: /exit (or /quit) \
            ends the chat, /reset forgets the conversation (keeps the system message), \
            /system TEXT sets the system message. Works with a pipe as stdin too; there a \
            failed turn ends the chat with exit status 1, while on a terminal it is reported \
            and the chat goes on.
            """)

    @ParentCommand var root: Canopy

    @Option(help: "System message sent before the conversation.")
    var system: String?

    @OptionGroup(title: "Sampling") var sampling: SamplingOptions

    @Flag(name: .shortAndLong, help: "Print token counts and timings of each reply to stderr.")
    var verbose = false

    func validate() throws {
        if let n = sampling.samples, n != 1 { throw ValidationError("chat generates one reply per turn; -n must be 1") }
    }

    func run() async throws {
        let interactive = isatty(STDIN_FILENO) == 1
        try await root.client.withDaemon { client in
            var conversation = Conversation(system: system)
            if interactive {
                Self.stderr("Chatting with canopyd. /exit quits, /reset forgets, /system TEXT sets the system message.\n")
            }
            while true {
                if interactive { Self.stdout("> ") }
                guard let line = await Self.readLine() else { break }
                let text = line.trimmingCharacters(in: .whitespaces)
                if text.isEmpty { continue }
                switch Command(text) {
                case .exit:
                    return
                case .reset:
                    conversation.reset()
                    continue
                case .system(let message):
                    conversation.system = message.isEmpty ? nil : message
                    continue
                case .unknown(let name):
                    let message = "unknown command \(name) (use /exit, /reset or /system TEXT)"
                    guard interactive else { throw CommandFailure(message) }
                    Self.stderr("error: \(message)\n")
                    continue
                case .message:
                    break
                }
                do {
                    let reply = try await turn(client, messages: conversation.messages(adding: text))
                    conversation.append(user: text, assistant: reply)
                } catch let error as RPCError where interactive && error.code != .unavailable {
                    Self.stderr("error: \(DaemonErrorMessage.describe(error, socket: root.client.socketPath))\n")
                }
            }
        }
    }

    /// Sends one turn, streams the reply to stdout, and returns its full text.
    private func turn(_ client: CanopyClient, messages: [CanopyV1.ChatMessage]) async throws -> String {
        let summary = try await client.generate(sampling.request(.messages(messages))) { event in
            guard case .token(let delta) = event, !delta.text.isEmpty else { return }
            Self.stdout(delta.text)
        }
        Self.stdout("\n")
        if verbose { Self.stderr(GenerateCommand.report(summary)) }
        return summary.samples.first?.text ?? ""
    }

    /// The next stdin line without its newline, or nil at the end of input. Read on its own
    /// thread so a waiting terminal does not hold one of the few concurrency-pool threads.
    private static func readLine() async -> String? {
        await withCheckedContinuation { continuation in
            Thread.detachNewThread { continuation.resume(returning: Swift.readLine(strippingNewline: true)) }
        }
    }

    private static func stdout(_ text: String) {
        FileHandle.standardOutput.write(Data(text.utf8))
    }

    private static func stderr(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }
}

/// One line of chat input: a slash command or a message.
private enum Command {
    case exit
    case reset
    case system(String)
    case unknown(String)
    case message

    init(_ line: String) {
        guard line.hasPrefix("/") else {
            self = .message
            return
        }
        let name = String(line.prefix { !$0.isWhitespace })
        let rest = line.dropFirst(name.count).trimmingCharacters(in: .whitespaces)
        switch name {
        case "/exit", "/quit": self = .exit
        case "/reset": self = .reset
        case "/system": self = .system(rest)
        default: self = .unknown(name)
        }
    }
}

/// The messages of a chat so far.
private struct Conversation {
    /// The system message, sent first when set.
    var system: String?
    /// User and assistant turns in order.
    private var turns: [CanopyV1.ChatMessage] = []

    init(system: String?) {
        self.system = system
    }

    /// The messages to send for a new user turn `text`.
    func messages(adding text: String) -> [CanopyV1.ChatMessage] {
        var all: [CanopyV1.ChatMessage] = []
        if let system { all.append(.init(role: "system", content: system)) }
        return all + turns + [.init(role: "user", content: text)]
    }

    /// Records a completed exchange.
    mutating func append(user: String, assistant: String) {
        turns.append(.init(role: "user", content: user))
        turns.append(.init(role: "assistant", content: assistant))
    }

    /// Forgets the turns, keeping the system message.
    mutating func reset() {
        turns.removeAll()
    }
}
