import ArgumentParser

/// `canopy-bench`: Canopy's side of `make bench`, printed as JSON lines for
/// `bench/run-bench.sh`.
@main
struct CanopyBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "canopy-bench",
        abstract: "Measure a model's speed in-process (JSON lines on stdout).",
        subcommands: [SingleStreamBench.self, BatchedBench.self, BandwidthBench.self, MoEBench.self],
        defaultSubcommand: SingleStreamBench.self)
}
