import FieldwatchCore
import Yams

/// How to read a device that publishes its own JSON on its own topic (an off-the-shelf gateway:
/// `plant1/pumps/P-102/data` with `{"temp": 61.2, "time": "…"}`), declared in the inventory:
///
/// ```yaml
/// mappings:
///   - topic: plant1/pumps/{device}/data     # {site}, {device}, + and a final # may appear
///     site: plant1                           # unless the topic names it
///     time: {path: time, format: rfc3339}    # auto, rfc3339, epoch_ms, epoch_s, local
///     metrics:
///       bearing_temp: temp                   # sensor: path in the payload
///       flow: {path: readings.flow, scale: 3.6, offset: 0}
/// ```
public struct TopicMapping: Sendable, Equatable {
    public enum Segment: Sendable, Equatable {
        case literal(String)
        /// `{site}`: the site id (or its Sparkplug group) is this segment.
        case site
        /// `{device}`: the device id or its `external_id` is this segment.
        case device
        /// `+`: any one segment.
        case any
        /// `#` (last only): any rest.
        case rest
    }

    public enum TimeFormat: String, Sendable, CaseIterable {
        /// Numbers are epoch seconds or milliseconds by magnitude; strings are RFC 3339, or
        /// `YYYY-MM-DD HH:MM:SS` in the site's time zone.
        case auto
        case rfc3339
        case epochMilliseconds = "epoch_ms"
        case epochSeconds = "epoch_s"
        /// `YYYY-MM-DD HH:MM:SS[.fff]` (or with a `T`) in the site's time zone, as PLC gateways write it.
        case local
    }

    /// One sensor read from the payload: `value * scale + offset`.
    public struct Field: Sendable, Equatable {
        public var sensor: String
        public var path: JSONPath
        public var scale: Double
        public var offset: Double

        public init(sensor: String, path: JSONPath, scale: Double = 1, offset: Double = 0) {
            self.sensor = sensor
            self.path = path
            self.scale = scale
            self.offset = offset
        }
    }

    public var topic: String
    public var segments: [Segment]
    public var site: SiteID?
    public var device: DeviceID?
    /// A payload field naming the device (one topic for many devices).
    public var deviceField: JSONPath?
    public var time: JSONPath?
    public var timeFormat: TimeFormat
    public var fields: [Field]
    /// `file:line` of the entry, for messages.
    public var location: String

    public init(topic: String, segments: [Segment], site: SiteID? = nil, device: DeviceID? = nil, deviceField: JSONPath? = nil,
                time: JSONPath? = nil, timeFormat: TimeFormat = .auto, fields: [Field], location: String) {
        self.topic = topic
        self.segments = segments
        self.site = site
        self.device = device
        self.deviceField = deviceField
        self.time = time
        self.timeFormat = timeFormat
        self.fields = fields
        self.location = location
    }

    /// The MQTT subscription that receives the topics this mapping reads.
    public var subscription: String {
        segments.map { segment in
            switch segment {
            case let .literal(s): s
            case .site, .device, .any: "+"
            case .rest: "#"
            }
        }.joined(separator: "/")
    }

    /// The site and device segments of `topic` when it matches the pattern.
    public func match(_ topic: String) -> (site: Substring?, device: Substring?)? {
        var site: Substring?
        var device: Substring?
        var parts = topic.split(separator: "/", omittingEmptySubsequences: false)[...]
        for segment in segments {
            if segment == .rest { return parts.isEmpty ? nil : (site, device) }
            guard let part = parts.popFirst() else { return nil }
            switch segment {
            case let .literal(s): guard part == s else { return nil }
            case .site: guard !part.isEmpty else { return nil }; site = part
            case .device: guard !part.isEmpty else { return nil }; device = part
            case .any, .rest: break
            }
        }
        return parts.isEmpty ? (site, device) : nil
    }

    static func parseTopic(_ pattern: String) -> Result<[Segment], MappingProblem> {
        var segments: [Segment] = []
        let parts = pattern.split(separator: "/", omittingEmptySubsequences: false)
        for (i, part) in parts.enumerated() {
            switch part {
            case "{site}":
                guard !segments.contains(.site) else { return .failure(MappingProblem("{site} appears twice")) }
                segments.append(.site)
            case "{device}":
                guard !segments.contains(.device) else { return .failure(MappingProblem("{device} appears twice")) }
                segments.append(.device)
            case "+": segments.append(.any)
            case "#":
                guard i == parts.count - 1 else { return .failure(MappingProblem("# may only be the last segment")) }
                segments.append(.rest)
            default:
                if part.isEmpty { return .failure(MappingProblem("segment \(i + 1) is empty (a doubled or trailing '/')")) }
                if part.contains(where: { "+#{}".contains($0) }) {
                    return .failure(MappingProblem("segment \"\(part)\" mixes text with a wildcard; a segment is text, {site}, {device}, + or #"))
                }
                segments.append(.literal(String(part)))
            }
        }
        if case .literal("spBv1.0")? = segments.first { return .failure(MappingProblem("spBv1.0/… is Sparkplug B, which the gateway reads without a mapping")) }
        return .success(segments)
    }

