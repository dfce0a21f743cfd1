import FieldwatchCore
import Foundation
import Profiles

/// The simulated devices, their signal model and the scenarios injected into them. Every value
/// is a pure function of (seed, device, tick), so a seed reproduces a run byte for byte.
struct Fleet {
    struct SimSensor {
        var key: String
        var nominal: Double
        /// Swing of the load cycle around nominal (15 % of the distance to the first limit).
        var amplitude: Double
        var noise: Double
        var range: ClosedRange<Double>
        /// +1 when load pushes the value up (current, temperature), -1 when down (pressure).
        var loadSign: Double
        /// Thermal lag: temperatures follow the load 15 minutes late.
        var lag: Double
        /// Quantisation step of the reading, and the decimals to print.
        var resolution: Double
        var decimals: Int
        /// Motor currents show a start-up transient once per simulated hour (below the warning limit).
        var hasInrush: Bool
        /// For counters: the total at start and how much it grows per simulated second.
        var counter: (base: Double, perSecond: Double)?
        var spec: SensorSpec
    }

    struct SimDevice {
        var device: Device
        var topic: String
        var statusTopic: String
        var sensors: [SimSensor]
        var phase: Double
        /// The profile's running/stopped sensor (index into `sensors`), when it declares one.
        var stateSensor: Int?
        /// The site's offset from UTC at the start, for the local stop schedule.
        var zoneOffset: Double = 0
    }

    /// A daily stop (`--stops 22:00-06:00`, site-local seconds of day, wrapping midnight) of
    /// every device whose profile tells running from stopped: a normal event, not a fault.
    var stopWindow: (from: Double, to: Double)?

    /// A one-off normal event of one device (`--normal-events N`): a new duty point, or a
    /// maintenance stop after which the machine runs smoother.
    struct NormalEvent {
        enum Kind: String { case setpoint, maintenance }
        var kind: Kind
        var deviceIndex: Int
        var start: Double
        var duration: Double
        /// Set-point: how much the operating point moves (a factor on pressures, flows and currents).
        var factor: Double
    }

    var normalEvents: [NormalEvent] = []

    /// `count` normal events per device, at times drawn from the seed within the run's `span`
    /// (after its first tenth, so detectors have learned the device first).
    mutating func addNormalEvents(count: Int, span: Double) {
        var rng = SplitMix64(seed: seed ^ 0x0A0B_5E7)
        for di in devices.indices {
            for _ in 0..<count {
                // Maintenance stops a machine, which only a profile with an operating state
                // describes (what a stopped transformer's or water network's sensors read is not
                // modelled); the others get set-point changes.
                let draw = rng.next()
                let kind: NormalEvent.Kind = draw % 2 == 0 || devices[di].stateSensor == nil ? .setpoint : .maintenance
                let start = (span * (0.1 + 0.8 * rng.uniform())).rounded()
                normalEvents.append(NormalEvent(kind: kind, deviceIndex: di, start: start, duration: kind == .maintenance ? 7200 : 0,
                                                factor: 1 + (rng.uniform() < 0.5 ? -1 : 1) * (0.06 + 0.06 * rng.uniform())))
            }
        }
        normalEvents.sort { ($0.deviceIndex, $0.start) < ($1.deviceIndex, $1.start) }
    }

    var devices: [SimDevice] = []
    var scenarios: [Scenario] = []
    let seed: UInt64
    /// Length of the load cycle in simulated seconds (a day by default).
    let cycle: Double
    /// Unix time of the simulated start, for the weekday of the weekly cycle.
    let startEpoch: Double
    /// Messages of devices in an out-of-order window, held back one tick.
    private var heldBack: [Int: (String, String)] = [:]

