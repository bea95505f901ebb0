extension ForwardBatch {
    /// The batch cut into at most `count` micro-batches of whole sequence slices, in order,
    /// each with about as many tokens as the others, and where its logit rows start in the
    /// whole batch's logits. Pipeline stages run them one after another, so that stage s+1
    /// works on micro-batch i while stage s works on micro-batch i+1.
    ///
    /// Sequences are independent (batch invariance), so each micro-batch computes the same
    /// bits for its sequences as the whole batch would, with one exception the cut avoids: a
    /// pass writes every slice's K/V rows before any slice attends, so a slice may read a
    /// block another slice of the same batch fills (a prompt reusing a prefix block another
    /// prompt is filling in this step). A cut never puts such a reader before its writer.
    /// Fewer slices than `count`: one micro-batch per slice. O(tokens + blocks).
    func microBatches(_ count: Int, blockSize: Int) -> [(batch: ForwardBatch, logitStart: Int)] {
        let parts = min(count, sequences.count)
        guard parts > 1 else { return [(self, 0)] }
        // A cut after slice i may go there unless a slice up to i reads a block that a slice
        // after i writes: so track, over the slices so far, the furthest slice that writes a
        // block one of them reads.
        var lastWriter: [Int32: Int] = [:]
        for (index, slice) in sequences.enumerated() {
            for slot in slots[slice.tokenStart..<(slice.tokenStart + slice.tokenCount)] { lastWriter[slot.block] = index }
        }
        var cuttable: [Bool] = []
        cuttable.reserveCapacity(sequences.count)
        var furthestWriter = 0
        for (index, slice) in sequences.enumerated() {
            for block in blockTables[slice.blockTableRange] {
                furthestWriter = max(furthestWriter, lastWriter[block] ?? 0)
            }
            cuttable.append(furthestWriter <= index)
        }
        var result: [(batch: ForwardBatch, logitStart: Int)] = []
        var current = ForwardBatch()
        var logitStart = 0, logitRows = 0
        for (index, slice) in sequences.enumerated() {
            current.append(
                tokens: tokens[slice.tokenStart..<(slice.tokenStart + slice.tokenCount)],
                firstPosition: slice.firstPosition, blockTable: blockTables[slice.blockTableRange],
                blockSize: blockSize, logitRows: slice.logitRows)
            logitRows += slice.logitRows
            // Close the micro-batch once it holds its share of the tokens, leaving at least one
            // slice for each micro-batch still to come.
            let due = (result.count + 1) * self.count / parts
            let left = sequences.count - index - 1
            if result.count < parts - 1, cuttable[index],
               slice.tokenStart + slice.tokenCount >= due || left == parts - 1 - result.count {
                result.append((current, logitStart))
                current = ForwardBatch()
                logitStart += logitRows
                logitRows = 0
            }
        }
        if !current.sequences.isEmpty { result.append((current, logitStart)) }
        return result
    }
}
