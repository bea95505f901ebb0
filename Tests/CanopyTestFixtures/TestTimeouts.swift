import CanopyKernels
import Foundation

/// How long tests wait for the engine before calling a request lost.
///
/// The waits are sized for the vector kernels in a release build. With every kernel capped
/// at scalar (`CANOPY_MAX_ISA=scalar`) the model runs about ten times slower, and under
/// ThreadSanitizer 10-50 times (`make test-sanitize` sets `CANOPY_TEST_TIMEOUT_SCALE`), so
/// each wait is scaled by ``scale``; what the tests assert is unchanged, only how long they
/// are willing to wait.
public enum TestTimeouts {
    /// The environment variable that multiplies every wait (a positive number; default 1).
    public static let environmentVariable = "CANOPY_TEST_TIMEOUT_SCALE"

    /// 10 when the process's kernels are capped at ``InstructionSet/scalar``, else 1, times
    /// `CANOPY_TEST_TIMEOUT_SCALE`.
    public static let scale: Double = {
        let setting = ProcessInfo.processInfo.environment[environmentVariable].flatMap(Double.init) ?? 1
        return (InstructionSet.ceiling == .scalar ? 10 : 1) * (setting > 0 && setting.isFinite ? setting : 1)
    }()

    /// `seconds` scaled by ``scale``.
    public static func seconds(_ seconds: Double) -> Double { seconds * scale }
}
