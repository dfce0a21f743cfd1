import FieldwatchCore
import Foundation
import MQTT
import PayloadFormats
import Profiles

/// The formats the gateway reads, each with the same contract as its own JSON: counted
/// rejects by reason, dead letters, never a crash.
public enum PayloadFormat: String, Sendable, CaseIterable, Comparable {
    /// `{"ts": ..., "metrics": {...}}` on `fieldwatch/<site>/<device>/telemetry`.
    case json
    /// RFC 8428 SenML as a JSON list, on a device's telemetry topic or `fieldwatch/senml`.
    case senmlJSON = "senml-json"
    /// RFC 8428 SenML as a CBOR array, likewise.
    case senmlCBOR = "senml-cbor"
    /// Eclipse Sparkplug B 3.0 on `spBv1.0/…`.
    case sparkplug
    /// A device's own JSON on its own topic, read through an inventory mapping.
    case mapped

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }

    /// Position in `allCases` (the pipeline's per-format counters).
    var index: Int {
        switch self {
        case .json: 0
        case .senmlJSON: 1
        case .senmlCBOR: 2
        case .sparkplug: 3
        case .mapped: 4
        }
    }
}

/// Unit names that mean the same: SenML's registered names (RFC 8428 §12.1) beside the ones
/// people write in profiles. Only true synonyms: SenML's `C` is the coulomb, `/` and `%RH` are
/// other quantities than a profile's `count` or `%`.
enum Units {
    static let synonyms: [String: String] = [
        "°C": "Cel", "degC": "Cel", "℃": "Cel",
        "m/s^2": "m/s2", "m/s²": "m/s2",
        "m³/h": "m3/h", "m^3/h": "m3/h", "m³/s": "m3/s", "m^3/s": "m3/s",
        "percent": "%",
        "mg/L": "mg/l",
    ]

    static func canonical(_ unit: String) -> String { synonyms[unit] ?? unit }

    static func agree(_ a: String, _ b: String) -> Bool { a == b || canonical(a) == canonical(b) }
}

/// What a Sparkplug B topic names, looked up once per topic.
struct SparkplugRoute: Sendable {
    var topic: Sparkplug.Topic
    var site: SiteID?
    var context: IngestPipeline.DeviceContext?
    /// `<group>/<edge node>`: the session's key.
    var key: String
}

/// A Sparkplug B edge node's session as the gateway has followed it.
struct EdgeNodeState: Sendable {
    var born = false
    var bdSeq: UInt64?
    /// The sequence number of the last message (0...255, wrapping).
    var seq: UInt64?
    /// Alias → metric name and declared type, from the births (unique across the node and its devices).
    var aliases: [UInt64: String] = [:]
    var types: [String: Sparkplug.DataType] = [:]
    /// Devices of this node that have sent a DBIRTH and no DDEATH since.
    var devices: Set<String> = []
    /// When a rebirth was last asked for (asked again only after `rebirthInterval`).
    var rebirthAskedAt: Timestamp?
}

extension IngestPipeline {
    /// The topic where SenML packs naming any device (by base name) arrive.
    public var senmlTopic: String { "\(configuration.topicPrefix)/senml" }

    /// What the ingest service subscribes to, besides the telemetry and status topics: the
    /// Sparkplug B message types, the SenML topic, and each mapping's topic.
    public var formatSubscriptions: [String] {
        let ns = Sparkplug.namespace
        return ["\(ns)/+/NBIRTH/+", "\(ns)/+/NDATA/+", "\(ns)/+/NDEATH/+", "\(ns)/+/DBIRTH/+/+", "\(ns)/+/DDATA/+/+", "\(ns)/+/DDEATH/+/+", senmlTopic]
            + mappings.map(\.subscription)
    }

    /// A rebirth is asked of an edge node at most this often.
    static let rebirthInterval: Duration = .seconds(30)

    // MARK: SenML

