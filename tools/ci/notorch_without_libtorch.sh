#!/usr/bin/env bash
# Builds and tests the -DSLUICE_WITH_TORCH=OFF configuration as if libtorch-dev
# were not installed: inside a private mount namespace every file and folder of
# the libtorch-dev package (headers, CMake package files, link-time .so links) is
# covered by an empty one, so neither CMake nor the compiler can find LibTorch.
#   sudo tools/ci/notorch_without_libtorch.sh [BUILD_DIR]   (default build-isolated)
# Needs root (unshare --mount). Exits with ctest's status.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="${1:-build-isolated}"
if [ "${SLUICE_IN_NAMESPACE:-}" != 1 ]; then
  exec env SLUICE_IN_NAMESPACE=1 unshare --mount --propagation private "$0" "$@"
fi
empty_dir=$(mktemp -d)
hidden=0
# Folders first (top-most ones), then the files outside them.
while read -r path; do
  if [ -d "$path" ] && [ ! -L "$path" ]; then
    mount --bind "$empty_dir" "$path"
    hidden=$((hidden + 1))
  fi
done < <(dpkg -L libtorch-dev | grep -E '^/usr/include/[^/]+$|^/usr/lib/x86_64-linux-gnu/cmake/[^/]+$|^/usr/share/cmake/[^/]+$')
while read -r path; do
  if [ -e "$path" ] && [ ! -d "$path" ]; then
    mount --bind /dev/null "$path"
    hidden=$((hidden + 1))
  fi
done < <(dpkg -L libtorch-dev | grep -E '^/usr/lib/x86_64-linux-gnu/[^/]+$')
echo "hidden: $hidden paths of libtorch-dev"
test ! -e /usr/include/torch/script.h
cd "$repo"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DSLUICE_WITH_TORCH=OFF
cmake --build "$build" -j"$(nproc)"
cd "$build" && ctest --output-on-failure -j"$(nproc)" --timeout 900 -LE soak
