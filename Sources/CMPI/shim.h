// Open MPI (Debian libopenmpi-dev) for CanopyParallel. MPI's handles and constants are
// macros over Open MPI's internal symbols, which Swift cannot import: these inline
// functions hand them over as values.
#ifndef CANOPY_CMPI_SHIM_H
#define CANOPY_CMPI_SHIM_H
#include <mpi.h>

static inline MPI_Comm canopy_mpi_comm_world(void) { return MPI_COMM_WORLD; }
static inline MPI_Datatype canopy_mpi_float(void) { return MPI_FLOAT; }
static inline MPI_Datatype canopy_mpi_double(void) { return MPI_DOUBLE; }
static inline MPI_Datatype canopy_mpi_int64(void) { return MPI_INT64_T; }
static inline MPI_Request canopy_mpi_request_null(void) { return MPI_REQUEST_NULL; }
static inline MPI_Info canopy_mpi_info_null(void) { return MPI_INFO_NULL; }
static inline MPI_Status *canopy_mpi_status_ignore(void) { return MPI_STATUS_IGNORE; }
static inline int canopy_mpi_thread_multiple(void) { return MPI_THREAD_MULTIPLE; }
static inline int canopy_mpi_thread_serialized(void) { return MPI_THREAD_SERIALIZED; }
static inline int canopy_mpi_comm_type_shared(void) { return MPI_COMM_TYPE_SHARED; }
static inline int canopy_mpi_success(void) { return MPI_SUCCESS; }
#endif
