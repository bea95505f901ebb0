import Foundation

/// Which peers may use the daemon, by uid and primary gid.
///
/// - Both lists empty: everyone who can open the socket is allowed; the socket's mode 0660
///   and group are then the only gate.
/// - Otherwise a peer is allowed when its uid is in `allowedUIDs` or its primary gid is in
///   `allowedGIDs`.
/// - The daemon's own uid and root (uid 0) are always allowed: root can bypass any check by
///   reading the model or attaching to the process anyway, and refusing the service's own
///   user would only break health checks run as it. Supplementary groups are not consulted
///   (`SO_PEERCRED` does not carry them); list users explicitly or make the group primary.
public struct AccessPolicy: Sendable, Equatable, CustomStringConvertible {
    /// Users allowed in addition to root and the daemon's own user.
    public var allowedUIDs: Set<uid_t>
    /// Primary groups allowed.
    public var allowedGIDs: Set<gid_t>
    /// The daemon's own effective uid, always allowed.
    public var serviceUID: uid_t

    /// A policy with the given allow-lists; empty lists allow everyone.
    public init(allowedUIDs: Set<uid_t> = [], allowedGIDs: Set<gid_t> = [], serviceUID: uid_t = geteuid()) {
        self.allowedUIDs = allowedUIDs
        self.allowedGIDs = allowedGIDs
        self.serviceUID = serviceUID
    }

    /// Whether no allow-list is configured.
    public var allowsEveryone: Bool { allowedUIDs.isEmpty && allowedGIDs.isEmpty }

    /// Whether `peer` may issue requests.
    public func permits(_ peer: PeerCredentials) -> Bool {
        if allowsEveryone || peer.uid == 0 || peer.uid == serviceUID { return true }
        return allowedUIDs.contains(peer.uid) || allowedGIDs.contains(peer.gid)
    }

    /// `nil` when `peer` may issue requests, otherwise `denialReason(for:)`: the shape the
    /// RPC layer's peer filter wants.
    public func refusal(for peer: PeerCredentials) -> String? {
        permits(peer) ? nil : denialReason(for: peer)
    }

    /// The policy in one line for the startup log, e.g. `allowed-uids 1000,1001; allowed-gids
    /// none (primary gid only); root and uid 999 always allowed; others get PERMISSION_DENIED`.
    public var description: String {
        if allowsEveryone { return "no allow-list: every peer that can open the socket is served" }
        func list<T: BinaryInteger>(_ ids: Set<T>) -> String {
            ids.isEmpty ? "none" : ids.sorted().map { "\($0)" }.joined(separator: ",")
        }
        let always = serviceUID == 0 ? "root" : "root and uid \(serviceUID)"
        return "allowed-uids \(list(allowedUIDs)); allowed-gids \(list(allowedGIDs)) (primary gid only); "
            + "\(always) always allowed; others get PERMISSION_DENIED"
    }

    /// Why `peer` was refused, for the PERMISSION_DENIED status message and the log.
    public func denialReason(for peer: PeerCredentials) -> String {
        "uid \(peer.uid) (gid \(peer.gid)) is not in canopyd's allowed-uids/allowed-gids; "
            + "ask the administrator to add it to /etc/canopy/canopyd.conf"
    }
}
