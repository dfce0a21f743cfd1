# Fieldwatch — the two commands of the README, plus a few helpers.
#   make demo   broker + gateway + simulator on this machine, tickets printed as they open
#   make test   build and run every test (needs mosquitto; installed when run as root)
#   make bench  release build, then the figures of the Performance section (~11 min; never part of make test)
SWIFT ?= swift

.PHONY: all deps build release test demo bench clean

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

bench: deps
	$(SWIFT) build -c release --product fieldwatch-bench
	$(SWIFT) build -c release --product fieldwatch-sim
	$$($(SWIFT) build -c release --show-bin-path)/fieldwatch-bench

demo: deps
	$(SWIFT) build
	@scripts/demo.sh

clean:
	rm -rf .build demo-run
