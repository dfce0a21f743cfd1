import FieldwatchCore
import Foundation
import Storage

/// The service KPIs of one period, computed from the tickets opened in it and their clocks
/// (which record when each goal was met). Definitions are versioned (`definitions`): a
/// report says which version it used. A KPI whose data comes from work not built yet (visits,
/// ratings, operating hours) is `nil` — shown as not available, never as zero.
public struct ServiceKPIs: Sendable, Equatable, Codable {
    public static let definitionsVersion = "kpi-1"

    /// mean, median and 90th percentile of a duration, in minutes.
    public struct Distribution: Sendable, Equatable, Codable {
        public var count: Int
        public var mean: Double
        public var median: Double
        public var p90: Double

        init?(_ minutes: [Double]) {
            guard !minutes.isEmpty else { return nil }
            let sorted = minutes.sorted()
            func quantile(_ q: Double) -> Double {
                // Nearest rank: the value at or above the q-th share of the data.
                sorted[max(0, min(sorted.count - 1, Int((q * Double(sorted.count)).rounded(.up)) - 1))]
            }
            count = sorted.count
            mean = sorted.reduce(0, +) / Double(sorted.count)
            median = sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
            p90 = quantile(0.9)
        }
    }

    public struct Compliance: Sendable, Equatable, Codable {
        public var grade: String
        /// Clocks met in time / clocks decided (met, or past their deadline).
        public var met: Int
        public var decided: Int
        public var share: Double? { decided == 0 ? nil : Double(met) / Double(decided) }
    }

    public struct Count: Sendable, Equatable, Codable {
        public var key: String
        public var count: Int
    }

    public struct Engineer: Sendable, Equatable, Codable {
        public var name: String
        public var owned: Int
        public var resolved: Int
        public var firstContactMedianMinutes: Double?
        /// Share of this engineer's decided clocks met in time.
        public var slaCompliance: Double?
        /// Steps this person logged late (more than the policy's delay after their time).
        public var lateLoggedSteps = 0
    }

    public struct FalseAlarms: Sendable, Equatable, Codable {
        /// detector@version or profile id.
        public var key: String
        public var predictive: Int
        public var cancelled: Int
        public var rate: Double { predictive == 0 ? 0 : Double(cancelled) / Double(predictive) }
    }

