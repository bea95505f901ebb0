/// APAR parallel decoding for one request (see `AparTokens`): where the model emits its fork
/// token, the branch that emitted it goes on with the next part of the answer while a child
/// branch, sharing every KV block written so far, writes that part's detail; both decode in
/// the same steps.
///
/// Defaults are APAR's (THUDM/APAR): forks at most 2 deep, at most 32 branches alive.
public struct ParallelParams: Sendable, Equatable {
    /// Whether the request may fork; nil: on whenever the model has APAR tokens and the
    /// request asks for one sample (`n` = 1). Ignored by a model without them.
    public var enabled: Bool?
    /// Forks nest at most this deep: a branch `maxDepth` forks below the root cannot fork.
    public var maxDepth = 2
    /// Most branches of the request alive at once, the root included.
    public var maxBranches = 32

    /// The accepted values of `maxDepth`.
    public static let depthRange = 0...16
    /// The accepted values of `maxBranches`.
    public static let branchRange = 1...64

    /// Creates APAR's defaults.
    public init() {}

    /// Checks ranges, returning a message a client can act on for the first bad value.
    public func validate() throws(RequestError) {
        guard Self.depthRange.contains(maxDepth) else {
            throw .invalidParameter(
                name: "apar_max_depth",
                reason: "must be in [\(Self.depthRange.lowerBound), \(Self.depthRange.upperBound)], got \(maxDepth)")
        }
        guard Self.branchRange.contains(maxBranches) else {
            throw .invalidParameter(
                name: "apar_max_branches",
                reason: "must be in [\(Self.branchRange.lowerBound), \(Self.branchRange.upperBound)], got \(maxBranches)")
        }
    }
}
