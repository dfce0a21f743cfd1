#!/usr/bin/env bash
# make fuzz: builds Fuzz/FuzzTargets.swift with libFuzzer and AddressSanitizer (in .build/fuzz,
# apart from the ordinary build) and runs each target for FUZZ_SECONDS (default 60), seeded
# with the project's own files. Prints the executions per target; a crash stops the run and
# leaves its input in fuzz-artifacts/ (reproduce with `fieldwatch-fuzz TARGET FILE`).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-60}
targets=${FUZZ_TARGETS:-telemetry pipeline sparkplug senml historian profile inventory policy team}
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
      printf 'fieldwatch/+/../#/telemetry\n{}' > "$seeds/c.txt"
      printf 'fieldwatch/senml\n[{"bn":"site-a/pump-1/","bt":1764240800,"n":"flow","u":"m3/h","v":1},{"n":"bearing_temp","v":99,"t":-1}]' > "$seeds/d.txt"
      printf 'plant1/pumps/P-102/data\n{"time": "2025-11-27 18:53:20.500", "temp": 61.2, "readings": {"flow_ls": 10}}' > "$seeds/e.txt"
      printf 'gw/all\n{"meta": {"id": "pump-1"}, "ts": 1764240800, "p": 3.5}' > "$seeds/f.txt"
      # Sparkplug: NBIRTH with bdSeq, DDATA by alias (protobuf written with printf escapes).
      printf 'spBv1.0/PlantA/NBIRTH/edge1\n\x08\x80\xa0\xb7\x87\xb1\x33\x12\x0d\x0a\x05bdSeq\x20\x04\x58\x00\x18\x00' > "$seeds/g.bin"
      printf 'spBv1.0/PlantA/DDATA/edge1/pump-1\n\x12\x0b\x10\x0a\x20\x0a\x69\x00\x00\x00\x00\x00\xc0\x4c\x40\x18\x01' > "$seeds/h.bin" ;;
    sparkplug)
      printf '\x08\x80\xa0\xb7\x87\xb1\x33\x12\x0d\x0a\x05bdSeq\x20\x04\x58\x00\x18\x00' > "$seeds/a.bin"
      printf '\x12\x0b\x10\x0a\x20\x0a\x69\x00\x00\x00\x00\x00\xc0\x4c\x40\x18\x01' > "$seeds/b.bin"
      printf '\x12\x0c\x0a\x03vib\x20\x1e\x82\x01\x04\x00\x00\x80\x3f' > "$seeds/c.bin" ;;
    senml)
      printf '[{"bn":"urn:dev:ow:10e2073a01080063:","bt":1.276020076001e+09,"bu":"A","bver":5,"n":"voltage","u":"V","v":120.1},{"n":"current","t":-5,"v":1.2}]' > "$seeds/a.json"
      printf '\x82\xa4\x21\x6fsz-ps3/pump-01/\x22\xfb\x41\xda\x4c\x2a\x20\x00\x00\x00\x00\x64flow\x02\x18\x78\xa2\x00\x62bt\x04\xf5' > "$seeds/b.cbor" ;;
    historian)
      printf 'Zeitstempel;P101 Temp;P101 Flow;Status\r\n01.03.2026 08:00:00;54,5;120;OK\r\n01.03.2026 08:00:10;;"121,25";N/A\r\n' > "$seeds/a.csv"
      printf 'time,a,b\n2026-03-01T08:00:00+08:00,1e3,-2.5\n2026-07-01 08:00:00.250,0.000001,12345678901234567890\n1772352000,1,2\n' > "$seeds/b.csv" ;;
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
