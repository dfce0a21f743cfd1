// fieldwatch-bench: `make bench`. Every figure is printed beside a reference measured in the
// same run, because these machines are shared and absolute numbers move from run to run.
import Detection
import FieldwatchCore
import FieldwatchTesting
import Foundation
import Gateway
import Logging
import MQTT
import Ingest
import PayloadFormats
import Profiles
import ServiceDesk
import ServiceLifecycle
import Storage
import Synchronization
import TimeSeries


LoggingSystem.bootstrap { label in
    var h = StreamLogHandler.standardError(label: label)
    h.logLevel = .error
    return h
}

struct Row {
    var figure: String
    var value: String
    var reference: String
    var ratio: String
    var target: String
}
var rows: [Row] = []
@MainActor func row(_ figure: String, _ value: String, _ reference: String, _ ratio: String, _ target: String) {
    rows.append(Row(figure: figure, value: value, reference: reference, ratio: ratio, target: target))
    print("  \(figure): \(value) | reference \(reference) | ratio \(ratio) | target \(target)")
}
func rate(_ n: Int, _ seconds: Double) -> Double { Double(n) / max(seconds, 1e-9) }
func human(_ x: Double) -> String {
    x >= 1e6 ? String(format: "%.1f M", x / 1e6) : x >= 1e3 ? String(format: "%.1f k", x / 1e3) : String(format: "%.0f", x)
}
func seconds(_ body: () throws -> Void) rethrows -> Double {
    let start = DispatchTime.now().uptimeNanoseconds
    try body()
    return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
}
func rssBytes() -> Int {
    guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8), let pages = Int(text.split(separator: " ")[1]) else { return 0 }
    return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
}
func percentile(_ sorted: [Double], _ q: Double) -> Double {
    sorted.isEmpty ? .nan : sorted[max(0, min(sorted.count - 1, Int((q * Double(sorted.count)).rounded(.up)) - 1))]
}
@inline(never) func blackHole<T>(_ x: T) { withExtendedLifetime(x) {} }

let samples = Int(ProcessInfo.processInfo.environment["BENCH_SAMPLES"] ?? "") ?? 20_000_000
let messages = Int(ProcessInfo.processInfo.environment["BENCH_MESSAGES"] ?? "") ?? 200_000
/// `BENCH_ONLY=latency,qos1` runs only the named parts: core, history, dispatch, burst, qos0, formats, latency, qos1, drift
/// (`formats-pipeline` the formats' one-thread part only; `backtest` the historian reader and backtest; `BENCH_FORMAT=sparkplug` repeats one format 10 times, for a profiler).
let only = Set((ProcessInfo.processInfo.environment["BENCH_ONLY"] ?? "").split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) })
func wants(_ part: String) -> Bool { only.isEmpty || only.contains(part) }
print("fieldwatch-bench: \(ProcessInfo.processInfo.activeProcessorCount) cores; \(human(Double(samples))) samples for the core figures, \(human(Double(messages))) MQTT messages end to end")

// MARK: ring append vs a plain [Double] append

let dir = try makeTemporaryDirectory(prefix: "bench")
var ringRate = Double.nan
if wants("core") {
print("core, one thread:")
var reference = [Double]()
reference.reserveCapacity(1 << 20)
let plainTime = seconds {
    for i in 0..<samples {
        if reference.count == 1 << 20 { reference.removeAll(keepingCapacity: true) }
        reference.append(Double(i))
    }
}
blackHole(reference)
var ring = RingBuffer(capacity: 256)
let ringTime = seconds {
    for i in 0..<samples { _ = ring.append(Sample(timestamp: Timestamp(milliseconds: Int64(i)), value: Double(i & 1023))) }
}
blackHole(ring)
ringRate = rate(samples, ringTime)
row("ring append, samples/s", human(ringRate), "[Double] append \(human(rate(samples, plainTime)))", String(format: "%.2f", ringRate / rate(samples, plainTime)), "≥ 50 M/s")

// MARK: the default detector set of a gauge with limits and a period (threshold with hysteresis,
// trend forecast, flatline) vs ring append alone

var engine = DetectionEngine()
let keys = (0..<1000).map { SeriesKey(device: DeviceID("d\($0)"), sensor: "bearing_temp") }
for key in keys {
    engine.register(key, threshold: .init(direction: .above, warning: 80, critical: 95, clear: 75, minDuration: .seconds(10)))
    engine.register(key, forecast: .init(direction: .above, limit: 95, smoothing: 1))
    engine.register(key, flatline: .init())
}
var events = 0
let detectorTime = seconds {
    for i in 0..<samples {
        // A slow sine with noise-like wiggle: crosses the warning limit now and then.
        let v = 60 + 25 * sin(Double(i / keys.count) / 500) + Double(i % 7)
        events += engine.observeAll(Sample(timestamp: Timestamp(milliseconds: Int64(i / keys.count) * 1000), value: v), for: keys[i % keys.count]).count
    }
}
blackHole(events)
let detectorRate = rate(samples, detectorTime)
row("default detector set (threshold + forecast + flatline, 1,000 series), samples/s", human(detectorRate), "ring append \(human(ringRate))",
    String(format: "%.3f", detectorRate / ringRate), "≥ 1 M/s")

// MARK: the series store as ingest uses it (lock, dictionary, ring), without and with the
// compressed history tier behind the rings

/// Decimal readings of 1,000 series, one a second each: what the ingest path appends.
func storeAppendRate(historyBytes: Int) -> Double {
    let store = SeriesStore(configuration: .init(capacity: 256, historyBytes: historyBytes))
    let keys = (0..<1000).map { SeriesKey(device: DeviceID("d\($0)"), sensor: "bearing_temp") }
    let n = samples / 4
    let time = seconds {
        for i in 0..<n {
            let v = (600 + Double(i % 37) - Double(i % 11)) / 10
            _ = store.append(Sample(timestamp: Timestamp(milliseconds: Int64(i / keys.count) * 1000), value: v), to: keys[i % keys.count])
        }
    }
    blackHole(store)
    return rate(n, time)
}
let storePlain = storeAppendRate(historyBytes: 0)
let storeHistory = storeAppendRate(historyBytes: 64 * 1024)
row("series store append, 1,000 series, samples/s: history off / on (64 KiB a series)", "\(human(storePlain)) / \(human(storeHistory))",
    "ring append \(human(ringRate))", String(format: "%.2f (on/off)", storeHistory / storePlain), "report")

// MARK: memory: 10,000 series at the default ring capacity

let before = rssBytes()
let store = SeriesStore(configuration: .init(capacity: 256))
for s in 0..<10_000 {
    let key = SeriesKey(device: DeviceID("dev-\(s / 5)"), sensor: SensorKey("s\(s % 5)"))
    for i in 0..<256 { _ = store.append(Sample(timestamp: Timestamp(milliseconds: Int64(i) * 1000), value: Double(i)), to: key) }
}
let grown = rssBytes() - before
row("RSS of 10,000 full series (256 samples each)", String(format: "%.1f MB (%.1f B/sample)", Double(grown) / 1e6, Double(grown) / Double(10_000 * 256)),
    "ring memory \(String(format: "%.1f MB", Double(store.bytesInUse) / 1e6))", "-", "≤ 64 MB")
blackHole(store)
}

