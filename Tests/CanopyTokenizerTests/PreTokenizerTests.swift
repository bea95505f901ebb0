import CanopyTokenizer
import Testing

/// The split patterns against hand-checked regex results.
@Suite struct PreTokenizerTests {
    @Test func gpt2Contractions() {
        #expect(PreTokenizer.gpt2.split("I'm sure they'll, won't") ==
            ["I", "'m", " sure", " they", "'ll", ",", " won", "'t"])
        // Only lower-case contractions match; "'S" is punctuation followed by a letter run.
        #expect(PreTokenizer.gpt2.split("IT'S") == ["IT", "'", "S"])
        #expect(PreTokenizer.gpt2.split("x're 've 'd") == ["x", "'re", " '", "ve", " '", "d"])
    }

    @Test func gpt2WhitespaceRuns() {
        // \s+(?!\S) leaves the last space of a run to the following word.
        #expect(PreTokenizer.gpt2.split("a   b") == ["a", "  ", " b"])
        #expect(PreTokenizer.gpt2.split("a \t b") == ["a", " \t", " b"])
        #expect(PreTokenizer.gpt2.split("trailing  ") == ["trailing", "  "])
        #expect(PreTokenizer.gpt2.split("\n\nx") == ["\n", "\n", "x"])
        #expect(PreTokenizer.gpt2.split("a\u{3000}\u{3000}b") == ["a", "\u{3000}", "\u{3000}", "b"])
    }

    @Test func gpt2Numbers() {
        #expect(PreTokenizer.gpt2.split("abc 123 x1") == ["abc", " 123", " x", "1"])
        #expect(PreTokenizer.gpt2.split("-42!?") == ["-", "42", "!?"])
    }

    @Test func smollmIsolatesEveryDigit() {
        #expect(PreTokenizer.smollm.split("1234 x") == ["1", "2", "3", "4", " x"])
        #expect(PreTokenizer.smollm.split("3.14") == ["3", ".", "1", "4"])
        // Non-ASCII numbers are \p{N} too.
        #expect(PreTokenizer.smollm.split("Ⅻ٣²") == ["Ⅻ", "٣", "²"])
        // The digit split limits the whitespace look-ahead to the piece before the digit.
        #expect(PreTokenizer.smollm.split("a  1") == ["a", "  ", "1"])
        #expect(PreTokenizer.gpt2.split("a  1") == ["a", " ", " 1"])
    }

    @Test func unicodeLetters() {
        #expect(PreTokenizer.gpt2.split("naïve café 大模型 Привет") == ["naïve", " café", " 大模型", " Привет"])
        // Combining marks (Mn) are not letters.
        #expect(PreTokenizer.gpt2.split("e\u{301}x") == ["e", "\u{301}", "x"])
        #expect(PreTokenizer.gpt2.split("😀🎉 ok") == ["😀🎉", " ok"])
    }

    @Test func llama3Pattern() {
        #expect(PreTokenizer.llama3.split("12345 abc") == ["123", "45", " abc"])
        #expect(PreTokenizer.llama3.split("IT'S") == ["IT", "'S"])
        #expect(PreTokenizer.llama3.split("x\n\n  y") == ["x", "\n\n", " ", " y"])
        #expect(PreTokenizer.llama3.split("(hello)\n") == ["(hello", ")\n"])
        #expect(PreTokenizer.qwen2.split("2024") == ["2", "0", "2", "4"])
    }

    @Test func piecesTileTheInput() {
        let text = "Mixed: 'quotes' 1,234.5\t\t\n  tabs\u{00A0}nbsp ñ 🇫🇷 end  "
        for pre in PreTokenizer.allCases {
            let pieces = pre.split(text)
            #expect(pieces.joined() == text)
            #expect(!pieces.contains(""))
        }
    }

    @Test func unknownNamesAreRejectedByName() {
        #expect(throws: TokenizerError.unsupportedPreTokenizer("deepseek-llm")) {
            try PreTokenizer(name: "deepseek-llm")
        }
        let message = TokenizerError.unsupportedPreTokenizer("deepseek-llm").description
        #expect(message.contains("deepseek-llm") && message.contains("smollm"))
        #expect(throws: TokenizerError.unsupportedPreTokenizer("default")) { try PreTokenizer(name: nil) }
        #expect((try? PreTokenizer(name: "smollm")) == .smollm)
    }
}