    /// A SenML pack. On a device's telemetry topic a record names a sensor of that device
    /// (`n: "bearing_temp"`, or in full `bn: "<site>/<device>/"`); on `fieldwatch/senml` every
    /// record's full name must name its device: `<site>/<device>/<sensor>` or `<external id><sensor>`.
    func handleSenML(_ message: MQTTMessage, device: DeviceContext?, _ outcome: inout Outcome) {
        let cbor = message.payload.first.map { $0 & 0xE0 == 0x80 || $0 & 0xE0 == 0xA0 } ?? false
        outcome.format = cbor ? .senmlCBOR : .senmlJSON
        let decoded = cbor ? SenML.decode(cbor: message.payload) : SenML.decode(json: message.payload)
        let entries: [SenML.Entry]
        switch decoded {
        case let .success(e): entries = e
        case let .failure(error):
            let reason: RejectReason = error.kind == .invalid ? .invalidPayload : cbor ? .malformedPayload : .malformedJSON
            reject(reason, "SenML \(cbor ? "CBOR" : "JSON"): \(error.detail)", message, &outcome)
            return
        }
        let arrival = Timestamp(message.receivedAt)
        var lastTime: (SenML.Record.Time, Timestamp?)?
        for entry in entries {
            switch entry {
            case let .rejected(_, _, detail):
                reject(.invalidPayload, detail, message, &outcome)
            case let .record(record):
                guard let (context, sensor) = senmlTarget(record, device: device) else {
                    reject(.unknownDevice, "SenML name \"\(record.name.prefix(120))\" names no device of the inventory; use the base name \"<site>/<device>/\" (or the device's external_id) and the sensor as the name", message, &outcome)
                    continue
                }
                let timestamp: Timestamp?
                if let (time, resolved) = lastTime, time == record.time {
                    timestamp = resolved
                } else {
                    let field: TelemetryPayload.TimestampField = switch record.time {
                    // Relative to the pack's arrival; more than ~8.5 years back is no reading.
                    case let .relative(s): s > -SenML.relativeTimeLimit ? .valid(arrival + .milliseconds(Int64((s * 1000).rounded())))
                        : .invalid("SenML time \(s) s (relative to now) is not a plausible time; send seconds since 1970 or a small offset")
                    case let .absolute(s): Self.epochTime(s * 1000, what: "SenML time")
                    }
                    timestamp = resolveTime(field, context: context, message: message, &outcome)
                    lastTime = (record.time, timestamp)
                }
                guard let timestamp else { continue }
                let value: MetricValue = switch record.value {
                case let .number(n): .number(n)
                case let .bool(b): .number(b ? 1 : 0)
                case let .string(s): .nonNumeric("the string \"\(s.prefix(24))\" (vs)")
                case .data: .nonNumeric("binary data (vd)")
                }
                ingest(sensor, value, unit: record.unit, at: timestamp, arrival: arrival, drill: false, context: context, message: message, &outcome)
            }
        }
    }

