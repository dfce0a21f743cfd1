#!/usr/bin/env python3
"""Fault tests of the real gateway (`make reliability`): kill -9 cycles under load, a broker
restart mid-stream, a full disk, a webhook receiver that is down for a while.

Everything is real: mosquitto on a free loopback port, `fieldwatch serve`, `fieldwatch-sim`,
SQLite files, a webhook receiver in this script that checks every request's HMAC signature.
Each phase prints what it checked and its figures; the run ends with one summary (also written
as JSON with --report) and exits 1 when an invariant broke.

    scripts/reliability.py --bin .build/debug                 # CI: 20 kill cycles, a few minutes
    scripts/reliability.py --bin .build/debug --cycles 200    # by hand
"""
import argparse, atexit, hashlib, hmac, json, os, random, re, shutil, signal, socket, sqlite3, subprocess, sys, tempfile, threading, time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SECRET = "reliability-secret-0123456789abcdef"
failures = []
# Every process this script starts; whatever is still running when it exits (a failed check,
# an exception, Ctrl-C) is killed, so no broker or gateway outlives the run.
spawned = []


def spawn(args, **kwargs):
    p = subprocess.Popen(args, **kwargs)
    spawned.append(p)
    return p


@atexit.register
def stop_everything():
    for p in spawned:
        if p.poll() is None:
            p.kill()
            p.wait()


def check(ok, what):
    print(("  ok    " if ok else "  FAIL  ") + what, flush=True)
    if not ok:
        failures.append(what)
    return ok


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_for(condition, timeout, step=0.1):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if condition():
                return True
        except Exception:
            pass
        time.sleep(step)
    return False


class Broker:
    def __init__(self, work, persistence):
        self.port = free_port()
        self.dir = os.path.join(work, "broker")
        os.makedirs(self.dir, exist_ok=True)
        self.conf = os.path.join(self.dir, "mosquitto.conf")
        with open(self.conf, "w") as f:
            f.write(f"listener {self.port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\nset_tcp_nodelay true\n")
            f.write(f"persistence {'true' if persistence else 'false'}\npersistence_location {self.dir}/\nautosave_interval 1\n")
            if os.geteuid() == 0:
                # Started as root, mosquitto would drop to its own user, which cannot write in
                # this private directory: its database (the sessions) would not be saved.
                f.write("user root\n")
        self.log = open(os.path.join(self.dir, "mosquitto.log"), "a")
        self.proc = None
        self.start()

    def start(self):
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.proc = spawn([binary, "-c", self.conf], stdout=self.log, stderr=self.log)
        if not wait_for(lambda: socket.create_connection(("127.0.0.1", self.port), 0.2).close() is None, 10):
            raise SystemExit("mosquitto did not start; see " + self.log.name)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)

    @property
    def url(self):
        return f"mqtt://127.0.0.1:{self.port}"


class Receiver:
    """A webhook receiver: records every request, checks its signature, answers 503 while `down`."""

    def __init__(self):
        self.requests = []
        self.lock = threading.Lock()
        self.down = False
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                signature = self.headers.get("X-Fieldwatch-Signature") or ""
                parts = dict(p.split("=", 1) for p in signature.split(",") if "=" in p)
                expected = hmac.new(SECRET.encode(), (parts.get("t", "") + "." + body).encode(), hashlib.sha256).hexdigest()
                status = 503 if receiver.down else 200
                with receiver.lock:
                    receiver.requests.append({"key": self.headers.get("Idempotency-Key"), "status": status,
                                              "signed": hmac.compare_digest(expected, parts.get("v1", ""))})
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}/hook"

    def delivered(self):
        with self.lock:
            return [r for r in self.requests if r["status"] == 200]


