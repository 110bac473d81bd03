#!/usr/bin/env bash
# Builds and tests sluice on a CUDA machine that has PyTorch for Python (pip wheel
# with CUDA) but no package registry:
#   - LibTorch headers and CMake files come from the torch package
#     (torch.utils.cmake_prefix_path), cuDNN from the nvidia-cudnn package;
#   - the other dependencies from the Debian 12 .deb files that
#     tools/gpu/fetch_debs.sh downloaded into third_party_debs/, unpacked (no root,
#     no dpkg database) into BUILD/prefix;
#   - OpenCV and TurboJPEG are found directly (SLUICE_OPENCV_DIRECT,
#     SLUICE_TURBOJPEG_DIRECT): Debian's OpenCVConfig.cmake wants every OpenCV module
#     and its pkg-config files name /usr.
# Then Ninja, Release, and ctest with the unpacked libraries on LD_LIBRARY_PATH.
# BUILD/env.sh sets that path for running sluice afterwards (bench/gpu/run.sh reads it).
#
# usage: tools/gpu/build.sh [--build DIR] [--debs DIR] [--python PY] [--jobs N]
#                           [--torch-cmake-dir DIR] [--no-test]
#   --build           build folder (default build-gpu); the prefix is BUILD/prefix
#   --debs            folder of .deb files (default third_party_debs)
#   --python          the Python whose torch provides LibTorch (default python3)
#   --torch-cmake-dir a folder with Torch/TorchConfig.cmake, instead of asking --python
#   --no-test         build only
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
build="$repo/build-gpu"
debs="$repo/third_party_debs"
python="${PYTHON:-python3}"
jobs="$(nproc)"
torch_cmake=""
run_tests=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --build) build="$(realpath -m "$2")"; shift 2 ;;
    --debs) debs="$(realpath -m "$2")"; shift 2 ;;
    --python) python="$2"; shift 2 ;;
    --jobs) jobs="$2"; shift 2 ;;
    --torch-cmake-dir) torch_cmake="$(realpath -m "$2")"; shift 2 ;;
    --no-test) run_tests=0; shift ;;
    -h|--help) sed -n '2,23p' "$0"; exit 0 ;;
    *) echo "build.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
say() { echo "== $*"; }
die() { echo "build.sh: $*" >&2; exit 1; }

# --- the machine -----------------------------------------------------------------
say "machine"
uname -srm
glibc="$(ldd --version 2>/dev/null | head -1 | grep -o '[0-9]\+\.[0-9]\+$' || true)"
echo "glibc $glibc"
if [[ -f "$debs/glibc-needed.txt" && -n "$glibc" ]]; then
  needed="$(cat "$debs/glibc-needed.txt")"
  if [[ "$(printf '%s\n%s\n' "$needed" "$glibc" | sort -V | head -1)" != "$needed" ]]; then
    echo "build.sh: warning: the Debian 12 libraries ask for glibc >= $needed, this machine" \
         "has $glibc; some may fail to load" >&2
  fi
fi
command -v nvidia-smi > /dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total \
  --format=csv,noheader || echo "(no nvidia-smi)"
if ! command -v nvcc > /dev/null && [[ -x /usr/local/cuda/bin/nvcc ]]; then
  export PATH="/usr/local/cuda/bin:$PATH"
fi
command -v nvcc > /dev/null && nvcc --version | tail -1 || echo "(no nvcc on PATH)"
for tool in cmake g++; do command -v "$tool" > /dev/null || die "$tool not found"; done
generator=()
command -v ninja > /dev/null && generator=(-G Ninja)
echo "cmake $(cmake --version | head -1 | awk '{print $3}'), g++ $(g++ -dumpversion)," \
     "${generator[1]:-Unix Makefiles}"

# --- LibTorch from the torch package -----------------------------------------------
say "LibTorch"
cuda_version=""
if [[ -z "$torch_cmake" ]]; then
  torch_cmake="$("$python" -c 'import torch; print(torch.utils.cmake_prefix_path)')" ||
    die "$python cannot import torch (--python PY or --torch-cmake-dir DIR)"
  cuda_version="$("$python" -c 'import torch; print(torch.version.cuda or "")')"
  echo "torch $("$python" -c 'import torch; print(torch.__version__)'), CUDA ${cuda_version:-none}"
fi
[[ -f "$torch_cmake/Torch/TorchConfig.cmake" ]] || die "no Torch/TorchConfig.cmake in $torch_cmake"
echo "Torch CMake files: $torch_cmake/Torch"
cudnn_args=()
if [[ -n "$cuda_version" ]]; then
  cudnn_dir="$("$python" -c 'import nvidia.cudnn as m; print(list(m.__path__)[0])' 2>/dev/null ||
    true)"
  if [[ -n "$cudnn_dir" && -d "$cudnn_dir/include" ]]; then
    cudnn_lib="$(ls "$cudnn_dir"/lib/libcudnn.so* 2>/dev/null | sort | head -1)"
    [[ -n "$cudnn_lib" ]] || die "no libcudnn.so* in $cudnn_dir/lib"
    cudnn_args=(-DCUDNN_INCLUDE_PATH="$cudnn_dir/include" -DCUDNN_LIBRARY_PATH="$cudnn_lib")
    echo "cuDNN: $cudnn_lib"
  else
    echo "cuDNN: not in the nvidia-cudnn package; leaving it to Torch's CMake files"
  fi
fi

