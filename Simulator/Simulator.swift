import ArgumentParser
import FieldwatchCore
import Foundation
import Logging
import MQTT
import Profiles

/// `fieldwatch-sim`: publishes plausible telemetry for every device of an inventory, with
/// injected faults that are deterministic for a seed, and prints the ground truth it injects.
@main
struct SimulatorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fieldwatch-sim",
        abstract: "Publish simulated equipment telemetry to an MQTT broker, with injected faults.",
        discussion: """
            Every device of the inventory publishes {"ts": <epoch ms>, "metrics": {...}} on \
            fieldwatch/<site>/<device>/telemetry at QoS 1. Values follow each sensor's nominal \
            value from its profile with a slow load cycle and noise, staying inside the warning \
            limits. --faults N picks N (device, sensor) pairs from the seed and ramps each past its \
            critical limit, starting --fault-onset seconds after start; the picks are printed as \
            ground truth. The same seed gives the same values and the same faults.
            """
    )

    @Option(help: "MQTT broker, mqtt://HOST:PORT.") var broker = "mqtt://127.0.0.1:1883"
    @Option(help: "Inventory of sites and devices (the gateway's format).") var inventory = "Simulator/demo-site.yaml"
    @Option(help: "Directory of device profiles.") var profiles = "DeviceProfiles"
    @Option(help: "Seed for values and fault picks.") var seed: UInt64 = 1
    @Option(help: "Messages per second per device; 0 publishes as fast as possible.") var rate: Double = 1
    @Option(help: "Stop after this many seconds (0 = until interrupted).") var duration: Double = 0
    @Option(help: "Stop after this many messages in all (0 = no limit).") var messages: Int = 0
    @Option(help: "Number of faults to inject.") var faults: Int = 1
    @Option(help: "Seconds after start when injected faults begin.") var faultOnset: Double = 10
    @Option(help: "Seconds an injected fault takes to ramp from nominal past the critical limit.") var faultRamp: Double = 20
    @Option(help: "MQTT client id.") var clientID = "fieldwatch-sim"
    @Option(help: "QoS of published telemetry (0 or 1).") var qos: Int = 1
    @Option(help: "Simulated time runs this many times faster than wall time (timestamps are simulated).") var speed: Double = 1
    @Option(help: "Simulated start time, RFC 3339 (default now). With --out and --seed the output is byte-identical.") var start: String?
    @Option(help: "Write messages as JSON lines {topic, payload} to this file instead of publishing (no broker, no waiting).") var out: String?
    @Option(help: "Write the injected faults as JSON lines (ground truth for evaluating detection).") var labels: String?

    func validate() throws {
        guard rate >= 0, rate.isFinite else { throw ValidationError("--rate \(rate): give messages per second per device, 0 or more") }
        guard duration >= 0 else { throw ValidationError("--duration \(duration): give seconds, 0 or more") }
        guard faults >= 0 else { throw ValidationError("--faults \(faults): give 0 or more") }
        guard qos == 0 || qos == 1 else { throw ValidationError("--qos \(qos): use 0 or 1") }
        guard speed > 0, speed.isFinite else { throw ValidationError("--speed \(speed): give a factor above 0, e.g. 60 for one simulated minute per second") }
        if out != nil && rate == 0 { throw ValidationError("--out needs --rate above 0: simulated time advances by ticks, not the wall clock") }
        if out != nil && duration == 0 && messages == 0 { throw ValidationError("--out needs --duration or --messages, or the file grows without end") }
        if case let .failure(error) = MQTTConfiguration.parseBrokerURL(broker) { throw ValidationError("\(error)") }
    }

    func run() async throws {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .warning
            return handler
        }
        let fleet: Fleet
        do {
            let loaded = try ProfileLoader.load(paths: [profiles])
            fleet = try Fleet(inventory: Inventory.load(file: inventory, profiles: loaded), profiles: loaded, seed: seed,
                              faults: faults, onset: faultOnset, ramp: faultRamp)
        } catch {
            throw ValidationError("cannot load the fleet:\n\(error)")
        }
        let startDate = try startTime()
        for fault in fleet.injected {
            say("ground truth: fault on \(fault.site)/\(fault.device) sensor \(fault.sensor): ramp from t+\(fmt(faultOnset))s to \(fmt(fault.target)) \(fault.unit) "
                  + "(critical \(fmt(fault.critical)) crossed at t+\(fmt(fault.failureOffset))s), fault code \(fault.faultCode)")
        }
        if let labels {
            let lines = fleet.injected.map { $0.labelLine(start: startDate, seed: seed) }.joined()
            do {
                try lines.write(toFile: labels, atomically: true, encoding: .utf8)
            } catch {
                throw ValidationError("cannot write --labels \(labels): \(error.localizedDescription)")
            }
        }
        let sink: any TelemetrySink
        if let out {
            guard let file = FileSink(path: out) else { throw ValidationError("cannot create --out \(out); check the directory exists and is writable") }
            sink = file
            say("writing \(fleet.devices.count) device(s) at \(fmt(rate)) msg/s each to \(out)")
        } else {
            let url = try MQTTConfiguration.parseBrokerURL(broker).get()
            let client = try MQTTClient(configuration: MQTTConfiguration(host: url.host, port: url.port, clientID: clientID, cleanSession: true))
            try client.connect()
            guard await client.waitUntilConnected(timeout: .seconds(15)) else {
                throw ValidationError("cannot connect to \(broker) within 15 s; is the broker running?")
            }
            sink = MQTTSink(client: client, qos: qos)
            say("publishing \(fleet.devices.count) device(s) at \(rate == 0 ? "full speed" : "\(fmt(rate)) msg/s each") to \(broker)"
                + (speed == 1 ? "" : ", simulated time x\(fmt(speed))"))
        }
        let clock = ContinuousClock()
        let startInstant = clock.now
        var lastProgress = startInstant
        var tick = 0
        var sent = 0
        let period = rate > 0 ? 1 / rate : 0
        loop: while true {
            // Simulated time follows the tick count (and so is exactly reproducible); only with
            // --rate 0 does it follow the wall clock.
            let simulated = rate > 0 ? Double(tick) * period : (clock.now - startInstant).secondsDouble * speed
            if duration > 0 && simulated >= duration { break }
            if rate > 0 && out == nil {
                let due = startInstant + .milliseconds(Int64(simulated / speed * 1000))
                if due > clock.now { try await Task.sleep(until: due, clock: clock) }
            }
            let ts = Timestamp(startDate.addingTimeInterval(simulated))
            for device in fleet.devices.indices {
                try sink.send(topic: fleet.devices[device].topic, payload: fleet.payload(device: device, tick: tick, time: simulated, timestamp: ts))
                sent += 1
                if messages > 0 && sent >= messages { break loop }
            }
            tick += 1
            if tick % 64 == 0 { await Task.yield() }
            if clock.now - lastProgress >= .seconds(5) {
                lastProgress = clock.now
                let wall = (clock.now - startInstant).secondsDouble
                FileHandle.standardError.write(Data("fieldwatch-sim: \(sent) messages, \(Int(Double(sent) / max(wall, 0.001))) msg/s, simulated clock \(ts.rfc3339)\n".utf8))
            }
        }
        await sink.finish()
        let seconds = (clock.now - startInstant).secondsDouble
        say("\(out == nil ? "published" : "wrote") \(sent) messages in \(String(format: "%.1f", seconds)) s (\(Int(Double(sent) / max(seconds, 0.001))) msg/s)")
    }

    func startTime() throws -> Date {
        guard let start else { return Date() }
        guard let t = Timestamp(rfc3339: start) else {
            throw ValidationError("--start \(start): give an RFC 3339 time such as 2026-11-27T08:00:00Z")
        }
        return t.date
    }
}