// MARK: compressed history tier: Gorilla blocks on a simulated day of the demo site

let simulator = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("fieldwatch-sim").path
if !wants("history") {
} else if FileManager.default.isExecutableFile(atPath: simulator) {
    let simDir = try makeTemporaryDirectory(prefix: "bench-sim")
    let out = simDir.appendingPathComponent("day.jsonl").path
    let root = Fixtures.packageRoot()
    let (status, _) = try await runProcess(simulator, [
        "--inventory", root.appendingPathComponent("Simulator/demo-site.yaml").path, "--profiles", root.appendingPathComponent("DeviceProfiles").path,
        "--out", out, "--start", "2026-03-02T00:00:00Z", "--duration", "86400", "--rate", "0.1", "--faults", "1", "--seed", "1",
    ])
    var series: [String: [Sample]] = [:]
    if status == 0, let text = try? String(contentsOfFile: out, encoding: .utf8) {
        for line in text.split(separator: "\n") {
            guard let message = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let topic = message["topic"] as? String, let payload = message["payload"] as? String,
                  let body = try? JSONSerialization.jsonObject(with: Data(payload.utf8)) as? [String: Any],
                  let ts = (body["ts"] as? NSNumber)?.int64Value, let metrics = body["metrics"] as? [String: Any] else { continue }
            for (sensor, value) in metrics {
                guard let v = (value as? NSNumber)?.doubleValue else { continue }
                series["\(topic)/\(sensor)", default: []].append(Sample(timestamp: Timestamp(milliseconds: ts), value: v))
            }
        }
    }
    // Two-hour blocks per series, as in the paper.
    var bytes = 0
    var count = 0
    for samples in series.values {
        var block = GorillaBlock()
        for sample in samples {
            if let first = block.first, sample.timestamp - first >= .seconds(7200) {
                bytes += block.byteCount
                block = GorillaBlock()
            }
            block.append(sample)
            count += 1
        }
        bytes += block.byteCount
    }
    row("compressed history (Gorilla, 2 h blocks), simulated day of the demo site (\(series.count) series, \(count) samples), bytes/sample",
        String(format: "%.2f", Double(bytes) / Double(max(count, 1))), "raw ring 16", String(format: "%.3f", Double(bytes) / Double(max(count, 1)) / 16),
        "report (paper: 1.37)")
} else {
    print("  compressed history: skipped (no \(simulator); `make bench` builds it)")
}

// MARK: dispatch: suggest with 500 engineers, a plan for 5,000 open tickets × 500 engineers
if wants("dispatch") {
    print("dispatch, one thread:")
    var rng = SplitMix64(seed: 42)
    func spot() -> GeoPoint { GeoPoint(latitude: 22.3 + rng.uniform() * 1.2, longitude: 112.9 + rng.uniform() * 1.5) }
    let trades = ["mechanical", "electrical", "instrumentation", "controls", "hvac", "refrigeration"]
    let sites = (0..<200).map { _ in spot() }
    let now = Timestamp.now()
    // Roomy: 12 places each (6,000 for 5,000 tickets), deadlines 1–24 h. Tight: 9 places (4,500), deadlines 1–4 h.
    for (places, hours, name) in [(12, 24.0, "roomy"), (9, 4.0, "tight")] {
        var rng = SplitMix64(seed: 42)
        func spot() -> GeoPoint { GeoPoint(latitude: 22.3 + rng.uniform() * 1.2, longitude: 112.9 + rng.uniform() * 1.5) }
        let team = (0..<500).map { i in
            Engineer(id: "eng\(i)", name: "Engineer \(i)", skills: trades.filter { _ in rng.uniform() < 0.5 }.map { HeldSkill(skill: $0, certificateUntil: "2030-01-01") },
                     home: spot(), maxJobs: places)
        }
        let tickets = (0..<5_000).map { j in
            DispatchJob(ticketID: Int64(j + 1), site: SiteID("s\(j % 200)"), position: sites[j % 200], timeZone: "Asia/Shanghai",
                        skills: rng.uniform() < 0.7 ? [trades[Int(rng.uniform() * Double(trades.count))]] : [],
                        deadline: now + .seconds(Int64(3600 + rng.uniform() * (hours - 1) * 3600)), tier: rng.uniform() < 0.2 ? .vip : .standard)
        }
        let dispatcher = Dispatcher(engineers: team)
        if name == "roomy" {
            var ranked = 0
            let suggestTime = seconds { for job in tickets.prefix(200) { ranked += dispatcher.suggest(job, now: now).candidates.count } }
            var distances = 0.0
            let distanceTime = seconds { for job in tickets.prefix(200) { for e in team { distances += e.home.kilometres(to: job.position) } } }
            blackHole(distances)
            row("dispatch suggest, one ticket × 500 engineers (ranked, with reasons and exclusions)", String(format: "%.2f ms", suggestTime / 200 * 1000),
                String(format: "500 distances %.3f ms", distanceTime / 200 * 1000), String(format: "%.0f", suggestTime / distanceTime), "report")
        }
        var plan: DispatchPlan?
        let planTime = seconds { plan = dispatcher.plan(tickets, now: now) }
        var distances = 0.0
        let allDistances = seconds { for job in tickets { for e in team { distances += e.home.kilometres(to: job.position) } } }
        blackHole(distances)
        row("dispatch plan, 5,000 open tickets × 500 engineers, \(name) (\(places) places each, deadlines 1–\(Int(hours)) h), s", String(format: "%.2f", planTime)
            + " (\(plan!.assignments.count) assigned, \(plan!.unassigned.count) left out, \(plan!.breaches) breaches, \(Int(plan!.total_km)) km)",
            String(format: "2.5 M distances %.2f s", allDistances), String(format: "%.1f", planTime / allDistances), "≤ 2 s")
    }
}