    static func read(_ node: Node, path: String, context: YAMLContext, sites: [Site], devices: [Device], profiles: [String: DeviceProfile]) -> TopicMapping? {
        guard var r = MappingReader(node, path: path, context: context, what: "a topic mapping (topic, metrics, and optionally site, device, time)") else { return nil }
        var ok = true
        let topic = r.string("topic", "the topic pattern, e.g. plant1/pumps/{device}/data")
        var segments: [Segment] = []
        if let topic {
            switch parseTopic(topic) {
            case let .success(s): segments = s
            case let .failure(problem):
                context.report(r.value("topic"), r.fieldPath("topic"), "\"\(topic)\": \(problem.text)")
                ok = false
            }
        }
        let site = r.string("site", required: false, "the site id, when the topic does not name it with {site}")
        let device = r.string("device", required: false, "the device id, when the topic does not name it with {device}")
        var deviceField: JSONPath?
        if let text = r.string("device_field", required: false, "the payload field naming the device, e.g. meta.id") {
            deviceField = JSONPath.parse(text, node: r.value("device_field"), path: r.fieldPath("device_field"), context: context)
            if deviceField == nil { ok = false }
        }
        if let site, !sites.contains(where: { $0.id.rawValue == site }) {
            context.report(r.value("site"), r.fieldPath("site"), "unknown site \"\(site)\"\(didYouMean(site, sites.map(\.id.rawValue))); it must be one of the sites: above")
            ok = false
        }
        if site != nil && segments.contains(.site) {
            context.report(r.value("site"), r.fieldPath("site"), "the topic already names the site with {site}; remove one of them")
            ok = false
        }
        let namers = [segments.contains(.device), device != nil, deviceField != nil].filter { $0 }.count
        if topic != nil && !segments.isEmpty && namers != 1 {
            context.report(node, path, namers == 0
                           ? "nothing names the device; put {device} in the topic, or add device: (one device) or device_field: (a payload field)"
                           : "the device is named more than once ({device}, device:, device_field:); keep one")
            ok = false
        }
        var candidates = devices.filter { d in site.map { d.site.rawValue == $0 } ?? true }
        if let device {
            candidates = candidates.filter { $0.id.rawValue == device || $0.externalID == device }
            if candidates.isEmpty {
                context.report(r.value("device"), r.fieldPath("device"), "no device \"\(device)\"\(site.map { " at site \($0)" } ?? "") in the inventory\(didYouMean(device, devices.map(\.id.rawValue)))")
                ok = false
            }
        }
        var time: JSONPath?
        var format = TimeFormat.auto
        if let t = r.value("time") {
            if case .scalar = t, let text = t.string {
                time = JSONPath.parse(text, node: t, path: r.fieldPath("time"), context: context)
            } else if var tr = MappingReader(t, path: r.fieldPath("time"), context: context, what: "the time field (path, format)") {
                if let text = tr.string("path", "the payload field holding the time, e.g. time or data.ts") {
                    time = JSONPath.parse(text, node: tr.value("path"), path: tr.fieldPath("path"), context: context)
                }
                format = tr.enumeration("format", TimeFormat.self, required: false) ?? .auto
                tr.finish()
            }
            if time == nil { ok = false }
        }
        var fields: [Field] = []
        if let m = r.required("metrics", "sensor: payload path pairs, e.g. bearing_temp: temp") {
            if case let .mapping(pairs) = m {
                let known = Set(candidates.compactMap { profiles[$0.profileID] }.flatMap { $0.sensors.map(\.key.rawValue) })
                for (k, v) in pairs {
                    let sensor = k.string ?? "\(k)"
                    let fieldPath = "\(r.fieldPath("metrics")).\(sensor)"
                    var field: Field?
                    if case .scalar = v, let text = v.string {
                        field = JSONPath.parse(text, node: v, path: fieldPath, context: context).map { Field(sensor: sensor, path: $0) }
                    } else if var fr = MappingReader(v, path: fieldPath, context: context, what: "a metric (path, scale, offset)") {
                        let p = fr.string("path", "the payload field, e.g. readings.flow").flatMap {
                            JSONPath.parse($0, node: fr.value("path"), path: fr.fieldPath("path"), context: context)
                        }
                        let scale = fr.number("scale", required: false, "a factor applied to the value") ?? 1
                        let offset = fr.number("offset", required: false, "added after scaling") ?? 0
                        fr.finish()
                        if scale == 0 { context.report(fr.value("scale"), fr.fieldPath("scale"), "a scale of 0 turns every reading into the offset; remove it or give the factor") }
                        if let p, scale != 0 { field = Field(sensor: sensor, path: p, scale: scale, offset: offset) }
                    }
                    guard let field else { ok = false; continue }
                    if !candidates.isEmpty && !known.contains(sensor) {
                        context.report(k, fieldPath, "sensor \"\(sensor)\" is in no profile of the devices this mapping can name\(didYouMean(sensor, known.sorted())); known: \(known.sorted().joined(separator: ", "))")
                        ok = false
                        continue
                    }
                    fields.append(field)
                }
                if pairs.isEmpty {
                    context.report(m, r.fieldPath("metrics"), "no metrics; map at least one sensor to a payload field")
                    ok = false
                }
            } else {
                context.report(m, r.fieldPath("metrics"), "expected a mapping of sensor: payload path, found \(m.kindName)")
                ok = false
            }
        }
        r.finish()
        guard ok, let topic else { return nil }
        return TopicMapping(topic: topic, segments: segments, site: site.map(SiteID.init), device: device.map(DeviceID.init),
                            deviceField: deviceField, time: time, timeFormat: format, fields: fields,
                            location: "\(context.file):\(node.mark?.line ?? 1)")
    }
}

