# Fieldwatch — the two commands of the README, plus a few helpers.
#   make demo   broker + gateway + simulator on this machine, tickets printed as they open
#   make test   build and run every test (needs mosquitto; installed when run as root)
#   make bench  release build, then the figures of the Performance section (~11 min; never part of make test)
#   make reliability  kill -9 cycles, broker restart, full disk, webhook outage against the real
#               binaries (CI runs it with 20 cycles; RELIABILITY_CYCLES=200 by hand)
#   make fuzz   libFuzzer + AddressSanitizer on the decoders and loaders, FUZZ_SECONDS (60) per target
SWIFT ?= swift

.PHONY: all deps build release test reliability fuzz demo bench clean

all: build

deps:
	@scripts/install-deps.sh

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release

test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

RELIABILITY_CYCLES ?= 20
reliability: deps
	# --build-tests: the same build as `make test` (a plain build would recompile every module without testability).
	$(SWIFT) build --build-tests
	python3 scripts/reliability.py --bin "$$($(SWIFT) build --show-bin-path)" --cycles $(RELIABILITY_CYCLES) --report reliability-report.json

fuzz: deps
	@scripts/fuzz.sh

bench: deps
	$(SWIFT) build -c release --product fieldwatch-bench
	$(SWIFT) build -c release --product fieldwatch-sim
	$$($(SWIFT) build -c release --show-bin-path)/fieldwatch-bench

demo: deps
	$(SWIFT) build
	@scripts/demo.sh

clean:
	rm -rf .build demo-run
