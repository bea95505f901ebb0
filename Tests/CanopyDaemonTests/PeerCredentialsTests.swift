import Foundation
import Testing
@testable import CanopyDaemon

@Suite struct PeerCredentialsTests {
    @Test func socketpairPeerIsThisProcess() throws {
        var pair: [Int32] = [0, 0]
        #expect(socketpair(AF_UNIX, streamType, 0, &pair) == 0)
        defer { close(pair[0]); close(pair[1]) }
        let peer = try PeerCredentials(socket: pair[0])
        #expect(peer == PeerCredentials(pid: getpid(), uid: geteuid(), gid: getegid()))
        #expect(peer.description == "pid=\(getpid()) uid=\(geteuid()) gid=\(getegid())")
    }

    @Test func acceptedConnectionOnABoundSocket() throws {
        let directory = TemporaryDirectory()
        let path = directory.file("s.sock")
        let server = bindUnixSocket(path: path, type: streamType)
        defer { close(server) }
        #expect(listen(server, 1) == 0)
        let client = socket(AF_UNIX, streamType, 0)
        defer { close(client) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8)) }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(client, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        #expect(connected == 0)
        let accepted = accept(server, nil, nil)
        #expect(accepted >= 0)
        defer { close(accepted) }
        #expect(try PeerCredentials(socket: accepted).pid == getpid())
    }

    @Test func nonSocketIsAnError() {
        #expect(throws: DaemonError.self) { try PeerCredentials(socket: -1) }
    }
}

@Suite struct AccessPolicyTests {
    let alice = PeerCredentials(pid: 10, uid: 1000, gid: 1000)
    let bob = PeerCredentials(pid: 11, uid: 1001, gid: 500)
    let root = PeerCredentials(pid: 12, uid: 0, gid: 0)
    let service = PeerCredentials(pid: 13, uid: 999, gid: 999)

    @Test func emptyListsAllowEveryone() {
        let policy = AccessPolicy(serviceUID: 999)
        #expect(policy.allowsEveryone)
        #expect(policy.permits(alice) && policy.permits(bob))
    }

    @Test func uidListAllowsOnlyListedUsersPlusRootAndService() {
        let policy = AccessPolicy(allowedUIDs: [1000], serviceUID: 999)
        #expect(policy.permits(alice))
        #expect(!policy.permits(bob))
        #expect(policy.permits(root))
        #expect(policy.permits(service))
        #expect(policy.denialReason(for: bob).contains("uid 1001"))
    }

    @Test func gidListMatchesThePrimaryGroup() {
        let policy = AccessPolicy(allowedGIDs: [500], serviceUID: 999)
        #expect(policy.permits(bob))
        #expect(!policy.permits(alice))
    }

    @Test func refusalIsNilExactlyWhenPermitted() {
        let policy = AccessPolicy(allowedUIDs: [1000], allowedGIDs: [500], serviceUID: 999)
        let eve = PeerCredentials(pid: 14, uid: 1002, gid: 1002)
        for peer in [alice, bob, root, service, eve] {
            #expect((policy.refusal(for: peer) == nil) == policy.permits(peer))
        }
        #expect(policy.refusal(for: eve) == policy.denialReason(for: eve))
        #expect(policy.refusal(for: eve)?.contains("uid 1002 (gid 1002)") == true)
        #expect(AccessPolicy(serviceUID: 999).refusal(for: eve) == nil)
    }

    @Test func descriptionNamesTheListsAndTheAlwaysAllowedUsers() {
        #expect(AccessPolicy(serviceUID: 999).description.contains("no allow-list"))
        let policy = AccessPolicy(allowedUIDs: [1001, 1000], serviceUID: 999)
        #expect(policy.description.contains("allowed-uids 1000,1001; allowed-gids none"))
        #expect(policy.description.contains("root and uid 999 always allowed"))
        #expect(AccessPolicy(allowedGIDs: [5], serviceUID: 0).description.contains("allowed-gids 5 (primary gid only); root always"))
    }

    @Test func configBuildsThePolicy() throws {
        let config = try DaemonConfig.load(configFile: nil, flags: [("model", "/m"), ("allowed-uids", "1000"), ("allowed-gids", "500")])
        #expect(config.accessPolicy.allowedUIDs == [1000])
        #expect(config.accessPolicy.allowedGIDs == [500])
        #expect(!config.accessPolicy.permits(PeerCredentials(pid: 1, uid: 4242, gid: 4242)) || geteuid() == 4242)
    }
}
