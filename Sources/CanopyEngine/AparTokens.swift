import CanopyTokenizer

/// The two control tokens of an APAR model (THUDM/APAR, arXiv 2401.06761): `fork`
/// (`[SplitMask]` in the released models), which a branch samples where a detail can be
/// written apart, and `child` (`[SplitSop]`), which starts the child branch that writes it.
///
/// Rules the engine enforces: `child` is never sampled (a child's first token is set to
/// it); neither follows the other or itself; a branch that may not fork (too deep, too many
/// branches, KV short) cannot sample `fork`.
public struct AparTokens: Sendable, Equatable {
    /// The text of the fork token in the released APAR models.
    public static let defaultForkText = "[SplitMask]"
    /// The text of the child token in the released APAR models.
    public static let defaultChildText = "[SplitSop]"

    /// The token a branch samples to fork.
    public let fork: Int32
    /// The token a child branch starts with.
    public let child: Int32

    /// Tokens given by id (a test, or a model whose tokens are known).
    public init(fork: Int32, child: Int32) {
        self.fork = fork
        self.child = child
    }

    /// Finds the two tokens by their text in `tokenizer`'s vocabulary; nil when either is
    /// missing (the model is not an APAR model) or both texts name the same token.
    public static func find(
        in tokenizer: Tokenizer, forkText: String = defaultForkText, childText: String = defaultChildText
    ) -> AparTokens? {
        guard let fork = tokenizer.tokenID(forText: forkText), let child = tokenizer.tokenID(forText: childText),
              fork != child
        else { return nil }
        return AparTokens(fork: fork, child: child)
    }

    /// Whether `token` is one of the two.
    public func isControl(_ token: Int32) -> Bool { token == fork || token == child }
}
