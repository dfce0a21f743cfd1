import ArgumentParser
import FieldwatchCore
import Foundation
import PayloadFormats
import Profiles
import Synchronization

/// The wire formats the simulator can speak (`--format`).
enum WireFormat: String, CaseIterable, ExpressibleByArgument {
    /// Fieldwatch's own `{"ts", "metrics"}` on `fieldwatch/<site>/<device>/telemetry`.
    case json
    /// A Sparkplug B 3.0 edge node per site (`--edge-node`), its devices under it: NBIRTH,
    /// DBIRTH with aliases, then DDATA by alias; DDEATH for a dropout; a rebirth when asked.
    case sparkplug
    /// SenML JSON packs on `fieldwatch/senml`, base name `<site>/<device>/`.
    case senmlJSON = "senml-json"
    /// SenML CBOR, likewise.
    case senmlCBOR = "senml-cbor"
    /// The inventory's first topic mapping that names the device: its topic and JSON shape.
    case mapped

    var isBinary: Bool { self == .sparkplug || self == .senmlCBOR }
}

/// Turns the fleet's messages (Fieldwatch JSON) into the chosen wire format. A message that is
/// not valid Fieldwatch JSON (a malformed-payload scenario) goes out as it is, on the format's
/// topic, so the gateway's rejects of that format are exercised too.
final class FormatEncoder {
    struct DeviceInfo {
        var device: Device
        var group: String
        var name: String
        var units: [String: String]
        var mapping: TopicMapping?
        var zone: String
    }

    struct EdgeNode {
        var seq: UInt64 = 0
        var bdSeq: UInt64 = 0
        var born = false
        var aliases: [String: UInt64] = [:]
        var devices: Set<String> = []
    }

    let format: WireFormat
    let edgeNodeID: String
    private var devices: [String: DeviceInfo] = [:]
    private var statusTopics: [String: String] = [:]
    private var edgeNodes: [String: EdgeNode] = [:]
    /// Groups whose edge node was asked for a rebirth (written by the command listener).
    let rebirthRequests = RebirthRequests()

    /// With `--format mapped`, devices no mapping names publish Fieldwatch JSON (a mixed site).
    var unmapped: [DeviceID] { devices.values.filter { $0.mapping == nil }.map(\.device.id).sorted { $0.rawValue < $1.rawValue } }

    init(format: WireFormat, edgeNode: String, inventory: Inventory, profiles: [String: DeviceProfile]) throws {
        self.format = format
        self.edgeNodeID = edgeNode
        for device in inventory.devices {
            guard let profile = profiles[device.profileID] else { continue }
            let group = inventory.site(device.site)?.sparkplugGroup ?? device.site.rawValue
            let mapping = inventory.mappings.first { m in
                (m.site == nil || m.site == device.site) && (m.device == nil || m.device == device.id || m.device.map(\.rawValue) == device.externalID)
                    && (m.segments.contains(.device) || m.device != nil || m.deviceField != nil)
                    && m.fields.contains { f in profile.sensor(SensorKey(f.sensor)) != nil }
            }
            let info = DeviceInfo(device: device, group: group, name: device.externalID ?? device.id.rawValue,
                                  units: Dictionary(profile.sensors.map { ($0.key.rawValue, $0.unit) }, uniquingKeysWith: { a, _ in a }),
                                  mapping: mapping, zone: inventory.site(device.site)?.timeZone ?? "UTC")
            devices["fieldwatch/\(device.site)/\(device.id)/telemetry"] = info
            statusTopics["fieldwatch/\(device.site)/\(device.id)/status"] = "fieldwatch/\(device.site)/\(device.id)/telemetry"
        }
    }