class Site:
    """A database, an inventory, a policy, a gateway process and a simulator process."""

    def __init__(self, args, work, broker, receiver, devices=24, db_dir=None):
        self.args, self.work, self.broker, self.receiver = args, work, broker, receiver
        self.db = os.path.join(db_dir or work, "fieldwatch.db")
        self.http = free_port()
        self.inventory = os.path.join(work, "inventory.yaml")
        with open(self.inventory, "w") as f:
            f.write("sites:\n  - {id: rel-a, name: Reliability site, customer: Test Water, latitude: 22.5, longitude: 113.9, timezone: Asia/Shanghai}\n")
            f.write("devices:\n")
            for i in range(devices):
                f.write(f"  - {{id: pump-{i:02d}, site: rel-a, profile: centrifugal-pump}}\n")
        self.policy = os.path.join(work, "policy.yaml")
        with open(os.path.join(args.root, "ServicePolicy/demo.yaml")) as src, open(self.policy, "w") as dst:
            text = src.read().replace("auto: true", "auto: false")
            # SLA targets in seconds instead of minutes: escalations fire all through the run.
            text = "\n".join(re.sub(r"(\d+)m\b", lambda m: f"{max(2, int(m.group(1)) * 3)}s", line) if "first_contact" in line else line
                             for line in text.split("\n"))
            dst.write(text)
        self.log = open(os.path.join(work, "gateway.log"), "a")
        self.gateway = None
        self.sim = None

    def env(self):
        e = dict(os.environ)
        e.update({"FIELDWATCH_POLICY": self.policy, "FIELDWATCH_ESCALATION_INTERVAL": "1s", "FIELDWATCH_CHECKPOINT_INTERVAL": "1s",
                  "FIELDWATCH_HTTP": f"127.0.0.1:{self.http}", "FIELDWATCH_WEBHOOKS": self.receiver.url, "FIELDWATCH_WEBHOOK_SECRET": SECRET,
                  "FIELDWATCH_DEAD_LETTER_FILE": os.path.join(os.path.dirname(self.db), "dead-letters.jsonl"), "FIELDWATCH_STATS_INTERVAL": "5s",
                  "FIELDWATCH_HISTORY_KIB": "4"})
        return e

    def start_gateway(self):
        self.log.write(f"---- start {time.strftime('%H:%M:%S')}\n")
        self.log.flush()
        self.gateway = spawn([os.path.join(self.args.bin, "fieldwatch"), "serve", "--broker", self.broker.url, "--db", self.db,
                                         "--inventory", self.inventory, "--profiles", os.path.join(self.args.root, "DeviceProfiles"),
                                         "--client-id", "reliability-gateway"], stdout=self.log, stderr=self.log, env=self.env())
        ok = wait_for(lambda: urllib.request.urlopen(f"http://127.0.0.1:{self.http}/healthz", timeout=1).status == 200, 60)
        if not ok:
            raise SystemExit("the gateway did not start; see " + self.log.name)

    def start_sim(self, extra):
        log = open(os.path.join(self.work, "sim.log"), "a")
        self.sim = spawn([os.path.join(self.args.bin, "fieldwatch-sim"), "run", "--broker", self.broker.url, "--inventory", self.inventory,
                                     "--profiles", os.path.join(self.args.root, "DeviceProfiles"), "--client-id", f"sim-{random.random()}"] + extra,
                                    stdout=log, stderr=log)

    def metrics(self):
        text = urllib.request.urlopen(f"http://127.0.0.1:{self.http}/metrics", timeout=5).read().decode()
        out = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                out[name] = float(value)
        return out

    def stop(self):
        for p in (self.sim, self.gateway):
            if p and p.poll() is None:
                p.terminate()
                try:
                    p.wait(30)
                except subprocess.TimeoutExpired:
                    p.kill()

    def query(self, sql):
        c = sqlite3.connect(self.db, timeout=30)
        try:
            return c.execute(sql).fetchall()
        finally:
            c.close()

    def snapshot(self):
        return {
            "tickets": {r[0] for r in self.query("SELECT id FROM ticket")},
            "detections": {r[0] for r in self.query("SELECT id FROM detection")},
            "outbox": {r[0] for r in self.query("SELECT id FROM outbox")},
            "escalations": {tuple(r) for r in self.query("SELECT ticket_id, clock, level, deadline FROM escalation")},
            "audit": self.query("SELECT id, hash FROM audit_record ORDER BY id DESC LIMIT 1"),
        }

    def verify_audit(self):
        r = subprocess.run([os.path.join(self.args.bin, "fieldwatch"), "audit", "verify", "--db", self.db], capture_output=True, text=True)
        return r.returncode == 0, (r.stdout + r.stderr).strip()

    def invariants(self, label):
        """The checks that hold at any moment: integrity, chain, no duplicate open ticket."""
        integrity = self.query("PRAGMA integrity_check")[0][0]
        audit_ok, audit_text = self.verify_audit()
        duplicates = self.query("""SELECT device_id, fault_code, COUNT(*) FROM ticket WHERE status NOT IN ('closed', 'cancelled')
                                   GROUP BY device_id, fault_code HAVING COUNT(*) > 1""")
        ok = integrity == "ok" and audit_ok and not duplicates
        if not ok:
            check(integrity == "ok", f"{label}: PRAGMA integrity_check = {integrity}")
            check(audit_ok, f"{label}: fieldwatch audit verify: {audit_text}")
            check(not duplicates, f"{label}: one open ticket per (device, fault): {duplicates}")
        return ok


