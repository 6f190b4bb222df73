# The two commands a newcomer needs: `make run` and `make test` (see README.md).
# Both install what is missing (Debian packages), configure and build first.

BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= $(shell nproc)
CMAKE_ARGS ?=
# Arguments for `make run`, e.g. make run ARGS="--max-active-users 2 --session-duration 30"
ARGS       ?=

.PHONY: all deps configure build run test test-fast test-asan bench format format-check clean

all: build

deps:
	@./scripts/install-deps.sh

$(BUILD)/build.ninja: CMakeLists.txt | deps
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_ARGS)

configure: deps
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_ARGS)

build: configure
	cmake --build $(BUILD) -j $(JOBS)

run: build
	$(BUILD)/waitroom serve $(ARGS)

# Every test on the optimised build, then once more under ASan + UBSan.
test: format-check test-fast test-asan

test-fast: build
	ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS)

test-asan: deps
	cmake -S . -B $(ASAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DWAITROOM_SANITIZE=ON \
	  -DWAITROOM_BENCH=OFF $(CMAKE_ARGS)
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --test-dir $(ASAN_BUILD) --output-on-failure -j $(JOBS) -LE no-sanitize

bench: build
	./bench/run.sh $(BUILD)

format:
	@files=$$(git ls-files '*.cpp' '*.hpp'); [ -z "$$files" ] || clang-format -i $$files

format-check: deps
	@files=$$(git ls-files '*.cpp' '*.hpp'); [ -z "$$files" ] || clang-format --dry-run --Werror $$files

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
