#!/usr/bin/env bash
# Runs a command as a container limited to SIZE bytes of memory would (`docker run --memory`):
# in a memory cgroup of that limit, seeing the limit where a container sees its own. The
# embedded database sizes its write buffer and its block cache from the memory it sees, so this
# is how to measure the server as deployed in a container. Linux with cgroups v1, as root.
#   scripts/with-memory-limit.sh 1073741824 target/release/registre serve
set -euo pipefail
if [ $# -lt 2 ]; then
  echo "usage: $0 SIZE-IN-BYTES COMMAND…" >&2
  exit 2
fi
size=$1
shift
memory=/sys/fs/cgroup/memory
if [ "$(id -u)" -ne 0 ] || [ ! -w "$memory" ]; then
  echo "$0: needs root and a writable cgroups v1 memory hierarchy at $memory" >&2
  exit 2
fi
group="$memory/registre-limit-$$"
mkdir "$group"
trap 'rmdir "$group" 2>/dev/null || true' EXIT
echo "$size" >"$group/memory.limit_in_bytes"
seen=$(mktemp)
echo "$size" >"$seen"
# The child joins the group, then sees the limit in a mount namespace of its own.
unshare --mount --fork sh -c '
  echo $$ >"$1/cgroup.procs"
  mount --bind "$2" /sys/fs/cgroup/memory/memory.limit_in_bytes
  shift 2
  exec "$@"
' sh "$group" "$seen" "$@"
