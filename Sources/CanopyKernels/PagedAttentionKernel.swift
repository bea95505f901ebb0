import CCanopyKernels

/// The FlashAttention loop of one work item, and the merge of a query's partitions.
///
/// A work item streams its key partition chunk by chunk (a chunk is a few whole blocks),
/// reading each chunk's K and V head rows in place (f32 and f16, which the C loops widen as
/// they load) or decoding them (q8) once for the whole query tile, and
/// keeps per query vector only a running maximum, a running sum and an unnormalised
/// accumulator (in the query's partial slot). Scratch is a function of the tile and chunk
/// sizes only, never of the sequence length.
///
/// Every query vector goes through the same operations for the same keys whether it
/// shares the tile or not: the chunks it sees are fixed by its position, its keys within a
/// chunk are exactly those at or before its position (no masked lanes), and all arithmetic
/// goes through `VectorMath`.
struct PagedAttentionKernel {
    let arena: UnsafeRawPointer
    let layout: PagedKVLayout
    let layer: Int
    let headCount: Int
    let group: Int
    let queries: UnsafePointer<Float>
    let partials: UnsafeMutablePointer<Float>
    let chunkSize: Int
    let slotFloats: Int
    /// Query vectors in the largest tile.
    let maxVectors: Int
    let scale: Float
    /// Keys a query sees, itself included (sliding-window layers); nil: all before it.
    let window: Int?

    /// Distance between score rows: the chunk rounded up to whole `SIMD8` groups, so the
    /// vector exponential may run past a row's last key without touching the next row.
    var scorePitch: Int { (chunkSize + 7) / 8 * 8 }

    /// Floats of scratch one work item needs.
    var scratchFloats: Int {
        let hd = layout.headDimension
        let decoded = layout.precision == .q8 ? 2 * chunkSize * hd : 0
        // The last float receives the cache-touch sum (see `gather`).
        return maxVectors * (hd + scorePitch + 2) + decoded + 1
    }

    /// Runs one work item, leaving each participating query's accumulator, maximum and sum
    /// for this partition in its partial slots. `partialOffsets[i]` is the slot offset of
    /// the sequence's query `i`; `scratch` has `scratchFloats` floats, `rowPointers`
    /// `2 × chunkSize` entries.
    func run(
        _ item: PagedAttentionPlan.Item, sequence: AttentionSequence, partialOffsets: UnsafePointer<Int>,
        scratch: UnsafeMutablePointer<Float>, rowPointers: UnsafeMutablePointer<UnsafeRawPointer>
    ) {
        let hd = layout.headDimension
        let firstPosition = sequence.firstPosition
        let keyStart = item.partition * item.partitionSize
        let keyEnd = Swift.min(keyStart + item.partitionSize, firstPosition + item.rowHi)
        // Rows whose position precedes this partition do not take part at all.
        let rowLo = Swift.max(item.rowLo, keyStart - firstPosition)
        let vectors = (item.rowHi - rowLo) * group
        precondition(vectors > 0 && vectors <= maxVectors && keyEnd > keyStart, "empty attention work item")

        let pitch = scorePitch
        let qt = scratch
        let scores = qt + maxVectors * hd
        let runMax = scores + maxVectors * pitch
        let runSum = runMax + maxVectors
        let keyBuffer = runSum + maxVectors
        let valueBuffer = keyBuffer + chunkSize * hd
        let sink = scratch + scratchFloats - 1
        let keyRows = rowPointers
        let valueRows = UnsafePointer(rowPointers + chunkSize)
        scores.initialize(repeating: 0, count: vectors * pitch)

        let slotBase = item.partition * headCount + item.kvHead * group
        for row in rowLo..<item.rowHi {
            // The group's heads are adjacent in the query row, so one copy covers them.
            let source = queries + ((sequence.queryStart + row) * headCount + item.kvHead * group) * hd
            let target = qt + (row - rowLo) * group * hd
            for i in 0..<(group * hd) { target[i] = source[i] * scale }
            let slots = partials + partialOffsets[row] + slotBase * slotFloats
            for e in 0..<group { (slots + e * slotFloats).initialize(repeating: 0, count: hd) }
        }
        runMax.initialize(repeating: -.infinity, count: vectors)
        runSum.initialize(repeating: 0, count: vectors)

        var touched: UInt8 = 0
        var chunkStart = keyStart
        while chunkStart < keyEnd {
            let keys = Swift.min(chunkSize, keyEnd - chunkStart)
            touched &+= gather(sequence.blockTable, from: chunkStart, count: keys, kvHead: item.kvHead,
                               keyRows: keyRows, valueRows: rowPointers + chunkSize,
                               keyBuffer: keyBuffer, valueBuffer: valueBuffer)
            for row in Swift.max(rowLo, chunkStart - firstPosition)..<item.rowHi {
                let count = Swift.min(keys, firstPosition + row + 1 - chunkStart)
                // Keys before the row's window are skipped; a row may see none of this chunk.
                let skip = window.map { Swift.max(0, firstPosition + row - $0 + 1 - chunkStart) } ?? 0
                guard skip < count else { continue }
                let slots = partials + partialOffsets[row] + slotBase * slotFloats
                let v = (row - rowLo) * group
                update(query: qt + v * hd, scores: scores + v * pitch,
                       runMax: runMax + v, runSum: runSum + v, accumulator: slots,
                       keyRows: UnsafePointer(keyRows + skip), valueRows: valueRows + skip, count: count - skip)
            }
            chunkStart += keys
        }

        sink.pointee = Float(touched)
        for row in rowLo..<item.rowHi {
            let slots = partials + partialOffsets[row] + slotBase * slotFloats
            for e in 0..<group {
                let v = (row - rowLo) * group + e
                slots[e * slotFloats + hd] = runMax[v]
                slots[e * slotFloats + hd + 1] = runSum[v]
            }
        }
    }