    init(inventory: Inventory, profiles: [String: DeviceProfile], seed: UInt64, cycle: Double, start: Date) {
        self.seed = seed
        self.cycle = cycle
        self.startEpoch = start.timeIntervalSince1970
        var rng = SplitMix64(seed: seed)
        for device in inventory.devices {
            guard let profile = profiles[device.profileID] else { continue }
            let sensors = profile.sensors.map { spec -> SimSensor in
                let span = spec.validRange.upperBound - spec.validRange.lowerBound
                let nominal = spec.nominal ?? Fleet.defaultNominal(spec)
                // Keep the normal swing well inside the warning limit so normal is never a fault.
                let headroom = spec.limits.map { abs($0.firstLimit - nominal) } ?? span * 0.1
                let exponent = Int((log10(max(span, 1e-9))).rounded(.down)) - 3
                var sensor = SimSensor(
                    key: spec.key.rawValue, nominal: nominal, amplitude: headroom * 0.15, noise: headroom * 0.04,
                    range: spec.validRange, loadSign: spec.limits?.direction == .below ? -1 : 1,
                    lag: spec.unit == "Cel" || spec.unit == "K" ? 900 : 0, resolution: pow(10, Double(exponent)),
                    decimals: max(0, -exponent), hasInrush: spec.unit == "A", spec: spec)
                if spec.kind == .counter {
                    // Hours grow with time; other counters (cycles) about once every 20 s.
                    sensor.counter = (base: (1000 + rng.nextDouble() * 20_000).rounded(), perSecond: spec.unit == "h" ? 1.0 / 3600 : 0.05)
                    sensor.decimals = 3
                }
                return sensor
            }
            let zone = inventory.site(device.site).flatMap { TimeZone(identifier: $0.timeZone) }
            devices.append(SimDevice(device: device, topic: "fieldwatch/\(device.site)/\(device.id)/telemetry",
                                     statusTopic: "fieldwatch/\(device.site)/\(device.id)/status", sensors: sensors,
                                     phase: rng.nextDouble(), stateSensor: profile.operatingState.flatMap { state in sensors.firstIndex { $0.key == state.sensor.rawValue } },
                                     zoneOffset: Double(zone?.secondsFromGMT(for: start) ?? 0)))
        }
    }

    static func defaultNominal(_ spec: SensorSpec) -> Double {
        let r = spec.validRange
        guard let limits = spec.limits else { return (r.lowerBound + r.upperBound) / 2 }
        let edge = limits.direction == .above ? r.lowerBound : r.upperBound
        return (edge + limits.firstLimit) / 2
    }

    // MARK: - Scenarios

    /// Adds `count` faults on (device, sensor) pairs picked from the seed, each of a type picked
    /// from `types` (degradation by default). Bounded types last `ramp` seconds.
    mutating func injectRandomFaults(count: Int, onset: Double, ramp: Double, types: [Scenario.Kind] = [.degradation]) {
        var rng = SplitMix64(seed: seed ^ 0x5EED_FA17)
        var candidates: [(Int, Int)] = []
        for (di, d) in devices.enumerated() {
            for (si, s) in d.sensors.enumerated() where s.spec.limits?.critical != nil && s.counter == nil { candidates.append((di, si)) }
        }
        for _ in 0..<min(count, candidates.count) {
            let (di, si) = candidates.remove(at: Int(rng.next() % UInt64(candidates.count)))
            // The first pick keeps the seed's historical choice of pair; the type comes from a second draw.
            let kind = types.count == 1 ? types[0] : types[Int(rng.next() % UInt64(types.count))]
            let sensors: [Int]
            switch kind {
            case .leak, .burst:
                let pipe = defaultSensors(for: kind, device: di)
                if pipe.isEmpty { continue }  // not a pipe-network device
                sensors = pipe
            case .dropout, .clockSkew, .duplicates, .outOfOrder, .malformed:
                sensors = []
            default:
                sensors = [si]
            }
            let duration: Double = [.degradation, .leak].contains(kind) ? ramp : (kind == .suddenFailure || kind == .burst ? 0 : ramp * 3)
            scenarios.append(makeScenario(kind, device: di, sensors: sensors, start: onset, duration: duration,
                                          magnitude: defaultMagnitude(kind, device: di, sensors: sensors), every: 20))
        }
    }

