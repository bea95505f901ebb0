/// One turn of a conversation, as sent by API clients.
public struct ChatMessage: Sendable, Codable, Equatable {
    /// "system", "user", "assistant", or another role the template knows.
    public var role: String
    /// The message text, inserted verbatim (or trimmed where the template family trims).
    public var content: String

    /// Creates a message.
    public init(role: String, content: String) {
        self.role = role
        self.content = content
    }
}
