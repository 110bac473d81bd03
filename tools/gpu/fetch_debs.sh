#!/usr/bin/env bash
# Downloads, into third_party_debs/ (git-ignored), every Debian 12 package that
# tools/gpu/build.sh needs to build and test sluice on a machine that has a CUDA
# PyTorch (pip) but no package registry. Torch and CUDA are not included: they come
# from the torch Python package there.
#
# Run it on a Debian 12 (bookworm, amd64) machine with the build dependencies
# installed (`make deps`) and network access to the Debian mirror; copy the folder,
# with the repository, to the GPU machine.
#
# What is fetched:
#   - the -dev packages (headers, .so links, CMake/pkg-config files) of TBB, toml++,
#     spdlog, fmt, nlohmann-json, Boost.Program_options, OpenCV core/imgproc/imgcodecs,
#     TurboJPEG, libarchive, GoogleTest/GoogleMock and cpp-httplib (with the OpenSSL, zlib and
#     Brotli headers its pkg-config file requires);
#   - the runtime libraries they load: the closure of ldd over the shared libraries
#     sluice links, resolved to their packages here. That closure is what the dynamic
#     loader needs, and nothing more (apt's Depends would add data packages and tools).
#     libc6, libgcc-s1 and libstdc++6 are left out: they must be the GPU machine's own.
#
# Two kinds of packages are repacked smaller, which brings the set from 71 to about
# 60 MiB (under the 64 MiB that may travel with a working tree to a GPU machine):
# the Boost headers package (130 MiB of headers) keeps the folders of the headers
# sluice's Boost includes reach (g++ -M), and the OpenCV -dev packages lose their
# static libraries. --full-boost keeps all of them as Debian ships them.
#
# usage: tools/gpu/fetch_debs.sh [--out DIR] [--list] [--full-boost]
#   --list  print the package list and exit without downloading
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
out="$repo/third_party_debs"
list_only=0
full_boost=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --out) out="$2"; shift 2 ;;
    --list) list_only=1; shift ;;
    --full-boost) full_boost=1; shift ;;
    -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
    *) echo "fetch_debs.sh: unknown option $1" >&2; exit 2 ;;
  esac
done

arch_dir=/usr/lib/x86_64-linux-gnu

# Headers, link-time .so symlinks and CMake/pkg-config files.
dev_packages=(
  libtbb-dev libtomlplusplus-dev libspdlog-dev libfmt-dev nlohmann-json3-dev
  libboost-program-options-dev libboost-program-options1.74-dev libboost1.74-dev
  libopencv-core-dev libopencv-imgproc-dev libopencv-imgcodecs-dev
  libturbojpeg0-dev libpng-dev libgtest-dev libgmock-dev libarchive-dev
  libcpp-httplib-dev libssl-dev zlib1g-dev libbrotli-dev
)
# The shared libraries sluice links (directly, or through the dev packages' CMake
# targets, which must all exist: TBB's config names tbbmalloc, its proxy and tbbbind).
seed_libs=(
  libopencv_core.so.406 libopencv_imgproc.so.406 libopencv_imgcodecs.so.406
  libtbb.so.12 libtbbmalloc.so.2 libtbbmalloc_proxy.so.2 libtbbbind_2_5.so.3
  libturbojpeg.so.0 libspdlog.so.1.10 libfmt.so.9 libboost_program_options.so.1.74.0
  libtomlplusplus.so.3 libpng16.so.16 libcpp-httplib.so.0.11 libarchive.so.13
)
# Provided by the GPU machine itself (the compiler's runtime and the C library).
base_packages=" libc6 libgcc-s1 libstdc++6 "

for p in "${dev_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || {
    echo "fetch_debs.sh: $p is not installed here; run \`make deps\` first (the runtime" \
         "closure is computed from the installed libraries)" >&2
    exit 1
  }
done

# Every library file the loader maps for the seeds, then their packages (one dpkg -S).
declare -A files=()
for lib in "${seed_libs[@]}"; do
  path="$arch_dir/$lib"
  [[ -e "$path" ]] || { echo "fetch_debs.sh: $path missing" >&2; exit 1; }
  while read -r dep; do
    files[$(readlink -f "$dep")]=1
  done < <(echo "$path"; ldd "$path" | awk '$2 == "=>" && $3 ~ /^\// { print $3 }')