# --- the other dependencies, from .deb files ---------------------------------------
prefix="$build/prefix"
say "unpacking $(ls "$debs"/*.deb 2> /dev/null | wc -l) .deb files from $debs into $prefix"
ls "$debs"/*.deb > /dev/null 2>&1 || die "no .deb files in $debs (run tools/gpu/fetch_debs.sh" \
  "on a Debian 12 machine with network, and copy the folder here)"
mkdir -p "$prefix"
stamp="$prefix/.unpacked"
if [[ ! -f "$stamp" || -n "$(find "$debs" -name '*.deb' -newer "$stamp" | head -1)" ]]; then
  for deb in "$debs"/*.deb; do
    if command -v dpkg-deb > /dev/null; then
      dpkg-deb -x "$deb" "$prefix"
    else  # no dpkg: a .deb is an ar archive holding data.tar.*
      tmp="$(mktemp -d)"
      (cd "$tmp" && ar x "$deb" && tar -xf data.tar.* -C "$prefix")
      rm -rf "$tmp"
    fi
  done
  touch "$stamp"
fi
libdir="$prefix/usr/lib/x86_64-linux-gnu"
[[ -d "$libdir" ]] || die "unpacking left no $libdir"
# BLAS and LAPACK are "alternatives": their postinst links libblas.so.3 into the
# library folder, which unpacking does not run. Make those links.
for alt in blas lapack; do
  for f in "$libdir/$alt"/lib*.so.*; do
    [[ -e "$f" && ! -e "$libdir/$(basename "$f")" ]] && ln -s "$alt/$(basename "$f")" "$libdir/"
  done
done
# Debian 12 still ships a few libraries (zlib, expat, lzma, ...) under /lib, and
# some (armadillo, hdf4, ogdi: GDAL's) under /usr/lib.
libdirs="$libdir:$prefix/lib/x86_64-linux-gnu:$prefix/usr/lib"
export LD_LIBRARY_PATH="$libdirs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
# Nested CMake runs (the plugin install test) find TBB and spdlog here too.
export CMAKE_PREFIX_PATH="$prefix/usr${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}"
cat > "$build/env.sh" <<EOF
# Source this to run what $build built: the unpacked Debian libraries.
export LD_LIBRARY_PATH="$libdirs\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
export CMAKE_PREFIX_PATH="$prefix/usr\${CMAKE_PREFIX_PATH:+:\$CMAKE_PREFIX_PATH}"
EOF

# --- configure, build, test --------------------------------------------------------
say "configuring $build"
# The prefix first: a Torch CMake folder may hold other packages' files too (Debian's does).
# --no-as-needed: keep libtorch_cuda linked although no symbol of it is named;
# -rpath-link: let the linker find the libraries the OpenCV libraries load.
link_flags="-Wl,--no-as-needed -Wl,-rpath-link,$libdirs"
cmake -S "$repo" -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$prefix/usr;$torch_cmake" \
  -DSLUICE_OPENCV_DIRECT=ON -DSLUICE_TURBOJPEG_DIRECT=ON \
  -DCMAKE_EXE_LINKER_FLAGS="$link_flags" -DCMAKE_SHARED_LINKER_FLAGS="$link_flags" \
  -DCMAKE_MODULE_LINKER_FLAGS="$link_flags" "${cudnn_args[@]}" > "$build/configure.log" 2>&1 ||
  { tail -40 "$build/configure.log"; die "configure failed (see $build/configure.log)"; }
grep -iE 'warning|error' -A3 "$build/configure.log" | head -40 || true
# Where each dependency was found (all but Torch should be under the prefix).
grep -E '^(TBB|tomlplusplus|spdlog|fmt|nlohmann_json|Boost|GTest|Torch)_DIR:|^SLUICE_(OPENCV|TURBOJPEG)_.*(LIBRARY|INCLUDE_DIR):' \
  "$build/CMakeCache.txt" | sed 's/:[A-Z]*=/ = /'

say "building with $jobs jobs"
cmake --build "$build" -j"$jobs" > "$build/build.log" 2>&1 ||
  { grep -E -A12 'FAILED|error' "$build/build.log" | head -80; die "build failed (see $build/build.log)"; }
echo "$(grep -c 'warning: ' "$build/build.log" || true) compiler warnings (see $build/build.log)"
echo "built $build/sluice"
"$build/sluice" --version

[[ "$run_tests" == 1 ]] || exit 0
# ctest runs up to $test_jobs test processes at once; left alone, each torch process
# would start one OpenMP thread per core, and 16 x 16 spinning threads on 16
# cores make the CPU-side training tests crawl.
test_jobs=$(( jobs > 2 ? jobs / 2 : 1 ))
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}"
say "ctest: $test_jobs at once, OMP_NUM_THREADS=$OMP_NUM_THREADS"
status=0
(cd "$build" && ctest --output-on-failure -j"$test_jobs" --timeout 900) > "$build/ctest.log" 2>&1 ||
  status=$?
grep -vE '^ *[0-9]+/[0-9]+ Test +#' "$build/ctest.log" | tail -40
say "GPU tests (skipped ones are listed: on a CUDA machine there should be none)"
"$build/tests/train/train_tests" --gtest_filter='TrainerGpu.*' 2>&1 | grep -E '^\[ +(OK|SKIPPED|FAILED) +\] .* \(' || true
"$build/tests/gpu/gpu_tests" --gtest_filter='*Gpu*' 2>&1 | grep -E '^\[ +(OK|SKIPPED|FAILED) +\] .* \(' || true
exit "$status"
