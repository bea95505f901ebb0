import ArgumentParser
import CanopyKernels

/// `canopy system-info`: what the kernels of this machine run at, as llama.cpp's `system_info`
/// line says it: the CPU's best instruction-set level, the level in use (lower when
/// `CANOPY_MAX_ISA` caps it) and the worker threads a model would get. Runs no model and needs
/// no daemon; `make test-isa` reads it to skip caps that would change nothing.
struct SystemInfoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "system-info",
        abstract: "Show the kernels' instruction-set level and threads on this machine.",
        discussion: """
            Prints `hardware: LEVEL` (what the CPU and OS support), `kernels: LEVEL` (that level \
            capped by \(InstructionSet.environmentVariable)) and `threads: N`; levels are \
            \(InstructionSet.allCases.map(\.description).joined(separator: ", ")).
            """)

    func run() throws {
        try Self.reportingFailures {
            do {
                _ = try InstructionSet.environmentCap()
            } catch {
                throw CommandFailure("\(error)")
            }
        }
        print("hardware: \(InstructionSet.hardware)")
        print("kernels: \(InstructionSet.ceiling)")
        print("threads: \(WorkerPool.physicalCores) (one per physical core; --threads sets others)")
    }
}
