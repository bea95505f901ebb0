import ArgumentParser

/// The `canopy` command-line client.
@main
struct Canopy: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "canopy",
        abstract: "Canopy: run and query LLM inference.",
        subcommands: [BatchCommand.self])
}