def webhook_order(site, receiver, label):
    """Every notification delivered (2xx) at least once, signed, and first deliveries in order."""
    since = site.query("SELECT since FROM outbox_destination WHERE name LIKE 'webhook:%'")
    since = since[0][0] if since else 0
    expected = [k for (k,) in site.query(f"SELECT key FROM outbox WHERE created_at >= {since} ORDER BY id")]
    delivered = receiver.delivered()
    first = []
    seen = set()
    for r in delivered:
        if r["key"] not in seen:
            seen.add(r["key"])
            first.append(r["key"])
    position = {k: i for i, k in enumerate(expected)}
    missing = [k for k in expected if k not in seen]
    in_order = all(position.get(a, -1) < position.get(b, -1) for a, b in zip(first, first[1:]))
    check(not missing, f"{label}: every one of {len(expected)} notifications delivered at least once ({len(missing)} missing)")
    check(in_order, f"{label}: first deliveries in outbox order")
    check(all(r["signed"] for r in receiver.requests), f"{label}: every request's X-Fieldwatch-Signature verified with Python's hmac")
    duplicates = len(delivered) - len(seen)
    return len(expected), duplicates


def phase_kill(args, root_work):
    print(f"\n== kill -9: {args.cycles} cycles under load (tickets opening, escalations due, webhooks pending)", flush=True)
    work = os.path.join(root_work, "kill")
    os.makedirs(work)
    rng = random.Random(args.seed)
    broker = Broker(work, persistence=False)
    receiver = Receiver()
    site = Site(args, work, broker, receiver)
    site.start_gateway()
    site.start_sim(["--rate", "2", "--faults", "16", "--fault-onset", "2", "--fault-ramp", "30",
                    "--fault-types", "sudden_failure,degradation,spikes,stuck", "--seed", str(args.seed)])
    lost = {"tickets": 0, "detections": 0, "outbox": 0, "escalations": 0, "audit": 0}
    survived = 0
    # The first faults need their limits' min_duration (10 s) to become tickets; the kills then
    # land while more open, their clocks escalate and their notifications go out.
    wait_for(lambda: len(site.query("SELECT id FROM ticket")) >= 3, 60, 0.5)
    for cycle in range(1, args.cycles + 1):
        time.sleep(rng.uniform(0.5, 3.5))
        before = site.snapshot()
        site.gateway.send_signal(signal.SIGKILL)
        site.gateway.wait()
        after = site.snapshot()
        for key in ("tickets", "detections", "outbox", "escalations"):
            gone = before[key] - after[key]
            lost[key] += len(gone)
            if gone:
                check(False, f"cycle {cycle}: {len(gone)} {key} committed before the kill are gone: {sorted(gone)[:5]}")
        if before["audit"]:
            (aid, ahash), = before["audit"]
            still = site.query(f"SELECT hash FROM audit_record WHERE id = {aid}")
            if not still or still[0][0] != ahash:
                lost["audit"] += 1
                check(False, f"cycle {cycle}: audit record #{aid} committed before the kill changed or is gone")
        ok = site.invariants(f"cycle {cycle}")
        site.start_gateway()
        if ok:
            survived += 1
        if cycle % 5 == 0 or cycle == args.cycles:
            print(f"  cycle {cycle}: {len(after['tickets'])} tickets, {len(after['detections'])} detections, {len(after['escalations'])} escalations, "
                  f"{len(after['outbox'])} notifications so far", flush=True)
    # Let the last run settle: the simulator stops, the outbox drains.
    site.sim.terminate()
    site.sim.wait()
    drained = wait_for(lambda: site.metrics().get("fieldwatch_outbox_backlog", 1) == 0, 120, 0.5)
    check(drained, "the outbox drains after the last restart")
    total, redelivered = webhook_order(site, receiver, "kill -9")
    snap = site.snapshot()
    site.stop()
    check(site.invariants("after the last stop"), "integrity, audit chain and one open ticket per (device, fault) after the last stop")
    check(sum(lost.values()) == 0, f"records lost across {args.cycles} kills: {lost}")
    check(len(snap["tickets"]) > 0 and len(snap["escalations"]) > 0, f"the run did work: {len(snap['tickets'])} tickets, {len(snap['escalations'])} escalations")
    broker.stop()
    return {"cycles": args.cycles, "cycles_with_invariants_ok": survived, "records_lost": lost, "tickets": len(snap["tickets"]),
            "detections": len(snap["detections"]), "escalations": len(snap["escalations"]), "notifications": total,
            "webhook_redeliveries": redelivered}


