import Testing
@testable import CanopyDaemon

/// The HTTP API's settings: off unless asked for, a bare port means loopback, and a bad
/// address is refused with what a good one looks like.
@Suite struct HTTPConfigTests {
    @Test func addressForms() {
        #expect(HTTPListenAddress("8080") == HTTPListenAddress("127.0.0.1:8080"))
        #expect(HTTPListenAddress("8080")?.host == "127.0.0.1")
        #expect(HTTPListenAddress("0.0.0.0:80")?.description == "0.0.0.0:80")
        let v6 = HTTPListenAddress("[::1]:9000")
        #expect(v6?.host == "::1" && v6?.port == 9000 && v6?.description == "[::1]:9000")
        #expect(HTTPListenAddress("localhost:0")?.port == 0)
        for bad in ["", ":80", "host:", "host:99999", "::1:80", "[::1]80", "8080x", "-1", "70000"] {
            #expect(HTTPListenAddress(bad) == nil, "\(bad)")
        }
    }

    @Test func offByDefaultAndSetByFlagsOrFile() throws {
        let plain = try DaemonConfig.load(configFile: nil, flags: [(key: "model", value: "/m.gguf")])
        #expect(plain.httpAddress == nil && plain.httpSocketPath == nil && plain.httpTokenFile == nil)
        let on = try DaemonConfig.load(configFile: nil, flags: [
            (key: "model", value: "/m.gguf"), (key: "http", value: "8000"), (key: "http-socket", value: "/run/c/http.sock"),
            (key: "http-token-file", value: "/etc/canopy/token"),
        ])
        #expect(on.httpAddress == HTTPListenAddress("127.0.0.1:8000"))
        #expect(on.httpSocketPath == "/run/c/http.sock" && on.httpTokenFile == "/etc/canopy/token")
        #expect(throws: DaemonConfigError.self) {
            try DaemonConfig.load(configFile: nil, flags: [(key: "model", value: "/m.gguf"), (key: "http", value: "nowhere")])
        }
        #expect(throws: DaemonConfigError.self) {
            try DaemonConfig.load(configFile: nil, flags: [(key: "model", value: "/m.gguf"), (key: "http-socket", value: "rel.sock")])
        }
    }
}
