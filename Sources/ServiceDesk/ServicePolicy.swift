import FieldwatchCore
import Foundation
import Profiles
import Yams

/// The declarative service policy: how faults are graded, the SLA targets per grade and
/// customer tier, the working calendars they are counted on, and the escalation ladder.
/// Loaded from YAML (see ServicePolicy/README.md) and validated with file:line errors; the
/// built-in default carries the brief's numbers (first contact within 2 h, on site within 24 h).
public struct ServicePolicy: Sendable, Equatable {
    /// One grading rule: every condition given must hold; the first matching rule wins.
    public struct GradingRule: Sendable, Equatable {
        public var severity: Severity?
        public var tier: CustomerTier?
        public var criticalityAtLeast: Int?
        public var criticalityAtMost: Int?
        public var grade: Grade

        public init(severity: Severity? = nil, tier: CustomerTier? = nil, criticalityAtLeast: Int? = nil, criticalityAtMost: Int? = nil, grade: Grade) {
            self.severity = severity
            self.tier = tier
            self.criticalityAtLeast = criticalityAtLeast
            self.criticalityAtMost = criticalityAtMost
            self.grade = grade
        }

        func matches(_ f: GradingFacts) -> Bool {
            (severity == nil || severity == f.severity) && (tier == nil || tier == f.tier)
                && (criticalityAtLeast.map { f.criticality >= $0 } ?? true) && (criticalityAtMost.map { f.criticality <= $0 } ?? true)
        }
    }

    /// The three SLA targets of one grade × tier, in working time on `calendar`.
    public struct Targets: Sendable, Equatable {
        public var firstContact: Duration
        public var onSite: Duration
        public var resolution: Duration
        public var calendar: String

        public init(firstContact: Duration, onSite: Duration, resolution: Duration, calendar: String) {
            self.firstContact = firstContact
            self.onSite = onSite
            self.resolution = resolution
            self.calendar = calendar
        }

        public func target(_ kind: ClockKind) -> Duration {
            switch kind {
            case .firstContact: firstContact
            case .onSite: onSite
            case .resolution: resolution
            }
        }
    }

    /// A calendar as declared: weekly windows and holidays; the time zone is the site's
    /// unless the calendar names one.
    public struct CalendarSpec: Sendable, Equatable {
        public var weekly: [Int: [BusinessCalendar.Window]]?
        public var holidays: Set<String>
        public var timeZone: String?

        public init(weekly: [Int: [BusinessCalendar.Window]]?, holidays: Set<String> = [], timeZone: String? = nil) {
            self.weekly = weekly
            self.holidays = holidays
            self.timeZone = timeZone
        }
        public static let always = CalendarSpec(weekly: nil)
    }

    public struct Escalation: Sendable, Equatable {
        /// Warn the owner when this share of a clock's working time has passed.
        public var warnAt: Double
        /// After a breach, escalate to the supervisor once this much working time has passed (0: at once).
        public var supervisorAfter: Duration
        /// After a breach, escalate to management once this much working time has passed.
        public var managementAfter: Duration
        /// A ticket nobody acknowledged offers itself again after this long.
        public var acknowledgeTimeout: Duration

        public init(warnAt: Double, supervisorAfter: Duration, managementAfter: Duration, acknowledgeTimeout: Duration) {
            self.warnAt = warnAt
            self.supervisorAfter = supervisorAfter
            self.managementAfter = managementAfter
            self.acknowledgeTimeout = acknowledgeTimeout
        }
    }

    /// When an engineer's proposed solution needs a supervisor's approval before the repair.
    public struct Approval: Sendable, Equatable {
        /// Tickets of these grades always need it.
        public var grades: Set<Grade>
        /// Any solution estimated above this cost needs it; nil: no cost rule.
        public var costOver: Double?

        public init(grades: Set<Grade>, costOver: Double?) {
            self.grades = grades
            self.costOver = costOver
        }

        public func isRequired(grade: Grade, estimatedCost: Double) -> Bool {
            grades.contains(grade) || costOver.map { estimatedCost > $0 } == true
        }
    }