// MARK: burst of 10,000 detections → dedup → committed
if wants("burst") {
let ticketStore = try TicketStore(path: dir.appendingPathComponent("burst.db").path)
let desk = TicketDesk(store: ticketStore, logger: Logger(label: "bench"))
let t0 = Timestamp.now()
/// `BENCH_BURST` changes the size (10,000 takes 0.6 s, 100,000 about 6 s: linear).
let burst = Int(ProcessInfo.processInfo.environment["BENCH_BURST"] ?? "") ?? 10_000
for i in 0..<burst {
    let at = t0 + .milliseconds(Int64(i))
    desk.submit(Anomaly(site: "site-a", device: "pump-1", sensor: "bearing_temp", faultCode: "BEARING_OVERTEMP", transition: .raised, severity: .warning,
                        detectedAt: at, conditionSince: at, value: 85, limit: 80, unit: "Cel", detector: "threshold", detectorVersion: 1,
                        profileID: "test-pump", profileVersion: 3, summary: "bench", evidence: []))
}
let burstStart = DispatchTime.now().uptimeNanoseconds
await desk.drain()
let burstTime = Double(DispatchTime.now().uptimeNanoseconds - burstStart) / 1e9
row("burst of \(burst.formatted()) detections → one ticket, committed", String(format: "%.2f s (%@ detections/s)", burstTime, human(rate(burst, burstTime))),
    "-", "-", "report (\(try ticketStore.tickets().count) ticket, \(try ticketStore.tickets().first?.occurrences ?? 0) occurrences)")
}

// MARK: one detection at a time: the desk's transaction alone, without load

if wants("desk") {
    let store = try TicketStore(path: dir.appendingPathComponent("desk.db").path)
    let desk = TicketDesk(store: store, logger: Logger(label: "bench"))
    let t0 = Timestamp.now()
    var times: [Double] = []
    for i in 0..<2_000 {
        let at = t0 + .milliseconds(Int64(i))
        desk.submit(Anomaly(site: "site-a", device: "pump-1", sensor: "discharge_pressure", faultCode: "DISCHARGE_PRESSURE_LOW",
                            transition: i % 2 == 0 ? .raised : .cleared, severity: .critical, detectedAt: at, conditionSince: at, value: 1, limit: 2,
                            unit: "bar", detector: "threshold", detectorVersion: 1, profileID: "test-pump", profileVersion: 3, summary: "bench",
                            evidence: (0..<30).map { Sample(timestamp: at - .seconds(Int64(30 - $0)), value: 5) }))
        let start = DispatchTime.now().uptimeNanoseconds
        await desk.drain()
        times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
    }
    times.sort()
    row("one detection → committed, alone (raise/clear alternating, 30 evidence samples), p50 / p99", String(format: "%.2f / %.2f ms", percentile(times, 0.5), percentile(times, 0.99)),
        "-", "-", "report")

    // The same while the rings and history of 10,000 series are saved: the save's transaction
    // holds SQLite's one writer, and commits wait behind it.
    let series = SeriesStore(configuration: .init(capacity: 256, historyBytes: 64 * 1024))
    let hours = 6
    for s in 0..<10_000 {
        let key = SeriesKey(device: DeviceID("dev-\(s / 5)"), sensor: SensorKey("s\(s % 5)"))
        for i in 0..<(256 + hours * 360) {
            series.append(Sample(timestamp: t0 + .seconds(Int64(i) * 10), value: Double(500 + (i * 7 + s) % 23) / 10), to: key)
        }
    }
    let saver = SeriesCheckpoints(series: series, store: store, logger: Logger(label: "bench"))
    await saver.save()  // the sealed blocks once; the next save rewrites rings and open blocks
    for s in 0..<10_000 {
        series.append(Sample(timestamp: t0 + .seconds(Int64(256 + hours * 360) * 10), value: 50), to: SeriesKey(device: DeviceID("dev-\(s / 5)"), sensor: SensorKey("s\(s % 5)")))
    }
    let saving = Task { await saver.save() }
    var during: [Double] = []
    var i = 0
    while during.isEmpty || saver.counters.saved < 2 {
        let at = t0 + .seconds(86_400) + .milliseconds(Int64(i))
        desk.submit(Anomaly(site: "site-a", device: "pump-1", sensor: "discharge_pressure", faultCode: "DISCHARGE_PRESSURE_LOW",
                            transition: i % 2 == 0 ? .raised : .cleared, severity: .critical, detectedAt: at, conditionSince: at, value: 1, limit: 2,
                            unit: "bar", detector: "threshold", detectorVersion: 1, profileID: "test-pump", profileVersion: 3, summary: "bench", evidence: []))
        let start = DispatchTime.now().uptimeNanoseconds
        await desk.drain()
        during.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
        i += 1
    }
    _ = await saving.value
    let fresh = SeriesStore(configuration: series.configuration)
    let restoreStart = DispatchTime.now().uptimeNanoseconds
    let restored = SeriesCheckpoints(series: fresh, store: store, logger: Logger(label: "bench")).restore { _ in true }
    let restoreTime = Double(DispatchTime.now().uptimeNanoseconds - restoreStart) / 1e9
    row("restore at start-up: 10,000 series, rings + \(hours) h history (\(human(Double(restored?.samples ?? 0))) samples)", String(format: "%.2f s", restoreTime),
        "-", "-", "report")
    let c = saver.counters
    row("one detection → committed while 10,000 series (rings + \(hours) h history) are saved: max (\(during.count) commits)",
        String(format: "%.0f ms", during.max() ?? .nan),
        String(format: "the save: %.2f s, %.1f MB written", c.lastDuration?.secondsDouble ?? .nan, Double(c.lastBytes ?? 0) / 1e6), "-", "report")
}