    /// The device and sensor a SenML record stands for. The usual case, a base name that is a
    /// device's prefix and a name that is the sensor, is two comparisons or one lookup; other
    /// splits of the full name are searched for.
    func senmlTarget(_ record: SenML.Record, device: DeviceContext?) -> (DeviceContext, String)? {
        if let device {
            if record.baseName == device.senmlPrefix { return (device, record.localName) }
            let name = record.name
            if name.utf8.starts(with: device.senmlPrefix.utf8) { return (device, String(name.utf8.dropFirst(device.senmlPrefix.utf8.count))!) }
            if let external = device.device.externalID, name.utf8.starts(with: external.utf8) {
                return (device, String(name.dropFirst(external.count).drop { "/:._".contains($0) }))
            }
            return (device, name)
        }
        if let context = senmlPrefixes[record.baseName], !record.localName.isEmpty { return (context, record.localName) }
        // The longest prefix ending at a separator that names a device.
        let name = Array(record.name.utf8)
        var end = name.count
        while end > 0 {
            end -= 1
            let byte = name[end]
            guard byte == UInt8(ascii: "/") || byte == UInt8(ascii: ":") || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "_") else { continue }
            let sensor = String(decoding: name[(end + 1)...], as: UTF8.self)
            if let context = senmlPrefixes[String(decoding: name[...end], as: UTF8.self)] ?? senmlPrefixes[String(decoding: name[..<end], as: UTF8.self)] {
                return (context, sensor)
            }
        }
        return nil
    }

    /// A time in epoch milliseconds from a device, checked for plausibility.
    static func epochTime(_ ms: Double, what: String) -> TelemetryPayload.TimestampField {
        guard ms.isFinite, ms >= Double(TelemetryDecoder.earliestMilliseconds), ms < 1e15 else {
            return .invalid("\(what) \(ms.isFinite ? fmt(ms / 1000) : "\(ms)") s is not a plausible time (before 2000 or absurdly far ahead); check the device clock")
        }
        return .valid(Timestamp(milliseconds: Int64(ms.rounded())))
    }

    // MARK: Sparkplug B

    /// A Sparkplug B message: births register aliases and bring devices online, deaths take
    /// them offline, data is ingested by name or alias. Sequence numbers are checked; a gap,
    /// data before birth or an unknown alias asks the edge node for a rebirth (NCMD), as the
    /// specification has a host application do.
    func handleSparkplug(_ message: MQTTMessage, _ outcome: inout Outcome) {
        // Topics repeat (one per device and message type): their parse and lookups are cached.
        let route: SparkplugRoute
        if let cached = sparkplugRoutes.withLock({ $0[message.topic] }) {
            route = cached
        } else {
            guard let parsed = Sparkplug.Topic.parse(message.topic) else { return }
            switch parsed {
            case let .success(t):
                let site = sparkplugGroups[t.group]
                route = SparkplugRoute(topic: t, site: site, context: site.flatMap { devicesByName[$0]?[t.device ?? t.edgeNode] },
                                       key: "\(t.group)/\(t.edgeNode)")
                sparkplugRoutes.withLock { routes in
                    if routes.count >= 10_000 { routes.removeAll() }
                    routes[message.topic] = route
                }
            case let .failure(error):
                reject(.badTopic, error.detail, message, &outcome)
                return
            }
        }
        let topic = route.topic
        // Commands are the host's own (or another host's) messages, not telemetry.
        if topic.type == .nodeCommand || topic.type == .deviceCommand { return }
        outcome.format = .sparkplug
        let payload: SparkplugPayload
        switch Sparkplug.decode(message.payload) {
        case let .success(p): payload = p
        case let .failure(error):
            reject(.malformedPayload, "\(topic.type.rawValue) from edge node \(topic.edgeNode): \(error.detail)", message, &outcome)
            return
        }
        guard let site = route.site else {
            reject(.unknownDevice, "Sparkplug group \"\(topic.group.prefix(64))\" is no site of the inventory; give the site sparkplug_group: \(topic.group.prefix(64)) or publish under its site id", message, &outcome)
            return
        }
        let key = route.key
        let at = Timestamp(message.receivedAt)
        let deviceName = topic.device ?? topic.edgeNode
        let context = route.context
        var askRebirth: String?

        // Session bookkeeping under the lock; ingest after it (ingest takes other locks).
        var types: [String: Sparkplug.DataType] = [:]
        var aliases: [UInt64: String] = [:]
        var offline: [DeviceContext] = []
        var stale = false
        edgeNodes.withLock { nodes in
            var node = nodes[key] ?? EdgeNodeState()
            defer { nodes[key] = node }
            switch topic.type {
            case .nodeBirth:
                node = EdgeNodeState()
                node.born = true
                node.seq = payload.hasSeq ? payload.seq : 0
                node.bdSeq = payload.metrics.first { $0.name == Sparkplug.birthDeathSequence }.flatMap(Self.unsignedValue)
                register(payload.metrics, in: &node)
                outcome.notes.append("NBIRTH of edge node \(topic.edgeNode): \(node.aliases.count) aliases, bdSeq \(node.bdSeq.map(String.init) ?? "none")")
            case .nodeDeath:
                // A death certificate pairs with a birth by bdSeq; an old one (from a session
                // already replaced) must not take the new session's devices offline.
                let bdSeq = payload.metrics.first { $0.name == Sparkplug.birthDeathSequence }.flatMap(Self.unsignedValue)
                if let known = node.bdSeq, let bdSeq, known != bdSeq {
                    stale = true
                    outcome.notes.append("NDEATH of edge node \(topic.edgeNode) with bdSeq \(bdSeq) belongs to an earlier session (now \(known)); ignored")
                    return
                }
                offline = node.devices.compactMap { devicesByName[site]?[$0] } + (context.map { [$0] } ?? [])
                node.born = false
                node.devices = []
                node.seq = nil
                outcome.notes.append("NDEATH of edge node \(topic.edgeNode)")
            default:
                let seq = payload.hasSeq ? payload.seq : nil
                if !node.born {
                    askRebirth = "\(topic.type.rawValue) before the edge node's NBIRTH"
                } else if let last = node.seq, let seq, seq != (last + 1) % 256 {
                    askRebirth = "sequence number \(seq) after \(last) (expected \((last + 1) % 256)): messages were lost"
                    outcome.notes.append("sequence gap on edge node \(topic.edgeNode): \(askRebirth!)")
                    state.withLock { $0.counters.sparkplugSequenceGaps += 1 }
                }
                if let seq { node.seq = seq }
                if topic.type == .deviceBirth {
                    register(payload.metrics, in: &node)
                    node.devices.insert(deviceName)
                    outcome.notes.append("DBIRTH of device \(deviceName): \(payload.metrics.count) metrics")
                } else if topic.type == .deviceDeath {
                    node.devices.remove(deviceName)
                    if let context { offline.append(context) }
                    outcome.notes.append("DDEATH of device \(deviceName)")
                }
            }
            types = node.types
            aliases = node.aliases
        }
        if stale { return }
        for context in offline {
            setOnline(false, context: context, at: at, reason: "Sparkplug \(topic.type.rawValue) from edge node \(topic.edgeNode)", &outcome)
        }
        if topic.type == .nodeDeath || topic.type == .deviceDeath {
            if let reason = askRebirth { requestRebirth(topic, key: key, reason: reason, &outcome) }
            return
        }

        if let context {
            if topic.type == .nodeBirth || topic.type == .deviceBirth {
                setOnline(true, context: context, at: at, reason: "", &outcome)
            }
            let arrival = at
            var lastTime: (UInt64, Timestamp?)?
            for metric in payload.metrics {
                var name = metric.hasName ? metric.name : nil
                if name == nil, metric.hasAlias {
                    name = aliases[metric.alias]
                    if name == nil {
                        reject(.unknownSensor, "Sparkplug alias \(metric.alias) of \(deviceName) is in no birth certificate; a rebirth was asked for", message, &outcome)
                        askRebirth = askRebirth ?? "alias \(metric.alias) unknown"
                        continue
                    }
                }
                guard let name, !Self.isControlMetric(name) else { continue }
                let ms = metric.hasTimestamp ? metric.timestamp : payload.hasTimestamp ? payload.timestamp : nil
                let timestamp: Timestamp?
                if let (t, resolved) = lastTime, t == ms ?? 0 {
                    timestamp = resolved
                } else {
                    let field: TelemetryPayload.TimestampField = ms.map { Self.epochTime(Double($0), what: "Sparkplug timestamp") } ?? .missing
                    timestamp = resolveTime(field, context: context, message: message, &outcome)
                    lastTime = (ms ?? 0, timestamp)
                }
                guard let timestamp else { continue }
                let value: MetricValue
                switch Sparkplug.value(of: metric, declared: metric.hasDatatype ? nil : types[name]) {
                case let .number(n): value = .number(n)
                case let .block(values): value = .block(values)
                case let .bool(b): value = .number(b ? 1 : 0)
                case let .text(s): value = .nonNumeric("the string \"\(s.prefix(24))\"")
                case .null: continue
                case let .unsupported(what): value = .nonNumeric(what)
                }
                ingest(sensorKey(name, context), value, unit: nil, at: timestamp, arrival: arrival, drill: false, context: context, message: message, &outcome)
            }
        } else if topic.type != .nodeBirth && !payload.metrics.allSatisfy({ Self.isControlMetric($0.hasName ? $0.name : aliases[$0.alias] ?? "") }) {
            // A node that is only a gateway for its devices has births and control metrics of
            // its own; data from a device the inventory does not know is refused.
            reject(.unknownDevice, "Sparkplug \(topic.device == nil ? "edge node" : "device") \"\(deviceName.prefix(64))\" (group \(topic.group), edge node \(topic.edgeNode)) is not a device of site \(site) in the inventory; add it (id or external_id) or fix the edge node's configuration", message, &outcome)
        }
        if let reason = askRebirth { requestRebirth(topic, key: key, reason: reason, &outcome) }
    }

    /// Names an edge node keeps for itself: `bdSeq`, `Node Control/…`, `Device Control/…`, `Properties/…`.
    static func isControlMetric(_ name: String) -> Bool {
        // The first letter rules most names out without comparing prefixes.
        guard let first = name.utf8.first, first == UInt8(ascii: "b") || first == UInt8(ascii: "N") || first == UInt8(ascii: "D")
                || first == UInt8(ascii: "P") else { return false }
        return name == Sparkplug.birthDeathSequence || name.hasPrefix("Node Control/") || name.hasPrefix("Device Control/")
            || name.hasPrefix("Node Info/") || name.hasPrefix("Properties/")
    }

    /// A metric name as a sensor key: the name itself, or its last folder component
    /// (`Pump/bearing_temp` → `bearing_temp`) when that is a sensor and the full name is not.
    func sensorKey(_ name: String, _ context: DeviceContext) -> String {
        if context.sensors[name] != nil { return name }
        if let slash = name.lastIndex(of: "/") {
            let last = String(name[name.index(after: slash)...])
            if context.sensors[last] != nil { return last }
        }
        return name
    }

    private func register(_ metrics: [SparkplugMetric], in node: inout EdgeNodeState) {
        for metric in metrics where metric.hasName {
            if metric.hasAlias { node.aliases[metric.alias] = metric.name }
            if metric.hasDatatype, let type = Sparkplug.DataType(rawValue: metric.datatype) { node.types[metric.name] = type }
        }
    }

    static func unsignedValue(_ metric: SparkplugMetric) -> UInt64? {
        switch metric.value {
        case let .longValue(v)?: v
        case let .intValue(v)?: UInt64(v)
        default: nil
        }
    }

    /// Publishes `NCMD` with `Node Control/Rebirth = true`, at most once per `rebirthInterval` per node.
    private func requestRebirth(_ topic: Sparkplug.Topic, key: String, reason: String, _ outcome: inout Outcome) {
        let time = now()
        let due = edgeNodes.withLock { nodes -> Bool in
            if let asked = nodes[key]?.rebirthAskedAt, time - asked < Self.rebirthInterval { return false }
            nodes[key, default: EdgeNodeState()].rebirthAskedAt = time
            return true
        }
        guard due else { return }
        state.withLock { $0.counters.sparkplugRebirthRequests += 1 }
        let command = Sparkplug.Topic(group: topic.group, type: .nodeCommand, edgeNode: topic.edgeNode)
        outcome.notes.append("asked edge node \(topic.edgeNode) for a rebirth (\(reason)) on \(command.text)")
        logger.warning("Sparkplug edge node \(topic.group)/\(topic.edgeNode): \(reason); asking for a rebirth")
        commands(command.text, Sparkplug.rebirthCommand(atMilliseconds: UInt64(max(time.milliseconds, 0))))
    }

    // MARK: Mapped JSON

    /// The first mapping whose topic pattern `topic` matches.
    func matchMapping(_ topic: String) -> (TopicMapping, (site: Substring?, device: Substring?))? {
        for mapping in mappings {
            if let match = mapping.match(topic) { return (mapping, match) }
        }
        return nil
    }

    /// A device's own JSON, read through its inventory mapping.
    func handleMapped(_ message: MQTTMessage, mapping: TopicMapping, match: (site: Substring?, device: Substring?), _ outcome: inout Outcome) {
        outcome.format = .mapped
        let json: JSONValue
        switch JSONValue.parse(message.payload) {
        case let .success(v): json = v
        case let .failure(error):
            reject(.malformedJSON, "payload for mapping \(mapping.location) is \(error.detail)", message, &outcome)
            return
        }
        var siteID = mapping.site ?? match.site.map { SiteID(String($0)) }
        if let s = siteID, devicesByName[s] == nil, let bySparkplug = sparkplugGroups[s.rawValue] { siteID = bySparkplug }
        let name: String
        if let fixed = mapping.device {
            name = fixed.rawValue
        } else if let segment = match.device {
            name = String(segment)
        } else if let path = mapping.deviceField {
            guard let value = json.lookup(path) else {
                reject(.invalidPayload, "mapping \(mapping.location) names the device by \"\(path)\", which this payload does not have", message, &outcome)
                return
            }
            switch value {
            case let .string(s): name = s
            case let .number(n): name = fmt(n)
            default:
                reject(.invalidPayload, "mapping \(mapping.location): \"\(path)\" should name the device, found \(value.described)", message, &outcome)
                return
            }
        } else {
            return
        }
        let context: DeviceContext? = if let siteID { devicesByName[siteID]?[name] } else {
            devicesByName.values.lazy.compactMap { $0[name] }.first
        }
        guard let context else {
            reject(.unknownDevice, "device \"\(name.prefix(64))\"\(siteID.map { " at site \($0)" } ?? "") (topic \(message.topic.prefix(120)), mapping \(mapping.location)) is not in the inventory; add it (id or external_id) or fix the topic", message, &outcome)
            return
        }
        var timestamp = Timestamp(message.receivedAt)
        if let path = mapping.time {
            let field: TelemetryPayload.TimestampField
            if let value = json.lookup(path) {
                field = Self.mappedTime(value, format: mapping.timeFormat, path: path, zone: sites[context.device.site]?.timeZone)
            } else {
                field = .missing
            }
            guard let t = resolveTime(field, context: context, message: message, &outcome) else { return }
            timestamp = t
        }
        let arrival = Timestamp(message.receivedAt)
        var found = 0
        for field in mapping.fields {
            guard let value = json.lookup(field.path) else { continue }
            found += 1
            let metric: MetricValue = switch value {
            case let .number(n): .number(n * field.scale + field.offset)
            case let .bool(b): .number((b ? 1 : 0) * field.scale + field.offset)
            case let .string(s): Double(s.trimmingCharacters(in: .whitespaces)).map { $0.isFinite ? .number($0 * field.scale + field.offset) : .nonFinite(s) } ?? .nonNumeric(value.described)
            case let .nonFinite(t): .nonFinite(t)
            case let .array(items):
                items.allSatisfy({ if case .number = $0 { true } else { false } })
                    ? .block(items.compactMap { if case let .number(n) = $0 { n * field.scale + field.offset } else { nil } })
                    : .nonNumeric(value.described)
            default: .nonNumeric(value.described)
            }
            ingest(field.sensor, metric, unit: nil, at: timestamp, arrival: arrival, drill: false, context: context, message: message, &outcome)
        }
        if found == 0 {
            reject(.invalidPayload, "none of the fields mapping \(mapping.location) reads (\(mapping.fields.map(\.path.description).joined(separator: ", "))) is in the payload; check the device's JSON against the mapping", message, &outcome)
        }
    }

    /// A mapped payload's time field, read in the mapping's format.
    static func mappedTime(_ value: JSONValue, format: TopicMapping.TimeFormat, path: JSONPath, zone: String?) -> TelemetryPayload.TimestampField {
        switch (value, format) {
        case (.null, _): return .missing
        case let (.number(n), .epochMilliseconds): return epochTime(n, what: "\"\(path)\"")
        case let (.number(n), .epochSeconds): return epochTime(n * 1000, what: "\"\(path)\"")
        case let (.number(n), .auto):
            // Seconds and milliseconds since 1970 differ by three orders of magnitude: a
            // present-day time in seconds is about 1.7e9, in milliseconds 1.7e12.
            return epochTime(n < 1e11 ? n * 1000 : n, what: "\"\(path)\"")
        case let (.string(s), .rfc3339), let (.string(s), .auto):
            if let t = Timestamp(rfc3339: s) { return epochTime(Double(t.milliseconds), what: "\"\(path)\"") }
            if format == .auto, let t = localTime(s, zone: zone) { return epochTime(Double(t.milliseconds), what: "\"\(path)\"") }
            return .invalid("\"\(path)\" \"\(s.prefix(40))\" is not \(format == .auto ? "an RFC 3339 time or YYYY-MM-DD HH:MM:SS" : "an RFC 3339 time such as 2026-12-08T10:53:30Z")")
        case let (.string(s), .local):
            if let t = localTime(s, zone: zone) { return epochTime(Double(t.milliseconds), what: "\"\(path)\"") }
            return .invalid("\"\(path)\" \"\(s.prefix(40))\" is not a local time YYYY-MM-DD HH:MM:SS[.fff] (the site's zone \(zone ?? "UTC"))")
        case let (.string(s), _):
            if let n = Double(s) { return mappedTime(.number(n), format: format, path: path, zone: zone) }
            return .invalid("\"\(path)\" is the string \"\(s.prefix(40))\"; the mapping expects \(format.rawValue)")
        default:
            return .invalid("\"\(path)\" must be a time (\(format.rawValue)), found \(value.described)")
        }
    }

    /// `YYYY-MM-DD HH:MM:SS[.fff]` (space or `T`) in an IANA zone.
    static func localTime(_ text: String, zone: String?) -> Timestamp? {
        let s = Array(text.utf8)
        guard s.count >= 19, s[4] == UInt8(ascii: "-"), s[7] == UInt8(ascii: "-"), s[10] == UInt8(ascii: " ") || s[10] == UInt8(ascii: "T"),
              s[13] == UInt8(ascii: ":"), s[16] == UInt8(ascii: ":") else { return nil }
        func int(_ r: Range<Int>) -> Int? {
            var v = 0
            for i in r {
                guard s[i] >= 0x30 && s[i] <= 0x39 else { return nil }
                v = v * 10 + Int(s[i] - 0x30)
            }
            return v
        }
        guard let y = int(0..<4), let mo = int(5..<7), let d = int(8..<10), let h = int(11..<13), let mi = int(14..<16), let sec = int(17..<19),
              (1...12).contains(mo), (1...31).contains(d), h < 24, mi < 60, sec < 61 else { return nil }
        var millis = 0
        if s.count > 19 {
            guard s[19] == UInt8(ascii: "."), s.count > 20, s.count <= 29, let f = int(20..<s.count) else { return nil }
            millis = Int(Double(f) / pow(10, Double(s.count - 20)) * 1000)
        }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone.flatMap(TimeZone.init(identifier:)) ?? TimeZone(identifier: "UTC")!
        guard let date = calendar.date(from: DateComponents(year: y, month: mo, day: d, hour: h, minute: mi, second: sec)) else { return nil }
        return Timestamp(milliseconds: Int64(date.timeIntervalSince1970 * 1000) + Int64(millis))
    }
}

