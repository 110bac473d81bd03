# Two entry points on a fresh Debian 12 machine:
#   make demo   install what is missing, build the sluice binary, run the demo pipeline
#   make test   install what is missing, build, run the test suite
# Other targets: deps, build, test-notorch, soak, sanitize, bench, fuzz, clean. BUILD=dir and JOBS=n override.
#   make fuzz FUZZ_SECONDS=N   build the libFuzzer targets in build-fuzz (clang) and run
#                              each for N seconds (see fuzz/run.sh, docs/reliability.md)

BUILD ?= build
JOBS ?= $(shell nproc)
BUILD_TYPE ?= Release
DEMO_DIR ?= demo-out
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# Debian packages the build, the tests and the benchmarks need.
DEB_PACKAGES := build-essential cmake pkg-config ccache \
  libtbb-dev libtorch-dev libopencv-dev libboost-program-options-dev \
  libtomlplusplus-dev libgtest-dev libgmock-dev libturbojpeg0-dev libjpeg62-turbo-dev libpng-dev \
  libspdlog-dev libfmt-dev nlohmann-json3-dev libgloo-dev \
  libcpp-httplib-dev libarchive-dev \
  python3 python3-torch python3-torchvision \
  pybind11-dev python3-dev python3-pytest python3-numpy \
  python3-scipy python3-keras-preprocessing python3-pil \
  clang libfuzzer-14-dev libclang-rt-14-dev chromium

.PHONY: all deps configure build build-demo test test-notorch soak demo bench fuzz clean

all: build

deps:
	@missing=""; \
	for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -q && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	else \
	  echo "all Debian packages present"; \
	fi

$(BUILD)/CMakeCache.txt: | deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE)

configure: deps $(BUILD)/CMakeCache.txt

build: configure
	cmake --build $(BUILD) -j$(JOBS)

test: build
	cd $(BUILD) && ctest --output-on-failure -j$(JOBS) --timeout 900 -LE soak

# The core, data stages, CLI and their tests without LibTorch (-DSLUICE_WITH_TORCH=OFF),
# in a build folder of its own.
NOTORCH_BUILD ?= build-notorch
test-notorch: deps
	cmake -S . -B $(NOTORCH_BUILD) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DSLUICE_WITH_TORCH=OFF \
	  -DCMAKE_DISABLE_FIND_PACKAGE_Torch=ON
	cmake --build $(NOTORCH_BUILD) -j$(JOBS)
	cd $(NOTORCH_BUILD) && ctest --output-on-failure -j$(JOBS) --timeout 900 -LE soak

# Long runs that watch memory over millions of items (minutes): not part of `test`.
soak: build
	cd $(BUILD) && ctest --output-on-failure -L soak --timeout 3600

# The demo needs the `sluice` binary and the libraries it links, not the test suite
# (which `make test` builds): a fresh clone shows the demo's result sooner.
build-demo: configure
	cmake --build $(BUILD) -j$(JOBS) --target sluice

demo: build-demo
	@bash tools/demo.sh $(BUILD) $(DEMO_DIR)

bench: build
	$(BUILD)/bench/bench_framework

FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60

$(FUZZ_BUILD)/CMakeCache.txt: | deps
	CC=clang CXX=clang++ cmake -S . -B $(FUZZ_BUILD) -DSLUICE_FUZZ=ON -DSLUICE_BUILD_TESTS=OFF \
	  -DCMAKE_BUILD_TYPE=Fuzz -DCMAKE_CXX_FLAGS=-O1

fuzz: deps $(FUZZ_BUILD)/CMakeCache.txt
	cmake --build $(FUZZ_BUILD) -j$(JOBS) --target fuzz_targets
	bash fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

clean:
	rm -rf $(BUILD) $(DEMO_DIR)

# AddressSanitizer (leaks included) + UndefinedBehaviorSanitizer build and test
# run in its own folder; suppressions (third-party code only) in tools/sanitize/.
# The Python tests (label python) are left out: an uninstrumented interpreter
# refuses to load the instrumented extension ("ASan runtime does not come first").
# SANITIZE_TESTS=regex limits ctest to matching tests (e.g. 'Runner|Config|Cli').
# Soak tests (label soak) are left out, as in `make test`.
# SANITIZE_TORCH=OFF builds without LibTorch (core, data stages, CLI: much faster
# to build under ASan) in build-sanitize-notorch.
SANITIZE_TORCH ?= ON
SANITIZE_BUILD ?= $(if $(filter OFF,$(SANITIZE_TORCH)),build-sanitize-notorch,build-sanitize)
SANITIZE_TESTS ?=
SANITIZE_ENV := \
  ASAN_OPTIONS=halt_on_error=1:detect_leaks=1:print_stacktrace=1:abort_on_error=0 \
  LSAN_OPTIONS=suppressions=$(CURDIR)/tools/sanitize/lsan.supp:print_suppressions=0 \
  UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:suppressions=$(CURDIR)/tools/sanitize/ubsan.supp

.PHONY: sanitize
sanitize: deps
	cmake -S . -B $(SANITIZE_BUILD) -DSLUICE_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DSLUICE_WITH_TORCH=$(SANITIZE_TORCH)
	cmake --build $(SANITIZE_BUILD) -j$(JOBS)
	cd $(SANITIZE_BUILD) && env $(SANITIZE_ENV) ctest --output-on-failure -j$(JOBS) --timeout 1800 -LE 'soak|python' \
	  $(if $(SANITIZE_TESTS),-R '$(SANITIZE_TESTS)')