// MARK: end to end: a private broker, a libmosquitto publisher, mosquitto_sub vs the gateway

print("end to end (broker, publisher and receiver share the cores):")
let broker = try MosquittoBroker(extraConfiguration: "max_queued_messages 0\nmax_inflight_messages 0\n")
let (profiles, inventory) = try Fixtures.writeSite(in: dir)
/// ~100-byte telemetry stamped with the wall clock. Every 100th message is a latency probe on
/// pump-1: its discharge pressure alternates below the critical 2 bar (raise, no hold time) and
/// back to normal (clear), so each probe becomes one committed detection.
func payload(_ i: Int, probes: Bool) -> String {
    let pressure = probes && i % 100 == 0 ? (i % 200 == 0 ? "1.0" : "5.0") : "5.\(i % 10)"
    return #"{"ts":\#(Timestamp.now().milliseconds),"metrics":{"bearing_temp":\#(50 + i % 20).5,"discharge_pressure":\#(pressure),"flow":1\#(i % 90)}}"#
}
/// Publishes `count` messages (default: all), as fast as possible or paced at `rate` msg/s.
func publish(qos: Int, count: Int = messages, rate: Double? = nil, probes: Bool = false) async throws -> Double {
    let publisher = try MQTTClient(configuration: MQTTConfiguration(host: "127.0.0.1", port: broker.port, clientID: "bench-pub-\(qos)", bufferCapacity: 16))
    try publisher.connect()
    guard await publisher.waitUntilConnected() else { throw FixtureError("publisher could not connect") }
    let start = DispatchTime.now().uptimeNanoseconds
    // On a thread of its own, as the devices are: the publisher must not hold one of the
    // cooperative threads the gateway under test runs on.
    try await withCheckedThrowingContinuation { (done: CheckedContinuation<Void, Error>) in
        let thread = Thread {
            done.resume(with: Result {
                for i in 0..<count {
                    if let rate, i % 20 == 0 {
                        let due = start + UInt64(Double(i) / rate * 1e9)
                        let now = DispatchTime.now().uptimeNanoseconds
                        if due > now { usleep(UInt32((due - now) / 1000)) }
                    }
                    try publisher.publish(topic: "fieldwatch/site-a/pump-\(probes && i % 100 == 0 ? 1 : i % 2 + 1)/telemetry",
                                          payload: payload(i, probes: probes), qos: qos)
                }
            })
        }
        thread.name = "bench publisher"
        thread.start()
    }
    _ = await publisher.waitUntilPublished(timeout: .seconds(120))
    let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    publisher.disconnect()
    return elapsed
}

/// Runs a program to its end on a Dispatch thread; returns its status and standard output.
func runProcess(_ path: String, _ arguments: [String]) async throws -> (Int32, String) {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async {
            continuation.resume(with: Result {
                let p = Process()
                p.executableURL = URL(fileURLWithPath: path)
                p.arguments = arguments
                let out = Pipe()
                p.standardOutput = out
                try p.run()
                let data = out.fileHandleForReading.readDataToEndOfFile()
                p.waitUntilExit()
                return (p.terminationStatus, String(decoding: data, as: UTF8.self))
            })
        }
    }
}

/// mosquitto_sub receiving `messages` messages; returns msg/s from its first to its last.
func mosquittoSub(qos: Int) async throws -> (Double, Double) {
    let out = dir.appendingPathComponent("sub-\(qos).log").path
    let sub = try spawn("/usr/bin/mosquitto_sub", ["-h", "127.0.0.1", "-p", "\(broker.port)", "-t", "fieldwatch/+/+/telemetry", "-q", "\(qos)",
                                                    "-C", "\(messages)", "-i", "bench-sub-\(qos)"], logPath: out)
    try await Task.sleep(for: .milliseconds(500))
    let publishTime = try await publish(qos: qos)
    let start = DispatchTime.now().uptimeNanoseconds
    var status: Int32 = 0
    while waitpid(sub, &status, WNOHANG) == 0 {
        if Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 > 120 { kill(sub, SIGKILL); break }
        try await Task.sleep(for: .milliseconds(5))
    }
    let received = ((try? String(contentsOfFile: out, encoding: .utf8)) ?? "").split(separator: "\n").count
    return (rate(received, publishTime + Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9), rate(messages, publishTime))
}

