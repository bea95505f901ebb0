import CCanopyKernels

/// The instruction-set levels of the C kernels, lowest first, and the process's choice among
/// them.
///
/// Three levels are fixed for a process:
/// - ``hardware``: what the CPU and the OS support (cpuid/xgetbv);
/// - ``ceiling``: ``hardware`` capped by the `CANOPY_MAX_ISA` environment variable
///   (``environmentVariable``), read once when a kernel first asks. Every kernel, attention
///   included, runs at most at this level, so an AVX-512 machine started with
///   `CANOPY_MAX_ISA=avx2` computes exactly what an AVX2-only machine computes;
/// - ``active``: the level of the kernels whose levels compute the same bits (matmuls,
///   activation quantization, f16 conversions); ``ceiling`` unless a test or benchmark lowers
///   it with ``select(_:)``.
public enum InstructionSet: Int, CaseIterable, Comparable, Sendable, CustomStringConvertible {
    /// Portable C, no vector extensions.
    case scalar = 0
    /// AVX2 with FMA and F16C (Intel Haswell, AMD Zen 1 and later).
    case avx2 = 1
    /// AVX-512 F/BW/VL with VNNI (Intel Ice Lake / Sapphire Rapids, AMD Zen 4 and later).
    case avx512vnni = 2

    /// The environment variable that sets ``ceiling``: `CANOPY_MAX_ISA`.
    public static let environmentVariable = CANOPY_MAX_ISA_VARIABLE

    /// The level's name: "scalar", "avx2" or "avx512vnni" (what `CANOPY_MAX_ISA` takes).
    public var description: String { String(cString: canopy_isa_name(cValue)) }

    /// The level named `name` (any case), or nil when it names none.
    public init?(name: String) {
        var isa = CANOPY_ISA_SCALAR
        guard canopy_isa_parse(name, &isa) != 0 else { return nil }
        self.init(isa)
    }

    /// What the CPU and the OS support, ignoring `CANOPY_MAX_ISA`.
    public static var hardware: InstructionSet { InstructionSet(canopy_isa_hardware()) }

    /// The highest level any kernel of this process runs at: ``hardware`` capped by
    /// `CANOPY_MAX_ISA`. Fixed for the life of the process.
    public static var ceiling: InstructionSet { InstructionSet(canopy_isa_supported()) }

    /// The level the bit-exact kernels use now (``ceiling`` unless lowered by ``select(_:)``).
    public static var active: InstructionSet { InstructionSet(canopy_isa_active()) }

    /// The value of `CANOPY_MAX_ISA` as the kernels read it: nil when unset or empty.
    ///
    /// - Throws: ``InstructionSetError/unknownLevel(_:)`` when it names no level; the kernels
    ///   then ignore it, so programs call this at start-up and refuse to run.
    public static func environmentCap() throws(InstructionSetError) -> InstructionSet? {
        var text: UnsafePointer<CChar>?
        let state = canopy_isa_ceiling_setting(&text)
        let value = text.map { String(cString: $0) } ?? ""
        switch state {
        case 0: return nil
        case 1: return InstructionSet(name: value)
        default: throw .unknownLevel(value)
        }
    }

    /// A line for logs: the level in use, and why it is below the hardware's when it is,
    /// e.g. `avx2 (CPU supports avx512vnni; capped by CANOPY_MAX_ISA=avx2)`.
    public static var summary: String {
        let ceiling = ceiling, hardware = hardware
        guard ceiling < hardware else { return "\(ceiling)" }
        return "\(ceiling) (CPU supports \(hardware); capped by \(environmentVariable)=\(ceiling))"
    }

    /// Lowers (or restores) the level of the bit-exact kernels, for tests and benchmarks;
    /// clamped to ``ceiling``. It never changes a result, even for work running concurrently,
    /// and leaves the attention loops at ``ceiling``. Returns the level now active.
    @discardableResult
    public static func select(_ level: InstructionSet) -> InstructionSet {
        InstructionSet(canopy_isa_select(level.cValue))
    }

    public static func < (a: InstructionSet, b: InstructionSet) -> Bool { a.rawValue < b.rawValue }

    private init(_ isa: canopy_isa) {
        self = InstructionSet(rawValue: Int(isa.rawValue)) ?? .scalar
    }

    private var cValue: canopy_isa { canopy_isa(rawValue: UInt32(rawValue)) }
}

/// Why a kernel level setting cannot be used.
public enum InstructionSetError: Error, Equatable, CustomStringConvertible {
    /// `CANOPY_MAX_ISA` holds something that is not a level's name.
    case unknownLevel(String)

    public var description: String {
        switch self {
        case .unknownLevel(let value):
            let names = InstructionSet.allCases.map(\.description).joined(separator: ", ")
            return "\(InstructionSet.environmentVariable)=\(value) is not a kernel level: use one of \(names), or unset it"
        }
    }
}
