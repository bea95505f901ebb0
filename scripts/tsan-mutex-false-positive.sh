#!/usr/bin/env bash
# Shows why Tests/Sanitizers/tsan-suppressions.txt exists: ThreadSanitizer reports a race on a
# counter that four threads increment under Synchronization.Mutex (the total comes out exact),
# and none when the same counter is guarded by NSLock (pthread_mutex, which TSan intercepts).
# Contended Mutex handoffs go through a futex in the kernel, which TSan cannot see.
# Exit status 0 when both behave as described.
set -euo pipefail
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cat >"$work/mutex.swift" <<'SWIFT'
import Foundation
import Synchronization

final class Counter: Sendable { let value = Mutex<Int>(0) }
let counter = Counter()
let threads = (0..<4).map { _ in Thread { for _ in 0..<200_000 { counter.value.withLock { $0 += 1 } } } }
threads.forEach { $0.start() }
while counter.value.withLock({ $0 }) < 800_000 { usleep(1000) }
print("total", counter.value.withLock { $0 })
SWIFT

cat >"$work/nslock.swift" <<'SWIFT'
import Foundation

final class Counter: @unchecked Sendable { let lock = NSLock(); var value = 0 }
let counter = Counter()
let threads = (0..<4).map { _ in
    Thread { for _ in 0..<200_000 { counter.lock.lock(); counter.value += 1; counter.lock.unlock() } }
}
threads.forEach { $0.start() }
while counter.lock.withLock({ counter.value }) < 800_000 { usleep(1000) }
print("total", counter.lock.withLock { counter.value })
SWIFT

status=0
for program in mutex nslock; do
    swiftc -O -sanitize=thread "$work/$program.swift" -o "$work/$program"
    output=$("$work/$program" 2>&1 || true)
    races=$(grep -c "WARNING: ThreadSanitizer" <<<"$output" || true)
    total=$(grep -o "total [0-9]*" <<<"$output" || echo "total ?")
    echo "$program: $total, ThreadSanitizer warnings: $races"
    case $program in
        mutex) [ "$races" -gt 0 ] || status=1 ;;
        nslock) [ "$races" -eq 0 ] || status=1 ;;
    esac
    [ "$total" = "total 800000" ] || status=1
done
exit $status