    /// One online-softmax step of the `group` query vectors of one KV head over `count` keys of
    /// a chunk: vector e's query at `query + e · hd`, scores at `scores + e · scorePitch`, running
    /// maximum and sum at `runMax + e`, `runSum + e`, accumulator at `accumulator + e ·
    /// slotFloats`. The C loops read each key and value row once for the group; every vector
    /// goes through the operations it would alone, so its bits do not depend on the group.
    @inline(__always)
    private func update(
        query: UnsafePointer<Float>, scores: UnsafeMutablePointer<Float>,
        runMax: UnsafeMutablePointer<Float>, runSum: UnsafeMutablePointer<Float>,
        accumulator: UnsafeMutablePointer<Float>,
        keyRows: UnsafePointer<UnsafeRawPointer>, valueRows: UnsafePointer<UnsafeRawPointer>,
        count: Int
    ) {
        let hd = layout.headDimension, pitch = scorePitch
        // The dot products and the value sums run in C (CCanopyKernels) at the CPU's widest
        // vectors; a non-optional pointer array has the layout C's `const void *const *` wants.
        let cKeys = UnsafeRawPointer(keyRows).assumingMemoryBound(to: UnsafeRawPointer?.self)
        let cValues = UnsafeRawPointer(valueRows).assumingMemoryBound(to: UnsafeRawPointer?.self)
        let rowType = layout.precision == .f16 ? CANOPY_KV_ROW_F16 : CANOPY_KV_ROW_F32
        canopy_attention_scores_group(query, Int64(hd), Int64(group), cKeys, rowType, Int64(count), Int64(hd),
                                      scores, Int64(pitch))
        withUnsafeTemporaryAllocation(of: Float.self, capacity: group) { corrections in
            for e in 0..<group {
                corrections[e] = canopy_attention_softmax_step(scores + e * pitch, Int64(count), runMax + e, runSum + e)
            }
            canopy_attention_accumulate_group(accumulator, Int64(slotFloats), corrections.baseAddress!, scores,
                                              Int64(pitch), Int64(group), cValues, rowType, Int64(count), Int64(hd))
        }
    }