    /// How detections are grouped into tickets beyond one ticket per (device, fault).
    public struct Correlation: Sendable, Equatable {
        /// A machine fault on a device whose open predictive ticket was active this recently joins that ticket as a symptom.
        public var window: Duration
        /// When every device of a site (two or more) is out of contact, one SITE_OFFLINE ticket
        /// stands for them all and absorbs their staleness and offline detections.
        public var siteOffline: Bool

        public init(window: Duration, siteOffline: Bool) {
            self.window = window
            self.siteOffline = siteOffline
        }
    }

    public var grading: [GradingRule]
    public var correlation: Correlation
    public var calendars: [String: CalendarSpec]
    public var targets: [Grade: [CustomerTier: Targets]]
    public var escalation: Escalation
    public var approval: Approval
    /// `dispatch.auto`: the escalation scan sends the best in-house candidate to each urgent
    /// ticket nobody is sent to yet.
    public var autoDispatch = false
    /// `steps.late_logged_after`: a step whose time is more than this before the server
    /// received it is marked late-logged on the timeline and in the KPIs.
    public var lateLoggedAfter: Duration = .seconds(1800)
    /// Where the policy came from, for messages.
    public var source: String

    public init(grading: [GradingRule], calendars: [String: CalendarSpec], targets: [Grade: [CustomerTier: Targets]],
                escalation: Escalation, approval: Approval, correlation: Correlation, source: String) {
        self.grading = grading
        self.correlation = correlation
        self.calendars = calendars
        self.targets = targets
        self.escalation = escalation
        self.approval = approval
        self.source = source
    }

    /// The grade for a fault; the last rule always matches (checked on load).
    public func grade(_ facts: GradingFacts) -> Grade {
        grading.first { $0.matches(facts) }?.grade ?? Grade(severity: facts.severity)
    }

    public func targets(grade: Grade, tier: CustomerTier) -> Targets {
        targets[grade]?[tier] ?? targets[grade]?[.standard] ?? Self.default.targets[grade]![tier]!
    }

    /// The working calendar of `name` in `siteTimeZone` (UTC when the site's is unknown).
    public func calendar(_ name: String, siteTimeZone: String?) -> BusinessCalendar {
        let spec = calendars[name] ?? .always
        let zone = (spec.timeZone ?? siteTimeZone).flatMap(TimeZone.init(identifier:)) ?? TimeZone(identifier: "UTC")!
        return BusinessCalendar(weekly: spec.weekly, holidays: spec.holidays, timeZone: zone)
    }

    /// The brief's numbers: urgent faults round the clock, first contact within 2 h and on
    /// site within 24 h for everyone; VIP customers get half of that; general and minor faults
    /// are counted in office hours (Mon–Fri 08:30–12:00 and 13:30–18:00, Sat 09:00–12:00).
    public static let `default` = ServicePolicy(
        grading: [
            GradingRule(severity: .critical, grade: .urgent),
            GradingRule(severity: .warning, tier: .vip, criticalityAtLeast: 4, grade: .urgent),
            GradingRule(severity: .warning, criticalityAtMost: 2, grade: .minor),
            GradingRule(grade: .general),
        ],
        calendars: [
            "round-the-clock": .always,
            "office": CalendarSpec(weekly: [
                2: officeDay, 3: officeDay, 4: officeDay, 5: officeDay, 6: officeDay,
                7: [BusinessCalendar.Window(start: 9 * 60, end: 12 * 60)],
            ]),
        ],
        targets: [
            .urgent: [
                .standard: Targets(firstContact: .seconds(2 * 3600), onSite: .seconds(24 * 3600), resolution: .seconds(48 * 3600), calendar: "round-the-clock"),
                .vip: Targets(firstContact: .seconds(3600), onSite: .seconds(12 * 3600), resolution: .seconds(24 * 3600), calendar: "round-the-clock"),
            ],
            .general: [
                .standard: Targets(firstContact: .seconds(2 * 3600), onSite: .seconds(24 * 3600), resolution: .seconds(72 * 3600), calendar: "office"),
                .vip: Targets(firstContact: .seconds(3600), onSite: .seconds(12 * 3600), resolution: .seconds(48 * 3600), calendar: "office"),
            ],
            .minor: [
                .standard: Targets(firstContact: .seconds(8 * 3600), onSite: .seconds(72 * 3600), resolution: .seconds(120 * 3600), calendar: "office"),
                .vip: Targets(firstContact: .seconds(4 * 3600), onSite: .seconds(48 * 3600), resolution: .seconds(96 * 3600), calendar: "office"),
            ],
        ],
        escalation: Escalation(warnAt: 0.75, supervisorAfter: .zero, managementAfter: .seconds(4 * 3600), acknowledgeTimeout: .seconds(30 * 60)),
        approval: Approval(grades: [.urgent], costOver: 5000),
        correlation: Correlation(window: .seconds(600), siteOffline: true),
        source: "built-in default policy")

