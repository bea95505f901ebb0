import CanopyEngine
import CanopyWire

/// Folds one sample's token deltas into its APAR branches (their text and forks; the ids
/// are not needed to assemble) as they arrive, so the answer
/// assembled from them (see `AnswerAssembler`) can be shown while it grows. A child's first
/// delta (its child token) arrives when its parent forks, so the parent's text received so
/// far is where the child's text goes.
struct BranchStreams {
    private var branches: [Int: BranchOutput] = [0: BranchOutput(id: 0, parent: nil, tokenIDs: [], text: "", finishReason: .cancelled, forks: [])]

    /// Whether any branch has forked.
    var forked: Bool { branches.count > 1 }

    /// Adds one delta of this sample.
    mutating func add(_ delta: CanopyV1.TokenDelta) {
        let id = Int(delta.branch)
        if branches[id] == nil {
            let parent = delta.parentBranch.map(Int.init) ?? 0
            branches[id] = BranchOutput(id: id, parent: parent, tokenIDs: [], text: "", finishReason: .cancelled, forks: [])
            if let parentText = branches[parent]?.text {
                branches[parent]?.forks.append(.init(textOffset: parentText.count, child: id))
            }
        }
        branches[id]?.text += delta.text
    }

    /// The root's text: the whole answer until the first fork.
    var rootText: String { branches[0]?.text ?? "" }

    /// The answer assembled from what has arrived.
    var assembled: String { AnswerAssembler.assemble(Array(branches.values)) }
}
