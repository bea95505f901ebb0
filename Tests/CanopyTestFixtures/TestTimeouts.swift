import CanopyKernels

/// How long tests wait for the engine before calling a request lost.
///
/// The waits are sized for the vector kernels. With every kernel capped at scalar
/// (`CANOPY_MAX_ISA=scalar`) the model runs about ten times slower, so each wait is scaled by
/// ``scale``; what the tests assert is unchanged, only how long they are willing to wait.
public enum TestTimeouts {
    /// 10 when the process's kernels are capped at ``InstructionSet/scalar``, else 1.
    public static let scale: Double = InstructionSet.ceiling == .scalar ? 10 : 1

    /// `seconds` scaled by ``scale``.
    public static func seconds(_ seconds: Double) -> Double { seconds * scale }
}