    static let officeDay = [BusinessCalendar.Window(start: 8 * 60 + 30, end: 12 * 60), BusinessCalendar.Window(start: 13 * 60 + 30, end: 18 * 60)]
}

/// What a grade is decided from.
public struct GradingFacts: Sendable, Equatable {
    public var severity: Severity
    /// Equipment criticality from the device profile, 1 (nuisance) to 5 (safety or site outage).
    public var criticality: Int
    public var tier: CustomerTier
    public init(severity: Severity, criticality: Int, tier: CustomerTier) {
        self.severity = severity
        self.criticality = criticality
        self.tier = tier
    }
}

/// The SLA clocks every ticket runs.
public enum ClockKind: String, Sendable, CaseIterable, Codable {
    case firstContact = "first_contact"
    case onSite = "on_site"
    case resolution
    /// First contact is never paused (a pause needs a customer who has been reached).
    public var isPausable: Bool { self != .firstContact }
}

// MARK: - Loading

extension ServicePolicy {
    public static let reference = "ServicePolicy/README.md"

    public static func load(file: String) throws(ProfileError) -> ServicePolicy {
        try parse(try ProfileLoader.readText(file), file: file)
    }

    public static func parse(_ text: String, file: String) throws(ProfileError) -> ServicePolicy {
        let context = YAMLContext(file: file, reference: reference)
        let policy = context.compose(text).flatMap { read($0, context: context, file: file) }
        guard context.issues.isEmpty, let policy else { throw ProfileError(issues: context.issues) }
        return policy
    }