def phase_broker_restart(args, root_work):
    print("\n== broker restart mid-stream (QoS 1, persistent session, broker persistence on)", flush=True)
    work = os.path.join(root_work, "broker")
    os.makedirs(work)
    broker = Broker(work, persistence=True)
    receiver = Receiver()
    site = Site(args, work, broker, receiver, devices=8)
    site.start_gateway()
    count = 4000
    started = time.time()
    site.start_sim(["--rate", "25", "--faults", "0", "--messages", str(count), "--seed", "3"])
    time.sleep(4)
    broker.stop()
    time.sleep(2)
    broker.start()
    reconnected = wait_for(lambda: site.metrics().get("fieldwatch_mqtt_connected") == 1, 60, 0.5)
    check(reconnected, "the gateway reconnects by itself")
    finished = wait_for(lambda: site.sim.poll() is not None, 120, 0.5)
    check(finished, "the simulator published everything")
    sim_log = open(os.path.join(work, "sim.log")).read()
    found = re.findall(r"published (\d+) messages", sim_log)
    published = int(found[-1]) if found else -1
    wait_for(lambda: site.metrics().get("fieldwatch_mqtt_messages_total", 0) >= published, 30, 0.5)
    received = int(site.metrics().get("fieldwatch_mqtt_messages_total", 0))
    connects = int(site.metrics().get("fieldwatch_mqtt_connects_total", 0))
    check(connects >= 2, f"reconnected after the restart ({connects} connections)")
    # QoS 1 is at least once: duplicates are expected, so losses are counted on distinct
    # readings, read back through the API (each message is one reading time of one device).
    token = json.loads(subprocess.run([os.path.join(args.bin, "fieldwatch"), "tokens", "create", "--db", site.db, "--name", "reliability",
                                       "--role", "admin", "--subject", "reliability", "--json"], capture_output=True, text=True).stdout)["secret"]
    distinct = 0
    for i in range(8):
        request = urllib.request.Request(f"http://127.0.0.1:{site.http}/api/v1/devices/pump-{i:02d}/telemetry?sensor=bearing_temp"
                                         f"&from={time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(started - 120))}",
                                         headers={"Authorization": "Bearer " + token})
        distinct += len({s["ts"] for s in json.loads(urllib.request.urlopen(request, timeout=10).read())["samples"]})
    lost = max(0, published - distinct)
    check(lost == 0, f"published {published} readings, the gateway has {distinct} distinct ones ({received} messages with QoS 1 duplicates): {lost} lost")
    site.stop()
    check(site.invariants("after the broker restart"), "integrity and audit chain after the broker restart")
    broker.stop()
    return {"published": published, "received_messages": received, "distinct_readings": distinct, "lost": lost, "connections": connects}