extension JSONValue {
    /// The value at `path`, if the payload has it.
    func lookup(_ path: JSONPath) -> JSONValue? {
        var value = self
        for component in path.components {
            switch (component, value) {
            case let (.key(k), .object(members)):
                guard let next = members.first(where: { $0.key == k })?.value else { return nil }
                value = next
            case let (.index(n), .array(items)):
                guard n < items.count else { return nil }
                value = items[n]
            default:
                return nil
            }
        }
        return value
    }
}

// MARK: Rows (historian exports, backtests)

extension IngestPipeline {
    /// A device's columns bound to its sensors once, for readings that come as rows of a table.
    public struct RowBinding: Sendable {
        let context: DeviceContext
        /// Per column: the sensor key, or nil for a column that is not read (the time, unmapped tags).
        public let sensors: [String?]
        public var device: DeviceID { context.device.id }
    }

    /// Binds `columns` (sensor keys or nil) to `device`; nil when the device is not in the inventory.
    public func bind(device: DeviceID, columns: [String?]) -> RowBinding? {
        guard let context = devices[device] else { return nil }
        return RowBinding(context: context, sensors: columns)
    }

    static let rowMessage = MQTTMessage(topic: "(historian row)", payload: [], receivedAt: Date(timeIntervalSince1970: 0))

