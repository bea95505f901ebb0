import CanopyEngine

/// Benchmark prompts made of token ids from a fixed English text, so every prompt is
/// ordinary text to the model and has exactly the requested length.
enum BenchPrompts {
    /// The source text; its ids are the pool prompts are drawn from.
    static let corpus = """
        A forest canopy is the upper layer of a woodland, formed by the crowns of the tallest \
        trees. It shades the ground below, holds most of the leaves that turn sunlight into \
        sugar, and shelters birds, insects, mosses and climbing plants that rarely touch the \
        soil. Researchers reach it with ropes, towers and cranes, and count the animals that \
        live there by season. In tropical forests the canopy can stand fifty metres high and \
        hold more species than any other layer; in cold northern forests it is lower and more \
        open, letting light reach shrubs and young trees. Storms, fires and old age open gaps \
        in it, and seedlings race upward to fill them, so the canopy is always being rebuilt. \
        Measuring how much light passes through it tells foresters how quickly a stand will \
        grow, how much water it will use, and how much carbon it stores each year.
        """

    /// `count` prompts of `length` ids each. Random prompts draw every id independently and
    /// uniformly from `pool` with a generator seeded by `seed`; fixed prompts repeat `pool`
    /// from its start, all identical.
    static func make(count: Int, length: Int, from pool: [Int32], random: Bool, seed: UInt64) -> [[Int32]] {
        precondition(!pool.isEmpty, "the prompt pool is empty")
        guard random else {
            let fixed = (0..<length).map { pool[$0 % pool.count] }
            return Array(repeating: fixed, count: count)
        }
        var generator = RandomStream(seed: seed)
        return (0..<count).map { _ in
            (0..<length).map { _ in pool[Int(generator.next() % UInt64(pool.count))] }
        }
    }
}