    public var definitions = definitionsVersion
    public var from: Timestamp
    public var to: Timestamp
    public var tickets: Int
    public var bySource: [Count]
    public var byGrade: [Count]
    public var resolved: Int
    /// Opened → first human contact with the customer (wall-clock minutes). Target: mean ≤ 120.
    public var firstContact: Distribution?
    /// Opened → engineer on site (minutes). Target: ≤ 24 h.
    public var timeToSite: Distribution?
    /// Opened → resolved (minutes): MTTR of the ticket.
    public var mttrTicket: Distribution?
    /// On site → resolved (minutes): MTTR of the repair.
    public var mttrRepair: Distribution?
    /// Every clock kind together, per grade.
    public var slaCompliance: [Compliance]
    /// Cancelled (false alarm) predictive tickets, per detector and per profile. Merged site-offline tickets are not false alarms.
    public var falseAlarmsByDetector: [FalseAlarms]
    public var falseAlarmsByProfile: [FalseAlarms]
    /// Most frequent faults per equipment model (profile) and fault code.
    public var topFaults: [Count]
    /// Most frequent failing components per equipment model (from the profiles' fault catalogues), for R&D.
    public var topComponents: [Count] = []
    public var bySite: [Count]
    /// Staff ranking: most tickets resolved, then best compliance.
    public var engineers: [Engineer]
    /// Mean of the latest 1–5 rating of each rated ticket; nil when none was rated.
    public var csatMean: Double?
    /// Rated tickets / resolved or closed tickets.
    public var csatResponseRate: Double?
    /// Complaints (tickets opened from a rating of 2 or less) closed / complaints opened; nil without complaints.
    public var complaintClosure: Double?
    public var complaints = 0
    /// Tickets resolved after exactly one on-site visit, fixed, and not repeated (same device
    /// and fault) within 30 days, over the tickets resolved with an on-site visit.
    public struct FirstTimeFix: Sendable, Equatable, Codable {
        /// 0…1; nil when no ticket was resolved with a visit.
        public var value: Double?
        /// Tickets resolved with an on-site visit (the denominator).
        public var tickets: Int
        public var fixedFirstTime: Int
        /// Visits that did not fix the fault, by reason: what management acts on.
        public var notFixedReasons: [String: Int]
    }
    public var firstTimeFixRate = FirstTimeFix(value: nil, tickets: 0, fixedFirstTime: 0, notFixedReasons: [:])
    /// Tickets resolved by remote assistance without any visit, over resolved tickets.
    public var remoteResolutionRate: Double?
    /// Finished visits per ticket that had any.
    public var visitsPerTicket: Double?
    /// Mean operating hours between failures of one equipment model, for one fault code or
    /// (`fault` nil) for all of them: the hours its devices' run-hours counters advanced in the
    /// period over the failures (tickets opened, not false alarms, not complaints, not a
    /// sensor's or the link's health: the instrument failed, not the machine) of those devices. Devices without a counter reading in the period are left
    /// out of both sides, so a model half without counters is not made to look fragile.
    public struct MTBF: Sendable, Equatable, Codable {
        /// The profile id.
        public var model: String
        public var fault: String?
        /// Devices of the model whose counters advanced in the period.
        public var devices: Int
        public var operatingHours: Double
        public var failures: Int
        /// operatingHours / failures; nil without a failure (the report says "no failure in N h").
        public var hours: Double?
    }
    /// Lifecycle steps logged more than the policy's `steps.late_logged_after` after their
    /// time: the SLA figures above rest on times people typed in late.
    public var lateLoggedSteps = 0
    /// Per model (all faults first, then each fault that occurred); empty when no run-hours
    /// counter was recorded in the period: not available.
    public var mtbfHours: [MTBF] = []
    /// What the forecasts bought: for forecast tickets that were repaired, the time from the
    /// ticket (the first forecast) to the repair, and how many were repaired before the
    /// predicted crossing of the limit.
    public struct PredictiveLead: Sendable, Equatable, Codable {
        /// Forecast tickets resolved.
        public var tickets: Int
        /// Opened → resolved, minutes; nil without any.
        public var medianLeadMinutes: Double?
        /// Resolved before the latest predicted crossing.
        public var repairedBeforeCrossing: Int
        /// repairedBeforeCrossing / tickets; nil without any.
        public var share: Double?
    }
    public var predictiveLead = PredictiveLead(tickets: 0, medianLeadMinutes: nil, repairedBeforeCrossing: 0, share: nil)

    /// The brief's targets, for display beside the figures.
    public static let targets: [(kpi: String, target: String)] = [
        ("first contact, mean", "≤ 2 h"), ("first-time fix rate", "≥ 85 %"), ("customer satisfaction (CSAT)", "≥ 4.5 / 5"),
        ("complaint closure", "100 %"), ("on site", "≤ 24 h"),
    ]

