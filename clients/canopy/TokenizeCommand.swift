import ArgumentParser
import Foundation

/// `canopy tokenize`: token ids of a text with the served model's tokenizer.
struct TokenizeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenize",
        abstract: "Print the token ids of a text (default: stdin) with the served model's tokenizer.")

    @ParentCommand var root: Canopy

    @Argument(help: "The text (default: read stdin as is).")
    var text: String?

    @Flag(help: "Prepend BOS when the model wants one.")
    var addSpecial = false

    @Flag(help: "Recognise special-token text such as <|im_start|>.")
    var parseSpecial = false

    @Flag(help: "Print one token per line with the text it decodes to.")
    var showPieces = false

    @Flag(help: "Print {\"ids\": [...], \"pieces\": [...]} as JSON.")
    var json = false

    func run() async throws {
        try await root.client.withDaemon { client in
            let input: String
            if let text {
                input = text
            } else {
                guard let stdin = String(data: FileHandle.standardInput.readDataToEndOfFile(), encoding: .utf8) else {
                    throw CommandFailure("stdin is not valid UTF-8 text")
                }
                input = stdin
            }
            let ids = try await client.tokenize(.init(text: input, addSpecial: addSpecial, parseSpecial: parseSpecial)).ids
            var pieces: [String] = []
            if showPieces {
                // One call per token: a piece is what that token alone decodes to, so a
                // token holding part of a UTF-8 character shows as U+FFFD.
                for id in ids {
                    pieces.append(try await client.detokenize(.init(ids: [id], renderSpecial: true)).text)
                }
            }
            if json {
                try JSONOutput.print(TokensJSON(ids: ids, pieces: showPieces ? pieces : nil))
            } else if showPieces {
                let lines = zip(ids, pieces).map { "\($0)\t\(Self.quoted($1))\n" }.joined()
                FileHandle.standardOutput.write(Data(lines.utf8))
            } else {
                FileHandle.standardOutput.write(Data((ids.map(String.init).joined(separator: " ") + "\n").utf8))
            }
        }
    }

    /// `text` in double quotes with control characters, quotes and backslashes escaped,
    /// so whitespace pieces stay visible.
    static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F:
                out += "\\u{" + String(scalar.value, radix: 16) + "}"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}

/// The `tokenize --json` output.
private struct TokensJSON: Encodable {
    let ids: [Int32]
    let pieces: [String]?
}