struct RunningGateway {
    var gateway: Gateway
    var group: ServiceGroup
    var task: Task<Void, Error>
    func stop() async throws {
        await group.triggerGracefulShutdown()
        try await task.value
    }
}

func startGateway(clientID: String, waitForSubscription: Bool = true, inventory: String = inventory,
                  onCommit: @escaping @Sendable ([Anomaly], Timestamp) -> Void = { _, _ in }) async throws -> RunningGateway {
    var c = GatewayConfiguration()
    c.broker = broker.url
    c.clientID = clientID
    c.database = dir.appendingPathComponent("\(clientID).db").path
    c.profiles = profiles
    c.inventory = inventory
    c.deadLetterFile = nil
    c.http = nil
    c.publishEvents = false
    c.mqttBuffer = 1_000_000
    let gateway = try Gateway(configuration: c, logger: Logger(label: "bench.gw"), onCommit: onCommit)
    let group = gateway.makeServiceGroup(gracefulShutdownSignals: [])
    let task = Task { try await group.run() }
    if waitForSubscription {
        guard await gateway.ingest.client.waitUntilConnected(timeout: .seconds(20)) else { throw FixtureError("gateway did not connect") }
        try await Task.sleep(for: .milliseconds(500))
    }
    return RunningGateway(gateway: gateway, group: group, task: task)
}



func gatewayRun(qos: Int) async throws -> (Double, Int) {
    let running = try await startGateway(clientID: "bench-gw-\(qos)")
    let gateway = running.gateway
    let start = DispatchTime.now().uptimeNanoseconds
    _ = try await publish(qos: qos)
    while gateway.pipeline.counters.messages < messages {
        if Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 > 120 { break }
        try await Task.sleep(for: .milliseconds(5))
    }
    let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    let received = gateway.pipeline.counters.messages
    try await running.stop()
    return (rate(received, elapsed), gateway.ingest.client.counters.droppedOverflow)
}

// QoS 0, live: the publisher sends while the receiver listens (the broker does not queue QoS 0
// for absent subscribers).
if wants("qos0") {
    let (subRate, publishRate) = try await mosquittoSub(qos: 0)
    let (gwRate, drops) = try await gatewayRun(qos: 0)
    row("ingest QoS 0 live, msg/s (~100 B, 3 metrics, all default detectors)", "\(human(gwRate))\(drops > 0 ? " (\(drops) dropped)" : "")",
        "mosquitto_sub \(human(subRate)) (publisher \(human(publishRate)))", String(format: "%.2f", gwRate / subRate), "≥ 0.9")
}

// MARK: payload formats: each format's stream, pre-encoded, through the pipeline alone (one
// thread) and through the broker into the gateway beside mosquitto_sub on the same stream.

