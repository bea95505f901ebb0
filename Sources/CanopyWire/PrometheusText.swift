/// Renders engine statistics in the Prometheus text exposition format (version 0.0.4):
/// one `# HELP` and one `# TYPE` line per metric family, then its sample. Counters end in
/// `_total`; durations are in seconds.
public enum PrometheusText {
    /// The exposition of `stats` (its `prometheusText` field is ignored).
    public static func render(_ stats: CanopyV1.StatsResponse) -> String {
        var out = ""
        func metric(_ name: String, _ type: String, _ help: String, _ value: String) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n\(name) \(value)\n"
        }
        func counter(_ name: String, _ help: String, _ value: UInt64) {
            metric(name, "counter", help, String(value))
        }
        func counter(_ name: String, _ help: String, _ value: Double) {
            metric(name, "counter", help, number(value))
        }
        func gauge(_ name: String, _ help: String, _ value: UInt32) {
            metric(name, "gauge", help, String(value))
        }
        func gauge(_ name: String, _ help: String, _ value: UInt64) {
            metric(name, "gauge", help, String(value))
        }
        func gauge(_ name: String, _ help: String, _ value: Double) {
            metric(name, "gauge", help, number(value))
        }
        gauge("canopy_uptime_seconds", "Seconds since the server started.", stats.uptimeSeconds)
        gauge("canopy_waiting_sequences", "Sequences waiting for admission.", stats.waitingSequences)
        gauge("canopy_running_sequences", "Sequences holding KV cache blocks.", stats.runningSequences)
        counter("canopy_steps_total", "Batched forward passes run.", stats.steps)
        counter("canopy_batched_tokens_total", "Tokens run through the model (prompt chunks and decodes).", stats.batchedTokens)
        counter("canopy_generated_tokens_total", "Tokens generated over all requests.", stats.generatedTokens)
        counter("canopy_requests_completed_total", "Requests that ended normally.", stats.requestsCompleted)
        counter("canopy_requests_cancelled_total", "Requests cancelled by their client.", stats.requestsCancelled)
        counter("canopy_requests_failed_total", "Requests the engine failed mid-flight (out of memory, unreadable model file).", stats.requestsFailed)
        counter("canopy_apar_forks_total", "APAR forks: child branches started.", stats.aparForks)
        let spec = stats.speculation
        counter("canopy_speculative_chunks_total", "Sequence steps that verified speculative proposals.", spec.chunks)
        counter("canopy_speculative_proposed_tokens_total", "Speculative tokens proposed and verified.", spec.proposedTokens)
        counter("canopy_speculative_accepted_tokens_total", "Speculative tokens accepted (equal to the model's choice).", spec.acceptedTokens)
        counter("canopy_speculative_drafting_seconds_total", "Seconds spent finding speculative proposals.", spec.draftingSeconds)
        gauge(
            "canopy_speculative_verification_token_cost",
            "What one more token adds to a decode step, as a share of a one-token step: the cost proposals are weighed against.",
            spec.verificationTokenCost)
        counter("canopy_prompt_tokens_total", "Prompt tokens of finished requests.", stats.promptTokens)
        counter("canopy_cached_prompt_tokens_total", "Prompt tokens of finished requests served from the prefix cache.", stats.cachedPromptTokens)
        counter("canopy_preemptions_total", "Sequences preempted (blocks swapped out, or freed and recomputed later).", stats.preemptions)
        counter("canopy_preemptions_swapped_total", "Preempted sequences swapped out to the KV swap tier.", stats.preemptionsSwapped)
        counter("canopy_preemptions_recomputed_total", "Preempted sequences whose blocks were freed for recomputation.", stats.preemptionsRecomputed)
        gauge("canopy_kv_blocks_capacity", "KV cache blocks in the arena.", stats.kv.totalBlocks)
        gauge("canopy_kv_blocks_used", "KV cache blocks referenced by a live sequence.", stats.kv.usedBlocks)
        gauge("canopy_kv_blocks_free", "KV cache blocks an allocation can take.", stats.kv.freeBlocks)
        gauge("canopy_kv_blocks_cached", "Free KV cache blocks still holding a reusable prefix.", stats.kv.cachedBlocks)
        counter("canopy_kv_prefix_queries_total", "Prompt tokens looked up in the prefix cache.", stats.kv.prefixQueries)
        counter("canopy_kv_prefix_hits_total", "Prompt tokens served from the prefix cache.", stats.kv.prefixHits)
        counter("canopy_kv_evictions_total", "Cached KV blocks evicted.", stats.kv.evictions)
        counter("canopy_kv_copy_on_writes_total", "Shared KV blocks copied before a write.", stats.kv.copyOnWrites)
        gauge("canopy_kv_blocks_used_peak", "The most KV blocks in use at once since start.", stats.kv.peakUsedBlocks)
        gauge("canopy_mean_queue_seconds", "Mean queue time of finished requests.", stats.meanQueueSeconds)
        gauge("canopy_mean_time_to_first_token_seconds", "Mean time to first token of finished requests.", stats.meanTimeToFirstTokenSeconds)
        gauge("canopy_mean_inter_token_latency_seconds", "Mean inter-token latency of finished requests.", stats.meanInterTokenLatencySeconds)
        gauge("canopy_mean_end_to_end_seconds", "Mean end-to-end latency of finished requests.", stats.meanEndToEndSeconds)
        if let parallel = stats.parallel {
            gauge("canopy_parallel_ranks", "Ranks of the parallel job (tensor-parallel ranks × pipeline stages).",
                  parallel.tensorParallel * parallel.pipelineParallel)
            counter("canopy_parallel_passes_total", "Forward passes run by the parallel job.", parallel.passes)
            counter("canopy_parallel_pass_seconds_total", "Rank 0's wall time in forward passes, exchanges included.", parallel.passSeconds)
            counter("canopy_parallel_exchange_seconds_total", "Rank 0's time in exchanges with the other ranks (step messages, partial sums, activations, logits, waiting).", parallel.exchangeSeconds)
            counter("canopy_parallel_sent_bytes_total", "Bytes rank 0 sent to the other ranks.", parallel.bytesSent)
            gauge("canopy_parallel_resident_weight_bytes", "Weight bytes rank 0 holds (its part of the model).", parallel.residentWeightBytes)
        }
        if !stats.expertLoad.isEmpty {
            let name = "canopy_expert_tokens_total"
            out += "# HELP \(name) Tokens routed to each expert (one per token and chosen expert).\n# TYPE \(name) counter\n"
            for layer in stats.expertLoad {
                for (expert, tokens) in layer.tokens.enumerated() {
                    out += "\(name){layer=\"\(layer.layer)\",expert=\"\(expert)\"} \(tokens)\n"
                }
            }
        }
        if let w = stats.weightStreaming {
            gauge("canopy_weight_memory_budget_bytes", "Weight memory budget (--weight-memory).", w.budgetBytes)
            gauge("canopy_weight_resident_bytes", "Bytes of the model file always in memory.", w.residentBytes)
            gauge("canopy_weight_streamed_bytes_per_pass", "Bytes of streamed layers read per forward pass.", w.streamedBytesPerPass)
            gauge("canopy_weight_streamed_layers", "Transformer layers streamed from the model file.", w.streamedLayers)
            counter("canopy_weight_read_bytes_total", "Bytes of streamed layers read from the model file.", w.bytesRead)
            counter("canopy_weight_prefetch_reads_total", "Streamed layers read ahead of use.", w.prefetchReads)
            counter("canopy_weight_prefetch_hits_total", "Streamed layer uses that found the layer already read.", w.prefetchHits)
            counter("canopy_weight_stalls_total", "Streamed layer uses that waited for a read under way.", w.stalls)
            counter("canopy_weight_stall_seconds_total", "Seconds forward passes waited for streamed layers.", w.stallSeconds)
            counter("canopy_weight_demand_reads_total", "Streamed layer uses that read the layer themselves.", w.demandReads)
        }
        if let swap = stats.kvSwap {
            gauge("canopy_kv_swap_slots", "KV blocks the swap file holds (--kv-swap-space).", swap.slots)
            gauge("canopy_kv_swap_slot_bytes", "Bytes of one KV swap slot (one KV block).", swap.slotBytes)
            gauge("canopy_kv_swap_free_slots", "KV swap slots holding nothing.", swap.freeSlots)
            gauge("canopy_kv_swap_cached_blocks", "KV swap slots holding a prefix-cache block evicted from memory.", swap.cachedBlocks)
            gauge("canopy_kv_swapped_sequences", "Sequences swapped out now.", swap.swappedSequences)
            counter("canopy_kv_swap_out_blocks_total", "KV blocks written to the swap tier.", swap.swapOutBlocks)
            counter("canopy_kv_swap_out_bytes_total", "Bytes written to the KV swap tier.", swap.swapOutBytes)
            counter("canopy_kv_swap_in_blocks_total", "KV blocks read back from the swap tier.", swap.swapInBlocks)
            counter("canopy_kv_swap_in_bytes_total", "Bytes read back from the KV swap tier.", swap.swapInBytes)
            counter("canopy_kv_prefix_swap_hits_total", "Cached prefix blocks found in the swap tier and read back.", swap.prefixSwapHits)
            counter("canopy_kv_swap_failures_total", "KV swap writes or reads that failed.", swap.failures)
        }
        if let cache = stats.expertCache {
            gauge("canopy_expert_cache_slots", "Experts the expert cache holds resident at once.", cache.slots)
            gauge("canopy_expert_cache_experts", "Routed experts in the model.", cache.totalExperts)
            counter("canopy_expert_cache_hits_total", "Expert uses served by a resident expert.", cache.hits)
            counter("canopy_expert_cache_misses_total", "Expert uses that read the expert from the model file.", cache.misses)
            gauge("canopy_expert_cache_hit_ratio", "Expert cache hits / (hits + misses).", cache.hitRatio)
            counter("canopy_expert_cache_prefetch_hits_total", "Expert cache hits on experts the prefetcher loaded.", cache.prefetchHits)
            counter("canopy_expert_cache_prefetch_loads_total", "Experts the prefetcher read from the model file.", cache.prefetchLoads)
            counter("canopy_expert_cache_evictions_total", "Resident experts replaced by another.", cache.evictions)
            counter("canopy_expert_cache_read_bytes_total", "Bytes of experts read from the model file.", cache.bytesRead)
        }
        return out
    }

    /// A sample value as Prometheus spells it (`NaN`, `+Inf`, `-Inf` for the specials).
    static func number(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
        return String(value)
    }
}
