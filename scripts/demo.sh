#!/usr/bin/env bash
# make demo: a private mosquitto on a free loopback port, the gateway and the simulator.
# Tickets are printed as they open; Ctrl-C stops all three.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(swift build --show-bin-path)
run=demo-run
mkdir -p "$run"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo 18883)
mosquitto_bin=$(command -v mosquitto || echo /usr/sbin/mosquitto)
cat > "$run/mosquitto.conf" <<CONF
listener $port 127.0.0.1
allow_anonymous true
# mosquitto's default (1000) silently drops messages for a slow subscriber; see platform notes.
max_queued_messages 0
# Small packets leave at once rather than waiting for a delayed ACK (Nagle): tens of ms per hop.
set_tcp_nodelay true
persistence false
CONF
pids=()
cleanup() {
  trap - INT TERM EXIT
  echo; echo "stopping simulator, gateway and broker..."
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  echo "tickets are kept in $run/fieldwatch.db:  $bin/fieldwatch tickets list --db $run/fieldwatch.db"
  exit 0
}
trap cleanup INT TERM EXIT

"$mosquitto_bin" -c "$run/mosquitto.conf" >"$run/mosquitto.log" 2>&1 &
pids+=($!)
sleep 0.3
echo "broker:    mqtt://127.0.0.1:$port (log $run/mosquitto.log)"
echo "database:  $run/fieldwatch.db"
echo "dead letters: $run/dead-letters.jsonl"
http_port=${DEMO_HTTP_PORT:-8080}
if ! python3 -c "import socket,sys; s=socket.socket(); s.bind(('127.0.0.1',$http_port))" 2>/dev/null; then
  http_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
fi
token=$("$bin/fieldwatch" tokens create --db "$run/fieldwatch.db" --name "make demo" --role admin --subject demo --json \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["secret"])')
echo "dashboard: http://127.0.0.1:$http_port/#/board?token=$token"
echo "HTTP API:  http://127.0.0.1:$http_port/api/v1/tickets (described at /openapi.json)"
echo "           curl -H 'Authorization: Bearer $token' http://127.0.0.1:$http_port/api/v1/tickets"
echo "policy:    ServicePolicy/demo.yaml (minutes, not hours: clocks and escalations you can watch)"
FIELDWATCH_POLICY=ServicePolicy/demo.yaml FIELDWATCH_ESCALATION_INTERVAL=5s \
FIELDWATCH_HTTP="127.0.0.1:$http_port" FIELDWATCH_DEAD_LETTER_FILE="$run/dead-letters.jsonl" FIELDWATCH_STATS_INTERVAL=15s \
  "$bin/fieldwatch" serve --broker "mqtt://127.0.0.1:$port" --db "$run/fieldwatch.db" \
  --inventory Simulator/demo-site.yaml --profiles DeviceProfiles --client-id fieldwatch-demo &
pids+=($!)
sleep 1
"$bin/fieldwatch-sim" --broker "mqtt://127.0.0.1:$port" --inventory Simulator/demo-site.yaml \
  --profiles DeviceProfiles --rate 2 --faults 2 --seed "${SEED:-7}" &
pids+=($!)
echo "gateway and simulator running; the first ticket opens within a minute. Ctrl-C stops everything."
wait
