import CanopyTokenizer

/// A chat template (the first NUL-separated field, as a model file could carry it) and the
/// messages (role, content pairs) a client sends. Detection and rendering never trap, and
/// message content never becomes a control token: encoding the rendered chat yields exactly
/// the control tokens of the same chat with every content emptied.
enum ChatTemplateFuzzTarget {
    static func run(_ bytes: [UInt8]) {
        let fields = FuzzInput(bytes).fields
        guard let first = fields.first, let template = try? ChatTemplate(template: FuzzInput.text(first)) else { return }
        let roles = template.roles.sorted()
        var messages: [ChatMessage] = []
        var rest = fields.dropFirst()
        while let role = rest.popFirst() {
            // A role outside the template's own is refused by the engine before rendering.
            let name = role.isEmpty ? roles[0] : roles[Int(role.first!) % roles.count]
            messages.append(ChatMessage(role: name, content: FuzzInput.text(rest.popFirst() ?? [])))
        }
        let emptied = messages.map { ChatMessage(role: $0.role, content: "") }
        for useDefault in [true, false] {
            let chat = template.renderMarked(messages, addGenerationPrompt: true, useDefaultSystemMessage: useDefault)
            guard chat.text == template.render(messages, addGenerationPrompt: true, useDefaultSystemMessage: useDefault) else {
                invariantFailed("render and renderMarked disagree")
            }
            guard chat.contentRanges.allSatisfy({ $0.upperBound <= chat.text.utf8.count }) else {
                invariantFailed("a content range lies outside the rendered text")
            }
            let skeleton = template.renderMarked(emptied, addGenerationPrompt: true, useDefaultSystemMessage: useDefault)
            for tokenizer in FuzzResources.tokenizers {
                let controls = controlTokens(tokenizer.encode(chat), tokenizer)
                let expected = controlTokens(tokenizer.encode(skeleton), tokenizer)
                guard controls == expected else {
                    invariantFailed("message content became control tokens: \(controls) vs \(expected) in \(chat.text.debugDescription)")
                }
            }
        }
    }

    private static func controlTokens(_ ids: [TokenID], _ tokenizer: Tokenizer) -> [TokenID] {
        ids.filter { tokenizer.tokenType($0) == .control }
    }
}