/// Where simulated telemetry goes.
protocol TelemetrySink {
    func send(topic: String, payload: String) throws
    func finish() async
}

struct MQTTSink: TelemetrySink {
    let client: MQTTClient
    let qos: Int
    func send(topic: String, payload: String) throws { try client.publish(topic: topic, payload: payload, qos: qos) }
    func finish() async {
        _ = await client.waitUntilPublished(timeout: .seconds(60))
        client.disconnect()
    }
}

/// JSON lines `{"topic": ..., "payload": ...}` for offline evaluation; buffered.
final class FileSink: TelemetrySink {
    let handle: FileHandle
    var buffer: [UInt8] = []

    init?(path: String) {
        guard FileManager.default.createFile(atPath: path, contents: nil), let handle = FileHandle(forWritingAtPath: path) else { return nil }
        self.handle = handle
    }

    func send(topic: String, payload: String) throws {
        buffer += Array("{\"topic\":\"\(jsonEscaped(topic))\",\"payload\":\"\(jsonEscaped(payload))\"}\n".utf8)
        if buffer.count > 1 << 16 { flush() }
    }

    func flush() {
        handle.write(Data(buffer))
        buffer.removeAll(keepingCapacity: true)
    }

    func finish() async {
        flush()
        try? handle.close()
    }
}

