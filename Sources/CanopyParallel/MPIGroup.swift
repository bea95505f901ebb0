import CMPI
import Foundation

/// Why the MPI job could not be joined or used.
public enum ParallelError: Error, Sendable, CustomStringConvertible {
    /// `MPI_Init_thread` failed or gave too little thread support.
    case initialization(String)
    /// The job has another number of processes than `--tensor-parallel` × `--pipeline-parallel`.
    case wrongSize(ranks: Int, expected: Int)
    /// A message between ranks could not be sent or received in time.
    case lostRank(String)
    /// A message from rank 0 did not decode (a different canopyd build on another rank).
    case malformedMessage(String)

    public var description: String {
        switch self {
        case .initialization(let reason): return "cannot start MPI: \(reason)"
        case .wrongSize(let ranks, let expected):
            return "--tensor-parallel × --pipeline-parallel = \(expected) needs \(expected) processes, but the MPI job has \(ranks): launch with mpirun -np \(expected)"
        case .lostRank(let reason): return "lost a rank of the tensor-parallel group: \(reason)"
        case .malformedMessage(let reason): return "a message between ranks does not decode (\(reason)); run the same canopyd build on every rank"
        }
    }
}

/// This process's place in the MPI job (`mpirun -np N canopyd ...`): MPI is started once,
/// by `join`, and every rank of `MPI_COMM_WORLD` is one rank of the tensor-parallel group.
///
/// MPI calls are made from one thread at a time (the engine thread during passes, the main
/// thread at start and stop), as `MPI_THREAD_SERIALIZED` allows.
public final class MPIGroup: Sendable {
    /// This process's rank in the job.
    public let rank: Int
    /// Processes in the job.
    public let size: Int
    /// Processes of the job on this host (they share its cores).
    public let localSize: Int
    /// How long a rank waits for another's message inside a pass before declaring it lost.
    public let timeout: Duration

    private init(rank: Int, size: Int, localSize: Int, timeout: Duration) {
        self.rank = rank
        self.size = size
        self.localSize = localSize
        self.timeout = timeout
    }

    /// Starts MPI and checks that the job has `expectedRanks` processes.
    public static func join(expectedRanks: Int, timeout: Duration) throws(ParallelError) -> MPIGroup {
        var provided: Int32 = 0
        guard MPI_Init_thread(nil, nil, Int32(canopy_mpi_thread_serialized()), &provided) == canopy_mpi_success() else {
            throw .initialization("MPI_Init_thread failed")
        }
        guard provided >= canopy_mpi_thread_serialized() else {
            throw .initialization("this MPI library gives thread level \(provided), below MPI_THREAD_SERIALIZED")
        }
        var rank: Int32 = 0, size: Int32 = 0, localSize: Int32 = 1
        MPI_Comm_rank(canopy_mpi_comm_world(), &rank)
        MPI_Comm_size(canopy_mpi_comm_world(), &size)
        var local: MPI_Comm?
        if MPI_Comm_split_type(canopy_mpi_comm_world(), canopy_mpi_comm_type_shared(), rank, canopy_mpi_info_null(), &local)
            == canopy_mpi_success() {
            MPI_Comm_size(local, &localSize)
            MPI_Comm_free(&local)
        }
        guard Int(size) == expectedRanks else {
            throw .wrongSize(ranks: Int(size), expected: expectedRanks)
        }
        return MPIGroup(rank: Int(rank), size: Int(size), localSize: Int(localSize), timeout: timeout)
    }

    /// Ends MPI after a clean stop (every rank calls it).
    public func finish() {
        MPI_Finalize()
    }

    /// Ends the whole job at once with `code`: what a rank does when the group cannot go on,
    /// so that no rank is left waiting and `mpirun` exits non-zero.
    public func abort(code: Int32) -> Never {
        MPI_Abort(canopy_mpi_comm_world(), code)
        exit(code)
    }
}
