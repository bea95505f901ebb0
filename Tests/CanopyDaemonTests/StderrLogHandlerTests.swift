import Logging
import Testing
@testable import CanopyDaemon

@Suite struct StderrLogHandlerTests {
    @Test func journaldLinesCarryTheSyslogPriorityAndNoTimestamp() {
        var handler = StderrLogHandler(label: "canopyd", level: .info, journald: true)
        handler[metadataKey: "peer"] = "pid=1"
        let line = handler.format(level: .warning, message: "two\nlines", metadata: ["b": "2", "a": "1"])
        #expect(line == "<4>canopyd: two\\nlines a=1 b=2 peer=pid=1")
        #expect(handler.format(level: .info, message: "hi", metadata: nil) == "<6>canopyd: hi peer=pid=1")
    }

    @Test func terminalLinesStartWithATimestampAndLevel() {
        let handler = StderrLogHandler(label: "canopyd", journald: false)
        let line = handler.format(level: .error, message: "boom", metadata: nil)
        #expect(line.hasSuffix(" error canopyd: boom"))
        #expect(line.first?.isNumber == true)
    }

    @Test func prioritiesFollowSyslog() {
        let expected: [(Logger.Level, Int)] = [
            (.trace, 7), (.debug, 7), (.info, 6), (.notice, 5), (.warning, 4), (.error, 3), (.critical, 2),
        ]
        for (level, priority) in expected { #expect(StderrLogHandler.syslogPriority(level) == priority) }
    }
}