    /// What goes on the wire for one fleet message.
    func encode(topic: String, payload: String) -> [(topic: String, payload: [UInt8])] {
        let raw = Array(payload.utf8)
        if format == .json { return [(topic, raw)] }
        if let telemetry = statusTopics[topic], let info = devices[telemetry] {
            guard format == .sparkplug else { return [(topic, raw)] }
            return payload.contains("\"offline\"") ? deviceDeath(info) : deviceBirth(info, values: [:], at: Self.milliseconds(payload))
        }
        guard let info = devices[topic] else { return [(topic, raw)] }
        guard case let .success(json) = JSONValue.parse(raw), case let .number(ts)? = json["ts"], case let .object(members)? = json["metrics"] else {
            return [(garbageTopic(info), raw)]
        }
        let metrics = members.compactMap { m -> (String, JSONValue)? in
            switch m.value {
            case .number, .array: (m.key, m.value)
            default: nil
            }
        }
        switch format {
        case .json: return [(topic, raw)]
        case .senmlJSON, .senmlCBOR:
            let measurements = metrics.compactMap { key, value -> SenML.Measurement? in
                guard case let .number(v) = value else { return nil }
                return SenML.Measurement(name: key, unit: info.units[key], value: v)
            }
            let base = "\(info.device.site)/\(info.device.id)/"
            let senmlTopic = "fieldwatch/senml"
            return [(senmlTopic, format == .senmlJSON ? Array(SenML.json(baseName: base, baseTime: ts / 1000, measurements).utf8)
                                                      : SenML.cbor(baseName: base, baseTime: ts / 1000, measurements))]
        case .sparkplug:
            var out: [(String, [UInt8])] = []
            let ms = UInt64(max(ts, 0))
            if rebirthRequests.groups.withLock({ $0.remove(info.group) != nil }) {
                edgeNodes[info.group]?.born = false
            }
            if edgeNodes[info.group]?.born != true { out += nodeBirth(info.group, at: ms) }
            if edgeNodes[info.group]?.devices.contains(info.name) != true {
                out += deviceBirth(info, values: Dictionary(metrics, uniquingKeysWith: { a, _ in a }), at: ms)
                return out
            }
            let node = edgeNodes[info.group]!
            let encoded = metrics.map { key, value -> SparkplugMetric in
                let alias = node.aliases["\(info.name)/\(key)"]
                if case let .array(items) = value {
                    return Sparkplug.blockMetric(name: alias == nil ? key : nil, alias: alias, values: items.compactMap { if case let .number(n) = $0 { n } else { nil } })
                }
                guard case let .number(v) = value else { return SparkplugMetric() }
                return Sparkplug.metric(name: alias == nil ? key : nil, alias: alias, value: v)
            }
            out.append((Sparkplug.Topic(group: info.group, type: .deviceData, edgeNode: edgeNodeID, device: info.name).text,
                        Sparkplug.payload(at: ms, seq: nextSeq(info.group), encoded)))
            return out
        case .mapped:
            guard let mapping = info.mapping else { return [(topic, raw)] }
            return [(mappedTopic(mapping, info), Array(mappedPayload(mapping, info, ts: ts, metrics: metrics).text.utf8))]
        }
    }

    static func milliseconds(_ statusPayload: String) -> UInt64 {
        guard case let .success(json) = JSONValue.parse(Array(statusPayload.utf8)), case let .number(ts)? = json["ts"] else {
            return UInt64(Date().timeIntervalSince1970 * 1000)
        }
        return UInt64(max(ts, 0))
    }

    /// Where a broken payload goes: the topic the format would use.
    func garbageTopic(_ info: DeviceInfo) -> String {
        switch format {
        case .json: "fieldwatch/\(info.device.site)/\(info.device.id)/telemetry"
        case .senmlJSON, .senmlCBOR: "fieldwatch/senml"
        case .sparkplug: Sparkplug.Topic(group: info.group, type: .deviceData, edgeNode: edgeNodeID, device: info.name).text
        case .mapped: info.mapping.map { mappedTopic($0, info) } ?? "fieldwatch/\(info.device.site)/\(info.device.id)/telemetry"
        }
    }

    // MARK: Sparkplug

    private func nextSeq(_ group: String) -> UInt64 {
        let seq = edgeNodes[group]!.seq
        edgeNodes[group]!.seq = (seq + 1) % 256
        return seq
    }

    private func nodeBirth(_ group: String, at ms: UInt64) -> [(String, [UInt8])] {
        var node = EdgeNode()
        // bdSeq pairs a birth with the MQTT session's death certificate (the will): a rebirth
        // the host asks for in the same session keeps it.
        node.bdSeq = edgeNodes[group]?.bdSeq ?? 0
        node.born = true
        edgeNodes[group] = node
        var rebirth = SparkplugMetric()
        rebirth.name = Sparkplug.rebirthMetric
        rebirth.datatype = Sparkplug.DataType.boolean.rawValue
        rebirth.booleanValue = false
        return [(Sparkplug.Topic(group: group, type: .nodeBirth, edgeNode: edgeNodeID).text,
                 Sparkplug.payload(at: ms, seq: nextSeq(group), [Sparkplug.birthDeathMetric(node.bdSeq), rebirth]))]
    }

