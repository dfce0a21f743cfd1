import ArgumentParser
import FieldwatchCore
import Foundation
import Logging
import MQTT
import PayloadFormats
import Profiles

/// `fieldwatch-sim`: publishes plausible telemetry for every device of an inventory, with
/// injected faults that are deterministic for a seed, and prints the ground truth it injects.
@main
struct SimulatorMain: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fieldwatch-sim",
        abstract: "Simulated equipment telemetry for Fieldwatch: a fault-injecting fleet, or a CSV replayed.",
        subcommands: [SimulatorCommand.self, ReplayCommand.self, FieldMonthCommand.self],
        defaultSubcommand: SimulatorCommand.self
    )
}

struct SimulatorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Publish simulated equipment telemetry to an MQTT broker, with injected faults (the default).",
        discussion: """
            Every device of the inventory publishes {"ts": <epoch ms>, "metrics": {...}} on \
            fieldwatch/<site>/<device>/telemetry at QoS 1. Values follow each sensor's nominal \
            value from its profile with a slow load cycle and noise, staying inside the warning \
            limits. --faults N picks N (device, sensor) pairs from the seed and ramps each past its \
            critical limit, starting --fault-onset seconds after start. Scenarios listed under \
            `scenarios:` in the inventory (or in --scenarios FILE) add machine faults, sensor faults \
            and connection trouble: degradation, sudden_failure, spikes, stuck, drift, dropout, leak, \
            burst, clock_skew, duplicates, out_of_order, malformed. Every injected fault is printed and, \
            with --labels, written as a JSON line of ground truth. The same seed and arguments give \
            the same stream, byte for byte, with --out and --start.
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
    @Option(help: "Comma-separated scenario types --faults picks from (e.g. degradation,sudden_failure,spikes,stuck,drift).")
    var faultTypes = "degradation"
    @Option(help: "MQTT client id.") var clientID = "fieldwatch-sim"
    @Option(help: "QoS of published telemetry (0 or 1).") var qos: Int = 1
    @Option(help: "Simulated time runs this many times faster than wall time (timestamps are simulated).") var speed: Double = 1
    @Option(help: "Simulated start time, RFC 3339 (default now). With --out and --seed the output is byte-identical.") var start: String?
    @Option(help: "Write messages as JSON lines {topic, payload} to this file instead of publishing (no broker, no waiting).") var out: String?
    @Option(help: "Write the injected faults as JSON lines (ground truth for evaluating detection).") var labels: String?
    @Option(help: "YAML file with a `scenarios:` list (the inventory's own `scenarios:` are read too).") var scenarios: String?
    @Option(help: "Length of the load cycle in simulated seconds (default a day).") var cycle: Double = 86_400
    @Option(help: ArgumentHelp(
        "Seconds of history to publish first, as fast as the broker takes them, before going live.",
        discussion: "Simulated time starts this long before --start (default now) and catches up with the wall clock, as a device or site logger flushing its buffer after an outage; scenario start times count from the start of the history. Needs --rate above 0."))
    var backfill: Double = 0
    @Option(help: ArgumentHelp(
        "Wire format: json (Fieldwatch's own), sparkplug (Sparkplug B edge node), senml-json, senml-cbor, mapped (the inventory's topic mapping).",
        discussion: "sparkplug publishes NBIRTH, DBIRTH with aliases and DDATA by alias under group = the site's sparkplug_group (default its id), with NDEATH as the connection's will, and answers rebirth requests (NCMD). senml-* publish on fieldwatch/senml with base name <site>/<device>/. mapped publishes each device the inventory's mappings: name on the mapping's topic, in its JSON shape (the others in Fieldwatch JSON)."))
    var format: WireFormat = .json
    @Option(help: "Sparkplug B edge node id (--format sparkplug).") var edgeNode = "fieldwatch-sim"
    @Option(help: ArgumentHelp("Daily stop HH:MM-HH:MM (site time) of every device whose profile has an operating_state.",
                               discussion: "A normal event, not a fault: the machine is off (its state sensor near zero, pressures down, temperatures cooling), then starts again with its start-up transients. Labelled with \"normal\": true, so eval sim counts the false detections each causes."))
    var stops: String?
    @Option(help: ArgumentHelp("One-off normal events per device over the run: a new duty point (set-point change) or a 2 h maintenance stop.",
                               discussion: "Drawn from --seed after the first tenth of --duration; labelled with \"normal\": true like --stops."))
    var normalEvents = 0
    @Flag(help: "Mark every message and label as an emergency drill: the gateway opens drill tickets, kept apart from real ones.") var drill = false

    func validate() throws {
        if let stops, Self.parseStops(stops) == nil { throw ValidationError("--stops \(stops): write HH:MM-HH:MM in the site's time, e.g. 22:00-06:00") }
        if drill && format != .json { throw ValidationError("--drill marks Fieldwatch JSON payloads; use it with --format json") }
        guard rate >= 0, rate.isFinite else { throw ValidationError("--rate \(rate): give messages per second per device, 0 or more") }
        guard duration >= 0 else { throw ValidationError("--duration \(duration): give seconds, 0 or more") }
        guard faults >= 0 else { throw ValidationError("--faults \(faults): give 0 or more") }
        guard qos == 0 || qos == 1 else { throw ValidationError("--qos \(qos): use 0 or 1") }
        guard cycle > 0, cycle.isFinite else { throw ValidationError("--cycle \(cycle): give seconds above 0 (86400 is a day)") }
        guard speed > 0, speed.isFinite else { throw ValidationError("--speed \(speed): give a factor above 0, e.g. 60 for one simulated minute per second") }
        guard backfill >= 0, backfill.isFinite else { throw ValidationError("--backfill \(backfill): give seconds of history, 0 or more") }
        if backfill > 0 && rate == 0 { throw ValidationError("--backfill needs --rate above 0: the history is published sample by sample at that rate's spacing") }
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
        let startDate = try startTime()
        var fleet: Fleet
        do {
            let loaded = try ProfileLoader.load(paths: [profiles])
            fleet = Fleet(inventory: try Inventory.load(file: inventory, profiles: loaded), profiles: loaded, seed: seed,
                          cycle: cycle, start: startDate)
            fleet.injectRandomFaults(count: faults, onset: faultOnset, ramp: faultRamp, types: try parsedFaultTypes())
            fleet.stopWindow = stops.flatMap(Self.parseStops)
            if normalEvents > 0 { fleet.addNormalEvents(count: normalEvents, span: duration > 0 ? duration : 86_400) }
            for file in [inventory] + (scenarios.map { [$0] } ?? []) {
                let (entries, context) = try ScenarioFile.read(file)
                try fleet.add(entries, context: context)
            }
        } catch {
            FileHandle.standardError.write(Data("fieldwatch-sim: cannot load the fleet:\n\(error)\n".utf8))
            throw ExitCode(1)
        }
        for s in fleet.scenarios {
            let failure = s.failure.map { ", limit crossed at t+\(fmt($0))s" } ?? ""
            say("ground truth: \(s.kind.rawValue) on \(s.site)/\(s.device)\(s.sensorKeys.isEmpty ? "" : " sensors \(s.sensorKeys.joined(separator: ","))") "
                + "from t+\(fmt(s.start))s\(s.duration > 0 ? " for \(fmt(s.duration))s" : "")\(failure), \(s.faultCode)")
        }
        if let labels {
            let lines = fleet.scenarios.map { $0.labelLine(start: startDate, seed: seed, drill: drill) }.joined()
                + fleet.normalEventLabels(start: startDate, duration: duration > 0 ? duration : 30 * 86_400, seed: seed)
            do {
                try lines.write(toFile: labels, atomically: true, encoding: .utf8)
            } catch {
                throw ValidationError("cannot write --labels \(labels): \(error.localizedDescription)")
            }
        }
        let encoder: FormatEncoder
        do {
            let loaded = try ProfileLoader.load(paths: [profiles])
            encoder = try FormatEncoder(format: format, edgeNode: edgeNode, inventory: try Inventory.load(file: inventory, profiles: loaded), profiles: loaded)
        } catch let error as ValidationError {
            throw error
        } catch {
            throw ValidationError("cannot load the inventory for --format \(format.rawValue): \(error)")
        }
        if format == .mapped && !encoder.unmapped.isEmpty {
            say("--format mapped: no mapping names \(encoder.unmapped.map(\.rawValue).joined(separator: ", ")); they publish Fieldwatch JSON")
        }
        let sink: any TelemetrySink
        var mqttSink: MQTTSink?
        if let out {
            guard let file = FileSink(path: out) else { throw ValidationError("cannot create --out \(out); check the directory exists and is writable") }
            sink = file
            say("writing \(fleet.devices.count) device(s) at \(fmt(rate)) msg/s each to \(out)")
        } else {
            let url = try MQTTConfiguration.parseBrokerURL(broker).get()
            let client = try MQTTClient(configuration: MQTTConfiguration(host: url.host, port: url.port, clientID: clientID, cleanSession: true))
            if format == .sparkplug {
                // The edge node's death certificate: the broker publishes it if this connection is lost.
                if let death = encoder.deathCertificates.first { try client.setWill(topic: death.topic, payload: death.payload, qos: 1, retain: false) }
                try client.subscribe("\(Sparkplug.namespace)/+/NCMD/\(edgeNode)", qos: 1)
                let rebirths = encoder.rebirthRequests
                Task {
                    for await command in client.messages {
                        guard case let .success(payload) = Sparkplug.decode(command.payload),
                              payload.metrics.contains(where: { $0.name == Sparkplug.rebirthMetric && $0.booleanValue }),
                              case let .success(topic)? = Sparkplug.Topic.parse(command.topic) else { continue }
                        say("rebirth asked for by the host (\(command.topic)); sending births again")
                        rebirths.groups.withLock { _ = $0.insert(topic.group) }
                    }
                }
            }
            try client.connect()
            guard await client.waitUntilConnected(timeout: .seconds(15)) else {
                throw ValidationError("cannot connect to \(broker) within 15 s; is the broker running?")
            }
            let dropouts = format == .sparkplug ? [] : Set(fleet.scenarios.filter { $0.kind == .dropout }.map(\.deviceIndex)).sorted().map {
                (telemetry: fleet.devices[$0].topic, status: fleet.devices[$0].statusTopic)
            }
            mqttSink = try await MQTTSink(client: client, qos: qos, configuration: client.configuration, devicesWithDropouts: dropouts)
            sink = mqttSink!
            say("publishing \(fleet.devices.count) device(s) at \(rate == 0 ? "full speed" : "\(fmt(rate)) msg/s each") to \(broker)"
                + (speed == 1 ? "" : ", simulated time x\(fmt(speed))"))
        }
        let clock = ContinuousClock()
        let startInstant = clock.now
        var lastProgress = startInstant
        var tick = 0
        var sent = 0
        var backfilling = backfill > 0
        let period = rate > 0 ? 1 / rate : 0
        loop: while true {
            // Simulated time follows the tick count (and so is exactly reproducible); only with
            // --rate 0 does it follow the wall clock.
            let simulated = rate > 0 ? Double(tick) * period : (clock.now - startInstant).secondsDouble * speed
            if duration > 0 && simulated >= duration { break }
            if rate > 0 && out == nil {
                // The --backfill history is due at once; live time runs from the end of it.
                let due = startInstant + .milliseconds(Int64((simulated - backfill) / speed * 1000))
                if backfilling && simulated >= backfill {
                    backfilling = false
                    say("backfilled \(fmt(backfill)) s of history (\(sent) messages) in \(String(format: "%.1f", (clock.now - startInstant).secondsDouble)) s; now live")
                }
                if due > clock.now { try await Task.sleep(until: due, clock: clock) }
            }
            let ts = Timestamp(startDate.addingTimeInterval(simulated))
            for fleetMessage in fleet.messages(tick: tick, time: simulated, period: period, timestamp: ts) {
                for message in encoder.encode(topic: fleetMessage.topic, payload: drill ? markDrill(fleetMessage.payload) : fleetMessage.payload) {
                    do {
                        try sink.send(topic: message.topic, payload: message.payload)
                    } catch let error as MQTTError where error.code == 4 && mqttSink != nil {
                        // The broker went away (restarted, network): a device keeps its reading and
                        // sends it once the broker is back, as a real one with a local buffer does.
                        say("broker connection lost at message \(sent); holding the readings until it is back (up to 2 min)")
                        guard await mqttSink!.client.waitUntilConnected(timeout: .seconds(120)) else { throw error }
                        say("broker back; resuming")
                        try sink.send(topic: message.topic, payload: message.payload)
                    }
                }
                sent += 1
                if messages > 0 && sent >= messages { break loop }
            }
            tick += 1
            try await mqttSink?.reconnectPending()
            if tick % 64 == 0 { await Task.yield() }
            if clock.now - lastProgress >= .seconds(5) {
                lastProgress = clock.now
                let wall = (clock.now - startInstant).secondsDouble
                FileHandle.standardError.write(Data("fieldwatch-sim: \(sent) messages, \(Int(Double(sent) / max(wall, 0.001))) msg/s, simulated clock \(ts.rfc3339)\n".utf8))
            }
        }
        for fleetMessage in fleet.flush() {
            for message in encoder.encode(topic: fleetMessage.topic, payload: fleetMessage.payload) { try sink.send(topic: message.topic, payload: message.payload) }
        }
        await sink.finish()
        let seconds = (clock.now - startInstant).secondsDouble
        say("\(out == nil ? "published" : "wrote") \(sent) messages in \(String(format: "%.1f", seconds)) s (\(Int(Double(sent) / max(seconds, 0.001))) msg/s)")
    }

    /// `22:00-06:00` → seconds of day (from, to).
    static func parseStops(_ text: String) -> (from: Double, to: Double)? {
        let parts = text.split(separator: "-")
        guard parts.count == 2 else { return nil }
        func seconds(_ t: Substring) -> Double? {
            let hm = t.split(separator: ":")
            guard hm.count == 2, let h = Int(hm[0]), let m = Int(hm[1]), (0..<24).contains(h), (0..<60).contains(m) else { return nil }
            return Double(h * 3600 + m * 60)
        }
        guard let from = seconds(parts[0]), let to = seconds(parts[1]), from != to else { return nil }
        return (from, to)
    }

    func parsedFaultTypes() throws -> [Scenario.Kind] {
        try faultTypes.split(separator: ",").map { name in
            guard let kind = Scenario.Kind(rawValue: name.trimmingCharacters(in: .whitespaces)) else {
                throw ValidationError("--fault-types: \"\(name)\" is not a scenario type; use \(Scenario.Kind.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            return kind
        }
    }

    /// Where simulated time begins: --start (default now), less the --backfill history.
    func startTime() throws -> Date {
        guard let start else { return Date().addingTimeInterval(-backfill) }
        guard let t = Timestamp(rfc3339: start) else {
            throw ValidationError("--start \(start): give an RFC 3339 time such as 2026-11-27T08:00:00Z")
        }
        return t.date.addingTimeInterval(-backfill)
    }
}

/// Where simulated telemetry goes.
protocol TelemetrySink {
    func send(topic: String, payload: [UInt8]) throws
    func finish() async
}

/// Publishes to a broker. Devices with a dropout scenario get a connection of their own with
/// an MQTT last will on their status topic; at the dropout the connection is cut without a
/// DISCONNECT, so it is the broker that announces the device offline, as in the field.
final class MQTTSink: TelemetrySink {
    let client: MQTTClient
    let qos: Int
    let configuration: MQTTConfiguration
    /// Status topic → the device's own connection (nil while it is dropped out).
    private var deviceClients: [String: MQTTClient?] = [:]
    private var telemetryToStatus: [String: String] = [:]

    static let willPayload = "{\"status\":\"offline\",\"reason\":\"connection lost\"}"

    init(client: MQTTClient, qos: Int, configuration: MQTTConfiguration, devicesWithDropouts: [(telemetry: String, status: String)]) async throws {
        self.client = client
        self.qos = qos
        self.configuration = configuration
        for device in devicesWithDropouts {
            telemetryToStatus[device.telemetry] = device.status
            deviceClients[device.status] = try await connectDevice(status: device.status)
        }
    }

    private func connectDevice(status: String) async throws -> MQTTClient {
        var c = configuration
        c.clientID = "\(configuration.clientID)-\(status.split(separator: "/").dropLast().last ?? "device")"
        let device = try MQTTClient(configuration: c)
        try device.setWill(topic: status, payload: Self.willPayload, qos: 1, retain: true)
        try device.connect()
        guard await device.waitUntilConnected(timeout: .seconds(15)) else {
            throw ValidationError("device connection \(c.clientID) could not connect")
        }
        try device.publish(topic: status, payload: "{\"status\":\"online\"}", qos: 1, retain: true)
        return device
    }

    func send(topic: String, payload: [UInt8]) throws {
        if let own = deviceClients[topic] {
            // A status change of a device that has its own connection.
            if String(decoding: payload, as: UTF8.self).contains("\"offline\"") {
                own?.dropConnection()
                deviceClients[topic] = .some(nil)
            } else {
                pendingReconnects.append(topic)
            }
            return
        }
        if let status = telemetryToStatus[topic], let own = deviceClients[status] {
            if let own {
                try own.publish(topic: topic, payload: payload, qos: qos)
            } else if pendingReconnects.contains(status) {
                heldUntilReconnected.append((topic, payload))
            }
            // Otherwise the device is dropped out: a dead device sends nothing.
            return
        }
        try client.publish(topic: topic, payload: payload, qos: qos)
    }

    /// Devices coming back from a dropout reconnect between ticks (connecting is async); what
    /// they send meanwhile goes out once they are connected.
    var pendingReconnects: [String] = []
    private var heldUntilReconnected: [(topic: String, payload: [UInt8])] = []

    func reconnectPending() async throws {
        guard !pendingReconnects.isEmpty else { return }
        for status in pendingReconnects {
            deviceClients[status] = try await connectDevice(status: status)
        }
        pendingReconnects.removeAll()
        let held = heldUntilReconnected
        heldUntilReconnected.removeAll()
        for message in held { try send(topic: message.topic, payload: message.payload) }
    }

    func finish() async {
        try? await reconnectPending()
        for case let own?? in deviceClients.values {
            _ = await own.waitUntilPublished(timeout: .seconds(60))
            own.disconnect()
        }
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

    func send(topic: String, payload: [UInt8]) throws {
        if let text = String(validating: payload, as: UTF8.self), !text.unicodeScalars.contains(where: { $0.value < 0x20 && $0 != "\n" }) {
            buffer += Array("{\"topic\":\"\(jsonEscaped(topic))\",\"payload\":\"\(jsonEscaped(text))\"}\n".utf8)
        } else {
            // Binary formats (Sparkplug, SenML CBOR).
            buffer += Array("{\"topic\":\"\(jsonEscaped(topic))\",\"payload_base64\":\"\(Data(payload).base64EncodedString())\"}\n".utf8)
        }
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

/// The simulator's draws: its own normal variate (the published runs and their labels depend
/// on these exact formulas, so they stay as they were).
extension SplitMix64 {
    mutating func nextDouble() -> Double { uniform() }
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

/// `fieldwatch-sim replay`: a `timestamp,value` CSV (such as the NAB data) published as one
/// sensor's telemetry, in file order.
struct ReplayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Publish a timestamp,value CSV as one sensor's telemetry.",
        discussion: """
            The CSV has a header and rows `YYYY-MM-DD HH:MM:SS,value` (UTC) or RFC 3339 times, as in \
            the Numenta Anomaly Benchmark. Each row becomes {"ts": <epoch ms>, "metrics": {SENSOR: value}} \
            on fieldwatch/<site>/<device>/telemetry; the site comes from the inventory.
            """
    )

    @Option(help: "CSV file to replay.") var csv: String
    @Option(help: "Device id (must be in the inventory).") var device: String
    @Option(help: "Sensor key of the device's profile.") var sensor: String
    @Option(help: "Inventory that names the device's site.") var inventory = "Simulator/demo-site.yaml"
    @Option(help: "Directory of device profiles.") var profiles = "DeviceProfiles"
    @Option(help: "MQTT broker, mqtt://HOST:PORT.") var broker = "mqtt://127.0.0.1:1883"
    @Option(help: "Rows per second; 0 publishes as fast as possible.") var rate: Double = 0
    @Option(help: "Write JSON lines {topic, payload} to this file instead of publishing.") var out: String?
    @Option(help: "QoS of published telemetry (0 or 1).") var qos: Int = 1
    @Option(help: "MQTT client id.") var clientID = "fieldwatch-sim-replay"

    func run() async throws {
        let loaded: [String: DeviceProfile]
        let inv: Inventory
        do {
            loaded = try ProfileLoader.load(paths: [profiles])
            inv = try Inventory.load(file: inventory, profiles: loaded)
        } catch {
            FileHandle.standardError.write(Data("fieldwatch-sim: \(error)\n".utf8))
            throw ExitCode(1)
        }
        guard let d = inv.device(DeviceID(device)) else {
            throw ValidationError("--device \(device) is not in \(inventory); known: \(inv.devices.map(\.id.rawValue).joined(separator: ", "))")
        }
        guard loaded[d.profileID]?.sensor(SensorKey(sensor)) != nil else {
            throw ValidationError("--sensor \(sensor) is not in profile \(d.profileID) of \(device)")
        }
        let series: TimeValueSeries
        do { series = try TimeValueSeries(path: csv) } catch { throw ValidationError(error.description) }
        let rows = Array(zip(series.timestamps, series.valueTexts))
        let sink: any TelemetrySink
        if let out {
            guard let file = FileSink(path: out) else { throw ValidationError("cannot create --out \(out)") }
            sink = file
        } else {
            let url = try MQTTConfiguration.parseBrokerURL(broker).get()
            let client = try MQTTClient(configuration: MQTTConfiguration(host: url.host, port: url.port, clientID: clientID, cleanSession: true))
            try client.connect()
            guard await client.waitUntilConnected(timeout: .seconds(15)) else { throw ValidationError("cannot connect to \(broker) within 15 s") }
            sink = try await MQTTSink(client: client, qos: qos, configuration: client.configuration, devicesWithDropouts: [])
        }
        let topic = "fieldwatch/\(d.site)/\(d.id)/telemetry"
        let clock = ContinuousClock()
        let begin = clock.now
        for (i, (ts, value)) in rows.enumerated() {
            if rate > 0 && out == nil { try await Task.sleep(until: begin + .milliseconds(Int64(Double(i) / rate * 1000)), clock: clock) }
            // The value is copied as written, so the replay is exact.
            try sink.send(topic: topic, payload: Array("{\"ts\":\(ts.milliseconds),\"metrics\":{\"\(sensor)\":\(value)}}".utf8))
        }
        await sink.finish()
        say("replayed \(rows.count) rows of \(csv) as \(device)/\(sensor)")
    }
}

/// `{"ts":...}` → `{"drill":true,"ts":...}` (status and malformed payloads pass unchanged).
func markDrill(_ payload: String) -> String {
    payload.hasPrefix("{\"ts\":") ? "{\"drill\":true," + payload.dropFirst() : payload
}
