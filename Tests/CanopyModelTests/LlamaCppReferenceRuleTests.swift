import CanopyTestFixtures
import Testing

/// The rule that judges greedy tokens against llama.cpp's references from several machines
/// (`LlamaCppReference`): it accepts what llama.cpp itself does on another machine and
/// rejects a choice that is no near tie.
@Suite("llama.cpp reference rule")
struct LlamaCppReferenceRuleTests {
    @Test("each machine's llama.cpp run passes the rule against the others")
    func machinesAgreeWithinTheRule() throws {
        let reference = try LlamaCppReference.load()
        #expect(reference.machines.count == 2)
        for machine in reference.machines {
            for i in 0..<reference.count {
                let verdict = try reference.judge(machine.records[i].greedy_ids, record: i).get()
                #expect(verdict.identical == machine.records[i].greedy_ids.count, "record \(i) from \(machine.name)")
            }
        }
    }

    @Test("a choice outside llama.cpp's near ties fails, at the longest-followed reference")
    func farDivergenceFails() throws {
        let reference = try LlamaCppReference.load()
        // Record 4: the two machines part after 5 tokens. Following the AVX-512 run for 10
        // tokens and then choosing a token outside its top-5 must fail, although the token at
        // step 5 is a near tie in the AVX2 run.
        var tokens = Array(reference.machines[0].records[4].greedy_ids.prefix(11))
        tokens[10] = 0
        guard case .failure = reference.judge(tokens, record: 4) else {
            Issue.record("accepted a token outside llama.cpp's top-5 at step 10")
            return
        }
        // Following the AVX2 run in full passes, whichever machine it came from.
        let avx2 = reference.machines[1].records[4].greedy_ids
        #expect(try reference.judge(avx2, record: 4).get().machine == reference.machines[1].name)
    }
}
