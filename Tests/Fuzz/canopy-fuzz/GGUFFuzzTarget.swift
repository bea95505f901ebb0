import CanopyEngine
import CanopyGGUF
import CanopyModel
import CanopyTokenizer
import Foundation

/// A model file from an untrusted source: whatever the bytes, opening it either fails with a
/// `GGUFError` / `ModelLoadError` or yields a file whose every tensor lies inside the data,
/// and every step of a model load after it (tokenizer, configuration, weights) fails cleanly
/// or succeeds.
enum GGUFFuzzTarget {
    static func run(_ bytes: [UInt8]) {
        guard let file = try? GGUFFile(bytes: bytes) else { return }
        for key in file.metadataKeys {
            _ = (file.string(key), file.int(key), file.float(key), file.bool(key))
            _ = (file.stringArray(key), file.intArray(key), file.floatArray(key))
        }
        for tensor in file.tensors {
            guard file.tensor(named: tensor.name) != nil else { invariantFailed("tensor \(tensor.name) not found by name") }
            let data = file.data(of: tensor)
            guard data.count == tensor.byteCount else { invariantFailed("tensor \(tensor.name): \(data.count) bytes mapped, \(tensor.byteCount) declared") }
        }
        // Copies every tensor's bytes: a range outside the data is an AddressSanitizer report.
        checkRoundTrip(file)
        if let vocabulary = try? TokenizerVocabulary(gguf: file), let tokenizer = try? Tokenizer(vocabulary: vocabulary) {
            let ids = tokenizer.encode("Hello <|im_start|> wörld 12", addSpecial: true, parseSpecial: true)
            _ = tokenizer.decode(ids, renderSpecial: true)
        }
        _ = try? ChatTemplate(template: file.string("tokenizer.chat_template"))
        _ = SamplingDefaults(file: file)
        if (try? ModelConfig(gguf: file)) != nil { loadWholeModel(bytes) }
    }

    /// What the file says survives writing it back: same keys in order, values, tensors.
    private static func checkRoundTrip(_ file: GGUFFile) {
        var writer = GGUFWriter(version: file.version, alignment: file.alignment)
        for key in file.metadataKeys where key != "general.alignment" { writer.add(key, file.metadata[key]!) }
        for tensor in file.tensors.sorted(by: { $0.offset < $1.offset }) {
            writer.addTensor(name: tensor.name, type: tensor.type, dimensions: tensor.dimensions, data: Array(file.data(of: tensor)))
        }
        let again: GGUFFile
        do {
            again = try GGUFFile(bytes: writer.bytes())
        } catch {
            invariantFailed("a file that opened does not open once written back: \(error)")
        }
        guard again.metadataKeys.filter({ $0 != "general.alignment" }) == file.metadataKeys.filter({ $0 != "general.alignment" }),
              again.metadataKeys.allSatisfy({ String(describing: again.metadata[$0]!) == String(describing: file.metadata[$0]!) })
        else { invariantFailed("metadata changed in a round trip") }
        for tensor in file.tensors {
            guard let copy = again.tensor(named: tensor.name), copy.type == tensor.type, copy.dimensions == tensor.dimensions,
                  Array(again.data(of: copy)) == Array(file.data(of: tensor))
            else { invariantFailed("tensor \(tensor.name) changed in a round trip") }
        }
    }

    /// A header that configures a model goes through the daemon's whole load from a file.
    private static func loadWholeModel(_ bytes: [UInt8]) {
        let path = FuzzResources.scratchFile
        guard FileManager.default.createFile(atPath: path, contents: Data(bytes)) else { return }
        defer { try? FileManager.default.removeItem(atPath: path) }
        _ = try? LoadedModel(path: path)
    }
}
