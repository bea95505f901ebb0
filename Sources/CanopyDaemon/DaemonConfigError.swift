/// Where a configuration value came from, so errors point at the line or flag to fix.
public enum ConfigSource: Sendable, Equatable, CustomStringConvertible {
    /// Line `line` (1-based) of the configuration file at `path`.
    case file(path: String, line: Int)
    /// A command-line flag, `--key`.
    case flag

    public var description: String {
        switch self {
        case .file(let path, let line): return "\(path):\(line)"
        case .flag: return "command line"
        }
    }
}

/// Why the daemon configuration could not be loaded.
public enum DaemonConfigError: Error, CustomStringConvertible, Equatable {
    /// The configuration file could not be read.
    case cannotRead(path: String, reason: String)
    /// A line is neither blank, a comment, nor `key = value`.
    case syntax(source: ConfigSource, line: String)
    /// The key is not a known setting; `suggestion` is the closest known key, if any is close.
    case unknownKey(source: ConfigSource, key: String, suggestion: String?)
    /// The same key appears twice in one file.
    case duplicateKey(source: ConfigSource, key: String, firstLine: Int)
    /// The value of `key` cannot be parsed; `expected` describes what is allowed.
    case invalidValue(source: ConfigSource, key: String, value: String, expected: String)
    /// No model path was configured.
    case missingModel
    /// The values parse but do not work together (e.g. engine limits out of range).
    case inconsistent(String)
    /// `speculative = draft` without a draft model (`draft-model`); `speculativeSource` is
    /// where the mode was set.
    case draftModelMissing(speculativeSource: ConfigSource?)
    /// A draft model together with `speculative = ngram`, which would never use it.
    case draftModelUnused(speculativeSource: ConfigSource?, draftModel: String)

    public var description: String {
        switch self {
        case .cannotRead(let path, let reason):
            return "cannot read configuration file \(path): \(reason)"
        case .syntax(let source, let line):
            return "\(source): expected 'key = value', a comment (#) or a blank line, got '\(line)'"
        case .unknownKey(let source, let key, let suggestion):
            let hint = suggestion.map { "; did you mean '\($0)'?" } ?? ""
            let where_ = source == .flag ? "flag --\(key)" : "\(source): key '\(key)'"
            return "\(where_) is not a canopyd setting\(hint) (known: \(DaemonConfig.keys.map(\.name).joined(separator: ", ")))"
        case .duplicateKey(let source, let key, let firstLine):
            return "\(source): key '\(key)' is already set on line \(firstLine)"
        case .invalidValue(let source, let key, let value, let expected):
            let where_ = source == .flag ? "--\(key)" : "\(source): \(key)"
            return "\(where_): '\(value)' is not valid; expected \(expected)"
        case .missingModel:
            return "no model configured: set 'model = /path/to/model.gguf' in the configuration file or pass --model"
        case .inconsistent(let message):
            return "invalid configuration: \(message)"
        case .draftModelMissing(let source):
            return "\(Self.setting("speculative", "draft", at: source)) needs a draft model: pass --draft-model PATH or set "
                + "'draft-model = PATH' in the configuration file (a smaller model with the served model's tokenizer), "
                + "or choose speculative = ngram or off"
        case .draftModelUnused(let source, let draftModel):
            return "\(Self.setting("speculative", "ngram", at: source)) never uses the draft model \(draftModel): "
                + "drop the speculative setting (with a draft model it defaults to draft), set it to draft "
                + "(or off: the draft proposes only for requests that ask), or remove draft-model"
        }
    }

    /// How the user wrote `key = value` at `source`: `--key value` on the command line,
    /// `path:line: key = value` in a file.
    private static func setting(_ key: String, _ value: String, at source: ConfigSource?) -> String {
        switch source {
        case .flag: return "--\(key) \(value)"
        case let source?: return "\(source): \(key) = \(value)"
        case nil: return "\(key) = \(value)"
        }
    }
}
