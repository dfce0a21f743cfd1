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

    func validate() throws {
        guard rate >= 0, rate.isFinite else { throw ValidationError("--rate \(rate): give messages per second per device, 0 or more") }
        guard duration >= 0 else { throw ValidationError("--duration \(duration): give seconds, 0 or more") }
        guard faults >= 0 else { throw ValidationError("--faults \(faults): give 0 or more") }
        guard qos == 0 || qos == 1 else { throw ValidationError("--qos \(qos): use 0 or 1") }
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
        for fault in fleet.injected {
            say("ground truth: fault on \(fault.site)/\(fault.device) sensor \(fault.sensor): ramp from t+\(fmt(faultOnset))s to \(fmt(fault.target)) \(fault.unit) "
                  + "(critical \(fmt(fault.critical))) by t+\(fmt(faultOnset + faultRamp))s, fault code \(fault.faultCode)")
        }
        let url = try MQTTConfiguration.parseBrokerURL(broker).get()
        let client = try MQTTClient(configuration: MQTTConfiguration(host: url.host, port: url.port, clientID: clientID, cleanSession: true))
        try client.connect()
        guard await client.waitUntilConnected(timeout: .seconds(15)) else {
            throw ValidationError("cannot connect to \(broker) within 15 s; is the broker running?")
        }
        say("publishing \(fleet.devices.count) device(s) at \(rate == 0 ? "full speed" : "\(fmt(rate)) msg/s each") to \(broker)")
        let start = Date()
        let clock = ContinuousClock()
        let startInstant = clock.now
        var tick = 0
        var sent = 0
        let period = rate > 0 ? 1 / rate : 0
        loop: while true {
            let elapsed = Double(tick) * period
            if duration > 0 && elapsed >= duration { break }
            if rate > 0 {
                let due = startInstant + .milliseconds(Int64(elapsed * 1000))
                if due > clock.now { try await Task.sleep(until: due, clock: clock) }
            }
            // Simulated time follows the tick count; with --rate 0 it follows the wall clock.
            let t = rate > 0 ? elapsed : Date().timeIntervalSince(start)
            let ts = Timestamp(start.addingTimeInterval(t))
            for device in fleet.devices.indices {
                let payload = fleet.payload(device: device, tick: tick, time: t, timestamp: ts)
                try client.publish(topic: fleet.devices[device].topic, payload: payload, qos: qos)
                sent += 1
                if messages > 0 && sent >= messages { break loop }
            }
            tick += 1
            if rate == 0 && tick % 64 == 0 { await Task.yield() }
        }
        _ = await client.waitUntilPublished(timeout: .seconds(60))
        client.disconnect()
        let seconds = Date().timeIntervalSince(start)
        say("published \(sent) messages in \(String(format: "%.1f", seconds)) s (\(Int(Double(sent) / max(seconds, 0.001))) msg/s)")
    }
}

/// The simulated devices and the faults injected into them.
struct Fleet {
    struct SimSensor {
        var key: String
        var nominal: Double
        var amplitude: Double
        var noise: Double
        var range: ClosedRange<Double>
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
                sensors.append(SimSensor(key: spec.key.rawValue, nominal: nominal, amplitude: headroom * 0.15,
                                         noise: headroom * 0.04, range: spec.validRange))
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
                                  unit: spec.unit, critical: critical, target: target, faultCode: limits.faultCode))
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
