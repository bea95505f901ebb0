/// Formats chat messages into a prompt string for one of the chat template families that
/// llama.cpp recognises (`llm_chat_detect_template`), detected from the model's Jinja
/// `tokenizer.chat_template` by the same substring tests.
///
/// ChatML output is exactly what the usual ChatML Jinja produces, including a default system
/// message when the template inserts one (as SmolLM2's does) — the literal is read from the
/// template text. Other families render as llama.cpp's built-in formatter does.
public struct ChatTemplate: Sendable, Equatable {
    /// A template family.
    public enum Family: String, Sendable, Equatable, CaseIterable {
        /// `<|im_start|>role\ncontent<|im_end|>\n`
        case chatML
        /// `<|start_header_id|>role<|end_header_id|>\n\ncontent<|eot_id|>`
        case llama3
        /// `[INST] ... [/INST]` without system-message support.
        case llama2
        /// `[INST] <<SYS>>\n...\n<</SYS>>\n\n... [/INST]`
        case llama2System
        /// As `llama2System` with `<s>` before every later `[INST]`.
        case llama2SystemBOS
        /// As `llama2System` with message contents trimmed.
        case llama2SystemStrip
        /// `<start_of_turn>user\n...<end_of_turn>\n`, assistant called "model".
        case gemma
        /// `<|role|>\ncontent<|endoftext|>\n`
        case zephyr
        /// `<|role|>\ncontent<|end|>\n`
        case phi3
    }

    /// The detected family.
    public let family: Family
    /// A system message the template inserts when the conversation does not start with one.
    public let defaultSystemMessage: String?

    /// Creates a template for a known family directly.
    public init(family: Family, defaultSystemMessage: String? = nil) {
        self.family = family
        self.defaultSystemMessage = defaultSystemMessage
    }

    /// Detects the family of a Jinja chat template.
    /// - Throws: `TokenizerError.missingChatTemplate` for nil or blank text,
    ///   `TokenizerError.unsupportedChatTemplate` when no family matches; both messages tell
    ///   the client to send a raw `prompt` or `prompt_ids` instead.
    public init(template: String?) throws(TokenizerError) {
        guard let template, !template.allSatisfy(\.isWhitespace) else { throw .missingChatTemplate }
        guard let family = Self.detect(template) else {
            let flat = template.replacing("\n", with: " ")
            throw .unsupportedChatTemplate(excerpt: String(flat.prefix(60)))
        }
        self.family = family
        self.defaultSystemMessage = family == .chatML ? Self.chatMLDefaultSystem(in: template) : nil
    }

    /// The family llama.cpp would pick for `template`, or nil.
    static func detect(_ template: String) -> Family? {
        func has(_ s: String) -> Bool { template.contains(s) }
        if has("<|im_start|>") {
            // Phi-4 and SmolVLM reuse <|im_start|> but are not ChatML.
            return has("<|im_sep|>") || has("<end_of_utterance>") ? nil : .chatML
        }
        if template.hasPrefix("mistral") || has("[INST]") {
            // Mistral v1/v3/v7 variants differ in spacing; only the Llama 2 forms are rendered.
            if has("[SYSTEM_PROMPT]") || has("' [INST] ' + system_message") || has("[AVAILABLE_TOOLS]") {
                return nil
            }
            if has("content.strip()") { return .llama2SystemStrip }
            if has("bos_token + '[INST]") { return .llama2SystemBOS }
            if has("<<SYS>>") { return .llama2System }
            return .llama2
        }
        if has("<|assistant|>") && has("<|end|>") { return .phi3 }
        // ChatGLM 4, Falcon 3 and GLM-Edge come before Zephyr in llama.cpp's order.
        if has("[gMASK]<sop>") || (has("<|assistant|>") && has("<|user|>")) { return nil }
        if has("<|user|>") && has("<|endoftext|>") { return .zephyr }
        if has("<start_of_turn>") { return .gemma }
        if has("<|start_header_id|>") && has("<|end_header_id|>") { return .llama3 }
        return nil
    }

    /// Reads the literal of a ChatML template's default system turn: the
    /// `<|im_start|>system\n...<|im_end|>` string literal written inside a branch that runs
    /// when the first message is not a system message.
    static func chatMLDefaultSystem(in template: String) -> String? {
        guard template.contains("!= 'system'") || template.contains("!= \"system\"") else { return nil }
        for opener in ["<|im_start|>system\n", "<|im_start|>system\\n"] {
            guard let start = template.firstRange(of: opener),
                let end = template[start.upperBound...].firstRange(of: "<|im_end|>")
            else { continue }
            // Only a literal counts: the text must not come from an expression.
            let literal = template[start.upperBound..<end.lowerBound]
            if literal.contains("{{") || literal.contains("{%") || literal.contains("' +")
                || literal.contains("\" +")
            {
                continue
            }
            return Self.unescapeJinja(String(literal))
        }
        return nil
    }

    /// Resolves the backslash escapes of a Jinja string literal.
    private static func unescapeJinja(_ s: String) -> String {
        guard s.contains("\\") else { return s }
        var out = ""
        var escaping = false
        for c in s {
            if escaping {
                switch c {
                case "n": out.append("\n")
                case "t": out.append("\t")
                case "r": out.append("\r")
                default: out.append(c)
                }
                escaping = false
            } else if c == "\\" {
                escaping = true
            } else {
                out.append(c)
            }
        }
        return out
    }
}