    static func read(_ node: Node, context: YAMLContext, file: String) -> ServicePolicy? {
        guard var r = MappingReader(node, path: "", context: context, what: "a service policy") else { return nil }
        if let schema = r.integer("schema", "the policy format version, 1"), schema != 1 {
            context.report(r.value("schema"), "schema", "schema \(schema) is not supported; this Fieldwatch reads schema 1")
        }
        let fallback = Self.default
        var calendars = fallback.calendars
        if let node = r.value("calendars"), var cr = MappingReader(node, path: "calendars", context: context, what: "named working calendars") {
            calendars = [:]
            if case let .mapping(m) = node {
                for (k, v) in m {
                    guard let name = k.string else { continue }
                    _ = cr.value(name)
                    if let spec = readCalendar(v, path: "calendars.\(name)", context: context) { calendars[name] = spec }
                }
            }
            cr.finish()
        }
        var grading = fallback.grading
        if let nodes = r.sequence("grading", required: false, "grading rules, first match wins") {
            grading = nodes.enumerated().compactMap { readRule($1, path: "grading[\($0)]", context: context) }
            if let last = grading.last, last.severity != nil || last.tier != nil || last.criticalityAtLeast != nil || last.criticalityAtMost != nil {
                context.report(nodes.last, "grading[\(nodes.count - 1)]",
                               "the last rule must match every fault; end the list with a rule that has only `grade:` (for example `- grade: general`)")
            }
            if nodes.isEmpty { context.report(r.value("grading"), "grading", "no rules; add at least `- grade: general`") }
        }
        var targets = fallback.targets
        if let node = r.value("targets"), var tr = MappingReader(node, path: "targets", context: context, what: "SLA targets per grade and tier") {
            for grade in Grade.allCases {
                guard let gnode = tr.required(grade.rawValue, "the targets of \(grade.rawValue) tickets per customer tier"),
                      var gr = MappingReader(gnode, path: "targets.\(grade.rawValue)", context: context, what: "targets per customer tier")
                else { continue }
                for tier in CustomerTier.allCases {
                    let path = "targets.\(grade.rawValue).\(tier.rawValue)"
                    guard let tnode = gr.required(tier.rawValue, "first_contact, on_site, resolution and calendar"),
                          let t = readTargets(tnode, path: path, context: context, calendars: calendars)
                    else { continue }
                    targets[grade, default: [:]][tier] = t
                }
                gr.finish()
            }
            tr.finish()
        }
        var escalation = fallback.escalation
        if let node = r.value("escalation"), var er = MappingReader(node, path: "escalation", context: context, what: "the escalation ladder") {
            if let v = er.value("warn_at") {
                if let share = readShare(v), share > 0, share < 1 {
                    escalation.warnAt = share
                } else {
                    context.report(v, "escalation.warn_at", "expected a share of the deadline between 0 and 1, such as 0.75 or 75%, found \(v.describedValue)")
                }
            }
            escalation.supervisorAfter = er.duration("supervisor_after", "working time after a breach before the supervisor is told") ?? escalation.supervisorAfter
            escalation.managementAfter = er.duration("management_after", "working time after a breach before management is told") ?? escalation.managementAfter
            escalation.acknowledgeTimeout = er.duration("acknowledge_timeout", "how long a new ticket waits for an owner before it is offered again")
                ?? escalation.acknowledgeTimeout
            if escalation.managementAfter < escalation.supervisorAfter {
                context.report(er.value("management_after"), "escalation.management_after",
                               "management (\(formatDuration(escalation.managementAfter))) would be told before the supervisor (\(formatDuration(escalation.supervisorAfter))); make management_after the longer")
            }
            if escalation.acknowledgeTimeout < .seconds(60) {
                context.report(er.value("acknowledge_timeout"), "escalation.acknowledge_timeout", "shorter than 1m would re-offer tickets faster than people can react; use 1m or more")
            }
            er.finish()
        }
        var approval = fallback.approval
        if let node = r.value("approval"), var ar = MappingReader(node, path: "approval", context: context, what: "when solutions need approval") {
            if let grades = ar.stringList("grades", "grades whose solutions always need approval") {
                approval.grades = []
                for (i, g) in grades.enumerated() {
                    if let grade = Grade(rawValue: g) { approval.grades.insert(grade) } else {
                        context.report(ar.value("grades"), "approval.grades[\(i)]", "\"\(g)\" is not a grade; use urgent, general or minor\(didYouMean(g, Grade.allCases.map(\.rawValue)))")
                    }
                }
            }
            if let v = ar.value("cost_over") {
                if case let .scalar(text) = v, text.string == "none" || v.null != nil {
                    approval.costOver = nil
                } else if let cost = ar.number("cost_over", required: false, "the estimated cost above which a supervisor approves") {
                    if cost < 0 { context.report(v, "approval.cost_over", "a cost cannot be negative; use 0 to approve every solution, or `none`") }
                    approval.costOver = cost
                }
            }
            ar.finish()
        }
        var correlation = fallback.correlation
        if let node = r.value("correlation"), var cr = MappingReader(node, path: "correlation", context: context, what: "how detections group into tickets") {
            if let w = cr.duration("window", "how recently a device's open ticket must have been active for a new symptom to join it") {
                if w > .seconds(86_400) {
                    context.report(cr.value("window"), "correlation.window", "\(formatDuration(w)) would merge unrelated faults of a day; use 24h or less (0s turns grouping off)")
                }
                correlation.window = w
            }
            if let b = cr.bool("site_offline", "one SITE_OFFLINE ticket when a whole site goes silent") { correlation.siteOffline = b }
            cr.finish()
        }
        var autoDispatch = false
        if let node = r.value("dispatch"), var dr = MappingReader(node, path: "dispatch", context: context, what: "how engineers are sent") {
            autoDispatch = dr.bool("auto", "send the best in-house engineer to each new urgent ticket automatically") ?? false
            dr.finish()
        }
        var lateLoggedAfter = fallback.lateLoggedAfter
        if let node = r.value("steps"), var sr = MappingReader(node, path: "steps", context: context, what: "how steps logged after the fact are treated") {
            if let d = sr.duration("late_logged_after", "how long after a step's time it may be logged before it is marked late-logged") {
                if d < .seconds(60) {
                    context.report(sr.value("late_logged_after"), "steps.late_logged_after", "\(formatDuration(d)) would mark nearly every step late-logged; use 1m or more (30m is the default)")
                } else {
                    lateLoggedAfter = d
                }
            }
            sr.finish()
        }
        r.finish()
        var policy = ServicePolicy(grading: grading, calendars: calendars, targets: targets, escalation: escalation, approval: approval,
                                   correlation: correlation, source: file)
        policy.autoDispatch = autoDispatch
        policy.lateLoggedAfter = lateLoggedAfter
        return policy
    }

