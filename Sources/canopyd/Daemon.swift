import CanopyDaemon
import CanopyEngine
import CanopyKernels
import CanopyModel
import CanopyRPC
import CanopyWire
import Foundation
import Logging

/// One run of the daemon, in the order systemd expects: lock the socket, load the model,
/// start serving, report READY=1; on SIGTERM report STOPPING=1, refuse new requests, let
/// running ones finish within the grace period, then remove the socket and exit 0.
struct Daemon {
    let settings: DaemonConfig
    let logger: Logger

    func run() async throws {
        guard let modelPath = settings.modelPath else {
            throw DaemonFailure(message: "no model: pass --model PATH or set 'model = PATH' in the config file")
        }
        do {
            _ = try InstructionSet.environmentCap()
        } catch {
            throw DaemonFailure(message: "\(error)")
        }
        let parallel = try ParallelLaunch.join(settings: settings, logger: logger)
        // Before the model loads: every kernel forks onto this pool.
        WorkerPool.configure(threads: parallel?.threads(configured: settings.threads) ?? settings.threads)
        if let parallel, parallel.group.rank > 0 {
            // Not the serving rank: no socket, no lock; its shard and rank 0's steps only.
            return parallel.runWorker(modelPath: modelPath, logger: logger)
        }
        let activation: SocketActivation?
        let socketPath: String
        let lock: InstanceLock
        do {
            activation = try SocketActivation.takeFromProcess()
            socketPath = try SocketPathResolver().resolve(explicit: settings.socketPath)
            try SocketPathResolver.prepareParentDirectory(of: socketPath)
            // The transport would silently replace another instance's socket: the lock
            // decides who owns it.
            lock = try InstanceLock(socketPath: socketPath)
            if activation == nil { _ = try SocketFile.removeStale(at: socketPath) }
        } catch {
            throw DaemonFailure(message: "\(error)")
        }
        defer { lock.release() }

        let policy = settings.accessPolicy
        logger.info("access: \(policy)")
        logger.info("kernels: \(WorkerPool.shared.threadCount) threads, \(InstructionSet.summary)")
        let notifier = SystemdNotifier()
        let pinger = try? WatchdogPinger.fromEnvironment()
        pinger?.start()
        defer { pinger?.stop() }

        // The KV swap file (--kv-swap-space) goes to systemd's StateDirectory= when set (on
        // disk, where swapping saves memory), else next to the socket.
        var engineConfig = settings.engineConfig
        engineConfig.kvSwapDirectory = StateDirectory.resolve(socketPath: socketPath)
        let loaded: LoadedModel
        do {
            loaded = try ModelLoadProgress(path: modelPath).run { () throws(ModelLoadError) in
                try LoadedModel(
                    path: modelPath, expertCacheBytes: settings.engineConfig.expertCacheBytes,
                    weightMemoryBytes: settings.engineConfig.weightMemoryBytes, exchange: parallel?.exchange)
            }
        } catch {
            throw DaemonFailure(message: "\(error)")
        }
        let draft = try settings.draftModelPath.map(Self.loadDraft)
        let engine: Engine
        do {
            // Refuses a draft whose vocabulary is not the model's, with a message saying so.
            engine = try Engine(loaded: loaded, draft: draft, config: engineConfig)
        } catch {
            throw DaemonFailure(message: "\(error)")
        }
        if let parallel {
            parallel.start(engine: engine, config: engineConfig)
            logger.info("parallel: rank 0: \(ParallelLaunch.part(of: loaded)), \(loaded.residentWeightBytes) weight bytes resident")
        }
        defer { parallel?.stop(logger: logger) }
        if loaded.interleavedWeightBytes > 0 {
            logger.info("weights: Q4_1 and Q8_0 matrices also held interleaved for the kernels (\(loaded.interleavedWeightBytes) bytes more; none under --weight-memory)")
        }
        if let residency = loaded.weightResidency {
            logger.info("\(residency.placement)")
        } else if let budget = settings.engineConfig.weightMemoryBytes {
            logger.info("weights: the whole model file (\(loaded.file.fileSize) bytes) fits the \(budget)-byte weight memory; nothing streamed")
        }
        if engineConfig.kvSwapSpace > 0 {
            let kv = engine.metrics().kv
            logger.info("KV swap: \(kv.swapSlots) blocks (\(kv.swapSlots * kv.swapSlotBytes) bytes) in an unlinked file in \(engineConfig.kvSwapDirectory ?? "?")")
        }
        logger.info("speculative decoding: \(Self.speculation(engineConfig, draft: draft))")
        logger.info("sampling defaults: \(CanopyV1.SamplingDefaults(engine.samplingDefaults))")
        for ignored in engine.samplingDefaults.ignored {
            logger.warning("model file's sampling setting not used: \(ignored)")
        }
        logger.info("model ready", metadata: [
            "architecture": "\(loaded.config.architecture)", "tokenizer": "\(loaded.tokenizer.summary)",
            "context": "\(loaded.config.contextLength)",
            "kv_blocks": "\(engine.metrics().kv.totalBlocks)",
        ])

        let server: CanopyServer
        let peerFilter = Self.peerFilter(policy)
        if let listener = activation?.listeners.first {
            server = CanopyServer(
                engine: engine, listeningSocketDescriptor: listener.descriptor, logger: logger, peerFilter: peerFilter)
        } else {
            server = CanopyServer(engine: engine, socketPath: socketPath, logger: logger, peerFilter: peerFilter)
        }
        let serving = Task { try await server.run() }

        var socketFile: SocketFile?
        if activation == nil {
            do {
                _ = try await server.listeningAddress
                socketFile = try SocketFile.adopt(path: socketPath)
            } catch {
                serving.cancel()
                throw DaemonFailure(message: "cannot serve on \(socketPath): \(error)")
            }
        }
        defer { _ = socketFile?.remove() }
        let http = try await HTTPFront.start(settings: settings, service: server.service, logger: logger)
        defer { http.stop() }

        let grace = GracefulShutdown(gracePeriod: settings.gracePeriod)
        let signals = SignalHandling(
            logger: logger,
            onDrain: { signal in
                logger.notice("\(SignalHandling.name(of: signal)): draining (no new requests)")
                _ = try? notifier.stopping(status: "draining")
                Thread.detachNewThread {
                    let outcome = grace.run(
                        // The listener stays open while the engine drains, so late clients
                        // hear why they are refused; it closes once the work is done.
                        drain: { server.beginDraining(); engine.shutdown(drain: true); server.beginShutdown() },
                        force: { engine.shutdown(drain: false) })
                    logger.info("shutdown: \(outcome)")
                }
            },
            onForce: { signal in
                logger.warning("\(SignalHandling.name(of: signal)) again: cancelling running requests")
                engine.shutdown(drain: false)
                server.beginShutdown()
            })
        signals.install()
        let fileWatch = Self.watchModelFiles(loaded, path: modelPath, draft: draft, server: server, logger: logger)
        defer { fileWatch.cancel() }
        _ = try? notifier.ready(status: "serving \(URL(fileURLWithPath: modelPath).lastPathComponent)")
        logger.info("ready", metadata: ["socket": "\(activation == nil ? socketPath : "inherited fd")"])

        do {
            try await serving.value
        } catch {
            throw DaemonFailure(message: "server failed: \(error)")
        }
        signals.uninstall()
        logger.info("stopped")
    }