    /// - Parameter component: the component a profile's fault catalogue names for a fault, if any.
    public static func compute(_ records: [KPIRecord], from: Timestamp, to: Timestamp, now: Timestamp,
                               component: (_ profile: String, _ fault: FaultCode) -> String? = { _, _ in nil },
                               operatingHours: [OperatingHoursRow] = []) -> ServiceKPIs {
        func minutes(_ a: Timestamp, _ b: Timestamp) -> Double { Double(b.milliseconds - a.milliseconds) / 60_000 }
        func clock(_ r: KPIRecord, _ kind: ClockKind) -> ClockRecord? { r.clocks.first { $0.kind == kind.rawValue } }
        func counts(_ keys: [String]) -> [Count] {
            Dictionary(grouping: keys, by: { $0 }).map { Count(key: $0.key, count: $0.value.count) }
                .sorted { $0.count > $1.count || ($0.count == $1.count && $0.key < $1.key) }
        }
        /// Met in time, or decided against: met late, or still running past the deadline.
        func decided(_ c: ClockRecord) -> (met: Bool, decided: Bool) {
            guard let deadline = c.deadline else { return (false, false) }
            if let met = c.metAt { return (met <= deadline, true) }
            return (false, c.state == .running && now > deadline)
        }
        let firsts = records.compactMap { r in clock(r, .firstContact)?.metAt.map { minutes(r.ticket.openedAt, $0) } }
        let sites = records.compactMap { r in clock(r, .onSite)?.metAt.map { minutes(r.ticket.openedAt, $0) } }
        let mttr = records.compactMap { r in clock(r, .resolution)?.metAt.map { minutes(r.ticket.openedAt, $0) } }
        let repair = records.compactMap { r -> Double? in
            guard let arrived = clock(r, .onSite)?.metAt, let fixed = clock(r, .resolution)?.metAt else { return nil }
            return minutes(arrived, fixed)
        }
        let compliance = Grade.allCases.reversed().map { grade -> Compliance in
            let outcomes = records.filter { $0.ticket.grade == grade }.flatMap { $0.clocks.map(decided) }
            return Compliance(grade: grade.rawValue, met: outcomes.filter(\.met).count, decided: outcomes.filter(\.decided).count)
        }
        let predictive = records.filter { $0.ticket.source == .predictive && $0.ticket.faultCode != .siteOffline }
        func falseAlarms(_ key: (Ticket) -> String) -> [FalseAlarms] {
            Dictionary(grouping: predictive, by: { key($0.ticket) }).map { k, rs in
                FalseAlarms(key: k, predictive: rs.count,
                            cancelled: rs.filter { $0.ticket.status == .cancelled && !($0.ticket.cancelReason ?? "").hasPrefix("merged into") }.count)
            }.sorted { $0.key < $1.key }
        }
        let fixed = records.filter { ($0.ticket.status == .resolved || $0.ticket.status == .closed) && $0.ticket.complaintOf == nil }
        let ratings = fixed.compactMap(\.rating)
        let complaints = records.filter { $0.ticket.complaintOf != nil }
        let owners = Dictionary(grouping: records.filter { $0.ticket.owner != nil }, by: { $0.ticket.owner! })
        let engineers = owners.map { name, rs -> Engineer in
            let outcomes = rs.flatMap { $0.clocks.map(decided) }
            let decidedCount = outcomes.filter(\.decided).count
            return Engineer(name: name, owned: rs.count, resolved: rs.filter { clock($0, .resolution)?.metAt != nil }.count,
                            firstContactMedianMinutes: Distribution(rs.compactMap { r in clock(r, .firstContact)?.metAt.map { minutes(r.ticket.openedAt, $0) } })?.median,
                            slaCompliance: decidedCount == 0 ? nil : Double(outcomes.filter(\.met).count) / Double(decidedCount))
        }.sorted { ($0.resolved, $0.slaCompliance ?? 0, $1.name) > ($1.resolved, $1.slaCompliance ?? 0, $0.name) }
        var kpis = ServiceKPIs(
            from: from, to: to, tickets: records.count, bySource: counts(records.map(\.ticket.source.rawValue)),
            byGrade: counts(records.map(\.ticket.grade.rawValue)), resolved: mttr.count,
            firstContact: Distribution(firsts), timeToSite: Distribution(sites), mttrTicket: Distribution(mttr), mttrRepair: Distribution(repair),
            slaCompliance: compliance,
            falseAlarmsByDetector: falseAlarms { "\($0.detector ?? "?")@\($0.detectorVersion ?? 0)" },
            falseAlarmsByProfile: falseAlarms { $0.profileID ?? "?" },
            topFaults: Array(counts(records.map { "\($0.ticket.profileID ?? "no profile") · \($0.ticket.faultCode)" }).prefix(10)),
            bySite: counts(records.map(\.ticket.site.rawValue)), engineers: engineers,
            csatMean: ratings.isEmpty ? nil : Double(ratings.reduce(0, +)) / Double(ratings.count),
            csatResponseRate: fixed.isEmpty ? nil : Double(ratings.count) / Double(fixed.count),
            complaintClosure: complaints.isEmpty ? nil : Double(complaints.filter { $0.ticket.status == .closed }.count) / Double(complaints.count),
            complaints: complaints.count)
        // First-time fix, remote resolution and visits, from the field records.
        let done = fixed
        let visited = done.filter { r in r.visits.contains { $0.finishedAt != nil } }
        let firstTime = visited.filter { r in
            let finished = r.visits.filter { $0.finishedAt != nil }
            return finished.count == 1 && finished[0].outcome == .fixed && !r.repeated
        }
        var reasons: [String: Int] = [:]
        for v in visited.flatMap(\.visits) where v.outcome == .notFixed { reasons[v.reason?.rawValue ?? "unknown", default: 0] += 1 }
        kpis.firstTimeFixRate = FirstTimeFix(value: visited.isEmpty ? nil : Double(firstTime.count) / Double(visited.count), tickets: visited.count,
                                         fixedFirstTime: firstTime.count, notFixedReasons: reasons)
        let remoteFixed = done.filter { r in r.visits.isEmpty && r.remote.contains { $0.outcome == .fixed } }
        kpis.remoteResolutionRate = done.isEmpty ? nil : Double(remoteFixed.count) / Double(done.count)
        let withVisits = records.filter { !$0.visits.isEmpty }
        kpis.visitsPerTicket = withVisits.isEmpty ? nil
            : Double(withVisits.reduce(0) { $0 + $1.visits.filter { $0.finishedAt != nil }.count }) / Double(withVisits.count)
        let forecastRepairs = records.compactMap { r -> (lead: Double, before: Bool)? in
            guard let f = r.ticket.forecast, let fixed = clock(r, .resolution)?.metAt else { return nil }
            return (minutes(r.ticket.openedAt, fixed), fixed <= f.crossingAt)
        }
        let before = forecastRepairs.filter(\.before).count
        kpis.predictiveLead = PredictiveLead(tickets: forecastRepairs.count, medianLeadMinutes: Distribution(forecastRepairs.map(\.lead))?.median,
                                             repairedBeforeCrossing: before,
                                             share: forecastRepairs.isEmpty ? nil : Double(before) / Double(forecastRepairs.count))
        kpis.mtbfHours = mtbf(records, operatingHours)
        var late: [String: Int] = [:]
        for r in records { for (actor, n) in r.lateLogged { late[actor, default: 0] += n } }
        kpis.lateLoggedSteps = late.values.reduce(0, +)
        for i in kpis.engineers.indices { kpis.engineers[i].lateLoggedSteps = late[kpis.engineers[i].name] ?? 0 }
        kpis.topComponents = Array(counts(records.compactMap { r in
            r.ticket.profileID.flatMap { p in component(p, r.ticket.faultCode).map { "\(p) · \($0)" } }
        }).prefix(10))
        return kpis
    }