    /// Points `keyRows[j]`/`valueRows[j]` at the `kvHead` slices of positions
    /// `start ..< start + count`: into the arena for f32 and f16, into decoded copies for q8.
    ///
    /// The rows' cache lines are first touched in one quick pass: those loads are
    /// independent, so many misses are in flight at once, where decoding (or dotting) row
    /// after row would wait on each miss in turn. Returns the touched bytes' sum, which the
    /// caller stores so that the touches are not optimised away.
    @inline(__always)
    private func gather(
        _ table: UnsafePointer<Int32>, from start: Int, count: Int, kvHead: Int,
        keyRows: UnsafeMutablePointer<UnsafeRawPointer>, valueRows: UnsafeMutablePointer<UnsafeRawPointer>,
        keyBuffer: UnsafeMutablePointer<Float>, valueBuffer: UnsafeMutablePointer<Float>
    ) -> UInt8 {
        let blockSize = layout.blockSize
        let hd = layout.headDimension
        let rowBytes = layout.rowBytes
        // The byte range of the head's slice within a row (q8 scales are touched apart).
        let sliceStart: Int
        let sliceBytes: Int
        switch layout.precision {
        case .f32: (sliceStart, sliceBytes) = (kvHead * hd * 4, hd * 4)
        case .f16: (sliceStart, sliceBytes) = (kvHead * hd * 2, hd * 2)
        case .q8: (sliceStart, sliceBytes) = (layout.kvHeads * 4 + kvHead * hd, hd)
        }
        // f32 and f16 are read in place, at the head's slice; q8 rows are decoded below, from
        // the row start (the decoder reads the head's scale too).
        let decode = layout.precision == .q8
        let pointed = decode ? 0 : sliceStart
        var touched: UInt8 = 0
        var position = start
        var j = 0
        while j < count {
            let logical = position / blockSize
            let offset = position - logical * blockSize
            let block = Int(table[logical])
            precondition(block >= 0, "negative block id \(block) in a block table")
            let run = Swift.min(blockSize - offset, count - j)
            var keyRow = arena + layout.keyRowOffset(block: block, layer: layer, position: offset)
            var valueRow = arena + layout.valueRowOffset(block: block, layer: layer, position: offset)
            for _ in 0..<run {
                keyRows[j] = keyRow + pointed
                valueRows[j] = valueRow + pointed
                var byte = sliceStart
                while byte < sliceStart + sliceBytes {
                    touched &+= keyRow.load(fromByteOffset: byte, as: UInt8.self)
                    touched &+= valueRow.load(fromByteOffset: byte, as: UInt8.self)
                    byte += 64
                }
                let last = sliceStart + sliceBytes - 1
                touched &+= keyRow.load(fromByteOffset: last, as: UInt8.self)
                touched &+= valueRow.load(fromByteOffset: last, as: UInt8.self)
                if decode {
                    touched &+= keyRow.load(fromByteOffset: kvHead * 4, as: UInt8.self)
                    touched &+= valueRow.load(fromByteOffset: kvHead * 4, as: UInt8.self)
                }
                keyRow += rowBytes
                valueRow += rowBytes
                j += 1
            }
            position += run
        }
        guard decode else { return touched }
        for j in 0..<count {
            KVRowCodec.decodeHead(keyRows[j], head: kvHead, into: keyBuffer + j * hd, layout: layout)
            KVRowCodec.decodeHead(valueRows[j], head: kvHead, into: valueBuffer + j * hd, layout: layout)
            keyRows[j] = UnsafeRawPointer(keyBuffer + j * hd)
            valueRows[j] = UnsafeRawPointer(valueBuffer + j * hd)
        }
        return touched
    }

    /// Combines the partitions of global query `query` into its output rows, for every head:
    /// each partition's accumulator and sum weighted by e^(its max − the overall max), in
    /// partition order, then normalised.
    func merge(
        partialOffset: Int, partitions: Int, output: UnsafeMutablePointer<Float>
    ) {
        let hd = layout.headDimension
        for head in 0..<headCount {
            let out = output + head * hd
            var overallMax = -Float.infinity
            for k in 0..<partitions {
                overallMax = Swift.max(overallMax, partials[partialOffset + (k * headCount + head) * slotFloats + hd])
            }
            out.initialize(repeating: 0, count: hd)
            var denominator: Float = 0
            for k in 0..<partitions {
                let slot = partials + partialOffset + (k * headCount + head) * slotFloats
                let weight = VectorMath.exp(slot[hd] - overallMax)
                denominator += slot[hd + 1] * weight
                for d in 0..<hd { out[d] += slot[d] * weight }
            }
            let inverse = 1 / denominator
            for d in 0..<hd { out[d] *= inverse }
        }
    }
}