    static func readShare(_ node: Node) -> Double? {
        guard case let .scalar(s) = node else { return nil }
        let text = s.string.trimmingCharacters(in: .whitespaces)
        if text.hasSuffix("%") { return Double(text.dropLast()).map { $0 / 100 } }
        return Double(text)
    }

    static func readRule(_ node: Node, path: String, context: YAMLContext) -> GradingRule? {
        guard var r = MappingReader(node, path: path, context: context, what: "a grading rule (when: …, grade: …)") else { return nil }
        var rule = GradingRule(grade: .general)
        if let when = r.value("when"), var w = MappingReader(when, path: "\(path).when", context: context, what: "the conditions of the rule") {
            if let s = w.string("severity", required: false, "warning or critical") {
                switch s {
                case "warning": rule.severity = .warning
                case "critical": rule.severity = .critical
                default: context.report(w.value("severity"), "\(path).when.severity", "\"\(s)\" is not a severity; use warning or critical\(didYouMean(s, ["warning", "critical"]))")
                }
            }
            rule.tier = w.enumeration("tier", CustomerTier.self, required: false)
            for key in ["criticality_at_least", "criticality_at_most"] {
                guard let c = w.integer(key, required: false, "equipment criticality 1…5") else { continue }
                if !(1...5).contains(c) { context.report(w.value(key), "\(path).when.\(key)", "\(c) is outside 1…5, the scale of a profile's criticality") }
                if key == "criticality_at_least" { rule.criticalityAtLeast = c } else { rule.criticalityAtMost = c }
            }
            w.finish()
        }
        guard let grade = r.enumeration("grade", Grade.self) else { return nil }
        rule.grade = grade
        r.finish()
        return rule
    }

    static func readTargets(_ node: Node, path: String, context: YAMLContext, calendars: [String: CalendarSpec]) -> Targets? {
        guard var r = MappingReader(node, path: path, context: context, what: "SLA targets") else { return nil }
        let first = r.duration("first_contact", "working time to the first human contact with the customer")
        let site = r.duration("on_site", "working time until an engineer is on site")
        let resolution = r.duration("resolution", "working time until the fault is fixed")
        for (key, value) in [("first_contact", first), ("on_site", site), ("resolution", resolution)] where value == nil && r.value(key) == nil {
            context.report(node, "\(path).\(key)", "missing; add `\(key): 2h` (a duration)")
        }
        for (key, value) in [("first_contact", first), ("on_site", site), ("resolution", resolution)] where value == .zero {
            context.report(r.value(key), "\(path).\(key)", "a zero target is breached the moment a ticket opens; give a positive duration")
        }
        let calendar = r.string("calendar", required: false, "the name of a calendar under `calendars:`") ?? "round-the-clock"
        if calendars[calendar] == nil {
            context.report(r.value("calendar") ?? node, "\(path).calendar",
                           "no calendar \"\(calendar)\"; declare it under `calendars:` or use one of \(calendars.keys.sorted().joined(separator: ", "))\(didYouMean(calendar, Array(calendars.keys)))")
        }
        if let s = site, let res = resolution, res < s {
            context.report(r.value("resolution"), "\(path).resolution", "resolution (\(formatDuration(res))) comes before on_site (\(formatDuration(s))); a fix needs the engineer on site first")
        }
        r.finish()
        guard let first, let site, let resolution else { return nil }
        return Targets(firstContact: first, onSite: site, resolution: resolution, calendar: calendar)
    }

