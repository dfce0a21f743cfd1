import FieldwatchCore
import Foundation
import Yams

/// Reads and validates device profiles. Every problem in every file is reported at once, each
/// as `file:line:column: path: what is wrong; what to do`.
public enum ProfileLoader {
    /// Parses one profile document. `file` is the name used in messages.
    public static func parse(_ text: String, file: String) throws(ProfileError) -> DeviceProfile {
        let context = YAMLContext(file: file)
        let profile = context.compose(text).flatMap { readProfile($0, context: context) }
        guard context.issues.isEmpty, let profile else { throw ProfileError(issues: context.issues) }
        return profile
    }

    /// Loads one file.
    public static func load(file: String) throws(ProfileError) -> DeviceProfile {
        try parse(try readText(file), file: file)
    }

    /// Loads every `.yaml`/`.yml` file of a directory, or the given files. Profile ids must be
    /// unique across files.
    public static func load(paths: [String]) throws(ProfileError) -> [String: DeviceProfile] {
        var issues: [ProfileIssue] = []
        var profiles: [String: DeviceProfile] = [:]
        var files: [String] = []
        for path in paths {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                issues.append(ProfileIssue(file: path, line: 1, column: 1, path: "",
                                           message: "no such file or directory; pass the profiles directory (default ./DeviceProfiles)"))
                continue
            }
            if isDirectory.boolValue {
                let entries = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
                let yaml = entries.filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }.sorted()
                if yaml.isEmpty {
                    issues.append(ProfileIssue(file: path, line: 1, column: 1, path: "",
                                               message: "directory holds no .yaml profiles; point --profiles at DeviceProfiles/"))
                }
                files += yaml.map { (path as NSString).appendingPathComponent($0) }
            } else {
                files.append(path)
            }
        }
        for file in files {
            do {
                let profile = try load(file: file)
                if let earlier = profiles[profile.id] {
                    issues.append(ProfileIssue(file: file, line: 1, column: 1, path: "id",
                                               message: "profile id \"\(profile.id)\" is already defined in \(earlier.sourceFile); give each profile its own id"))
                } else {
                    profiles[profile.id] = profile
                }
            } catch {
                issues += error.issues
            }
        }
        guard issues.isEmpty else { throw ProfileError(issues: issues) }
        return profiles
    }

    public static func readText(_ file: String) throws(ProfileError) -> String {
        do {
            return try String(contentsOfFile: file, encoding: .utf8)
        } catch {
            throw ProfileError(issues: [ProfileIssue(file: file, line: 1, column: 1, path: "",
                                                     message: "cannot read the file (\(error.localizedDescription)); check the path and its permissions")])
        }
    }

    static func readProfile(_ node: Node, context: YAMLContext) -> DeviceProfile? {
        guard var r = MappingReader(node, path: "", context: context, what: "a device profile") else { return nil }
        if let schema = r.integer("schema", "the profile schema version, \(DeviceProfile.schemaVersion)"),
           schema != DeviceProfile.schemaVersion {
            context.report(r.value("schema"), "schema",
                           "schema \(schema) is not supported; this Fieldwatch reads schema \(DeviceProfile.schemaVersion)")
        }
        let id = r.identifier("id", "the profile id devices refer to, e.g. centrifugal-pump")
        var version = r.integer("version", "the profile version, a whole number from 1")
        if let v = version, v < 1 {
            context.report(r.value("version"), "version", "version \(v) must be 1 or more; raise it whenever limits change")
            version = nil
        }
        let name = r.string("name", "a human name for the equipment")
        let manufacturer = r.string("manufacturer", required: false, "the manufacturer")
        let model = r.string("model", required: false, "the model")
        let category = r.string("category", "the equipment category, e.g. pump")
        var criticality = r.integer("criticality", required: false, "1 (nuisance) to 5 (safety or site outage)") ?? 3
        if !(1...5).contains(criticality) {
            context.report(r.value("criticality"), "criticality", "\(criticality) is outside 1...5; 1 is a nuisance, 5 a safety or whole-site outage")
            criticality = 3
        }
        var sensors: [SensorSpec] = []
        var faultReferences: [(code: FaultCode, node: Node?, path: String)] = []
        if let nodes = r.sequence("sensors", "the sensors of this equipment") {
            if nodes.isEmpty {
                context.report(r.value("sensors"), "sensors", "the list is empty; a profile needs at least one sensor")
            }
            var seen: [SensorKey: Int] = [:]
            for (i, sensorNode) in nodes.enumerated() {
                guard let sensor = readSensor(sensorNode, path: "sensors[\(i)]", context: context) else { continue }
                if let code = sensor.limits?.faultCode {
                    let limitsNode = sensorNode.mapping?["limits"]
                    faultReferences.append((code, limitsNode?.mapping?["fault"] ?? limitsNode, "sensors[\(i)].limits.fault"))
                }
                if let first = seen[sensor.key] {
                    context.report(sensorNode, "sensors[\(i)].key",
                                   "duplicate sensor key \"\(sensor.key)\" (first at sensors[\(first)]); each sensor needs its own key")
                    continue
                }
                seen[sensor.key] = i
                sensors.append(sensor)
            }
        }
        // A derived sensor is computed from a waveform sensor of this profile.
        for (i, sensor) in sensors.enumerated() {
            guard let derived = sensor.derived else { continue }
            let node = (r.value("sensors")?.sequence?[i]).flatMap { $0.mapping?["derived"] }
            guard let source = sensors.first(where: { $0.key == derived.from }) else {
                let waveforms = sensors.filter { $0.kind == .waveform }.map(\.key.rawValue)
                context.report(node, "sensors[\(i)].derived.from",
                               "no sensor \"\(derived.from)\" in this profile\(didYouMean(derived.from.rawValue, waveforms)); derive from a sensor with kind: waveform")
                continue
            }
            if source.kind != .waveform {
                context.report(node, "sensors[\(i)].derived.from",
                               "\"\(derived.from)\" is a \(source.kind.rawValue), not a waveform; features are computed from blocks of raw samples (kind: waveform)")
            }
        }
        var faults: [FaultSpec] = []
        if let nodes = r.sequence("faults", required: false, "the fault catalogue (code, name, component, grade, ...)") {
            for (i, n) in nodes.enumerated() {
                guard let fault = readFault(n, path: "faults[\(i)]", context: context) else { continue }
                if faults.contains(where: { $0.code == fault.code }) {
                    context.report(n, "faults[\(i)].code", "duplicate fault code \"\(fault.code)\"; each fault needs its own code")
                    continue
                }
                faults.append(fault)
            }
        }
        // A limit reports a fault of the catalogue (when the profile has one).
        if !faults.isEmpty {
            let codes = faults.map(\.code.rawValue)
            for ref in faultReferences where !codes.contains(ref.code.rawValue) {
                context.report(ref.node, ref.path,
                               "fault \"\(ref.code)\" is not in this profile's faults\(didYouMean(ref.code.rawValue, codes)); add it under faults: or fix the code")
            }
        }
        var detectors: [DetectorSpec] = []
        if let nodes = r.sequence("detectors", required: false, "detectors (sensor, type, parameters)") {
            for (i, n) in nodes.enumerated() {
                guard let d = readDetector(n, path: "detectors[\(i)]", sensors: sensors, context: context) else { continue }
                detectors.append(d)
                // A fault named by a detector is one of the catalogue's, like a limit's.
                let codes = faults.map(\.code.rawValue)
                if let code = d.fault, !faults.isEmpty, !codes.contains(code.rawValue) {
                    context.report(n.mapping?["fault"] ?? n, "detectors[\(i)].fault",
                                   "fault \"\(code)\" is not in this profile's faults\(didYouMean(code.rawValue, codes)); add it under faults: or fix the code")
                }
            }
        }
        var rules: [RuleSpec] = []
        if let nodes = r.sequence("rules", required: false, "multi-sensor rules (fault, sensors, movement, min_change, window, quiet)") {
            for (i, n) in nodes.enumerated() {
                if let rule = readRule(n, path: "rules[\(i)]", sensors: sensors, faults: faults, context: context) { rules.append(rule) }
            }
        }
        var operatingState: OperatingStateSpec?
        if let node = r.value("operating_state") {
            operatingState = readOperatingState(node, sensors: sensors, context: context)
        }
        r.finish()
        guard let id, let version, let name, let category else { return nil }
        return DeviceProfile(id: id, version: version, name: name, manufacturer: manufacturer, model: model,
                             category: category, criticality: criticality, sensors: sensors, detectors: detectors,
                             faults: faults, rules: rules, operatingState: operatingState, sourceFile: context.file)
    }

    /// `operating_state: {running_when: {sensor: KEY, above: X | below: X}, settle: DURATION}`.
    static func readOperatingState(_ node: Node, sensors: [SensorSpec], context: YAMLContext) -> OperatingStateSpec? {
        guard var r = MappingReader(node, path: "operating_state", context: context, what: "how to tell running from stopped (running_when, settle)") else { return nil }
        let settle = r.duration("settle", "how long after each start readings are not judged, e.g. 2m") ?? .seconds(60)
        var spec: OperatingStateSpec?
        if let w = r.required("running_when", "the sensor and level that mean running, e.g. {sensor: motor_current, above: 5}"),
           var wr = MappingReader(w, path: "operating_state.running_when", context: context, what: "a sensor and a level (above or below)") {
            let key = wr.string("sensor", "the sensor that tells running from stopped, e.g. motor_current")
            let above = wr.number("above", required: false, "running when the sensor reads above this")
            let below = wr.number("below", required: false, "running when the sensor reads below this")
            wr.finish()
            if let key, !sensors.contains(where: { $0.key.rawValue == key }) {
                context.report(wr.value("sensor"), "operating_state.running_when.sensor",
                               "unknown sensor \"\(key)\"\(didYouMean(key, sensors.map(\.key.rawValue))); use one of the sensors: above")
            } else if let key, sensors.first(where: { $0.key.rawValue == key })?.kind != .gauge {
                context.report(wr.value("sensor"), "operating_state.running_when.sensor", "sensor \"\(key)\" is not a gauge; running is told by a gauge's level (a current, a speed, a flow)")
            } else if (above == nil) == (below == nil) {
                context.report(w, "operating_state.running_when", "give one of above: or below:, the level that means running")
            } else if let key {
                spec = OperatingStateSpec(sensor: SensorKey(key), threshold: above ?? below!, runningAbove: above != nil, settle: settle)
            }
        }
        r.finish()
        return spec
    }

    static func readRule(_ node: Node, path: String, sensors: [SensorSpec], faults: [FaultSpec], context: YAMLContext) -> RuleSpec? {
        guard var r = MappingReader(node, path: path, context: context, what: "a multi-sensor rule") else { return nil }
        let fault = r.string("fault", "the fault code the rule reports")
        let keys = r.stringList("sensors", "the sensors that must move together (two or more)")
        let movement = r.enumeration("movement", RuleSpec.Movement.self, required: false) ?? .rising
        let minChange = r.number("min_change", required: false, "share of each sensor's scale that counts as moving (default 0.1)")
        let window = r.duration("window", "how far back the movement is measured (default 2h)")
        let quiet = r.duration("quiet", "how long a sensor must stay still before the rule clears (default 30m)")
        r.finish()
        guard let fault, let keys else { return nil }
        var ok = true
        if keys.count < 2 {
            context.report(r.value("sensors"), "\(path).sensors", "a rule needs two or more sensors; one sensor is a detector's job")
            ok = false
        }
        let known = sensors.map(\.key.rawValue)
        for (i, key) in keys.enumerated() where !known.contains(key) {
            context.report(r.value("sensors"), "\(path).sensors[\(i)]",
                           "no sensor \"\(key)\" in this profile\(didYouMean(key, known)); rules combine some of: \(known.joined(separator: ", "))")
            ok = false
        }
        if Set(keys).count != keys.count {
            context.report(r.value("sensors"), "\(path).sensors", "a sensor is listed twice; list each once")
            ok = false
        }
        if let minChange, !(minChange > 0 && minChange <= 1) {
            context.report(r.value("min_change"), "\(path).min_change", "\(minChange) is not above 0 and at most 1; it is a share of each sensor's scale")
            ok = false
        }
        let codes = faults.map(\.code.rawValue)
        if !faults.isEmpty && !codes.contains(fault) {
            context.report(r.value("fault"), "\(path).fault",
                           "fault \"\(fault)\" is not in this profile's faults\(didYouMean(fault, codes)); add it under faults: or fix the code")
            ok = false
        }
        guard ok else { return nil }
        return RuleSpec(fault: FaultCode(fault), sensors: keys.map { SensorKey($0) }, movement: movement,
                        minChange: minChange ?? RuleSpec.defaultMinChange, window: window ?? RuleSpec.defaultWindow, quiet: quiet ?? RuleSpec.defaultQuiet)
    }

    static func readDetector(_ node: Node, path: String, sensors: [SensorSpec], context: YAMLContext) -> DetectorSpec? {
        guard var r = MappingReader(node, path: path, context: context, what: "a detector") else { return nil }
        let sensorKey = r.string("sensor", "the key of the sensor the detector watches")
        let type = r.enumeration("type", DetectorSpec.Kind.self)
        let fault = r.string("fault", required: false, "the fault code it reports (rate_of_change, change_point and anomaly only)")
        var parameters: [String: Double] = [:]
        if let paramsNode = r.value("parameters"), var p = MappingReader(paramsNode, path: "\(path).parameters", context: context, what: "detector parameters") {
            for (name, meaning) in (type?.parameters ?? [:]).sorted(by: { $0.key < $1.key }) {
                guard let value = p.number(name, required: false, meaning) else { continue }
                guard value >= 0 else {
                    context.report(p.value(name), "\(path).parameters.\(name)", "\(value) is negative; \(meaning)")
                    continue
                }
                parameters[name] = value
            }
            // Keys the type does not take are reported as unknown fields.
            p.finish()
        }
        r.finish()
        guard let sensorKey, let type else { return nil }
        guard let sensor = sensors.first(where: { $0.key.rawValue == sensorKey }) else {
            let keys = sensors.map(\.key.rawValue)
            context.report(r.value("sensor"), "\(path).sensor",
                           "no sensor \"\(sensorKey)\" in this profile\(didYouMean(sensorKey, keys)); detectors watch one of: \(keys.joined(separator: ", "))")
            return nil
        }
        if sensor.kind == .waveform {
            context.report(r.value("sensor"), "\(path).sensor",
                           "\"\(sensorKey)\" is a waveform (raw blocks); put the detector on a sensor derived from it (derived: {from: \(sensorKey), feature: rms})")
            return nil
        }
        if (type == .threshold || type == .forecast) && sensor.limits == nil {
            context.report(r.value("type"), "\(path).type",
                           "a \(type) detector needs limits, and sensor \"\(sensorKey)\" has none; add `limits:` to the sensor or remove the detector")
            return nil
        }
        if fault != nil && type.defaultFault == nil {
            context.report(r.value("fault"), "\(path).fault",
                           "a \(type) detector reports the fault of the sensor's limits; remove `fault:` or set it on the sensor's limits")
            return nil
        }
        if type == .rateOfChange && parameters["max_rise"] == nil && parameters["max_fall"] == nil {
            context.report(r.value("type"), "\(path).parameters",
                           "a rate_of_change detector needs max_rise, max_fall or both (unit per minute) in its parameters")
            return nil
        }
        if type == .anomaly, let threshold = parameters["threshold"], !(0.5...1).contains(threshold) {
            context.report(r.value("parameters"), "\(path).parameters.threshold",
                           "\(threshold) is not between 0.5 and 1; 0.5 means as surprising as the worst seen so far")
            return nil
        }
        if type == .forecast, let confidence = parameters["confidence"], !(0.5...0.99).contains(confidence) {
            context.report(r.value("parameters"), "\(path).parameters.confidence",
                           "\(confidence) is not between 0.5 and 0.99; it is the share of likely crossing times the band covers")
            return nil
        }
        if type == .forecast, let (name, value) = ["horizon", "window"].compactMap({ n in parameters[n].map { (n, $0) } }).first(where: { $0.1 < 60 }) {
            context.report(r.value("parameters"), "\(path).parameters.\(name)",
                           "\(value) s is too short; a trend needs at least 60 s (typically hours) to mean anything")
            return nil
        }
        return DetectorSpec(sensor: sensor.key, type: type, parameters: parameters, fault: fault.map { FaultCode($0) })
    }

    static func readFault(_ node: Node, path: String, context: YAMLContext) -> FaultSpec? {
        guard var r = MappingReader(node, path: path, context: context, what: "a fault") else { return nil }
        var code = r.string("code", "the fault code, e.g. BEARING_OVERTEMP")
        if let c = code, !isFaultCode(c) {
            context.report(r.value("code"), "\(path).code", "\"\(c)\" is not a fault code; use upper-case letters, digits and '_', starting with a letter (e.g. BEARING_WEAR)")
            code = nil
        }
        let name = r.string("name", "a human name for the fault")
        let component = r.string("component", "the component that fails, e.g. drive-end bearing")
        let grade = r.enumeration("grade", Grade.self, required: false) ?? .general
        let symptoms = r.stringList("symptoms", "what is observed") ?? []
        let actions = r.stringList("actions", "recommended actions") ?? []
        var skills = r.stringList("skills", "skills the repair needs") ?? []
        for (i, skill) in skills.enumerated() where !Skills.all.contains(skill) {
            context.report(r.value("skills").flatMap { $0.sequence?[i] }, "\(path).skills[\(i)]",
                           "unknown skill \"\(skill)\"\(didYouMean(skill, Skills.all)); use one of \(Skills.all.joined(separator: ", "))")
        }
        skills = skills.filter { Skills.all.contains($0) }
        var parts: [PartRequirement] = []
        if let nodes = r.sequence("parts", required: false, "spare parts (part, quantity)") {
            for (i, n) in nodes.enumerated() {
                guard var p = MappingReader(n, path: "\(path).parts[\(i)]", context: context, what: "a spare part") else { continue }
                let part = p.string("part", "the part number, e.g. SKF-6309-2Z")
                let quantity = p.integer("quantity", required: false, "how many the repair uses") ?? 1
                p.finish()
                guard let part else { continue }
                guard PartRequirement.isValidPartNumber(part) else {
                    context.report(p.value("part"), "\(path).parts[\(i)].part",
                                   "\"\(part)\" is not a part number; use upper-case letters, digits and - . / _ (e.g. SKF-6309-2Z)")
                    continue
                }
                guard quantity >= 1 else {
                    context.report(p.value("quantity"), "\(path).parts[\(i)].quantity", "\(quantity) is not a quantity; a repair uses at least 1")
                    continue
                }
                parts.append(PartRequirement(part: part, quantity: quantity))
            }
        }
        let repairTime = r.duration("repair_time", "typical time to repair")
        r.finish()
        guard let code, let name, let component else { return nil }
        return FaultSpec(code: FaultCode(code), name: name, component: component, grade: grade, symptoms: symptoms,
                         actions: actions, skills: skills, parts: parts, repairTime: repairTime)
    }

    static func isFaultCode(_ s: String) -> Bool {
        guard let first = s.unicodeScalars.first, ("A"..."Z").contains(first), s.count <= 64 else { return false }
        return s.unicodeScalars.allSatisfy { ("A"..."Z").contains($0) || ("0"..."9").contains($0) || $0 == "_" }
    }

    static func readSensor(_ node: Node, path: String, context: YAMLContext) -> SensorSpec? {
        guard var r = MappingReader(node, path: path, context: context, what: "a sensor") else { return nil }
        let key = r.identifier("key", "the sensor key used in telemetry, e.g. bearing_temp")
        let name = r.string("name", "a human name for the sensor")
        var unit = r.string("unit", "a SenML/UCUM unit such as Cel, mm/s, A or bar")
        if let u = unit, !SensorUnits.all.contains(u) {
            context.report(r.value("unit"), "\(path).unit",
                           "unknown unit \"\(u)\"\(didYouMean(u, Array(SensorUnits.all))); use a SenML/UCUM code (Cel, K, mm/s, A, V, bar, kPa, %, m3/h, ...)")
            unit = nil
        }
        var validRange: ClosedRange<Double>?
        if let rangeNode = r.required("range", "the physical valid range, {min: ..., max: ...}"),
           var rr = MappingReader(rangeNode, path: "\(path).range", context: context, what: "the valid range") {
            let lo = rr.number("min", "the lowest physically possible value")
            let hi = rr.number("max", "the highest physically possible value")
            rr.finish()
            if let lo, let hi {
                if hi <= lo {
                    context.report(rr.value("max"), "\(path).range.max",
                                   "\(fmt(hi)) is not above range.min (\(fmt(lo))); swap them or fix the units")
                } else {
                    validRange = lo...hi
                }
            }
        }
        let nominal = r.number("nominal", required: false, "the typical value in normal operation")
        if let nominal, let validRange, !validRange.contains(nominal) {
            context.report(r.value("nominal"), "\(path).nominal",
                           "\(fmt(nominal)) is outside the valid range \(fmt(validRange.lowerBound))...\(fmt(validRange.upperBound)); fix the value or the range")
        }
        let kind = r.enumeration("kind", SensorKind.self, required: false) ?? .gauge
        let period = r.duration("period", "how often the device reports this sensor")
        let staleAfter = r.duration("stale_after", "how long without a reading before the sensor counts as stale")
        if let period, period == .zero {
            context.report(r.value("period"), "\(path).period", "a reporting period of 0 is not possible; give the interval between readings, e.g. 10s")
        }
        if let period, let staleAfter, staleAfter < period {
            context.report(r.value("stale_after"), "\(path).stale_after",
                           "stale_after (\(formatDuration(staleAfter))) is shorter than the reporting period (\(formatDuration(period))); every reading would arrive stale. Make it at least the period, typically three")
        }
        var limits: LimitSpec?
        if let limitsNode = r.value("limits"), let key {
            if kind == .waveform {
                context.report(limitsNode, "\(path).limits",
                               "a waveform sensor carries raw blocks and has no limits; put limits on a sensor derived from it (derived: {from: \(key), feature: rms})")
            } else {
                limits = readLimits(limitsNode, path: "\(path).limits", sensor: key, range: validRange, context: context)
            }
        }
        var derived: DerivedFeature?
        if let node = r.value("derived"), var d = MappingReader(node, path: "\(path).derived", context: context, what: "a derived feature") {
            let from = d.string("from", "the key of the waveform sensor whose blocks it is computed from")
            let feature = d.enumeration("feature", BlockFeature.self)
            d.finish()
            if let from, let feature { derived = DerivedFeature(from: SensorKey(from), feature: feature) }
        }
        r.finish()
        guard let key, let name, let unit, let validRange else { return nil }
        return SensorSpec(key: SensorKey(key), name: name, unit: unit, validRange: validRange, nominal: nominal, kind: kind,
                          period: period, staleAfter: staleAfter, limits: limits, derived: derived)
    }

    static func readLimits(_ node: Node, path: String, sensor: String, range: ClosedRange<Double>?, context: YAMLContext) -> LimitSpec? {
        guard var r = MappingReader(node, path: path, context: context, what: "the sensor's limits") else { return nil }
        let direction = r.enumeration("direction", LimitDirection.self)
        let warning = r.number("warning", required: false, "the warning limit")
        let critical = r.number("critical", required: false, "the critical limit")
        let clearValue = r.number("clear", required: false, "the level the value must return past before the fault clears")
        let minDuration = r.duration("min_duration", "how long a limit must hold before it fires") ?? LimitSpec.defaultMinDuration
        let faultText = r.string("fault", required: false, "the fault code this limit reports, e.g. BEARING_OVERTEMP")
        r.finish()
        guard let direction else { return nil }
        var ok = true
        if warning == nil && critical == nil {
            context.report(node, path, "neither warning nor critical is set; give at least one limit or remove `limits`")
            return nil
        }
        let bad = direction == .above ? "above" : "below"
        if let w = warning, let c = critical, !direction.isBeyond(c, w) {
            context.report(r.value("warning"), "\(path).warning",
                           "warning (\(fmt(w))) is not \(direction == .above ? "below" : "above") critical (\(fmt(c))) for values bad when \(bad); a warning must come before the critical limit")
            ok = false
        }
        if let range {
            for (name, limit) in [("warning", warning), ("critical", critical)] {
                guard let limit, !range.contains(limit) else { continue }
                context.report(r.value(name), "\(path).\(name)",
                               "\(fmt(limit)) is outside the valid range \(fmt(range.lowerBound))...\(fmt(range.upperBound)); it could never be reached")
                ok = false
            }
        }
        let first = warning ?? critical!
        let clear: Double
        if let clearValue {
            clear = clearValue
            if direction.isBeyond(clear, first) || clear == first {
                context.report(r.value("clear"), "\(path).clear",
                               "clear level (\(fmt(clear))) must be on the safe side of \(warning != nil ? "warning" : "critical") (\(fmt(first))) so the fault can clear; set it \(direction == .above ? "below" : "above") that limit")
                ok = false
            }
        } else {
            // Default hysteresis: 2 % of the valid range (or of the limit) back towards safe.
            let span = range.map { $0.upperBound - $0.lowerBound } ?? abs(first)
            let band = max(span * 0.02, 1e-9)
            clear = direction == .above ? first - band : first + band
        }
        let fault = faultText.map { FaultCode($0) } ?? FaultCode("\(sensor.uppercased())_\(direction == .above ? "HIGH" : "LOW")")
        guard ok else { return nil }
        return LimitSpec(direction: direction, warning: warning, critical: critical, clear: clear, minDuration: minDuration, faultCode: fault)
    }
}

func fmt(_ x: Double) -> String {
    x == x.rounded() && abs(x) < 1e15 ? String(Int64(x)) : String(x)
}
