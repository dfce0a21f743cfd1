#!/usr/bin/env bash
# make demo: a private mosquitto on a free loopback port, the gateway and the simulator running
# the scripted fleet of Simulator/demo.yaml (two sites, two customers, one VIP). Within two
# minutes: a trend forecast ticket well before any limit is crossed, a threshold ticket, a
# sensor-health ticket. Prints one dashboard sign-in link per role; Ctrl-C stops all three and
# revokes the demo's tokens.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(swift build --show-bin-path)
run=demo-run
fleet=Simulator/demo.yaml
db="$run/fieldwatch.db"
mkdir -p "$run"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port)
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
token_ids=()
cleanup() {
  trap - INT TERM EXIT
  echo; echo "stopping simulator, gateway and broker..."
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  for id in "${token_ids[@]}"; do "$bin/fieldwatch" tokens revoke --db "$db" "$id" >/dev/null 2>&1 || true; done
  [ ${#token_ids[@]} -gt 0 ] && echo "revoked the demo's ${#token_ids[@]} sign-in tokens"
  echo "tickets are kept in $db:  $bin/fieldwatch tickets list --db $db"
  exit 0
}
trap cleanup INT TERM EXIT

"$mosquitto_bin" -c "$run/mosquitto.conf" >"$run/mosquitto.log" 2>&1 &
pids+=($!)
sleep 0.3
http_port=${DEMO_HTTP_PORT:-8080}
if ! python3 -c "import socket,sys; s=socket.socket(); s.bind(('127.0.0.1',$http_port))" 2>/dev/null; then http_port=$(free_port); fi

# One token per role, each printed as a link that signs in (the page keeps the token and drops it from the address).
links=()
token() {  # role subject label [organisation]
  local json
  json=$("$bin/fieldwatch" tokens create --db "$db" --name "make demo: $3" --role "$1" --subject "$2" ${4:+--organisation "$4"} --json)
  token_ids+=("$(printf '%s' "$json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')")
  local secret
  secret=$(printf '%s' "$json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["secret"])')
  links+=("$(printf '  %-44s http://127.0.0.1:%s/#/board?token=%s' "$3:" "$http_port" "$secret")")
  [ "$1" = admin ] && admin_secret=$secret
  return 0
}
token admin demo.admin "admin"
token supervisor sup.liu "supervisor"
token dispatcher dispatch.zhao "dispatcher"
token engineer eng.chen "engineer"
token customer wang.shenzhen "customer, Shenzhen Water Group (VIP)" "Shenzhen Water Group"
token customer li.tianhe "customer, Tianhe Property Management" "Tianhe Property Management"

# The field team (engineers, service points, a partner) that dispatch ranks; idempotent on a rerun.
"$bin/fieldwatch" engineers import ServicePolicy/demo-team.yaml --db "$db" --by "make demo" | head -1
# The parts catalogue (unit costs price the repairs in `fieldwatch report costs`) and the counted stock.
"$bin/fieldwatch" parts import ServicePolicy/demo-parts.yaml --db "$db" --by "make demo" | head -1

echo "broker:    mqtt://127.0.0.1:$port (log $run/mosquitto.log)"
echo "database:  $db · dead letters: $run/dead-letters.jsonl"
echo "fleet:     $fleet (two sites, six devices; the fault script is described at its top)"
echo "policy:    ServicePolicy/demo.yaml (minutes, not hours: clocks and escalations you can watch)"
echo "parts:     ServicePolicy/demo-parts.yaml (fieldwatch parts status --db $db)"
echo "team:      ServicePolicy/demo-team.yaml (dispatch: the dashboard's Dispatch page, or fieldwatch dispatch suggest N --db $db --inventory $fleet)"
echo "dashboard, one sign-in link per role:"
printf '%s\n' "${links[@]}"
echo "HTTP API:  http://127.0.0.1:$http_port/api/v1/tickets (described at /openapi.json)"
echo "           curl -H 'Authorization: Bearer $admin_secret' http://127.0.0.1:$http_port/api/v1/tickets"

FIELDWATCH_POLICY=ServicePolicy/demo.yaml FIELDWATCH_ESCALATION_INTERVAL=5s FIELDWATCH_HISTORY_KIB=${DEMO_HISTORY_KIB:-64} \
FIELDWATCH_HTTP="127.0.0.1:$http_port" FIELDWATCH_DEAD_LETTER_FILE="$run/dead-letters.jsonl" FIELDWATCH_STATS_INTERVAL=15s \
  "$bin/fieldwatch" serve --broker "mqtt://127.0.0.1:$port" --db "$db" \
  --inventory "$fleet" --profiles DeviceProfiles --client-id fieldwatch-demo &
pids+=($!)
sleep 1
# Three hours of history first (a site logger flushing its buffer), then live at 1 Hz per device.
"$bin/fieldwatch-sim" --broker "mqtt://127.0.0.1:$port" --inventory "$fleet" \
  --profiles DeviceProfiles --rate 1 --backfill 10800 --faults 0 --seed "${SEED:-7}" &
pids+=($!)
echo "gateway and simulator running; tickets open within two minutes. Ctrl-C stops everything."
wait
