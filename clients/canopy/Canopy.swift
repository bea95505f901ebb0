import ArgumentParser

/// The `canopy` command-line client: `batch` and `perplexity` run a model in-process; the
/// other commands talk to `canopyd` over its Unix socket (`--socket`, else `$CANOPY_SOCKET`,
/// else `$XDG_RUNTIME_DIR/canopy/canopyd.sock`, else `/run/canopy/canopyd.sock`).
@main
struct Canopy: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "canopy",
        abstract: "Canopy: run and query LLM inference.",
        subcommands: [
            GenerateCommand.self, ChatCommand.self, TokenizeCommand.self, DetokenizeCommand.self,
            InfoCommand.self, HealthCommand.self, StatsCommand.self, BenchCommand.self, BatchCommand.self,
            PerplexityCommand.self, SystemInfoCommand.self,
        ])

    @OptionGroup var client: ClientOptions
}
