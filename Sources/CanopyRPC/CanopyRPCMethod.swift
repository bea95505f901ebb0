import CanopyWire
import GRPCCore

/// The methods of `canopy.v1.Canopy`, as the server routes them.
enum CanopyRPCMethod: CaseIterable, Sendable {
    case generate, tokenize, detokenize, health, info, stats

    /// The method an HTTP/2 `:path` names (`/canopy.v1.Canopy/Health`), if any.
    init?(path: Substring) {
        guard let method = Self.allCases.first(where: { path == $0.path }) else { return nil }
        self = method
    }

    /// `/` and the method's fully qualified name.
    var path: String { "/" + descriptor.fullyQualifiedMethod }

    var descriptor: MethodDescriptor {
        switch self {
        case .generate: CanopyMethods.generate
        case .tokenize: CanopyMethods.tokenize
        case .detokenize: CanopyMethods.detokenize
        case .health: CanopyMethods.health
        case .info: CanopyMethods.info
        case .stats: CanopyMethods.stats
        }
    }

    /// Whether answering may take long on the CPU (a long text or prompt to tokenize), so
    /// it runs on the global pool, not on the I/O thread where it would hold up every
    /// other stream.
    var runsOnPool: Bool {
        switch self {
        case .generate, .tokenize, .detokenize: true
        case .health, .info, .stats: false
        }
    }
}
