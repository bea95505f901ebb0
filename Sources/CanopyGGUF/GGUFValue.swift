/// One metadata value of a GGUF file, in the type the file stores it as.
///
/// Arrays are homogeneous in a valid file (the writer enforces this; the reader guarantees it
/// because GGUF stores one element type per array). Arrays may nest.
///
/// Each case is one GGUF value type; `string` holds the file's bytes exactly when they are
/// valid UTF-8 (invalid sequences in values are replaced by U+FFFD; keys and tensor names must
/// be valid). Equality is the cases' payload equality (so a NaN float never equals itself).
public enum GGUFValue: Sendable, Equatable {
    case uint8(UInt8)
    case int8(Int8)
    case uint16(UInt16)
    case int16(Int16)
    case uint32(UInt32)
    case int32(Int32)
    case uint64(UInt64)
    case int64(Int64)
    case float32(Float)
    case float64(Double)
    case bool(Bool)
    case string(String)
    case array([GGUFValue])

    /// The value as an `Int` when it is an integer of any width whose value fits in `Int`;
    /// `nil` for every other kind (floats are not converted).
    public var intValue: Int? {
        switch self {
        case let .uint8(v): return Int(v)
        case let .int8(v): return Int(v)
        case let .uint16(v): return Int(v)
        case let .int16(v): return Int(v)
        case let .uint32(v): return Int(v)
        case let .int32(v): return Int(v)
        case let .uint64(v): return Int(exactly: v)
        case let .int64(v): return Int(v)
        default: return nil
        }
    }

    /// The value as a `Double` when it is a float or an integer (integers convert, possibly
    /// rounding above 2^53); `nil` for bools, strings and arrays.
    public var doubleValue: Double? {
        switch self {
        case let .float32(v): return Double(v)
        case let .float64(v): return v
        case let .uint64(v): return Double(v)
        case let .int64(v): return Double(v)
        default: return intValue.map(Double.init)
        }
    }

    /// The value when it is a bool; `nil` otherwise (integers are not converted).
    public var boolValue: Bool? {
        if case let .bool(v) = self { return v }
        return nil
    }

    /// The value when it is a string; `nil` otherwise.
    public var stringValue: String? {
        if case let .string(v) = self { return v }
        return nil
    }

    /// The elements when the value is an array; `nil` otherwise.
    public var arrayValue: [GGUFValue]? {
        if case let .array(v) = self { return v }
        return nil
    }

    /// GGUF's name for the value's type (`uint32`, `string`, `array`, ...), for messages.
    public var typeName: String { valueType.name }

    /// The type id GGUF stores for this value.
    var valueType: GGUFValueType {
        switch self {
        case .uint8: return .uint8
        case .int8: return .int8
        case .uint16: return .uint16
        case .int16: return .int16
        case .uint32: return .uint32
        case .int32: return .int32
        case .uint64: return .uint64
        case .int64: return .int64
        case .float32: return .float32
        case .float64: return .float64
        case .bool: return .bool
        case .string: return .string
        case .array: return .array
        }
    }
}

/// GGUF's metadata value type ids, as stored in the file.
enum GGUFValueType: UInt32, Sendable {
    case uint8 = 0, int8 = 1, uint16 = 2, int16 = 3, uint32 = 4, int32 = 5, float32 = 6
    case bool = 7, string = 8, array = 9, uint64 = 10, int64 = 11, float64 = 12

    /// Bytes one value of this type takes at the least: exact for scalars, the length prefix
    /// for strings and the type + count prefix for arrays. Used to reject counts that cannot
    /// fit in the bytes left before anything is allocated for them.
    var minimumEncodedSize: Int {
        switch self {
        case .uint8, .int8, .bool: return 1
        case .uint16, .int16: return 2
        case .uint32, .int32, .float32: return 4
        case .uint64, .int64, .float64, .string: return 8
        case .array: return 12
        }
    }

    var name: String {
        switch self {
        case .uint8: return "uint8"
        case .int8: return "int8"
        case .uint16: return "uint16"
        case .int16: return "int16"
        case .uint32: return "uint32"
        case .int32: return "int32"
        case .float32: return "float32"
        case .bool: return "bool"
        case .string: return "string"
        case .array: return "array"
        case .uint64: return "uint64"
        case .int64: return "int64"
        case .float64: return "float64"
        }
    }
}