    static let weekdays = ["sun": 1, "mon": 2, "tue": 3, "wed": 4, "thu": 5, "fri": 6, "sat": 7]
    static let weekdayOrder = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]

    static func readCalendar(_ node: Node, path: String, context: YAMLContext) -> CalendarSpec? {
        if case let .scalar(s) = node {
            if s.string == "always" { return .always }
            context.report(node, path, "\"\(s.string)\" is not a calendar; write `always`, or a mapping with `hours:` and optional `holidays:` and `timezone:`")
            return nil
        }
        guard var r = MappingReader(node, path: path, context: context, what: "a working calendar (hours, holidays, timezone)") else { return nil }
        var weekly: [Int: [BusinessCalendar.Window]] = [:]
        if let hours = r.required("hours", "opening windows per day, such as `mon-fri: [08:30-12:00, 13:30-18:00]`"),
           var hr = MappingReader(hours, path: "\(path).hours", context: context, what: "opening windows per day") {
            if case let .mapping(m) = hours {
                for (k, v) in m {
                    guard let key = k.string else { continue }
                    _ = hr.value(key)
                    let keyPath = "\(path).hours.\(key)"
                    guard let days = dayRange(key) else {
                        context.report(k, keyPath, "\"\(key)\" is not a day or day range; use mon, tue, … sun or a range such as mon-fri")
                        continue
                    }
                    guard case let .sequence(items) = v else {
                        context.report(v, keyPath, "expected a list of windows such as [08:30-12:00, 13:30-18:00]")
                        continue
                    }
                    var windows: [BusinessCalendar.Window] = []
                    for (i, item) in items.enumerated() {
                        guard let w = item.string.flatMap(window) else {
                            context.report(item, "\(keyPath)[\(i)]", "expected a window HH:MM-HH:MM with start before end, such as 08:30-12:00 (24:00 allowed as an end), found \(item.describedValue)")
                            continue
                        }
                        windows.append(w)
                    }
                    let sorted = windows.sorted()
                    for (a, b) in zip(sorted, sorted.dropFirst()) where b.start < a.end {
                        context.report(v, keyPath, "windows \(a.description) and \(b.description) overlap; merge them")
                    }
                    for d in days {
                        if weekly[d] != nil { context.report(k, keyPath, "a day is listed twice under hours; give each day once") }
                        weekly[d] = sorted
                    }
                }
            }
            hr.finish()
            if weekly.values.allSatisfy(\.isEmpty) {
                context.report(hours, "\(path).hours", "the calendar has no working time at all, so no deadline could ever be reached; add windows")
            }
        }
        var holidays: Set<String> = []
        for (i, h) in (r.stringList("holidays", "dates YYYY-MM-DD") ?? []).enumerated() {
            if let t = Timestamp(rfc3339OrUTC: h + "T00:00:00Z"), t.rfc3339.hasPrefix(h) {
                holidays.insert(h)
            } else {
                context.report(r.value("holidays"), "\(path).holidays[\(i)]", "\"\(h)\" is not a date; write YYYY-MM-DD, such as 2026-10-01")
            }
        }
        let zone = r.string("timezone", required: false, "an IANA time zone; default: the site's")
        if let zone, TimeZone(identifier: zone) == nil {
            context.report(r.value("timezone"), "\(path).timezone", "\"\(zone)\" is not an IANA time zone; use a name such as Asia/Shanghai (omit it to use each site's)")
        }
        r.finish()
        return CalendarSpec(weekly: weekly, holidays: holidays, timeZone: zone)
    }

    static func dayRange(_ key: String) -> [Int]? {
        let parts = key.lowercased().split(separator: "-").map(String.init)
        if parts.count == 1, let d = weekdays[parts[0]] { return [d] }
        guard parts.count == 2, let a = weekdayOrder.firstIndex(of: parts[0]), let b = weekdayOrder.firstIndex(of: parts[1]), a <= b else { return nil }
        return weekdayOrder[a...b].map { weekdays[$0]! }
    }

    static func window(_ text: String) -> BusinessCalendar.Window? {
        let parts = text.split(separator: "-")
        func minutes(_ s: Substring) -> Int? {
            let hm = s.split(separator: ":")
            guard hm.count == 2, let h = Int(hm[0]), let m = Int(hm[1]), (0...24).contains(h), (0..<60).contains(m), h * 60 + m <= 1440 else { return nil }
            return h * 60 + m
        }
        guard parts.count == 2, let a = minutes(parts[0]), let b = minutes(parts[1]), a < b else { return nil }
        return BusinessCalendar.Window(start: a, end: b)
    }
}