func jsonEscaped(_ s: String) -> String {
    var out = ""
    for c in s.unicodeScalars {
        switch c {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        default: out.unicodeScalars.append(c)
        }
    }
    return out
}

/// The simulated devices and the faults injected into them.
struct Fleet {
    struct SimSensor {
        var key: String
        var nominal: Double
        var amplitude: Double
        var noise: Double
        var range: ClosedRange<Double>
        /// For counters: the total at start and how much it grows per simulated second.
        var counter: (base: Double, perSecond: Double)? = nil
    }

    struct SimDevice {
        var topic: String
        var sensors: [SimSensor]
        var phase: Double
    }

    struct Fault {
        var site: SiteID
        var device: DeviceID
        var deviceIndex: Int
        var sensorIndex: Int
        var sensor: SensorKey
        var unit: String
        var critical: Double
        var target: Double
        var faultCode: FaultCode
        var nominal: Double
        var onset: Double
        var ramp: Double
        var profileID: String

        /// Seconds after start at which the ramp crosses the critical limit (the failure).
        var failureOffset: Double {
            onset + ramp * min(1, max(0, (critical - nominal) / (target - nominal)))
        }

        func labelLine(start: Date, seed: UInt64) -> String {
            let onsetTime = Timestamp(start.addingTimeInterval(onset)).rfc3339
            let failureTime = Timestamp(start.addingTimeInterval(failureOffset)).rfc3339
            return "{\"site\":\"\(site)\",\"device\":\"\(device)\",\"sensors\":[\"\(sensor)\"],\"scenario\":\"degradation_ramp\","
                + "\"fault_code\":\"\(faultCode)\",\"profile\":\"\(profileID)\",\"onset\":\"\(onsetTime)\",\"failure\":\"\(failureTime)\","
                + "\"critical\":\(critical),\"seed\":\(seed)}\n"
        }
    }

    var devices: [SimDevice] = []
    var injected: [Fault] = []
    let seed: UInt64
    let onset: Double
    let ramp: Double

