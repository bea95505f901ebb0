// swift-tools-version: 6.1
// An example of another package calling canopyd from Swift: it depends on Canopy's
// `CanopyClient` product only, so building it builds the wire types, the protobuf-c codec and
// gRPC, never the engine or the kernels. CI builds it (.ci/run).
import PackageDescription

let package = Package(
    name: "canopy-client-example",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "Canopy", path: "../.."),
    ],
    targets: [
        .executableTarget(
            name: "canopy-client-example",
            dependencies: [.product(name: "CanopyClient", package: "Canopy")]),
    ]
)