    /// One row of readings taken at `time`: each through the same checks, ring and detectors as
    /// a message's metrics (arrival = the row's time, so staleness runs in the data's time).
    @discardableResult
    public func ingest(row binding: RowBinding, at time: Timestamp, values: [Double?]) -> Outcome {
        var outcome = Outcome()
        for (column, key) in binding.sensors.enumerated() {
            guard let key, column < values.count, let value = values[column] else { continue }
            ingest(key, .number(value), unit: nil, at: time, arrival: time, drill: false, context: binding.context, message: Self.rowMessage, &outcome)
        }
        let (accepted, raised) = (outcome.accepted, outcome.anomalies.filter { $0.transition == .raised }.count)
        let cleared = outcome.anomalies.count - raised
        state.withLock {
            $0.counters.samplesAccepted += accepted
            $0.counters.anomaliesRaised += raised
            $0.counters.anomaliesCleared += cleared
        }
        return outcome
    }

    /// How unusual the sensor's latest reading was to its detectors (0 to 1; 0.5 is as unusual as
    /// the worst seen so far), as `replay` and the NAB scores read it.
    public func detectorScore(device: DeviceID, sensor: String) -> Double {
        guard let series = devices[device]?.sensors[sensor]?.series else { return 0 }
        return detection.withLock { $0.engine.score(for: series) }
    }
}
