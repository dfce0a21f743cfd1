#!/usr/bin/env bash
# make fuzz: builds Fuzz/FuzzTargets.swift with libFuzzer and AddressSanitizer (in .build/fuzz,
# apart from the ordinary build) and runs each target for FUZZ_SECONDS (default 60), seeded
# with the project's own files. Prints the executions per target; a crash stops the run and
# leaves its input in fuzz-artifacts/ (reproduce with `fieldwatch-fuzz TARGET FILE`).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-60}
targets=${FUZZ_TARGETS:-telemetry pipeline profile inventory policy team}
flags=(--scratch-path .build/fuzz --product fieldwatch-fuzz -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING -Xlinker --export-dynamic)
echo "building the fuzz targets (libFuzzer + AddressSanitizer; the first build takes several minutes)..."
swift build "${flags[@]}" 2>&1 | grep -E "error|warning: unre|Compiling fieldwatch_fuzz|Build" || true
bin="$(swift build --scratch-path .build/fuzz --show-bin-path)/fieldwatch-fuzz"
[ -x "$bin" ] || { echo "the fuzz build failed"; exit 1; }
mkdir -p fuzz-artifacts
summary=()
for target in $targets; do
  corpus=.build/fuzz-corpus/$target
  seeds=.build/fuzz-seeds/$target
  mkdir -p "$corpus" "$seeds"
  case $target in
    telemetry)
      printf '{"ts": 1764240800000, "metrics": {"bearing_temp": 55.5, "flow": 120}}' > "$seeds/a.json"
      printf '{"ts": "2026-11-27T10:53:20.123+08:00", "metrics": {"accel": [0.1, -0.2, 0.3], "x": NaN}, "drill": true}' > "$seeds/b.json"
      printf '{"metrics": {"flow": 1e308, "v": -0.0, "s": "text", "n": null, "o": {"a": [1]}}}' > "$seeds/c.json" ;;
    pipeline)
      printf 'fieldwatch/site-a/pump-1/telemetry\n{"ts": 1764240800000, "metrics": {"bearing_temp": 97}}' > "$seeds/a.txt"
      printf 'fieldwatch/site-a/pump-2/status\n{"status": "offline"}' > "$seeds/b.txt"
      printf 'fieldwatch/+/../#/telemetry\n{}' > "$seeds/c.txt" ;;
    profile) cp DeviceProfiles/*.yaml "$seeds/" ;;
    inventory) cp Simulator/demo-site.yaml Simulator/demo.yaml "$seeds/" ;;
    policy) cp ServicePolicy/example.yaml ServicePolicy/demo.yaml "$seeds/" ;;
    team) cp ServicePolicy/demo-team.yaml "$seeds/" ;;
  esac
  log=.build/fuzz-corpus/$target.log
  echo "fuzzing $target for ${seconds}s..."
  if ! FIELDWATCH_FUZZ_TARGET=$target "$bin" "$corpus" "$seeds" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
       -max_len=8192 -artifact_prefix="fuzz-artifacts/$target-" -print_final_stats=1 >"$log" 2>&1; then
    tail -40 "$log"
    echo "FAIL: $target crashed; the input is in fuzz-artifacts/ (reproduce: $(swift build --show-bin-path)/fieldwatch-fuzz $target FILE)"
    exit 1
  fi
  runs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || echo "?")
  summary+=("$(printf '%-10s %12s executions, %6s coverage points, no crash' "$target" "$runs" "$cov")")
done
echo
echo "fuzz summary (${seconds}s per target):"
printf '  %s\n' "${summary[@]}"
