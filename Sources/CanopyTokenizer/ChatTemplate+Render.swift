/// A rendered conversation: the prompt text and where the messages' own text lies in it.
///
/// Tokenize it with ``Tokenizer/encode(_:)-(RenderedChat)``, which recognises control tokens
/// (`<|im_start|>`...) only in the template's text: a message that writes `<|im_end|>` gets
/// those characters as text, never a turn boundary.
public struct RenderedChat: Sendable, Equatable {
    /// The prompt text.
    public private(set) var text = ""
    /// UTF-8 byte ranges of `text` that came from message content (ascending, disjoint).
    public private(set) var contentRanges: [Range<Int>] = []

    /// Appends template text, where control tokens are meant.
    mutating func control(_ piece: String) { text += piece }

    /// Appends a message's text, which must never become a control token.
    mutating func content(_ piece: String) {
        let start = text.utf8.count
        text += piece
        let end = text.utf8.count
        if end > start { contentRanges.append(start..<end) }
    }
}

extension ChatTemplate {
    /// The roles this template's family formats; callers refuse any other role rather than
    /// paste it into the prompt (a role is template text, so it could carry control tokens).
    public var roles: Set<String> {
        switch family {
        case .chatML, .llama3, .zephyr, .phi3: ["system", "user", "assistant", "tool"]
        case .gemma: ["system", "user", "assistant", "model"]
        case .llama2, .llama2System, .llama2SystemBOS, .llama2SystemStrip: ["system", "user", "assistant"]
        }
    }

    /// Renders `messages` into prompt text.
    /// - Parameters:
    ///   - addGenerationPrompt: append the opening of an assistant turn, so the model answers.
    ///   - useDefaultSystemMessage: insert `defaultSystemMessage` before a conversation that
    ///     does not start with a system message, as the model's Jinja does. Pass false for
    ///     plain ChatML (what llama.cpp's built-in formatter produces).
    public func render(
        _ messages: [ChatMessage], addGenerationPrompt: Bool, useDefaultSystemMessage: Bool = true
    ) -> String {
        renderMarked(messages, addGenerationPrompt: addGenerationPrompt, useDefaultSystemMessage: useDefaultSystemMessage)
            .text
    }

    /// Renders `messages` as ``render(_:addGenerationPrompt:useDefaultSystemMessage:)`` does,
    /// marking which bytes are message content (the default system message counts as
    /// template text: it comes from the model file, not the client).
    ///
    /// Roles outside ``roles`` are the caller's to refuse first; here they are formatted as given.
    public func renderMarked(
        _ messages: [ChatMessage], addGenerationPrompt: Bool, useDefaultSystemMessage: Bool = true
    ) -> RenderedChat {
        var out = RenderedChat()
        switch family {
        case .chatML:
            if useDefaultSystemMessage, let system = defaultSystemMessage, let first = messages.first,
                first.role != "system"
            {
                out.control("<|im_start|>system\n\(system)<|im_end|>\n")
            }
            for m in messages {
                out.control("<|im_start|>\(m.role)\n")
                out.content(m.content)
                out.control("<|im_end|>\n")
            }
            if addGenerationPrompt { out.control("<|im_start|>assistant\n") }
        case .llama3:
            for m in messages {
                out.control("<|start_header_id|>\(m.role)<|end_header_id|>\n\n")
                out.content(Self.trim(m.content))
                out.control("<|eot_id|>")
            }
            if addGenerationPrompt { out.control("<|start_header_id|>assistant<|end_header_id|>\n\n") }
        case .llama2, .llama2System, .llama2SystemBOS, .llama2SystemStrip:
            renderLlama2(messages, into: &out)
        case .gemma:
            var system = ""
            for m in messages {
                if m.role == "system" {
                    system += Self.trim(m.content)
                    continue
                }
                let role = m.role == "assistant" ? "model" : m.role
                out.control("<start_of_turn>\(role)\n")
                if !system.isEmpty && role != "model" {
                    out.content(system)
                    out.control("\n\n")
                    system = ""
                }
                out.content(Self.trim(m.content))
                out.control("<end_of_turn>\n")
            }
            if addGenerationPrompt { out.control("<start_of_turn>model\n") }
        case .zephyr:
            for m in messages {
                out.control("<|\(m.role)|>\n")
                out.content(m.content)
                out.control("<|endoftext|>\n")
            }
            if addGenerationPrompt { out.control("<|assistant|>\n") }
        case .phi3:
            for m in messages {
                out.control("<|\(m.role)|>\n")
                out.content(m.content)
                out.control("<|end|>\n")
            }
            if addGenerationPrompt { out.control("<|assistant|>\n") }
        }
        return out
    }

    /// llama.cpp's Llama 2 formatter; the generation prompt is implicit after `[/INST]`.
    private func renderLlama2(_ messages: [ChatMessage], into out: inout RenderedChat) {
        let supportsSystem = family != .llama2
        let bosInHistory = family == .llama2SystemBOS
        let strip = family == .llama2SystemStrip
        var insideTurn = true
        out.control("[INST] ")
        for m in messages {
            let content = strip ? Self.trim(m.content) : m.content
            if !insideTurn {
                insideTurn = true
                out.control(bosInHistory ? "<s>[INST] " : "[INST] ")
            }
            switch m.role {
            case "system":
                if supportsSystem {
                    out.control("<<SYS>>\n")
                    out.content(content)
                    out.control("\n<</SYS>>\n\n")
                } else {
                    out.content(content)
                    out.control("\n")
                }
            case "user":
                out.content(content)
                out.control(" [/INST]")
            default:
                out.content(content)
                out.control("</s>")
                insideTurn = false
            }
        }
    }

    /// Strips leading and trailing ASCII whitespace (C `isspace`), as llama.cpp's `trim`.
    private static func trim(_ s: String) -> String {
        func isSpace(_ b: UInt8) -> Bool { b == 0x20 || (0x09...0x0D).contains(b) }
        let utf8 = Array(s.utf8)
        var lo = 0, hi = utf8.count
        while lo < hi && isSpace(utf8[lo]) { lo += 1 }
        while hi > lo && isSpace(utf8[hi - 1]) { hi -= 1 }
        return String(decoding: utf8[lo..<hi], as: UTF8.self)
    }
}