    init(inventory: Inventory, profiles: [String: DeviceProfile], seed: UInt64, faults: Int, onset: Double, ramp: Double) {
        self.seed = seed
        self.onset = onset
        self.ramp = ramp
        var rng = SplitMix64(seed: seed)
        var candidates: [(Int, Int, SensorSpec, Device)] = []
        for device in inventory.devices {
            guard let profile = profiles[device.profileID] else { continue }
            var sensors: [SimSensor] = []
            for (si, spec) in profile.sensors.enumerated() {
                let span = spec.validRange.upperBound - spec.validRange.lowerBound
                let nominal = spec.nominal ?? Fleet.defaultNominal(spec)
                // Keep the normal swing well inside the warning limit so normal is never a fault.
                let headroom = spec.limits.map { abs($0.firstLimit - nominal) } ?? span * 0.1
                var sensor = SimSensor(key: spec.key.rawValue, nominal: nominal, amplitude: headroom * 0.15,
                                       noise: headroom * 0.04, range: spec.validRange)
                if spec.kind == .counter {
                    // Hours grow with time; other counters (cycles) about once every 20 s.
                    sensor.counter = (base: (1000 + rng.nextDouble() * 20_000).rounded(), perSecond: spec.unit == "h" ? 1.0 / 3600 : 0.05)
                }
                sensors.append(sensor)
                if spec.limits?.critical != nil { candidates.append((devices.count, si, spec, device)) }
            }
            devices.append(SimDevice(topic: "fieldwatch/\(device.site)/\(device.id)/telemetry", sensors: sensors,
                                     phase: rng.nextDouble() * 2 * .pi))
        }
        for _ in 0..<min(faults, candidates.count) {
            let pick = candidates.remove(at: Int(rng.next() % UInt64(candidates.count)))
            let (di, si, spec, device) = pick
            let limits = spec.limits!
            let critical = limits.critical!
            let nominal = devices[di].sensors[si].nominal
            var target = critical + (critical - nominal) * 0.15
            target = min(max(target, spec.validRange.lowerBound), spec.validRange.upperBound)
            injected.append(Fault(site: device.site, device: device.id, deviceIndex: di, sensorIndex: si, sensor: spec.key,
                                  unit: spec.unit, critical: critical, target: target, faultCode: limits.faultCode,
                                  nominal: nominal, onset: onset, ramp: ramp, profileID: device.profileID))
        }
    }

    static func defaultNominal(_ spec: SensorSpec) -> Double {
        let r = spec.validRange
        guard let limits = spec.limits else { return (r.lowerBound + r.upperBound) / 2 }
        let edge = limits.direction == .above ? r.lowerBound : r.upperBound
        return (edge + limits.firstLimit) / 2
    }

    /// The JSON payload of one device at one tick; pure function of (seed, device, tick, time).
    func payload(device index: Int, tick: Int, time: Double, timestamp: Timestamp) -> String {
        let device = devices[index]
        var rng = SplitMix64(seed: seed &+ UInt64(index) &* 0x9E37_79B9 &+ UInt64(tick) &* 0x1000_0001)
        var parts: [String] = []
        parts.reserveCapacity(device.sensors.count)
        for (si, s) in device.sensors.enumerated() {
            // A 10-minute load cycle stands in for the daily one at demo speed.
            if let counter = s.counter {
                parts.append("\"\(s.key)\":\(String(format: "%.3f", counter.base + counter.perSecond * time))")
                continue
            }
            var value = s.nominal + s.amplitude * sin(2 * .pi * time / 600 + device.phase) + s.noise * rng.nextGaussian()
            if let fault = injected.first(where: { $0.deviceIndex == index && $0.sensorIndex == si }), time >= onset {
                let progress = min(1, (time - onset) / max(ramp, 0.001))
                value = s.nominal + (fault.target - s.nominal) * progress + s.noise * 0.5 * rng.nextGaussian()
            }
            value = min(max(value, s.range.lowerBound), s.range.upperBound)
            parts.append("\"\(s.key)\":\(String(format: "%.3f", value))")
        }
        return "{\"ts\":\(timestamp.milliseconds),\"metrics\":{\(parts.joined(separator: ","))}}"
    }
}

/// SplitMix64: tiny, fast, and the same sequence on every platform for a seed.
struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func nextDouble() -> Double { Double(next() >> 11) / Double(1 << 53) }
    mutating func nextGaussian() -> Double {
        let u1 = max(nextDouble(), 1e-12)
        let u2 = nextDouble()
        return (-2 * log(u1)).squareRoot() * cos(2 * .pi * u2)
    }
}

func fmt(_ x: Double) -> String {
    x == x.rounded() ? String(Int64(x)) : String(format: "%.2f", x)
}

/// Writes a line to standard output at once (unbuffered even into a pipe), so ground truth
/// shows up as it is printed.
func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}
