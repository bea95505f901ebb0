/// The split patterns, written as scanners that give the same pieces as the regexes
/// (leftmost alternative first, greedy, as in ECMAScript and PCRE-style engines).
///
/// Each scanner works inside `lo..<hi` only: code points outside read as "no code point",
/// exactly as a regex run on that piece alone would see its end. Scanners append the
/// end index (in code points) of every piece to `ends`; pieces are never empty.
extension ScalarText {
    @inline(__always)
    private func flag(_ i: Int, _ hi: Int) -> UInt8 { i < hi ? flags[i] : 0 }

    @inline(__always)
    private static func isOther(_ f: UInt8) -> Bool {
        f & valid != 0 && f & (letter | number | whitespace) == 0
    }

    /// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
    func scanGPT2(_ lo: Int, _ hi: Int, into ends: inout [Int]) {
        let space: UInt32 = 0x20
        var pos = lo
        while pos < hi {
            let c = scalars[pos]
            if c == 0x27, pos + 1 < hi, let length = contraction(at: pos, hi, caseInsensitive: false) {
                pos += length
                ends.append(pos)
                continue
            }
            let f2 = c == space ? flag(pos + 1, hi) : flags[pos]
            if f2 & Self.letter != 0 {
                if c == space { pos += 1 }
                while flag(pos, hi) & Self.letter != 0 { pos += 1 }
                ends.append(pos)
                continue
            }
            if f2 & Self.number != 0 {
                if c == space { pos += 1 }
                while flag(pos, hi) & Self.number != 0 { pos += 1 }
                ends.append(pos)
                continue
            }
            if Self.isOther(f2) {
                if c == space { pos += 1 }
                while Self.isOther(flag(pos, hi)) { pos += 1 }
                ends.append(pos)
                continue
            }
            var run = 0
            while flag(pos + run, hi) & Self.whitespace != 0 { run += 1 }
            if run > 1 && pos + run < hi {
                // \s+(?!\S): the last whitespace is left to prefix the next word.
                pos += run - 1
            } else if run > 0 {
                pos += run
            } else {
                pos += 1
            }
            ends.append(pos)
        }
    }

    /// The Llama 3 pattern; `maxDigits` is 3 for `\p{N}{1,3}` and 1 for Qwen 2's `\p{N}`.
    func scanLlama3(_ lo: Int, _ hi: Int, maxDigits: Int, into ends: inout [Int]) {
        let space: UInt32 = 0x20, cr: UInt32 = 0x0D, lf: UInt32 = 0x0A
        var pos = lo
        var last = lo
        @inline(__always) func add(_ end: Int) {
            if end > last {
                ends.append(end)
                last = end
            }
        }
        while pos < hi {
            let c = scalars[pos]
            let f0 = flags[pos]
            if c == 0x27, pos + 1 < hi, let length = contraction(at: pos, hi, caseInsensitive: true) {
                pos += length
                add(pos)
                continue
            }
            // [^\r\n\p{L}\p{N}]?\p{L}+
            if !(c == cr || c == lf || f0 & Self.number != 0) {
                if f0 & Self.letter != 0 || flag(pos + 1, hi) & Self.letter != 0 {
                    pos += 1
                    while flag(pos, hi) & Self.letter != 0 { pos += 1 }
                    add(pos)
                    continue
                }
            }
            // \p{N}{1,maxDigits}
            if f0 & Self.number != 0 {
                var start = pos
                while flag(pos, hi) & Self.number != 0 {
                    pos += 1
                    if pos - start >= maxDigits {
                        add(pos)
                        start = pos
                    }
                }
                add(pos)
                continue
            }
            // ' ?[^\s\p{L}\p{N}]+[\r\n]*'
            let f2 = c == space ? flag(pos + 1, hi) : f0
            if Self.isOther(f2) {
                if c == space { pos += 1 }
                while Self.isOther(flag(pos, hi)) { pos += 1 }
                while pos < hi && (scalars[pos] == cr || scalars[pos] == lf) { pos += 1 }
                add(pos)
                continue
            }
            var run = 0
            var endOfLastNewline = 0
            while flag(pos + run, hi) & Self.whitespace != 0 {
                let w = scalars[pos + run]
                if w == cr || w == lf { endOfLastNewline = pos + run + 1 }
                run += 1
            }
            if endOfLastNewline > 0 {
                pos = endOfLastNewline  // \s*[\r\n]+
            } else if run > 1 && pos + run < hi {
                pos += run - 1  // \s+(?!\S)
            } else if run > 0 {
                pos += run  // \s+
            } else {
                pos += 1
            }
            add(pos)
        }
    }

    /// Length of the contraction (`'s`, `'t`, `'m`, `'d`, `'re`, `'ve`, `'ll`) starting with
    /// the apostrophe at `pos`, or nil.
    @inline(__always)
    private func contraction(at pos: Int, _ hi: Int, caseInsensitive: Bool) -> Int? {
        func lower(_ v: UInt32) -> UInt32 {
            caseInsensitive && v >= 0x41 && v <= 0x5A ? v | 0x20 : v
        }
        let next = lower(scalars[pos + 1])
        if next == 0x73 || next == 0x74 || next == 0x6D || next == 0x64 { return 2 }  // s t m d
        guard pos + 2 < hi else { return nil }
        let after = lower(scalars[pos + 2])
        if (next == 0x72 && after == 0x65) || (next == 0x76 && after == 0x65)
            || (next == 0x6C && after == 0x6C)
        {
            return 3  // re ve ll
        }
        return nil
    }
}