    /// Adds the scenarios of a scenario file; unknown devices or sensors are reported with their position.
    mutating func add(_ entries: [ScenarioFile.Entry], context: YAMLContext) throws(ProfileError) {
        for e in entries {
            let path = "scenarios[\(e.index)]"
            guard let di = devices.firstIndex(where: { $0.device.id.rawValue == e.device }) else {
                context.report(e.node, "\(path).device", "no device \"\(e.device)\" in the inventory\(didYouMean(e.device, devices.map(\.device.id.rawValue)))")
                continue
            }
            let sensors = devices[di].sensors
            var indices: [Int] = []
            if let keys = e.sensors {
                let unknown = keys.filter { key in !sensors.contains { $0.key == key } }
                if let key = unknown.first {
                    context.report(e.node, "\(path).sensors", "device \"\(e.device)\" has no sensor \"\(key)\"\(didYouMean(key, sensors.map(\.key))); its sensors: \(sensors.map(\.key).joined(separator: ", "))")
                    continue
                }
                indices = keys.compactMap { key in sensors.firstIndex { $0.key == key } }
            } else {
                indices = defaultSensors(for: e.kind, device: di)
            }
            let needCritical = e.kind.isMachineFault
            if needCritical, let bad = indices.first(where: { sensors[$0].spec.limits?.critical == nil }) {
                context.report(e.node, "\(path).sensors", "\(e.kind.rawValue) needs sensors with a critical limit; \"\(sensors[bad].key)\" has none")
                continue
            }
            if indices.isEmpty && ![.dropout, .clockSkew, .duplicates, .outOfOrder, .malformed].contains(e.kind) {
                context.report(e.node, "\(path).sensors", "\(e.kind.rawValue) on \"\(e.device)\" needs sensors; name them with sensors: [...]")
                continue
            }
            let defaultDuration: Double = [.degradation, .leak].contains(e.kind) ? 600 : 0
            scenarios.append(makeScenario(e.kind, device: di, sensors: indices, start: e.start, duration: e.duration ?? defaultDuration,
                                          magnitude: e.magnitude ?? defaultMagnitude(e.kind, device: di, sensors: indices), every: e.every ?? 20))
        }
        if !context.issues.isEmpty { throw ProfileError(issues: context.issues) }
    }

    func defaultSensors(for kind: Scenario.Kind, device di: Int) -> [Int] {
        let sensors = devices[di].sensors
        switch kind {
        case .leak, .burst:
            // Flow first: its fault (the burst) names the label.
            let withCritical = sensors.indices.filter { sensors[$0].spec.limits?.critical != nil }
            return withCritical.filter { sensors[$0].key.contains("flow") } + withCritical.filter { sensors[$0].key.contains("pressure") }
        case .degradation, .suddenFailure, .spikes:
            return sensors.indices.first { sensors[$0].spec.limits?.critical != nil && sensors[$0].counter == nil }.map { [$0] } ?? []
        case .stuck, .drift:
            return sensors.indices.first { sensors[$0].counter == nil }.map { [$0] } ?? []
        default:
            return []
        }
    }

    func defaultMagnitude(_ kind: Scenario.Kind, device di: Int, sensors: [Int]) -> Double {
        switch kind {
        case .drift:
            // A tenth of the distance to the first limit per hour.
            guard let s = sensors.first.map({ devices[di].sensors[$0] }) else { return 0 }
            return s.amplitude / 0.15 * 0.1 * s.loadSign
        case .clockSkew: return 7200
        default: return 0
        }
    }

    func makeScenario(_ kind: Scenario.Kind, device di: Int, sensors: [Int], start: Double, duration: Double, magnitude: Double, every: Int) -> Scenario {
        let d = devices[di]
        var s = Scenario(kind: kind, deviceIndex: di, site: d.device.site, device: d.device.id, profileID: d.device.profileID,
                         sensors: sensors, sensorKeys: sensors.map { d.sensors[$0].key }, start: start, duration: duration,
                         magnitude: magnitude, every: max(1, every), faultCode: kind.labelCode ?? "")
        if kind.isMachineFault, let first = sensors.first, let code = d.sensors[first].spec.limits?.faultCode {
            s.faultCode = code.rawValue
            for si in sensors {
                let sensor = d.sensors[si]
                let critical = sensor.spec.limits!.critical!
                let target = min(max(critical + (critical - sensor.nominal) * 0.15, sensor.range.lowerBound), sensor.range.upperBound)
                s.targets.append(target)
                s.criticals.append(critical)
            }
            switch kind {
            case .degradation, .leak:
                s.failure = zip(sensors.indices, s.criticals).map { i, critical in
                    let nominal = d.sensors[sensors[i]].nominal
                    return start + duration * min(1, max(0, (critical - nominal) / (s.targets[i] - nominal)))
                }.min()
            case .suddenFailure, .burst:
                s.failure = start
            default:
                s.failure = nil  // spikes are shorter than any minimum duration: not a failure
            }
        }
        return s
    }

