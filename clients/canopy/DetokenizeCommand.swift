import ArgumentParser
import Foundation

/// `canopy detokenize`: the text of token ids with the served model's tokenizer.
struct DetokenizeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "detokenize",
        abstract: "Print the text of token ids with the served model's tokenizer.")

    @ParentCommand var root: Canopy

    @Argument(help: "Token ids, as separate arguments or comma-separated.")
    var ids: [String]

    @Flag(help: "Include the text of control tokens such as <|im_end|>.")
    var renderSpecial = false

    func run() async throws {
        try await root.client.withDaemon { client in
            let tokens = try GenerateCommand.parseIDs(ids.joined(separator: " "), what: "detokenize")
            let text = try await client.detokenize(.init(ids: tokens, renderSpecial: renderSpecial)).text
            FileHandle.standardOutput.write(Data((text + "\n").utf8))
        }
    }
}
