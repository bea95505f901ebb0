/// The element type of a tensor, numbered as GGML and GGUF number them.
///
/// Quantized types store values in fixed-size blocks: `blockSize` values packed into
/// `typeSize` bytes. A row of `n` values therefore takes `n / blockSize * typeSize` bytes,
/// and `n` must be a multiple of `blockSize`.
///
/// Only the types whose layout Canopy knows are listed; a file naming any other type id is
/// rejected by the GGUF reader with an error that names the id.
public enum GGMLType: UInt32, Sendable, CaseIterable, CustomStringConvertible {
    case f32 = 0
    case f16 = 1
    case q4_0 = 2
    case q4_1 = 3
    case q5_0 = 6
    case q5_1 = 7
    case q8_0 = 8
    case q8_1 = 9
    case q2_K = 10
    case q3_K = 11
    case q4_K = 12
    case q5_K = 13
    case q6_K = 14
    case q8_K = 15
    case i8 = 24
    case i16 = 25
    case i32 = 26
    case i64 = 27
    case f64 = 28
    case bf16 = 30

    /// Number of values in one block (1 for plain scalar types).
    public var blockSize: Int {
        switch self {
        case .f32, .f16, .bf16, .i8, .i16, .i32, .i64, .f64: return 1
        case .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q8_1: return 32
        case .q2_K, .q3_K, .q4_K, .q5_K, .q6_K, .q8_K: return 256
        }
    }

    /// Number of bytes one block occupies.
    public var typeSize: Int {
        switch self {
        case .f32: return 4
        case .f16, .bf16: return 2
        case .i8: return 1
        case .i16: return 2
        case .i32: return 4
        case .i64, .f64: return 8
        case .q4_0: return 18  // f16 scale + 16 bytes of nibbles
        case .q4_1: return 20  // f16 scale + f16 min + 16 bytes of nibbles
        case .q5_0: return 22  // f16 scale + 4 bytes of high bits + 16 bytes of nibbles
        case .q5_1: return 24  // f16 scale + f16 min + 4 bytes of high bits + 16 nibble bytes
        case .q8_0: return 34  // f16 scale + 32 int8
        case .q8_1: return 36  // f16 scale + f16 scaled sum + 32 int8
        case .q2_K: return 84
        case .q3_K: return 110
        case .q4_K: return 144
        case .q5_K: return 176
        case .q6_K: return 210
        case .q8_K: return 292  // f32 scale + 256 int8 + 16 int16 block sums
        }
    }

    /// GGML's name for the type, as llama.cpp prints it (`Q4_1`, `F16`, ...).
    public var description: String {
        switch self {
        case .f32: return "F32"
        case .f16: return "F16"
        case .bf16: return "BF16"
        case .f64: return "F64"
        case .i8: return "I8"
        case .i16: return "I16"
        case .i32: return "I32"
        case .i64: return "I64"
        case .q4_0: return "Q4_0"
        case .q4_1: return "Q4_1"
        case .q5_0: return "Q5_0"
        case .q5_1: return "Q5_1"
        case .q8_0: return "Q8_0"
        case .q8_1: return "Q8_1"
        case .q2_K: return "Q2_K"
        case .q3_K: return "Q3_K"
        case .q4_K: return "Q4_K"
        case .q5_K: return "Q5_K"
        case .q6_K: return "Q6_K"
        case .q8_K: return "Q8_K"
        }
    }

    /// Bytes taken by `count` consecutive values, or `nil` when `count` is negative, not a
    /// multiple of `blockSize`, or the byte count would overflow `Int`.
    public func byteCount(forElements count: Int) -> Int? {
        guard count >= 0, count % blockSize == 0 else { return nil }
        let (bytes, overflow) = (count / blockSize).multipliedReportingOverflow(by: typeSize)
        return overflow ? nil : bytes
    }
}
