#!/usr/bin/env bash
# Open MPI's remote launcher (plm_rsh_agent) for "hosts" that are network namespaces of this
# machine: mpirun calls it as `netns-rsh.sh HOST COMMAND...`, as it would call ssh; it runs
# COMMAND in the namespace that holds HOST's address. The tensor-parallel "two hosts" test
# (clients/python/tests/test_tensor_parallel.py) launches rank 1 this way.
set -euo pipefail
host=$1; shift
for ns in $(ip netns list | awk '{print $1}'); do
    if ip netns exec "$ns" ip -o -4 addr show | grep -q " inet $host/"; then
        exec ip netns exec "$ns" /bin/sh -c "$*"
    fi
done
echo "netns-rsh: no network namespace holds address $host" >&2
exit 255