    // MARK: - Messages

    /// Everything devices send at one tick: telemetry, status changes, duplicates, malformed ones.
    mutating func messages(tick: Int, time t: Double, period: Double, timestamp: Timestamp) -> [(topic: String, payload: String)] {
        var out: [(topic: String, payload: String)] = []
        for di in devices.indices {
            let active = scenarios.filter { $0.deviceIndex == di && $0.isActive(at: t) }
            let device = devices[di]
            if let dropout = scenarios.first(where: { $0.deviceIndex == di && $0.kind == .dropout }) {
                // Status changes on the first tick inside and after the window.
                if dropout.isActive(at: t) && !dropout.isActive(at: t - period) {
                    out.append((device.statusTopic, "{\"status\":\"offline\",\"ts\":\(timestamp.milliseconds)}"))
                } else if !dropout.isActive(at: t) && dropout.isActive(at: t - period) && t - period >= dropout.start {
                    out.append((device.statusTopic, "{\"status\":\"online\",\"ts\":\(timestamp.milliseconds)}"))
                }
                if dropout.isActive(at: t) { continue }
            }
            var ts = timestamp
            if let skew = active.first(where: { $0.kind == .clockSkew }) {
                ts = Timestamp(milliseconds: ts.milliseconds + Int64(skew.magnitude * 1000))
            }
            var payload = self.payload(device: di, tick: tick, time: t, timestamp: ts, scenarios: active)
            if let bad = active.first(where: { $0.kind == .malformed }), tick % bad.every == 0 {
                payload = Fleet.malformed(payload, variant: tick / bad.every)
            }
            let message = (topic: device.topic, payload: payload)
            if active.contains(where: { $0.kind == .outOfOrder }) {
                if let held = heldBack.removeValue(forKey: di) {
                    out.append(message)
                    out.append(held)
                } else {
                    heldBack[di] = message
                }
                continue
            }
            if let held = heldBack.removeValue(forKey: di) { out.append(held) }
            out.append(message)
            if active.contains(where: { $0.kind == .duplicates }) { out.append(message) }
        }
        return out
    }

    /// Whatever is still held back at the end of a run.
    mutating func flush() -> [(topic: String, payload: String)] {
        defer { heldBack.removeAll() }
        return heldBack.keys.sorted().compactMap { heldBack[$0] }
    }

    /// Load in [-1, 1]: a daily cycle, 40 % weaker on weekends.
    func load(_ t: Double, phase: Double) -> Double {
        let day = Int(((startEpoch + t) / 86_400).rounded(.down))
        let weekday = ((day + 4) % 7 + 7) % 7  // 1970-01-01 was a Thursday; 0 = Sunday
        let weekend = weekday == 0 || weekday == 6
        return sin(2 * .pi * (t / cycle + phase)) * (weekend ? 0.6 : 1)
    }

