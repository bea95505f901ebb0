import CanopyWire
import Foundation

/// Writes one sample's answer to stdout while it streams. Until the answer forks (APAR) each
/// delta's text is written as it comes. After the first fork the text already written stays
/// a prefix of the answer (children's text goes after their fork points, which all lie
/// beyond it): on a terminal the rest is redrawn from there on every delta; elsewhere it is
/// written once at the end. With `byBranch`, every delta is written with a `[branch N]`
/// marker line whenever the branch changes.
final class AnswerPrinter: @unchecked Sendable {
    // `@unchecked Sendable`: used from one stream callback at a time.
    private let byBranch: Bool
    private let terminal: Bool
    private var streams = BranchStreams()
    /// Characters of the answer written before the first fork.
    private var written = 0
    private var lastBranch: UInt32 = 0

    init(byBranch: Bool, terminal: Bool) {
        self.byBranch = byBranch
        self.terminal = terminal
    }

    /// Takes one delta of the sample.
    func add(_ delta: CanopyV1.TokenDelta) {
        if byBranch {
            if delta.branch != lastBranch {
                let parent = delta.parentBranch.map { " (from \($0))" } ?? ""
                write("\n[branch \(delta.branch)\(parent)] ")
                lastBranch = delta.branch
            }
            write(delta.text)
            return
        }
        let wasForked = streams.forked
        streams.add(delta)
        if !streams.forked {
            write(delta.text)
            written = streams.rootText.count
            return
        }
        if terminal {
            // Save the cursor where the unforked text ended; redraw from there each time.
            if !wasForked { write("\u{1B}7") }
            write("\u{1B}8\u{1B}[J" + String(streams.assembled.dropFirst(written)))
        }
    }

    /// Ends the answer: after a fork, off a terminal, writes the part not yet written of
    /// `final` (the assembled answer of the summary).
    func finish(_ final: String) {
        guard !byBranch, streams.forked else { return }
        write(terminal ? "\u{1B}8\u{1B}[J" + String(final.dropFirst(written)) : String(final.dropFirst(written)))
    }

    private func write(_ text: String) {
        guard !text.isEmpty else { return }
        FileHandle.standardOutput.write(Data(text.utf8))
    }
}
