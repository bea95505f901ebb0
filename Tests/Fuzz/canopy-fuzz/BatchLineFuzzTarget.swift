import CanopyEngine

/// One line of `canopy batch` input: the decoder either refuses it with a message or yields a
/// request the engine's validation then accepts or refuses, never a trap.
enum BatchLineFuzzTarget {
    static func run(_ bytes: [UInt8]) {
        let line = FuzzInput.text(bytes[...])
        let (_, result) = BatchRequestDecoder.decode(line, lineNumber: 1, defaults: FuzzResources.samplingDefaults)
        guard case .success(let request) = result else { return }
        _ = try? FuzzResources.preparer.prepare(request, forking: request.parallel.enabled == true)
    }
}