    /// The JSON payload of one device at one tick.
    func payload(device index: Int, tick: Int, time t: Double, timestamp: Timestamp, scenarios active: [Scenario]) -> String {
        let device = devices[index]
        var rng = SplitMix64(seed: seed &+ UInt64(index) &* 0x9E37_79B9 &+ UInt64(tick) &* 0x1000_0001)
        var parts: [String] = []
        parts.reserveCapacity(device.sensors.count)
        for (si, s) in device.sensors.enumerated() {
            if let counter = s.counter {
                parts.append("\"\(s.key)\":\(String(format: "%.3f", counter.base + counter.perSecond * t))")
                continue
            }
            var value = baseValue(s, device: device, deviceIndex: index, time: t, rng: &rng)
            for scenario in active {
                guard let k = scenario.sensors.firstIndex(of: si) else { continue }
                switch scenario.kind {
                case .degradation, .leak:
                    let progress = min(1, (t - scenario.start) / max(scenario.duration, 0.001))
                    value = s.nominal + (scenario.targets[k] - s.nominal) * progress + s.noise * 0.5 * rng.nextGaussian()
                case .suddenFailure, .burst:
                    value = scenario.targets[k] + s.noise * 0.5 * rng.nextGaussian()
                case .spikes:
                    if tick % scenario.every == 0 { value = scenario.targets[k] }
                case .stuck:
                    // The value the sensor had when it stuck, exactly, every time.
                    var stuckRng = SplitMix64(seed: seed ^ UInt64(index) &* 0x51_7CC1 ^ UInt64(scenario.start.bitPattern))
                    value = baseValue(s, device: device, deviceIndex: index, time: scenario.start, rng: &stuckRng)
                case .drift:
                    value += scenario.magnitude * (t - scenario.start) / 3600
                default:
                    break
                }
            }
            for event in normalEvents where event.deviceIndex == index && t >= event.start {
                switch event.kind {
                case .setpoint:
                    // A new duty point: pressures, flows and currents move by the factor; temperatures follow a little.
                    if s.counter == nil {
                        value = s.spec.unit == "Cel" ? value + (event.factor - 1) * 20 : value * event.factor
                    }
                case .maintenance:
                    // New bearings, aligned coupling: vibration a fifth lower afterwards.
                    if t >= event.start + event.duration && s.spec.unit == "mm/s" { value *= 0.8 }
                }
            }
            if let maintenance = normalEvents.last(where: { $0.deviceIndex == index && $0.kind == .maintenance && t >= $0.start && t < $0.start + $0.duration + 60 }) {
                let stopped = t < maintenance.start + maintenance.duration
                value = operatingValue(value, sensor: s, isState: si == device.stateSensor, stopped: stopped,
                                       since: stopped ? t - maintenance.start : t - maintenance.start - maintenance.duration)
            } else if device.stateSensor != nil, let (stopped, since) = stopState(device, at: t) {
                value = operatingValue(value, sensor: s, isState: si == device.stateSensor, stopped: stopped, since: since)
            }
            value = min(max(value, s.range.lowerBound), s.range.upperBound)
            value = (value / s.resolution).rounded() * s.resolution
            parts.append("\"\(s.key)\":\(String(format: "%.\(s.decimals)f", value))")
        }
        return "{\"ts\":\(timestamp.milliseconds),\"metrics\":{\(parts.joined(separator: ","))}}"
    }

    /// Normal operation: nominal, the load cycle (lagged for temperatures), noise, inrush.
    func baseValue(_ s: SimSensor, device: SimDevice, deviceIndex: Int, time t: Double, rng: inout SplitMix64) -> Double {
        var value = s.nominal + s.loadSign * s.amplitude * load(t - s.lag, phase: device.phase) + s.noise * rng.nextGaussian()
        if s.hasInrush {
            // A motor start once per simulated hour: one sample at 70 % of the way to the warning limit.
            let hour = Int((t / 3600).rounded(.down))
            let startSecond = Double((UInt64(deviceIndex) &* 2_654_435_761 &+ UInt64(hour) &* 40_503) % 3600)
            if t - Double(hour) * 3600 >= startSecond && t - Double(hour) * 3600 < startSecond + 1 {
                value = s.nominal + s.amplitude / 0.15 * 0.7
            }
        }
        return value
    }

