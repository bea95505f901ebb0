import ArgumentParser
import CanopyKernels

/// `canopy-bench`: Canopy's side of `make bench`, printed as JSON lines for
/// `bench/run-bench.sh`.
@main
struct CanopyBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "canopy-bench",
        abstract: "Measure a model's speed in-process (JSON lines on stdout).",
        subcommands: [
            SingleStreamBench.self, BatchedBench.self, SpeculativeBench.self, BandwidthBench.self, MoEBench.self, H2FloorBench.self,
        ],
        defaultSubcommand: SingleStreamBench.self)
}

/// Refuses a `CANOPY_MAX_ISA` that names no level, then sizes the kernels' worker pool; call
/// before any kernel runs.
func configureKernels(threads: Int) throws {
    _ = try InstructionSet.environmentCap()
    WorkerPool.configure(threads: threads)
}
