import ArgumentParser
import CanopyKernels

/// `canopy system-info`: what the kernels of this machine run at, as llama.cpp's `system_info`
/// line says it: the CPU's best instruction-set level, the level in use (lower when
/// `CANOPY_MAX_ISA` caps it) and the worker threads a model would get with `--threads`. Runs
/// no model and needs no daemon; `make test-isa` reads it to skip caps that would change nothing.
struct SystemInfoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "system-info",
        abstract: "Show the kernels' instruction-set level and threads on this machine.",
        discussion: """
            Prints `hardware: LEVEL` (what the CPU and OS support), `kernels: LEVEL` (that level \
            capped by \(InstructionSet.environmentVariable)) and `threads: N`; levels are \
            \(InstructionSet.allCases.map(\.description).joined(separator: ", ")).
            """)

    @OptionGroup var kernel: KernelOptions

    func run() throws {
        kernel.configureThreads()
        print("hardware: \(InstructionSet.hardware)")
        print("kernels: \(InstructionSet.ceiling)")
        print("threads: \(WorkerPool.shared.threadCount)")
    }
}