    /// Label lines of the normal events of a run (the daily stops), marked `"normal": true`, so
    /// that `fieldwatch eval sim` can say which false detections each kind of normal event caused.
    func normalEventLabels(start date: Date, duration: Double, seed: UInt64) -> String {
        var out = ""
        func time(_ offset: Double) -> String { "\"\(Timestamp(date.addingTimeInterval(max(offset, 0))).rfc3339)\"" }
        for event in normalEvents where event.start < duration {
            let device = devices[event.deviceIndex]
            out += "{\"site\":\"\(device.device.site)\",\"device\":\"\(device.device.id)\",\"sensors\":[],\"scenario\":\"\(event.kind.rawValue)\",\"fault_code\":\"NORMAL\","
                + "\"profile\":\"\(device.device.profileID)\",\"onset\":\(time(event.start)),\"failure\":null,\"end\":\(time(event.start + event.duration)),"
                + "\"critical\":null,\"seed\":\(seed),\"normal\":true}\n"
        }
        guard let window = stopWindow else { return out }
        for device in devices where device.stateSensor != nil {
            // Stop starts in simulated seconds: each local day's `from`, from the day before the run.
            let local0 = startEpoch + device.zoneOffset
            let firstDay = (local0 / 86_400).rounded(.down) - 1
            var day = firstDay
            while true {
                let onset = day * 86_400 + window.from - local0
                var end = day * 86_400 + window.to - local0
                if end <= onset { end += 86_400 }
                day += 1
                if onset >= duration { break }
                guard end > 0 else { continue }
                out += "{\"site\":\"\(device.device.site)\",\"device\":\"\(device.device.id)\",\"sensors\":[],\"scenario\":\"stop\",\"fault_code\":\"NORMAL\","
                    + "\"profile\":\"\(device.device.profileID)\",\"onset\":\(time(onset)),\"failure\":null,\"end\":\(time(min(end, duration))),"
                    + "\"critical\":null,\"seed\":\(seed),\"normal\":true}\n"
            }
        }
        return out
    }

    /// Whether the device is in its daily stop at `t`, and how long since the last stop or start.
    func stopState(_ device: SimDevice, at t: Double) -> (stopped: Bool, since: Double)? {
        guard let window = stopWindow else { return nil }
        let day = 86_400.0
        let local = (startEpoch + t + device.zoneOffset).truncatingRemainder(dividingBy: day)
        let s = local < 0 ? local + day : local
        let inside = window.from < window.to ? s >= window.from && s < window.to : s >= window.from || s < window.to
        let mark = inside ? window.from : window.to
        var since = s - mark
        if since < 0 { since += day }
        return (inside, since)
    }

    /// A reading while stopped, or just after a start: the state sensor (a current, a flow)
    /// near zero; pressures and flows fall to a trickle and build up again over 20 s after a
    /// start; vibration dies away; temperatures cool towards 25 °C; a motor current starts
    /// with an inrush that decays in seconds.
    func operatingValue(_ running: Double, sensor s: SimSensor, isState: Bool, stopped: Bool, since: Double) -> Double {
        let low = s.range.lowerBound
        let idle: Double
        if isState || s.spec.unit == "A" {
            idle = max(low, 0)
        } else if s.spec.limits?.direction == .below {
            idle = low + 0.05 * (s.nominal - low)
        } else if s.spec.unit == "Cel" {
            let ambient = min(s.nominal, 25)
            return stopped ? ambient + (running - ambient) * exp(-since / 1200) : running
        } else {
            idle = low + 0.05 * (running - low)
        }
        if stopped { return idle + abs(s.noise) * 0.05 }
        guard since < 60 else { return running }
        if s.spec.unit == "A" { return running * (1 + 1.5 * exp(-since / 5)) }
        return idle + (running - idle) * min(1, since / 20)
    }

    /// A broken version of a payload, cycling through the kinds of damage devices produce.
    static func malformed(_ payload: String, variant: Int) -> String {
        switch variant % 5 {
        case 0:
            return String(payload.prefix(payload.count / 2))
        case 1:
            // The first sensor again, as NaN (what Python's json.dumps writes for a missing reading).
            guard let keyStart = payload.range(of: "\"metrics\":{\"")?.upperBound,
                  let keyEnd = payload[keyStart...].firstIndex(of: "\"") else { return payload }
            return payload.replacingCharacters(in: keyStart..<keyStart, with: "\(payload[keyStart..<keyEnd])\":NaN,\"")
        case 2:
            return payload.replacingOccurrences(of: "\"metrics\":{\"", with: "\"metrics\":{\"unknown_sensor\":1,\"")
        case 3:
            guard let ts = payload.range(of: #""ts":\d+"#, options: .regularExpression) else { return payload }
            return payload.replacingCharacters(in: ts, with: "\"ts\":\"yesterday\"")
        default:
            return "garbage \(variant)"
        }
    }
}
