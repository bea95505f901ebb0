import ArgumentParser
import CanopyGGUF
import CanopyKernels
import Dispatch

/// `canopy-bench bandwidth`: the memory-bandwidth bound on single-stream generation for a
/// model, in its own process so the probe's buffer does not count in `single`'s peak RSS.
struct BandwidthBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bandwidth",
        abstract: "Measure read bandwidth and the tokens/s it allows for one decode stream.")

    @Option(help: "Path to a GGUF model (only its tensor sizes are read).")
    var model: String

    @Option(help: "Kernel worker threads reading the buffer; 0 means one per physical core.")
    var threads: Int = 2

    func run() throws {
        try configureKernels(threads: threads)
        let file = try GGUFFile(path: model)
        let bandwidth = BandwidthProbe.readBandwidth()
        let weightBytes = BandwidthProbe.weightBytesPerToken(file)
        print(#"{"read_bandwidth_gb_s": \#(bandwidth / 1e9), "weight_bytes_per_token": \#(weightBytes), "tg_bandwidth_bound_tokens_per_s": \#(bandwidth / Double(weightBytes))}"#)
    }
}

/// The memory-bandwidth bound on single-stream generation: generating one token reads every
/// weight once, so tokens/s can be at most (read bandwidth) / (weight bytes per token).
struct BandwidthProbe {
    /// Bytes of weights one decode step reads: every tensor, except that a token embedding
    /// contributes one row when the model has its own `output.weight` (with tied embeddings
    /// the whole matrix is read as the output projection).
    static func weightBytesPerToken(_ file: GGUFFile) -> Int {
        let untied = file.tensors.contains { $0.name == "output.weight" }
        return file.tensors.reduce(0) { total, t in
            if untied && t.name == "token_embd.weight" { return total + t.byteCount / max(1, t.dimensions.last ?? 1) }
            return total + t.byteCount
        }
    }

    /// Sustained read bandwidth in bytes/s over a buffer much larger than the caches, read by
    /// the kernels' worker pool (best of several passes).
    static func readBandwidth(megabytes: Int = 512, passes: Int = 5) -> Double {
        let count = megabytes << 20 / MemoryLayout<SIMD16<Float>>.stride
        let buffer = UnsafeMutablePointer<SIMD16<Float>>.allocate(capacity: count)
        defer { buffer.deallocate() }
        buffer.initialize(repeating: SIMD16(repeating: 1), count: count)
        let pool = WorkerPool.shared
        let chunks = pool.threadCount * 8
        let sums = UnsafeMutablePointer<Float>.allocate(capacity: chunks)
        defer { sums.deallocate() }
        var best = 0.0
        for _ in 0..<passes {
            let start = DispatchTime.now()
            pool.forEach(chunks) { c in
                var acc = SIMD16<Float>()
                for i in (count * c / chunks)..<(count * (c + 1) / chunks) { acc += buffer[i] }
                sums[c] = acc.sum()
            }
            let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
            best = max(best, Double(count * MemoryLayout<SIMD16<Float>>.stride) / elapsed)
        }
        // Keep the reads observable so the optimizer cannot drop them.
        if (0..<chunks).reduce(0, { $0 + sums[$1] }) == -1 { print("") }
        return best
    }
}
