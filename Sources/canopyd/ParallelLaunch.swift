import CanopyDaemon
import CanopyEngine
import CanopyKernels
import CanopyModel
import CanopyParallel
import Foundation
import Logging

/// canopyd's part in a parallel MPI job (`mpirun -np N×M canopyd --tensor-parallel N
/// --pipeline-parallel M`): every rank loads its part of the model (its shard of its stage's
/// blocks); rank 0 runs the daemon (socket, engine, scheduler, sampling, tokenizer) and sends
/// each step to the others, which run it on their parts until rank 0 stops them.
///
/// A lost rank ends the job: the ranks' waits time out (`--parallel-timeout`), rank 0 fails
/// the requests in flight with UNAVAILABLE and logs which rank it lost, then every process
/// exits non-zero through `MPI_Abort`, so that systemd (or whoever launched `mpirun`)
/// restarts the whole job.
struct ParallelLaunch {
    let group: MPIGroup
    let exchange: MPIExchange

    /// How long rank 0 gives failed requests to reach their clients before ending the job.
    static let failureGrace: Duration = .seconds(2)
    /// The exit status of a job that lost a rank (EX_SOFTWARE).
    static let lostRankStatus: Int32 = 70

    /// Joins the MPI job when `--tensor-parallel` or `--pipeline-parallel` is above 1; nil
    /// otherwise.
    static func join(settings: DaemonConfig, logger: Logger) throws(DaemonFailure) -> ParallelLaunch? {
        let ranks = settings.tensorParallel * settings.pipelineParallel
        guard ranks > 1 else { return nil }
        let group: MPIGroup
        do {
            group = try MPIGroup.join(expectedRanks: ranks, timeout: settings.parallelTimeout)
        } catch {
            throw DaemonFailure(message: "\(error)")
        }
        let rank = group.rank
        let exchange = MPIExchange(group: group, tensorParallel: settings.tensorParallel) { reason in
            logger.critical("rank \(rank): \(reason); ending the job")
            if rank == 0 {
                // The engine fails the pass in progress and every later one (UNAVAILABLE);
                // then the job ends, so that it is restarted whole.
                Thread.detachNewThread {
                    Thread.sleep(forTimeInterval: Double(failureGrace.components.seconds))
                    group.abort(code: lostRankStatus)
                }
            } else {
                group.abort(code: lostRankStatus)
            }
        }
        logger.info("parallel: rank \(rank) of \(group.size) (tensor-parallel rank \(exchange.rank) of \(exchange.ranks), pipeline stage \(exchange.stage) of \(exchange.stages)), \(group.localSize) on this host")
        return ParallelLaunch(group: group, exchange: exchange)
    }

    /// Kernel threads for this rank: the configured count, or this host's cores shared
    /// among the job's ranks on it (oversubscribed cores would stall every exchange).
    func threads(configured: Int) -> Int {
        configured > 0 ? configured : max(1, WorkerPool.physicalCores / group.localSize)
    }

    /// A rank above 0: loads its shard and runs rank 0's steps until told to stop. Returns
    /// after a clean stop; a failure ends the job.
    func runWorker(modelPath: String, logger: Logger) {
        // mpirun forwards the stop signals to every rank; rank 0 drains, then stops this one.
        for number in SignalHandling.shutdownSignals { signal(number, SIG_IGN) }
        let loaded: LoadedModel
        do {
            loaded = try LoadedModel(path: modelPath, exchange: exchange)
        } catch {
            logger.critical("rank \(group.rank): \(error)")
            group.abort(code: 1)
        }
        logger.info("rank \(group.rank): \(Self.part(of: loaded)), \(loaded.residentWeightBytes) weight bytes resident")
        do {
            try ShardWorker(model: loaded.model, exchange: exchange).run()
        } catch {
            logger.critical("rank \(group.rank): \(error)")
            group.abort(code: Self.lostRankStatus)
        }
        logger.info("rank \(group.rank): stopped by rank 0; exchanges: \(exchange.statistics)")
        group.finish()
    }

    /// This rank's part of the model, for the log.
    static func part(of loaded: LoadedModel) -> String {
        [loaded.shard.map { "\($0)" }, loaded.stage.map { "\($0)" }].compactMap { $0 }.joined(separator: "; ")
    }

    /// Rank 0, once its engine exists: tells the other ranks the KV arena's geometry.
    func start(engine: Engine, config: EngineConfig) {
        exchange.send(.start(blocks: engine.metrics().kv.totalBlocks, blockSize: config.blockSize,
                             precision: config.kvPrecision))
    }

    /// Rank 0, after the engine stopped: logs the communication totals, stops the other
    /// ranks and leaves MPI.
    func stop(logger: Logger) {
        logger.info("parallel: rank 0 exchanges: \(exchange.statistics)")
        exchange.send(.stop)
        group.finish()
    }
}