/// `count` messages of the fixture pumps in `format`, 3 readings each (2 for the mapped gateway).
func encodedStream(_ format: PayloadFormat, count: Int) -> [(topic: String, payload: [UInt8])] {
    // In the past, 1 ms apart: every reading is newer than the one before and none is ahead
    // of the gateway's clock.
    let base = Double(Timestamp.now().milliseconds) / 1000 - Double(count) / 1000 - 60
    var out: [(String, [UInt8])] = []
    out.reserveCapacity(count + 2)
    if format == .sparkplug {
        out.append(("spBv1.0/PlantA/NBIRTH/bench", Sparkplug.payload(at: UInt64(base * 1000), seq: 0, [Sparkplug.birthDeathMetric(0)])))
        out.append(("spBv1.0/PlantA/DBIRTH/bench/pump-1", Sparkplug.payload(at: UInt64(base * 1000), seq: 1, [
            Sparkplug.metric(name: "bearing_temp", alias: 1, value: 50), Sparkplug.metric(name: "discharge_pressure", alias: 2, value: 5),
            Sparkplug.metric(name: "flow", alias: 3, value: 100)])))
    }
    for i in 0..<count {
        let t = base + Double(i) / 1000
        let (temp, pressure, flow) = (50 + Double(i % 20) + 0.5, 5 + Double(i % 10) / 10, 100 + Double(i % 90))
        switch format {
        case .json:
            out.append(("fieldwatch/site-a/pump-1/telemetry", Array(#"{"ts":\#(Int64(t * 1000)),"metrics":{"bearing_temp":\#(temp),"discharge_pressure":\#(pressure),"flow":\#(flow)}}"#.utf8)))
        case .senmlJSON, .senmlCBOR:
            let m = [SenML.Measurement(name: "bearing_temp", unit: "Cel", value: temp), .init(name: "discharge_pressure", unit: "bar", value: pressure),
                     .init(name: "flow", unit: "m3/h", value: flow)]
            out.append(("fieldwatch/senml", format == .senmlJSON ? Array(SenML.json(baseName: "site-a/pump-1/", baseTime: t, m).utf8)
                                                                 : SenML.cbor(baseName: "site-a/pump-1/", baseTime: t, m)))
        case .sparkplug:
            out.append(("spBv1.0/PlantA/DDATA/bench/pump-1", Sparkplug.payload(at: UInt64(t * 1000), seq: UInt64(i + 2) % 256, [
                Sparkplug.metric(name: nil, alias: 1, value: temp), Sparkplug.metric(name: nil, alias: 2, value: pressure),
                Sparkplug.metric(name: nil, alias: 3, value: flow)])))
        case .mapped:
            let local = Timestamp(milliseconds: Int64((t + 8 * 3600) * 1000)).rfc3339.replacingOccurrences(of: "T", with: " ").replacingOccurrences(of: "Z", with: "")
            out.append(("plant1/pumps/P-102/data", Array(#"{"time":"\#(local)","temp":\#(temp),"readings":{"flow_ls":\#(flow / 3.6)}}"#.utf8)))
        }
    }
    return out
}

let formatsInventory = dir.appendingPathComponent("formats.yaml").path
try Fixtures.formatsInventory.write(toFile: formatsInventory, atomically: true, encoding: .utf8)
if wants("formats") || only.contains("formats-pipeline") {
    print("payload formats, the ingest pipeline alone (one thread, no broker):")
    let loaded = try ProfileLoader.load(paths: [profiles])
    let inv = try Inventory.load(file: formatsInventory, profiles: loaded)
    var jsonRate = Double.nan
    let selected = ProcessInfo.processInfo.environment["BENCH_FORMAT"].flatMap(PayloadFormat.init(rawValue:))
    for format in PayloadFormat.allCases where selected == nil || selected == format || format == .json {
        let stream = encodedStream(format, count: 200_000).map { MQTTMessage(topic: $0.topic, payload: $0.payload) }
        func makePipeline() -> IngestPipeline {
            IngestPipeline(inventory: inv, profiles: loaded, store: SeriesStore(), deadLetters: DeadLetterFile(path: nil),
                           logger: Logger(label: "bench") { _ in SwiftLogNoOpLogHandler() }, sink: { _ in })
        }
        // Repeated on fresh pipelines (the same readings again would be too late for the rings).
        let rounds = selected == format ? 10 : 1
        var pipeline = makePipeline()
        var time = 0.0
        for round in 0..<rounds {
            if round > 0 { pipeline = makePipeline() }
            time += seconds { for m in stream { pipeline.handle(m) } }
        }
        time /= Double(rounds)
        let r = rate(stream.count, time)
        if format == .json { jsonRate = r }
        let c = pipeline.counters
        let rejects = c.rejects.sorted { $0.key < $1.key }.map { "\($0.key.rawValue) \($0.value)" }.joined(separator: ", ")
        row("pipeline, \(format.rawValue), msg/s (\(String(format: "%.1f", Double(c.samplesAccepted) / Double(max(c.messages, 1)))) readings each, rejects: \(rejects.isEmpty ? "none" : rejects))", human(r),
            "json \(human(jsonRate))", String(format: "%.2f", r / jsonRate), "report")
    }
}
if wants("formats") {
    print("payload formats through the broker, QoS 0 live, gateway vs mosquitto_sub on the same stream:")
    for format in PayloadFormat.allCases {
        let count = min(messages, 200_000)
        let stream = encodedStream(format, count: count)
        func send() async throws -> Double {
            let publisher = try MQTTClient(configuration: MQTTConfiguration(host: "127.0.0.1", port: broker.port, clientID: "bench-fmt-pub", bufferCapacity: 16))
            try publisher.connect()
            guard await publisher.waitUntilConnected() else { throw FixtureError("publisher could not connect") }
            let start = DispatchTime.now().uptimeNanoseconds
            try await withCheckedThrowingContinuation { (done: CheckedContinuation<Void, Error>) in
                let thread = Thread { done.resume(with: Result { for m in stream { try publisher.publish(topic: m.topic, payload: m.payload, qos: 0) } }) }
                thread.start()
            }
            _ = await publisher.waitUntilPublished(timeout: .seconds(120))
            publisher.disconnect()
            return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        }
        let subLog = dir.appendingPathComponent("sub-\(format.rawValue).log").path
        let filter = stream.last.map { $0.topic.hasPrefix("spBv1.0") ? "spBv1.0/#" : $0.topic } ?? "#"
        let sub = try spawn("/usr/bin/mosquitto_sub", ["-h", "127.0.0.1", "-p", "\(broker.port)", "-t", filter, "-q", "0", "-C", "\(stream.count)",
                                                        "-N", "-F", "%X", "-i", "bench-sub-\(format.rawValue)"], logPath: subLog)
        try await Task.sleep(for: .milliseconds(500))
        let subStart = DispatchTime.now().uptimeNanoseconds
        _ = try await send()
        var status: Int32 = 0
        while waitpid(sub, &status, WNOHANG) == 0 {
            if Double(DispatchTime.now().uptimeNanoseconds - subStart) / 1e9 > 120 { kill(sub, SIGKILL); break }
            try await Task.sleep(for: .milliseconds(5))
        }
        let subRate = rate(stream.count, Double(DispatchTime.now().uptimeNanoseconds - subStart) / 1e9)
        let running = try await startGateway(clientID: "bench-fmt-\(format.rawValue)", inventory: formatsInventory)
        let gateway = running.gateway
        let start = DispatchTime.now().uptimeNanoseconds
        _ = try await send()
        while gateway.pipeline.counters.messages < stream.count {
            if Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 > 120 { break }
            try await Task.sleep(for: .milliseconds(5))
        }
        let gwRate = rate(gateway.pipeline.counters.messages, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        let c = gateway.pipeline.counters
        try await running.stop()
        let rejects = c.rejects.sorted { $0.key < $1.key }.map { "\($0.key.rawValue) \($0.value)" }.joined(separator: ", ")
        row("ingest QoS 0 live, \(format.rawValue), msg/s (\(human(Double(c.samplesAccepted))) readings stored, rejects: \(rejects.isEmpty ? "none" : rejects))", human(gwRate),
            "mosquitto_sub \(human(subRate))", String(format: "%.2f", gwRate / subRate), "≥ 0.9")
    }
}

// MARK: backtest: a historian export (1M rows, a time and 4 tags) read alone, and read and run
// through the pump profile's whole ingest and detector set (what `fieldwatch backtest` does).

if wants("backtest") {
    print("backtest on a historian export (one thread):")
    let csvPath = dir.appendingPathComponent("historian.csv").path
    let rowCount = 1_000_000
    do {
        // A European export: ';' between cells, decimal commas, DD.MM.YYYY HH:MM:SS in UTC.
        var text = "Time;P101 Bearing Temp;P101_vibration_rms;P101_motor_current;P101_discharge_pressure\n"
        text.reserveCapacity(rowCount * 48)
        var rng = SplitMix64(seed: 9)
        func two(_ v: Int) -> String { v < 10 ? "0\(v)" : "\(v)" }
        func decimal(_ v: Double, _ places: Int) -> String { String(format: "%.\(places)f", v).replacingOccurrences(of: ".", with: ",") }
        for i in 0..<rowCount {
            let x = sin(Double(i) / 8640)
            let day = 1 + i / 86_400
            let second = i % 86_400
            text += "\(two(day % 28 + 1)).\(two(1 + day / 28)).2026 \(two(second / 3600)):\(two(second / 60 % 60)):\(two(second % 60));"
            text += "\(decimal(55 + 5 * x + rng.uniform(), 1));\(decimal(1.5 + 0.2 * x + rng.uniform() * 0.05, 2));"
            text += "\(decimal(50 + 10 * x + rng.uniform(), 1));\(decimal(6.2 - 0.3 * x + rng.uniform() * 0.1, 2))\n"
        }
        try text.write(toFile: csvPath, atomically: true, encoding: .utf8)
    }
    let utc = TimeZone(identifier: "UTC")!
    var time = Timestamp(milliseconds: 0)
    var values: [Double?] = []
    var readRows = 0
    let readTime = try seconds {
        let reader = try HistorianCSVReader(path: csvPath, timeZone: utc)
        while reader.next(time: &time, values: &values) { readRows += 1 }
    }
    let loaded = try ProfileLoader.load(paths: [Fixtures.packageRoot().appendingPathComponent("DeviceProfiles").path])
    let site = Site(id: "b", name: "b", customer: "b", latitude: 0, longitude: 0, timeZone: "UTC")
    let inv = Inventory(sites: [site], devices: [Device(id: "b", site: "b", profileID: "centrifugal-pump")], sourceFile: "bench")
    let pipeline = IngestPipeline(inventory: inv, profiles: loaded, store: SeriesStore(), deadLetters: DeadLetterFile(path: nil),
                                  logger: Logger(label: "bench") { _ in SwiftLogNoOpLogHandler() }, now: { Timestamp(milliseconds: 1_800_000_000_000) },
                                  sink: { _ in })
    let binding = pipeline.bind(device: "b", columns: [nil, "bearing_temp", "vibration_rms", "motor_current", "discharge_pressure"])!
    var runRows = 0
    let runTime = try seconds {
        let reader = try HistorianCSVReader(path: csvPath, timeZone: utc)
        while reader.next(time: &time, values: &values) {
            pipeline.ingest(row: binding, at: time, values: values)
            runRows += 1
        }
    }
    let readRate = rate(readRows, readTime)
    row("historian CSV read alone (';', decimal commas, DD.MM.YYYY times, 4 tags), rows/s", human(readRate), "-", "-", "≥ 2 M/s")
    row("backtest: read + the pump profile's ingest and detectors, rows/s (\(human(Double(pipeline.counters.samplesAccepted))) readings)",
        human(rate(runRows, runTime)), "read alone \(human(readRate))", String(format: "%.2f", rate(runRows, runTime) / readRate), "≥ 2 M/s")
}

// Latency: a steady load the gateway can carry (paced at 20k msg/s, 3 metrics each), with a
// probe every 100 messages that raises or clears a detection; each probe is timed from its
// timestamp to the desk's transaction that stored it.
for paced in [20_000.0, 50_000.0] where wants("latency") {
    // Reference: mosquitto_sub on the same paced stream, each probe timed from its timestamp
    // to the subscriber's receipt, i.e. what the broker and the loopback alone take.
    let subLog = dir.appendingPathComponent("sub-latency-\(Int(paced)).log").path
    let sub = try spawn("/usr/bin/mosquitto_sub", ["-h", "127.0.0.1", "-p", "\(broker.port)", "-t", "fieldwatch/+/pump-1/telemetry", "-q", "0",
                                                    "-F", "%U %p", "-i", "bench-sub-latency-\(Int(paced))", "--nodelay"], logPath: subLog)
    try await Task.sleep(for: .milliseconds(500))
    _ = try await publish(qos: 0, count: min(messages, 100_000), rate: paced, probes: true)
    try await Task.sleep(for: .seconds(1))
    kill(sub, SIGTERM)
    var status: Int32 = 0
    waitpid(sub, &status, 0)
    let subLatencies = ((try? String(contentsOfFile: subLog, encoding: .utf8)) ?? "").split(separator: "\n").compactMap { line -> Double? in
        // "1795800365.360897476 {"ts":…,"metrics":{…,"discharge_pressure":1.0,…}}": probes only.
        guard line.contains("\"discharge_pressure\":1.0,") || line.contains("\"discharge_pressure\":5.0,"),
              let space = line.firstIndex(of: " "), let received = Double(line[..<space]),
              let tsRange = line.range(of: "\"ts\":"), let comma = line[tsRange.upperBound...].firstIndex(of: ","),
              let ts = Double(line[tsRange.upperBound..<comma]) else { return nil }
        return received * 1000 - ts
    }.sorted()
    // Each probe's detection, from its timestamp to the end of the transaction that committed it.
    let probes = Mutex<[Double]>([])
    let running = try await startGateway(clientID: "bench-latency-\(Int(paced))", onCommit: { batch, committedAt in
        let ms = batch.filter { $0.sensor == "discharge_pressure" }.map { Double(committedAt.milliseconds - $0.detectedAt.milliseconds) }
        probes.withLock { $0.append(contentsOf: ms) }
    })
    _ = try await publish(qos: 0, count: min(messages, 100_000), rate: paced, probes: true)
    try await Task.sleep(for: .seconds(1))
    try await running.stop()
    let latencies = probes.withLock { $0 }.sorted()
    let deskDelay = running.gateway.desk.counters.commitDelay
    row("telemetry → committed detection at \(human(paced)) msg/s, p50 / p99 / max (\(latencies.count) probes)",
        String(format: "%.0f / %.0f / %.0f ms", percentile(latencies, 0.5), percentile(latencies, 0.99), latencies.last ?? .nan),
        String(format: "mosquitto_sub receipt %.1f / %.1f / %.1f ms", percentile(subLatencies, 0.5), percentile(subLatencies, 0.99), subLatencies.last ?? .nan),
        String(format: "%.2f", percentile(latencies, 0.99) / percentile(subLatencies, 0.99)), "p99 ≤ 10 ms")
    print(String(format: "    of which in the desk (queued + transaction), by its histogram: p50 ≤ %.0f ms, p99 ≤ %.0f ms",
                 (deskDelay.quantileUpperBound(0.5) ?? .nan) * 1000, (deskDelay.quantileUpperBound(0.99) ?? .nan) * 1000))
}

// QoS 1, drain: both receivers' persistent sessions queue the same messages while they are
// away, then each drains its queue alone, so the publisher's pace does not enter the figure.
if wants("qos1") {
    let sessionSub = "bench-drain-sub"
    _ = try await runProcess("/usr/bin/mosquitto_sub", ["-h", "127.0.0.1", "-p", "\(broker.port)", "-t", "fieldwatch/+/+/telemetry", "-q", "1", "-c",
                                                         "-i", sessionSub, "-E"])
    let gateway = try await startGateway(clientID: "bench-drain-gw")
    try await gateway.stop()
    _ = try await publish(qos: 1)
    let subStart = DispatchTime.now().uptimeNanoseconds
    let (_, output) = try await runProcess("/usr/bin/mosquitto_sub", ["-h", "127.0.0.1", "-p", "\(broker.port)", "-t", "fieldwatch/+/+/telemetry",
                                                                       "-q", "1", "-c", "-i", sessionSub, "-C", "\(messages)", "-W", "120"])
    let subTime = Double(DispatchTime.now().uptimeNanoseconds - subStart) / 1e9
    let subReceived = output.split(separator: "\n").count
    let drainStart = DispatchTime.now().uptimeNanoseconds
    let again = try await startGateway(clientID: "bench-drain-gw", waitForSubscription: false)
    while again.gateway.pipeline.counters.messages < messages, Double(DispatchTime.now().uptimeNanoseconds - drainStart) / 1e9 < 120 {
        try await Task.sleep(for: .milliseconds(2))
    }
    let gwTime = Double(DispatchTime.now().uptimeNanoseconds - drainStart) / 1e9
    let gwReceived = again.gateway.pipeline.counters.messages
    try await again.stop()
    let gwRate = rate(gwReceived, gwTime), subRate = rate(subReceived, subTime)
    row("ingest QoS 1, draining \(human(Double(messages))) queued messages, msg/s", human(gwRate) + (gwReceived < messages ? " (\(gwReceived) received)" : ""),
        "mosquitto_sub \(human(subRate))", String(format: "%.2f", gwRate / subRate), "≥ 0.9")
}
// RSS drift: a long run at a steady rate the gateway sustains; resident memory at minute 1
// against the end. The rings are preallocated and the buffers bounded, so it should be flat.
let driftSeconds = Int(ProcessInfo.processInfo.environment["BENCH_DRIFT_SECONDS"] ?? "") ?? 600
if driftSeconds >= 90, wants("drift") {
    let paced = 50_000.0
    print("  RSS drift: \(driftSeconds) s at \(human(paced)) msg/s (BENCH_DRIFT_SECONDS changes it; 0 skips it)…")
    let running = try await startGateway(clientID: "bench-drift")
    let publisher = Task { try await publish(qos: 0, count: Int(paced) * driftSeconds, rate: paced) }
    try await Task.sleep(for: .seconds(60))
    let atMinute = rssBytes()
    _ = try await publisher.value
    try await Task.sleep(for: .seconds(2))
    let atEnd = rssBytes()
    let received = running.gateway.pipeline.counters.messages
    try await running.stop()
    let growth = Double(atEnd - atMinute) / Double(atMinute)
    row("RSS drift over \(driftSeconds) s at \(human(paced)) msg/s (\(human(Double(received))) messages)", String(format: "%.1f MB at the end", Double(atEnd) / 1e6),
        String(format: "%.1f MB at minute 1", Double(atMinute) / 1e6), String(format: "%+.1f %%", growth * 100), "≤ +5 %")
}
broker.stop()

print("\n| figure | value | reference, same run | ratio | target |\n|---|---:|---|---:|---|")
for r in rows { print("| \(r.figure) | \(r.value) | \(r.reference) | \(r.ratio) | \(r.target) |") }
print("""

Latency: from the probe's timestamp (the publisher's wall clock, whole ms) to the end of the desk's transaction that committed its detection; the reference is mosquitto_sub's receipt of the same probes. The broker, the publisher and mosquitto_sub run with TCP_NODELAY; the gateway's connection keeps Nagle (it only sends acks).
RSS drift: the whole bench process (gateway, publisher and the figures before it), paced below the gateway's capacity so its bounded buffers do not fill.
Cores: the core figures use one thread; end to end, the broker, the publisher (a thread of this process) and the receiver (the gateway, or mosquitto_sub) share all \(ProcessInfo.processInfo.activeProcessorCount) cores.
""")
