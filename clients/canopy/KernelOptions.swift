import ArgumentParser
import CanopyKernels

/// Kernel flags of every command that runs a model in-process (`batch`, `perplexity`).
struct KernelOptions: ParsableArguments {
    @Option(help: "Kernel worker threads; 0 means one per physical core.")
    var threads: Int = 0

    func validate() throws {
        guard (0...1024).contains(threads) else { throw ValidationError("--threads must be in 0...1024, got \(threads)") }
        do {
            _ = try InstructionSet.environmentCap()
        } catch {
            throw ValidationError("\(error)")
        }
    }

    /// Sizes the kernels' worker pool; call before loading the model.
    func configureThreads() {
        WorkerPool.configure(threads: threads)
    }
}