    private func deviceBirth(_ info: DeviceInfo, values: [String: JSONValue], at ms: UInt64) -> [(String, [UInt8])] {
        var out: [(String, [UInt8])] = []
        if edgeNodes[info.group]?.born != true { out += nodeBirth(info.group, at: ms) }
        var metrics: [SparkplugMetric] = []
        for key in info.units.keys.sorted() {
            let full = "\(info.name)/\(key)"
            let alias = edgeNodes[info.group]!.aliases[full] ?? UInt64(edgeNodes[info.group]!.aliases.count + 1)
            edgeNodes[info.group]!.aliases[full] = alias
            switch values[key] {
            case let .number(v)?:
                metrics.append(Sparkplug.metric(name: key, alias: alias, value: v))
            case let .array(items)?:
                metrics.append(Sparkplug.blockMetric(name: key, alias: alias, values: items.compactMap { if case let .number(n) = $0 { n } else { nil } }))
            default:
                // Declared without a value: a birth lists every metric the device has.
                var metric = SparkplugMetric()
                metric.name = key
                metric.alias = alias
                metric.datatype = Sparkplug.DataType.double.rawValue
                metric.isNull = true
                metrics.append(metric)
            }
        }
        edgeNodes[info.group]!.devices.insert(info.name)
        out.append((Sparkplug.Topic(group: info.group, type: .deviceBirth, edgeNode: edgeNodeID, device: info.name).text,
                    Sparkplug.payload(at: ms, seq: nextSeq(info.group), metrics)))
        return out
    }

    private func deviceDeath(_ info: DeviceInfo) -> [(String, [UInt8])] {
        guard edgeNodes[info.group]?.devices.remove(info.name) != nil else { return [] }
        return [(Sparkplug.Topic(group: info.group, type: .deviceDeath, edgeNode: edgeNodeID, device: info.name).text,
                 Sparkplug.payload(at: UInt64(Date().timeIntervalSince1970 * 1000), seq: nextSeq(info.group), []))]
    }

    /// The NDEATH of every edge node the simulator has started: its MQTT last will when it has
    /// one node (the broker publishes it if the simulator's connection drops).
    var deathCertificates: [(topic: String, payload: [UInt8])] {
        Set(devices.values.map(\.group)).sorted().map { group in
            (Sparkplug.Topic(group: group, type: .nodeDeath, edgeNode: edgeNodeID).text,
             Sparkplug.payload(at: 0, seq: nil, [Sparkplug.birthDeathMetric(0)]))
        }
    }

    // MARK: Mapped

    func mappedTopic(_ mapping: TopicMapping, _ info: DeviceInfo) -> String {
        mapping.segments.map { segment in
            switch segment {
            case let .literal(s): s
            case .site: info.device.site.rawValue
            case .device: info.name
            case .any: "x"
            case .rest: "data"
            }
        }.joined(separator: "/")
    }

    func mappedPayload(_ mapping: TopicMapping, _ info: DeviceInfo, ts: Double, metrics: [(String, JSONValue)]) -> JSONValue {
        var root = JSONValue.object([])
        if let path = mapping.deviceField { root = root.setting(path.components[...], to: .string(info.name)) }
        if let path = mapping.time {
            let time: JSONValue = switch mapping.timeFormat {
            case .epochMilliseconds: .number(ts)
            case .epochSeconds: .number((ts / 1000).rounded())
            case .auto, .rfc3339: .string(Timestamp(milliseconds: Int64(ts)).rfc3339)
            case .local: .string(Self.localText(ts, zone: info.zone))
            }
            root = root.setting(path.components[...], to: time)
        }
        let values = Dictionary(metrics, uniquingKeysWith: { a, _ in a })
        for field in mapping.fields {
            guard case let .number(v)? = values[field.sensor] else { continue }
            root = root.setting(field.path.components[...], to: .number((v - field.offset) / field.scale))
        }
        return root
    }

    static func localText(_ ms: Double, zone: String) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.dateFormat = "yyyy-MM-dd HH:mm:ss.SSS"
        formatter.timeZone = TimeZone(identifier: zone) ?? TimeZone(identifier: "UTC")
        return formatter.string(from: Date(timeIntervalSince1970: ms / 1000))
    }
}

/// Groups whose edge node the host asked for a rebirth (NCMD), read at the next message.
final class RebirthRequests: Sendable {
    let groups = Mutex<Set<String>>([])
}

extension JSONValue {
    /// The value with `path` set (objects and lists made as needed).
    func setting(_ path: ArraySlice<JSONPath.Component>, to value: JSONValue) -> JSONValue {
        guard let first = path.first else { return value }
        let rest = path.dropFirst()
        switch first {
        case let .key(k):
            var members: [Member] = if case let .object(m) = self { m } else { [] }
            if let i = members.firstIndex(where: { $0.key == k }) {
                members[i].value = members[i].value.setting(rest, to: value)
            } else {
                members.append(Member(key: k, value: JSONValue.null.setting(rest, to: value)))
            }
            return .object(members)
        case let .index(n):
            var items: [JSONValue] = if case let .array(a) = self { a } else { [] }
            while items.count <= n { items.append(.null) }
            items[n] = items[n].setting(rest, to: value)
            return .array(items)
        }
    }
}