def phase_disk_full(args, root_work):
    print("\n== disk full (a small tmpfs holds the database)", flush=True)
    work = os.path.join(root_work, "disk")
    os.makedirs(work)
    mount = os.path.join(work, "small")
    os.makedirs(mount)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", mount], capture_output=True, text=True)
    if r.returncode != 0:
        print(f"  skipped: cannot mount a tmpfs here ({r.stderr.strip()}); run as root on a machine that allows mounts", flush=True)
        return {"skipped": r.stderr.strip()}
    try:
        broker = Broker(work, persistence=False)
        receiver = Receiver()
        site = Site(args, work, broker, receiver, devices=12, db_dir=mount)
        site.start_gateway()
        site.start_sim(["--rate", "4", "--faults", "10", "--fault-onset", "8", "--fault-ramp", "6",
                        "--fault-types", "sudden_failure,spikes", "--seed", "5"])
        time.sleep(3)
        # Fill the disk.
        filler = os.path.join(mount, "filler")
        subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=64k"], capture_output=True)
        said = wait_for(lambda: "disk or the database's size limit is full" in open(site.log.name).read(), 60, 0.5)
        check(said, "the log says the disk is full")
        # Faults ramp past their limits while the disk is full: the desk cannot store the detections.
        desk_full = wait_for(lambda: site.metrics().get("fieldwatch_desk_disk_full") == 1, 90, 0.5)
        check(desk_full, "/metrics says the desk cannot store detections (fieldwatch_desk_disk_full 1)")
        time.sleep(3)
        check(site.gateway.poll() is None, "the gateway keeps running on a full disk")
        queued = site.metrics().get("fieldwatch_desk_queue", 0)
        check(queued > 0, f"detections wait in memory, not dropped ({int(queued)} queued)")
        os.remove(filler)
        resumed = wait_for(lambda: site.metrics().get("fieldwatch_desk_disk_full") == 0 and site.metrics().get("fieldwatch_desk_queue") == 0, 90, 0.5)
        check(resumed, f"it resumes by itself when space returns ({int(queued)} detections were waiting)")
        tickets = len(site.query("SELECT id FROM ticket"))
        check(tickets > 0, f"tickets stored after the disk had room again ({tickets})")
        site.stop()
        check(site.invariants("after the full disk"), "integrity and audit chain after the full disk")
        broker.stop()
        return {"detections_waiting_while_full": int(queued), "tickets": tickets, "resumed": resumed}
    finally:
        subprocess.run(["umount", "-l", mount], capture_output=True)


def phase_webhook_down(args, root_work):
    print("\n== webhook receiver down for a while, then back", flush=True)
    work = os.path.join(root_work, "webhook")
    os.makedirs(work)
    broker = Broker(work, persistence=False)
    receiver = Receiver()
    receiver.down = True
    site = Site(args, work, broker, receiver, devices=8)
    site.start_gateway()
    site.start_sim(["--rate", "2", "--faults", "6", "--fault-onset", "1", "--fault-ramp", "4", "--fault-types", "sudden_failure", "--seed", "9"])
    wait_for(lambda: len(site.query("SELECT id FROM outbox")) >= 6, 60, 0.5)
    time.sleep(10)
    refused = len(receiver.requests)
    receiver.down = False
    site.sim.terminate()
    site.sim.wait()
    drained = wait_for(lambda: site.metrics().get("fieldwatch_outbox_backlog", 1) == 0, 180, 0.5)
    check(drained, "every notification delivered once the receiver is back")
    total, redelivered = webhook_order(site, receiver, "webhook down")
    check(redelivered == 0, f"each delivered exactly once ({redelivered} twice)")
    site.stop()
    broker.stop()
    return {"notifications": total, "refused_while_down": refused, "delivered_twice": redelivered}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", required=True, help="directory of the fieldwatch and fieldwatch-sim binaries")
    parser.add_argument("--cycles", type=int, default=20, help="kill -9 cycles (default 20; 200 by hand)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--phases", default="kill,broker,disk,webhook")
    parser.add_argument("--report", help="write the figures as JSON here")
    parser.add_argument("--keep", action="store_true", help="keep the working directory (logs, databases)")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the processes started are stopped too
    args.root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    work = tempfile.mkdtemp(prefix="fieldwatch-reliability-")
    print(f"working in {work}", flush=True)
    phases = {"kill": phase_kill, "broker": phase_broker_restart, "disk": phase_disk_full, "webhook": phase_webhook_down}
    figures = {}
    started = time.time()
    try:
        for name in args.phases.split(","):
            figures[name] = phases[name](args, work)
    finally:
        if not args.keep and not failures:
            shutil.rmtree(work, ignore_errors=True)
    figures["seconds"] = round(time.time() - started)
    figures["failures"] = failures
    print("\n== figures\n" + json.dumps(figures, indent=2), flush=True)
    if args.report:
        with open(args.report, "w") as f:
            json.dump(figures, f, indent=2)
    if failures:
        print(f"\n{len(failures)} check(s) failed; logs and databases kept in {work}", flush=True)
        sys.exit(1)
    print("\nall reliability checks passed", flush=True)


if __name__ == "__main__":
    main()