/// A path into a JSON payload: `readings.flow`, `data[0].value`, `"a.b"` keys quoted with brackets: `["a.b"]`.
public struct JSONPath: Sendable, Equatable, CustomStringConvertible {
    public enum Component: Sendable, Equatable {
        case key(String)
        case index(Int)
    }

    public var components: [Component]
    public var description: String

    public init(components: [Component], description: String) {
        self.components = components
        self.description = description
    }

    /// Parses `a.b[2].c` (keys separated by dots, list indexes in brackets, `["odd.key"]`).
    public static func parse(_ text: String) -> Result<JSONPath, MappingProblem> {
        var components: [Component] = []
        var chars = Array(text)[...]
        var key = ""
        func flushKey() -> Bool {
            guard !key.isEmpty else { return false }
            components.append(.key(key))
            key = ""
            return true
        }
        var afterBracket = false
        while let c = chars.popFirst() {
            switch c {
            case ".":
                if !flushKey() && !afterBracket { return .failure(MappingProblem("an empty key before '.'")) }
                afterBracket = false
            case "[":
                if !key.isEmpty { _ = flushKey() }
                if chars.first == "\"" {
                    chars.removeFirst()
                    guard let close = chars.firstIndex(of: "\"") else { return .failure(MappingProblem("unterminated [\"…\"]")) }
                    components.append(.key(String(chars[..<close])))
                    chars = chars[(close + 1)...]
                } else {
                    guard let close = chars.firstIndex(of: "]"), let n = Int(String(chars[..<close])), n >= 0 else {
                        return .failure(MappingProblem("[…] must hold a list index (0, 1, …) or a quoted key"))
                    }
                    components.append(.index(n))
                    chars = chars[close...]
                }
                guard chars.popFirst() == "]" else { return .failure(MappingProblem("missing ]")) }
                afterBracket = true
            default:
                if afterBracket { return .failure(MappingProblem("'.' expected after ]")) }
                key.append(c)
            }
        }
        if !flushKey() && !afterBracket { return .failure(MappingProblem(components.isEmpty ? "the path is empty" : "the path ends with '.'")) }
        return .success(JSONPath(components: components, description: text))
    }

    static func parse(_ text: String, node: Node?, path: String, context: YAMLContext) -> JSONPath? {
        switch parse(text) {
        case let .success(p): return p
        case let .failure(problem):
            context.report(node, path, "payload path \"\(text)\": \(problem.text); write it like readings.flow or data[0].value")
            return nil
        }
    }
}

/// What is wrong with a topic pattern or a payload path.
public struct MappingProblem: Error, Sendable, Equatable {
    public var text: String
    public init(_ text: String) { self.text = text }
}
