// swift-tools-version: 6.1
// Canopy: an LLM inference daemon. See README.md for the layout; data flows
// CanopyEngine → CanopyModel → CanopyKernels, with CanopyKV beside the model (the engine
// owns the block manager; the model sees only the arena), and CanopyGGUF and
// CanopyTokenizer below the model.
import PackageDescription

/// Numeric modules are compiled with bounds-check-free exclusivity: kernels work on raw
/// pointers whose ranges are checked once per call with preconditions.
let numericSettings: [SwiftSetting] = [
    .unsafeFlags(["-enforce-exclusivity=unchecked"])
]

let package = Package(
    name: "Canopy",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "canopy", targets: ["canopy"]),
        .executable(name: "canopy-bench", targets: ["canopy-bench"]),
        .executable(name: "canopyd", targets: ["canopyd"]),
        .library(name: "CanopyEngine", targets: ["CanopyEngine"]),
        // What another package needs to call canopyd over gRPC; see clients/swift-example.
        .library(name: "CanopyClient", targets: ["CanopyClient"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/grpc/grpc-swift-2", from: "2.4.3"),
        .package(url: "https://github.com/grpc/grpc-swift-nio-transport", from: "2.9.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-http2", from: "1.46.0"),
        // The OpenAI-compatible HTTP front (CanopyHTTP). Its default traits (swift-configuration,
        // full Foundation) are off: nothing here uses them, and each adds build time.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1", traits: []),
    ],
    targets: [
        // Tensor element types, dequantization, dot products, matmuls and the small
        // numeric ops (norms, RoPE, softmax). Knows nothing about files or models.
        .target(name: "CanopyKernels", dependencies: ["CCanopyKernels"], swiftSettings: numericSettings),
        // The SIMD hot loops (int8 matmuls, activation quantization) and the worker pool, in C
        // for per-function target attributes: AVX2 or AVX-512 VNNI is chosen at run time, so
        // a binary built for baseline x86-64 stays portable. Scalar fallback elsewhere.
        // -O3 over SwiftPM's -O2 for C: at -O2 clang stopped unrolling the token loops of the
        // Q4_1 kernel past 8 tokens (past 10 under AVX2), its accumulators went to the stack, and a
        // 9-token verification window cost 15.1 ms instead of 12.9 (2-core Xeon, SmolLM2,
        // `canopy-bench single --windows 10`). No fast-math: the bits are the same.
        .target(
            name: "CCanopyKernels",
            exclude: ["gemm_x86.inc", "gemm_groups_x86.inc", "gemm_tiles_x86.inc", "gemm_q4_1_x86.inc", "gemm_q8_0_x86.inc"],
            cSettings: [.unsafeFlags(["-ffp-contract=off", "-O3"])]),
        // The GGUF container format: header, metadata, tensor infos, memory-mapped data.
        .target(name: "CanopyGGUF", dependencies: ["CanopyKernels"]),
        // Byte-level BPE tokenizer, pre-tokenizers, streaming detokenizer, chat templates.
        .target(name: "CanopyTokenizer", dependencies: ["CanopyGGUF"]),
        // The paged KV cache: block pool, block tables, copy-on-write, prefix caching.
        .target(name: "CanopyKV", dependencies: ["CanopyKernels"]),
        // Model configuration, weights and architectures (one file per architecture).
        .target(
            name: "CanopyModel",
            dependencies: ["CanopyGGUF", "CanopyKernels", "CanopyTokenizer"],
            swiftSettings: numericSettings),
        // Requests, sampling, generation and the offline batch runner.
        .target(name: "CanopyEngine", dependencies: ["CanopyModel", "CanopyKV", "CanopyKernels", "CanopyTokenizer", "CanopyGGUF"]),
        // protoc-c output for Protos/canopy/v1/canopy.proto (regenerate: make protos).
        .target(name: "CCanopyProto", linkerSettings: [.linkedLibrary("protobuf-c")]),
        // The protocol's value types (`CanopyV1`), their protobuf-c codec and the method
        // descriptors: what both ends share. Depends on neither the engine nor the kernels.
        .target(
            name: "CanopyWire",
            dependencies: [
                "CCanopyProto", .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
            ]),
        // The gRPC client of canopyd (the `CanopyClient` product): wire types and transport
        // only, so another package can depend on it without building the engine.
        .target(
            name: "CanopyClient",
            dependencies: [
                "CanopyWire",
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2Posix", package: "grpc-swift-nio-transport"),
            ]),
        // Conversions between the protocol's value types and the engine's (requests in,
        // events, summaries and counters out) and engine failures to gRPC status codes: the
        // server's mapping, apart from its transport so the fuzz target needs no TLS stack.
        .target(
            name: "CanopyWireMapping",
            dependencies: [
                "CanopyWire", "CanopyEngine", "CanopyModel", "CanopyTokenizer", "CanopyKV",
                .product(name: "GRPCCore", package: "grpc-swift-2"),
            ]),
        // The gRPC server: the Canopy service on an engine, read and answered at the level of
        // swift-nio-http2's frames; peer filtering, serving state.
        .target(
            name: "CanopyRPC",
            dependencies: [
                "CanopyWire", "CanopyWireMapping", "CanopyEngine", "CanopyModel", "CanopyTokenizer", "CanopyKV", "CanopyKernels",
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP2", package: "swift-nio-http2"),
                .product(name: "NIOHPACK", package: "swift-nio-http2"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        // The OpenAI-compatible HTTP API (`--http`, `--http-socket`) on the same engine and
        // serving state as the gRPC service: /v1/models, /v1/completions, /v1/chat/completions
        // (JSON and server-sent events), /health, /metrics.
        .target(
            name: "CanopyHTTP",
            dependencies: [
                "CanopyEngine", "CanopyRPC", "CanopyWire", "CanopyModel", "CanopyTokenizer", "CanopyKernels",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        // Open MPI's C API (Debian libopenmpi-dev), for tensor parallelism across processes.
        .systemLibrary(name: "CMPI", pkgConfig: "ompi-c", providers: [.apt(["libopenmpi-dev"])]),
        // Tensor parallelism over MPI: the ranks' exchange of partial sums and logits, the
        // step messages rank 0 sends, and the loop the other ranks run (`--tensor-parallel`).
        .target(
            name: "CanopyParallel",
            dependencies: ["CMPI", "CanopyModel", "CanopyKernels", "CanopyKV"],
            swiftSettings: numericSettings),
        // Being a system service: config, socket path, lock, sd_notify, signals, peer credentials.
        .target(
            name: "CanopyDaemon",
            dependencies: [
                "CanopyEngine", "CanopyKernels",
                .product(name: "Logging", package: "swift-log"),
            ]),
        // The daemon executable.
        .executableTarget(
            name: "canopyd",
            dependencies: [
                "CanopyDaemon", "CanopyRPC", "CanopyWire", "CanopyHTTP", "CanopyEngine", "CanopyModel", "CanopyKernels",
                "CanopyParallel",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        // The `canopy` command-line client.
        .executableTarget(
            name: "canopy",
            dependencies: [
                "CanopyEngine", "CanopyClient", "CanopyWire",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "GRPCCore", package: "grpc-swift-2"),
            ],
            path: "clients/canopy"),
        // Offline throughput benchmark used by `make bench`.
        .executableTarget(
            name: "canopy-bench",
            dependencies: [
                "CanopyEngine", "CanopyKernels", "CanopyGGUF", "CanopyModel", "CanopyWire",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                // `canopy-bench h2-floor`: the Health round trip's HTTP/2-level reference.
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP2", package: "swift-nio-http2"),
                .product(name: "NIOHPACK", package: "swift-nio-http2"),
            ],
            path: "bench/canopy-bench"),
        // The fuzz targets (Tests/Fuzz/README.md): a libFuzzer harness when built by `make fuzz`
        // (-DCANOPY_FUZZ, -sanitize=fuzzer,address), a replay driver of the corpora otherwise.
        .executableTarget(
            name: "canopy-fuzz",
            dependencies: ["CanopyGGUF", "CanopyTokenizer", "CanopyModel", "CanopyEngine", "CanopyWire", "CanopyWireMapping"],
            path: "Tests/Fuzz/canopy-fuzz"),
        .testTarget(name: "CanopyKernelsTests", dependencies: ["CanopyKernels"]),
        .testTarget(
            name: "CanopyRPCTests",
            dependencies: [
                "CanopyRPC", "CanopyWire", "CanopyWireMapping", "CanopyClient", "CCanopyProto", "CanopyEngine", "CanopyModel", "CanopyKernels",
                "CanopyTestFixtures",
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2Posix", package: "grpc-swift-nio-transport"),
            ]),
        .testTarget(
            name: "CanopyDaemonTests",
            dependencies: [
                "CanopyDaemon", "CanopyEngine", "CanopyModel", "CanopyKernels",
                .product(name: "Logging", package: "swift-log"),
            ]),
        .testTarget(name: "CanopyHTTPTests", dependencies: ["CanopyHTTP", "CanopyEngine", "CanopyTokenizer", "CanopyModel", "CanopyRPC", "CanopyTestFixtures"]),
        .testTarget(name: "CanopyGGUFTests", dependencies: ["CanopyGGUF"]),
        .testTarget(name: "CanopyTokenizerTests", dependencies: ["CanopyTokenizer", "CanopyGGUF"]),
        .testTarget(name: "CanopyKVTests", dependencies: ["CanopyKV", "CanopyKernels"]),
        .testTarget(name: "CanopyParallelTests", dependencies: ["CanopyParallel", "CanopyModel", "CanopyKernels"]),
        .testTarget(
            name: "CanopyModelTests",
            dependencies: ["CanopyModel", "CanopyKernels", "CanopyTestFixtures", "CAllocationCounter"]),
        .testTarget(
            name: "CanopyEngineTests",
            dependencies: [
                "CanopyEngine", "CanopyModel", "CanopyKV", "CanopyKernels", "CanopyGGUF", "CanopyTestFixtures",
                "CAllocationCounter",
            ]),
        // Test support: counts the test process's heap allocations (steady-state decode checks).
        .target(name: "CAllocationCounter", path: "Tests/CAllocationCounter"),
        // Test support: the reference fixtures (paths, llama.cpp's greedy records from every
        // machine they were made on, and the rule that judges our tokens against them).
        .target(name: "CanopyTestFixtures", dependencies: ["CanopyKernels"], path: "Tests/CanopyTestFixtures"),
    ]
)