    /// Loads the draft model at `path` (`--draft-model`) with progress lines. It is loaded
    /// without the served model's `--expert-cache` and `--weight-memory` budgets: those size
    /// the served model, and a draft is small by design (streaming its weights every pass
    /// would cost more than its proposals save).
    static func loadDraft(_ path: String) throws(DaemonFailure) -> LoadedModel {
        do {
            return try ModelLoadProgress(path: path, role: "draft model").run { () throws(ModelLoadError) in
                try LoadedModel(path: path)
            }
        } catch {
            throw DaemonFailure(message: "cannot load the draft model \(path): \(error)")
        }
    }

    /// The speculative decoding settings in a line for the log, naming the draft model's
    /// file when there is one.
    static func speculation(_ config: EngineConfig, draft: LoadedModel?) -> String {
        let draftName = draft.map { URL(fileURLWithPath: $0.file.path).lastPathComponent }
        if config.speculativeStepTokens == 0 {
            return "off (spec-step-tokens = 0)" + (draftName.map { "; the draft model \($0) is loaded but unused" } ?? "")
        }
        if config.speculative == .off {
            return "off unless a request asks (speculative_tokens)" + (draftName.map { "; then the draft model \($0) proposes" } ?? "")
        }
        let proposer = config.speculative == .draft ? draftName.map { " (draft model \($0))" } ?? "" : ""
        return "\(config.speculative.rawValue)\(proposer), up to \(config.speculativeTokens) tokens per sequence, steps of up to \(config.speculativeStepTokens) decode tokens"
    }

    /// Checks the model file, and the draft model's, once a second. The weights were read
    /// into memory, so a file truncated or rewritten underneath cannot crash the daemon or
    /// corrupt its answers; but a restart would load something else (or fail), and routed
    /// experts behind an expert cache are still read from the file. So on the first change of
    /// the model file the daemon stops taking requests (Health NOT_SERVING with the reason,
    /// running requests finish) and says so. A changed draft only warns: the model verifies
    /// every proposal, so answers stay right, and only the next start is at risk.
    static func watchModelFiles(
        _ loaded: LoadedModel, path: String, draft: LoadedModel?, server: CanopyServer, logger: Logger
    ) -> Task<Void, Never> {
        Task.detached {
            var draftWarned = draft == nil
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(1))
                if !draftWarned, let draft, let change = draft.fileChange() {
                    logger.warning("the draft model file \(draft.file.path) changed since it was loaded (\(change)): serving goes on with the loaded draft; check it before restarting canopyd")
                    draftWarned = true
                }
                guard let change = loaded.fileChange() else { continue }
                let reason = "the model file \(path) changed since it was loaded (\(change))"
                logger.error("\(reason): taking no new requests (Health NOT_SERVING); running ones finish; restart canopyd")
                server.fail(reason)
                return
            }
        }
    }

    /// The RPC layer's per-peer check for `policy`; nil (no per-RPC work) when it allows
    /// everyone.
    static func peerFilter(_ policy: AccessPolicy) -> PeerFilter? {
        if policy.allowsEveryone { return nil }
        return { pid, uid, gid in policy.refusal(for: PeerCredentials(pid: pid, uid: uid, gid: gid)) }
    }
}
