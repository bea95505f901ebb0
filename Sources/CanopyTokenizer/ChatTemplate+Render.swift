extension ChatTemplate {
    /// Renders `messages` into prompt text.
    /// - Parameters:
    ///   - addGenerationPrompt: append the opening of an assistant turn, so the model answers.
    ///   - useDefaultSystemMessage: insert `defaultSystemMessage` before a conversation that
    ///     does not start with a system message, as the model's Jinja does. Pass false for
    ///     plain ChatML (what llama.cpp's built-in formatter produces).
    public func render(
        _ messages: [ChatMessage], addGenerationPrompt: Bool, useDefaultSystemMessage: Bool = true
    ) -> String {
        var out = ""
        switch family {
        case .chatML:
            if useDefaultSystemMessage, let system = defaultSystemMessage, let first = messages.first,
                first.role != "system"
            {
                out += "<|im_start|>system\n\(system)<|im_end|>\n"
            }
            for m in messages { out += "<|im_start|>\(m.role)\n\(m.content)<|im_end|>\n" }
            if addGenerationPrompt { out += "<|im_start|>assistant\n" }
        case .llama3:
            for m in messages {
                out += "<|start_header_id|>\(m.role)<|end_header_id|>\n\n\(Self.trim(m.content))<|eot_id|>"
            }
            if addGenerationPrompt { out += "<|start_header_id|>assistant<|end_header_id|>\n\n" }
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
                out += "<start_of_turn>\(role)\n"
                if !system.isEmpty && role != "model" {
                    out += system + "\n\n"
                    system = ""
                }
                out += Self.trim(m.content) + "<end_of_turn>\n"
            }
            if addGenerationPrompt { out += "<start_of_turn>model\n" }
        case .zephyr:
            for m in messages { out += "<|\(m.role)|>\n\(m.content)<|endoftext|>\n" }
            if addGenerationPrompt { out += "<|assistant|>\n" }
        case .phi3:
            for m in messages { out += "<|\(m.role)|>\n\(m.content)<|end|>\n" }
            if addGenerationPrompt { out += "<|assistant|>\n" }
        }
        return out
    }

    /// llama.cpp's Llama 2 formatter; the generation prompt is implicit after `[/INST]`.
    private func renderLlama2(_ messages: [ChatMessage], into out: inout String) {
        let supportsSystem = family != .llama2
        let bosInHistory = family == .llama2SystemBOS
        let strip = family == .llama2SystemStrip
        var insideTurn = true
        out += "[INST] "
        for m in messages {
            let content = strip ? Self.trim(m.content) : m.content
            if !insideTurn {
                insideTurn = true
                out += bosInHistory ? "<s>[INST] " : "[INST] "
            }
            switch m.role {
            case "system":
                out += supportsSystem ? "<<SYS>>\n\(content)\n<</SYS>>\n\n" : content + "\n"
            case "user":
                out += content + " [/INST]"
            default:
                out += content + "</s>"
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