    static func mtbf(_ records: [KPIRecord], _ operatingHours: [OperatingHoursRow]) -> [MTBF] {
        let ran = operatingHours.filter { $0.hours > 0 }
        let modelOf = Dictionary(ran.map { ($0.device, $0.profile) }, uniquingKeysWith: { a, _ in a })
        let failures = records.filter { r in
            modelOf[r.ticket.device] != nil && r.ticket.status != .cancelled && r.ticket.complaintOf == nil && !r.ticket.faultCode.isSensorOrLinkHealth
        }
        var result: [MTBF] = []
        for (model, rows) in Dictionary(grouping: ran, by: \.profile).sorted(by: { $0.key < $1.key }) {
            let hours = rows.reduce(0) { $0 + $1.hours }
            let devices = Set(rows.map(\.device))
            let mine = failures.filter { devices.contains($0.ticket.device) }
            func row(_ fault: String?, _ count: Int) -> MTBF {
                MTBF(model: model, fault: fault, devices: devices.count, operatingHours: hours, failures: count, hours: count == 0 ? nil : hours / Double(count))
            }
            result.append(row(nil, mine.count))
            let byFault = Dictionary(grouping: mine, by: { $0.ticket.faultCode.rawValue })
            result += byFault.sorted { $0.value.count > $1.value.count || ($0.value.count == $1.value.count && $0.key < $1.key) }.map { row($0.key, $0.value.count) }
        }
        return result
    }
}
