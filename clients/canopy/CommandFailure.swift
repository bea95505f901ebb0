import ArgumentParser
import Foundation

/// An error that ends a command with one readable line on stderr and exit status 1.
struct CommandFailure: Error, CustomStringConvertible {
    let description: String

    init(_ message: String) {
        description = message
    }
}

extension ParsableCommand {
    /// Runs `body`, turning a `CommandFailure` into `error: ...` on stderr and exit code 1.
    static func reportingFailures(_ body: () throws -> Void) throws {
        do {
            try body()
        } catch let failure as CommandFailure {
            FileHandle.standardError.write(Data("error: \(failure.description)\n".utf8))
            throw ExitCode.failure
        }
    }
}
