import CanopyKernels
import Foundation
import Testing

/// The kernels' instruction-set levels and the process-wide CANOPY_MAX_ISA ceiling. The suite
/// runs at whatever ceiling the process was started with (`make test-isa` starts it at avx2 and
/// scalar), so these are checks of the invariants that hold at every ceiling.
@Suite("Instruction sets")
struct InstructionSetTests {
    @Test("names read back, in any case; other names are refused")
    func names() {
        for level in InstructionSet.allCases {
            #expect(InstructionSet(name: level.description) == level)
            #expect(InstructionSet(name: level.description.uppercased()) == level)
        }
        #expect(InstructionSet.allCases.map(\.description) == ["scalar", "avx2", "avx512vnni"])
        for bad in ["", "avx", "avx512", "sse4", "avx2 ", "native"] {
            #expect(InstructionSet(name: bad) == nil, "\(bad)")
        }
        #expect(InstructionSet.scalar < .avx2 && InstructionSet.avx2 < .avx512vnni)
    }

    @Test("the ceiling is the hardware's level capped by CANOPY_MAX_ISA, read once")
    func ceilingFollowsTheEnvironment() throws {
        // A value that names no level fails here, as it makes canopyd refuse to start.
        let cap = try InstructionSet.environmentCap()
        let raw = ProcessInfo.processInfo.environment[InstructionSet.environmentVariable] ?? ""
        #expect(cap == (raw.isEmpty ? nil : InstructionSet(name: raw)))
        let expected = cap.map { min($0, InstructionSet.hardware) } ?? InstructionSet.hardware
        #expect(InstructionSet.ceiling == expected)
        #expect(InstructionSet.active <= InstructionSet.ceiling)
        if InstructionSet.ceiling < InstructionSet.hardware {
            #expect(InstructionSet.summary.contains("capped by CANOPY_MAX_ISA=\(InstructionSet.ceiling)"))
        } else {
            #expect(InstructionSet.summary == InstructionSet.ceiling.description)
        }
    }

    @Test("selecting a level clamps to the ceiling")
    func selectClamps() {
        defer { InstructionSet.select(InstructionSet.ceiling) }
        for level in InstructionSet.allCases {
            #expect(InstructionSet.select(level) == min(level, InstructionSet.ceiling))
        }
    }

    @Test("the error names the setting and the levels it takes")
    func errorMessage() {
        let message = InstructionSetError.unknownLevel("avx9000").description
        #expect(message.contains("CANOPY_MAX_ISA=avx9000"))
        #expect(message.contains("scalar, avx2, avx512vnni"))
    }
}
