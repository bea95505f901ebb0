import CanopyKernels

/// Why a model file could not be turned into a runnable model.
public enum ModelError: Error, CustomStringConvertible, Equatable {
    /// A metadata key the architecture needs is absent.
    case missingMetadata(key: String)
    /// A metadata value is present but unusable (wrong type, out of range, inconsistent).
    case invalidMetadata(key: String, reason: String)
    /// `general.architecture` names an architecture Canopy does not implement.
    case unsupportedArchitecture(String)
    /// A tensor the architecture needs is absent.
    case missingTensor(name: String)
    /// A tensor has other dimensions than the metadata implies.
    case tensorShapeMismatch(name: String, expected: [Int], actual: [Int])
    /// A tensor is stored in a type Canopy cannot compute with.
    case unsupportedTensorType(name: String, type: GGMLType)
    /// The file uses a feature of its architecture Canopy does not implement (named for
    /// the user, e.g. Phi-3's LongRoPE factors).
    case unsupportedFeature(String)
    /// The model cannot be split over the ranks asked for (`--tensor-parallel`); the reason
    /// says what would work.
    case cannotShard(String)

    public var description: String {
        switch self {
        case .missingMetadata(let key):
            return "model file lacks metadata key '\(key)'; it may be incomplete or for another tool"
        case .invalidMetadata(let key, let reason):
            return "model metadata '\(key)' is invalid: \(reason)"
        case .unsupportedArchitecture(let name):
            return "architecture '\(name)' is not supported (supported: \(ModelArchitectures.supported.joined(separator: ", ")))"
        case .missingTensor(let name):
            return "model file lacks tensor '\(name)'"
        case .tensorShapeMismatch(let name, let expected, let actual):
            return "tensor '\(name)' has dimensions \(actual), expected \(expected) from the model metadata"
        case .unsupportedTensorType(let name, let type):
            return "tensor '\(name)' is stored as \(type), which Canopy cannot compute with yet"
        case .unsupportedFeature(let feature):
            return "the model uses \(feature), which Canopy does not implement yet"
        case .cannotShard(let reason):
            return "cannot split the model for tensor parallelism: \(reason)"
        }
    }
}
