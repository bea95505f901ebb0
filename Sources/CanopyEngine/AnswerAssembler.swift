/// Rebuilds an APAR answer from its branches, as APAR's paragraph tree does: a branch's
/// text up to each fork, then that fork's child (its detail, assembled the same way), then
/// what the branch wrote after the fork. Control tokens are already out of every text.
public enum AnswerAssembler {
    /// The assembled text of the tree rooted at branch 0 of `branches` (keyed by id).
    /// Branches unreachable from the root are left out; a cycle cannot occur (a child's id
    /// is always given after its parent's).
    public static func assemble(_ branches: [BranchOutput]) -> String {
        var byID: [Int: BranchOutput] = [:]
        for branch in branches { byID[branch.id] = branch }
        var out = ""
        func write(_ id: Int) {
            guard let branch = byID[id] else { return }
            var written = branch.text.startIndex
            for fork in branch.forks {
                let end = branch.text.index(
                    branch.text.startIndex, offsetBy: min(fork.textOffset, branch.text.count))
                if end > written { out += branch.text[written..<end] }
                written = max(written, end)
                if fork.child > id { write(fork.child) }
            }
            out += branch.text[written...]
        }
        write(0)
        return out
    }
}