done
declare -A runtime=()
declare -A base_files=()
while IFS= read -r line; do  # "libfoo1:amd64: /usr/lib/x86_64-linux-gnu/libfoo.so.1"
  pkg="${line%%:*}"
  runtime[$pkg]=1
  [[ "$base_packages" == *" $pkg "* ]] && base_files[${line#*: }]=1
done < <(dpkg -S "${!files[@]}" 2>/dev/null)
for f in "${!files[@]}"; do  # merged /usr: dpkg may know a file as /lib/... only
  dpkg -S "$f" > /dev/null 2>&1 && continue
  pkg="$(dpkg -S "${f#/usr}" 2>/dev/null | head -1 | cut -d: -f1)" || true
  [[ -n "$pkg" ]] || { echo "fetch_debs.sh: no package owns $f" >&2; exit 1; }
  runtime[$pkg]=1
  [[ "$base_packages" == *" $pkg "* ]] && base_files[$f]=1
done

packages=("${dev_packages[@]}")
for pkg in "${!runtime[@]}"; do
  [[ "$base_packages" == *" $pkg "* ]] || packages+=("$pkg")
done
mapfile -t packages < <(printf '%s\n' "${packages[@]}" | sort -u)

# The newest glibc symbol version these libraries ask for: the GPU machine's glibc
# must be at least that.
glibc_needed="$(for f in "${!files[@]}"; do
    [[ -n "${base_files[$f]:-}" ]] || objdump -T "$f" 2>/dev/null || true
  done |
  grep -o 'GLIBC_[0-9.]*' | sort -u -V | tail -1)"

echo "${#packages[@]} packages (${#dev_packages[@]} -dev, the rest runtime libraries):"
printf '%s\n' "${packages[@]}" | paste -sd' ' | fold -s -w 100
echo "runtime libraries need glibc >= ${glibc_needed#GLIBC_} on the GPU machine (ldd --version)"
if [[ "$list_only" == 1 ]]; then exit 0; fi

mkdir -p "$out"
cd "$out"
rm -f ./*.deb
apt-get download "${packages[@]}"
# repack DEB: unpack, let the remaining arguments (a command run in the tree) prune
# it, build it again (no md5sums: the files changed).
repack() {
  local deb="$1" tmp before
  shift
  tmp="$(mktemp -d)"
  dpkg-deb -R "$deb" "$tmp/pkg"
  before="$(du -sb "$tmp/pkg" | cut -f1)"
  (cd "$tmp/pkg" && "$@")
  find "$tmp/pkg" -mindepth 1 -type d -empty -delete
  rm -f "$tmp/pkg/DEBIAN/md5sums"
  dpkg-deb -Zxz -b "$tmp/pkg" "$deb" > /dev/null
  echo "repacked $deb: $((before / 1048576)) -> $(du -sm "$tmp/pkg" | cut -f1) MiB unpacked"
  rm -rf "$tmp"
}
# Boost: keep the folders (not recursive) holding a header that sluice's includes reach.
prune_boost() {
  find usr/include/boost -type f | while read -r f; do
    grep -qxF "$(dirname "$f")" <<< "$keep" || rm "$f"
  done
}
# OpenCV -dev: the static libraries (sluice links the shared ones).
drop_static() { find . -name '*.a' -delete; }
if [[ "$full_boost" == 0 ]]; then
  includes="$(grep -rhoE '#include <boost/[^>]+>' --include='*.cpp' --include='*.h' \
    "$repo/pipeline" "$repo/stages" "$repo/tools" "$repo/tests" "$repo/bench" "$repo/examples" |
    sort -u)"
  keep="$(echo "$includes" | g++ -std=c++17 -M -x c++ - | tr ' \\' '\n\n' |
    sed -n 's#^/usr/include/\(boost/.*\)/[^/]*$#usr/include/\1#p; s#^/usr/include/boost/[^/]*$#usr/include/boost#p' |
    sort -u)"
  repack "$(ls libboost1.74-dev_*.deb)" prune_boost
  for deb in libopencv-core-dev_*.deb libopencv-imgproc-dev_*.deb libopencv-imgcodecs-dev_*.deb; do
    repack "$deb" drop_static
  done
fi
printf '%s\n' "${packages[@]}" > packages.txt
echo "${glibc_needed#GLIBC_}" > glibc-needed.txt
echo "downloaded $(ls ./*.deb | wc -l) .deb files into $out:" \
  "$(du -cb ./*.deb | tail -1 | awk '{printf "%.1f MiB", $1 / 1048576}') in all"
