/// The lossless rule of speculative sampling (Leviathan et al. 2023, Chen et al. 2023) for
/// one proposed token: a draft model proposed `x` by sampling its distribution `q`; the
/// target's distribution at that position is `p`. Keep `x` with probability
/// `min(1, p(x) / q(x))`; otherwise draw from the residual `normalize(max(0, p − q))`. The
/// token that results is distributed exactly as `p`, whatever `q` is: P(keep x) = min(q, p)
/// summed with the residual's share gives `p` for every token.
///
/// Point-mass proposals (n-gram lookup, greedy drafts) need none of this: drawing from `p`
/// and comparing is the same rule (`EngineCore.verify`).
enum DraftVerdict {
    /// The token position `x` ends up with, and whether it is the proposal. `u` and `v` are
    /// independent uniform draws in [0, 1): `u` for the acceptance test, `v` for the residual
    /// draw. `p` and `q` hold one probability per vocabulary entry. A rejected proposal is
    /// never the result (its residual is 0); if rounding leaves no residual mass the token
    /// is drawn from `p` by `v`. O(vocabulary) on rejection, O(1) on acceptance.
    static func judge(
        proposal x: Int32, target p: UnsafeBufferPointer<Float>, draft q: UnsafeBufferPointer<Float>, u: Float, v: Float
    ) -> (token: Int32, accepted: Bool) {
        let i = Int(x)
        // u < p/q without dividing (q(x) > 0: x was drawn from q; a q of 0 keeps x if p has it).
        if p[i] >= q[i] || u * q[i] < p[i] { return (x, true) }
        var residual: Float = 0
        for j in 0..<p.count where p[j] > q[j] { residual += p[j] - q[j] }
        if residual > 0 {
            var target = v * residual
            var last = -1
            for j in 0..<p.count where p[j] > q[j] {
                target -= p[j] - q[j]
                last = j
                if target < 0 { return (Int32(j), false) }
            }
            return (Int32(last), false)
        }
        // p ≤ q everywhere yet p(x) < q(x): only rounding makes this reachable.
        var target = v
        var last = 0
        for j in 0..<p.count where p[j] > 0 && j != i {
            target -= p[j]
            last = j
            if target < 0 { break }
        }
        return (Int32(last), false)
    }
}
