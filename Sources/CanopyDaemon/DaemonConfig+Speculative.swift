import CanopyEngine

/// The one rule tying the speculative mode (`speculative`) to the draft model
/// (`draft-model`):
///
/// - a draft model given while `speculative` is not set (in the file or by a flag) makes the
///   mode `draft`: whoever names a draft means it to propose;
/// - `speculative = ngram` with a draft model is an error, since the draft would be loaded
///   and never used (`off` is allowed: the draft then proposes for requests that ask);
/// - `speculative = draft` without a draft model is an error.
///
/// `Engine.init` refuses the same combinations; checking them here names the setting and
/// where it was given before any model is loaded.
extension DaemonConfig {
    /// Sets the draft model to `path`; unless `speculative` was given explicitly (`sources`),
    /// the speculative mode becomes `.draft`. A later explicit `speculative` still wins.
    public mutating func setDraftModel(_ path: String) {
        draftModelPath = path
        if sources["speculative"] == nil { engine.speculative = .draft }
    }

    /// Throws when the speculative mode and the draft model do not go together (see above),
    /// with an error naming where `speculative` was set and how to fix it.
    public func validateSpeculation() throws(DaemonConfigError) {
        let source = sources["speculative"]
        switch (engine.speculative, draftModelPath) {
        case (.draft, nil):
            throw .draftModelMissing(speculativeSource: source)
        case (.ngram, let draftModel?):
            throw .draftModelUnused(speculativeSource: source, draftModel: draftModel)
        default:
            return
        }
    }
}
