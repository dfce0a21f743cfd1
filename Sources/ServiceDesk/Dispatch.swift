import FieldwatchCore
import Foundation
import Profiles
import Storage

/// How dispatch estimates travel.
public struct DispatchSettings: Sendable, Equatable {
    /// Average road speed between sites, km/h (great-circle distance over it).
    public var speedKmh: Double
    /// Time from arriving at a site to standing at the equipment (gate, induction, walk), minutes.
    public var accessMinutes: Double

    /// A check-in within this distance of the site is evidence of arrival, metres.
    public var checkInRadiusMetres: Double

    public init(speedKmh: Double = 40, accessMinutes: Double = 15, checkInRadiusMetres: Double = 300) {
        self.speedKmh = speedKmh
        self.accessMinutes = accessMinutes
        self.checkInRadiusMetres = checkInRadiusMetres
    }
}

/// A ticket as dispatch sees it: where, which trades, by when.
public struct DispatchJob: Sendable, Equatable {
    public var ticketID: Int64
    public var site: SiteID
    public var position: GeoPoint
    public var timeZone: String?
    public var skills: [String]
    /// The on-site deadline (nil when the ticket has none running).
    public var deadline: Timestamp?
    public var tier: CustomerTier
    public var grade: Grade
    /// Who is assigned now, if anyone.
    public var assignee: String?
    /// The parts the fault needs (the profile's fault catalogue), by part number.
    public var parts: [String: Int] = [:]

    public init(ticketID: Int64, site: SiteID, position: GeoPoint, timeZone: String?, skills: [String], deadline: Timestamp?,
                tier: CustomerTier = .standard, grade: Grade = .general, assignee: String? = nil, parts: [String: Int] = [:]) {
        self.parts = parts
        self.ticketID = ticketID
        self.site = site
        self.position = position
        self.timeZone = timeZone
        self.skills = skills.sorted()
        self.deadline = deadline
        self.tier = tier
        self.grade = grade
        self.assignee = assignee
    }

    /// Trades a fault needs: the profile's fault catalogue, or for the gateway's own fault codes
    /// the trade that fixes sensors (instrumentation) or links (controls).
    public static func skills(for fault: FaultCode, profile: DeviceProfile?) -> [String] {
        if let skills = profile?.fault(fault)?.skills, !skills.isEmpty { return skills }
        switch fault {
        case .sensorStuck, .sensorOutOfRange, .sensorStale: return ["instrumentation"]
        case .deviceOffline, .siteOffline: return ["controls"]
        default: return []
        }
    }
}

/// One candidate for a job, with why it ranks where it does.
public struct DispatchCandidate: Codable, Sendable, Equatable {
    public var engineer: String
    public var name: String
    public var rank: Int
    public var eta_minutes: Int
    public var arrives_at: String
    public var distance_km: Double
    /// Minutes left before the on-site deadline at arrival (negative: late); nil without a deadline.
    public var sla_slack_minutes: Int?
    /// Open jobs assigned now.
    public var workload: Int
    /// The partner provider, for a partner's proposal (then `engineer` is the partner's id).
    public var partner: String?
    public var reasons: [String]
}

public struct DispatchExclusion: Codable, Sendable, Equatable, Error {
    public var engineer: String
    public var why: String
}

/// `fieldwatch dispatch suggest` and `GET /api/v1/tickets/{id}/dispatch`.
public struct DispatchSuggestion: Codable, Sendable, Equatable {
    public var ticket: Int64
    public var skills: [String]
    public var deadline: String?
    public var candidates: [DispatchCandidate]
    public var excluded: [DispatchExclusion]
    /// The parts the fault needs ("bring these"), `PART ×QTY`.
    public var parts: [String] = []
}

/// Ranks engineers for jobs: the nearest suitable engineer who can be there before the
/// on-site deadline. Pure: the team, positions and workloads are given; no clock, no I/O.
///
/// Hard filters: every skill the fault needs, held with a certificate valid now; on shift
/// before the on-site deadline; fewer open jobs than their maximum. Then on-time arrivals
/// before late ones, earliest arrival, lightest workload. When nobody in house arrives in
/// time, partner providers whose service point covers the site and who hold the skills are
/// proposed at their committed response time.
public struct Dispatcher: Sendable {
    public var engineers: [Engineer]
    public var partners: [Partner]
    public var positions: [String: EngineerPosition]
    /// Open jobs per engineer: the site positions of their assigned open tickets.
    public var jobs: [String: [(ticket: Int64, position: GeoPoint)]]
    public var settings: DispatchSettings
    /// What each engineer's van holds free, by part number (stock of kind van).
    public var vans: [String: [String: Int]]

    public init(engineers: [Engineer], partners: [Partner] = [], positions: [String: EngineerPosition] = [:],
                jobs: [String: [(ticket: Int64, position: GeoPoint)]] = [:], settings: DispatchSettings = DispatchSettings(),
                vans: [String: [String: Int]] = [:]) {
        self.vans = vans
        self.engineers = engineers.filter(\.active)
        self.partners = partners.filter(\.active)
        self.positions = positions
        self.jobs = jobs
        self.settings = settings
    }

    /// Where an engineer starts from, and what that is.
    func origin(_ e: Engineer, excluding ticket: Int64) -> (point: GeoPoint, what: String) {
        if let p = positions[e.id] { return (p.position, "last known position (\(p.at.rfc3339))") }
        if let job = jobs[e.id]?.first(where: { $0.ticket != ticket }) { return (job.position, "current job, ticket #\(job.ticket)") }
        return (e.home, "home base")
    }

    /// An engineer's assessment for a job: nil with the reason when a hard filter fails.
    struct Assessment {
        var engineer: Engineer
        var distance: Double
        var arrival: Timestamp
        var travelMinutes: Double
        var slackMinutes: Int?
        var workload: Int
        var reasons: [String]
        var onTime: Bool
        /// The van holds every part the fault needs (true when it needs none).
        var hasParts = true
    }

    func assess(_ e: Engineer, for job: DispatchJob, now: Timestamp) -> Result<Assessment, DispatchExclusion> {
        func excluded(_ why: String) -> Result<Assessment, DispatchExclusion> { .failure(DispatchExclusion(engineer: e.id, why: why)) }
        guard e.role == .engineer else { return excluded("a \(e.role.rawValue), not a field engineer") }
        var reasons: [String] = []
        for skill in job.skills {
            guard let held = e.skills.first(where: { $0.skill == skill }) else { return excluded("lacks \(skill)") }
            guard held.isValid(at: now) else { return excluded("\(skill) certificate expired on \(held.certificateUntil!)") }
            reasons.append("holds \(skill)" + (held.certificateUntil.map { " (certificate valid until \($0))" } ?? ""))
        }
        let workload = (jobs[e.id] ?? []).filter { $0.ticket != job.ticketID }.count
        guard workload < e.maxJobs else { return excluded("already has \(workload) open jobs, the most they take at once") }
        let zone = (e.shift.timeZone ?? job.timeZone).flatMap(TimeZone.init(identifier:)) ?? TimeZone(identifier: "UTC")!
        let calendar = BusinessCalendar(weekly: e.shift.weekly?.mapValues { $0.map { BusinessCalendar.Window(start: $0.start, end: $0.end) } },
                                        holidays: Set(e.shift.holidays), timeZone: zone)
        let available = calendar.adding(0, to: now)
        // Off shift now and back only after the deadline: not a candidate. (On shift now, they
        // are one even when the deadline has already passed: someone still has to go.)
        if let deadline = job.deadline, available > now, available > deadline {
            return excluded("off shift until \(local(available, zone)), after the on-site deadline \(local(deadline, zone))")
        }
        reasons.append(available <= now ? "on shift now" : "on shift from \(local(available, zone))")
        let (from, what) = origin(e, excluding: job.ticketID)
        let distance = from.kilometres(to: job.position)
        let travel = distance / settings.speedKmh * 60 + settings.accessMinutes
        let arrival = available + .milliseconds(Int64(travel * 60_000))
        reasons.append(String(format: "%.1f km from %@: %.0f min at %.0f km/h + %.0f min site access", distance, what, travel - settings.accessMinutes,
                              settings.speedKmh, settings.accessMinutes))
        var slack: Int?
        if let deadline = job.deadline {
            let minutes = Int(((deadline - arrival).secondsDouble / 60).rounded(.down))
            slack = minutes
            reasons.append(minutes >= 0 ? "arrives \(spell(minutes)) before the on-site deadline" : "arrives \(spell(-minutes)) after the on-site deadline")
        }
        reasons.append("\(workload) of \(e.maxJobs) jobs open")
        var hasParts = true
        if !job.parts.isEmpty {
            let van = vans[e.id] ?? [:]
            let short = job.parts.keys.sorted().filter { (van[$0] ?? 0) < job.parts[$0]! }
            hasParts = short.isEmpty
            let list = job.parts.keys.sorted().map { "\($0) ×\(job.parts[$0]!)" }.joined(separator: ", ")
            reasons.append(hasParts ? "van holds the parts (\(list))"
                           : "must collect \(short.map { "\($0) ×\(job.parts[$0]! - (van[$0] ?? 0))" }.joined(separator: ", ")) (the van lacks them)")
        }
        return .success(Assessment(engineer: e, distance: distance, arrival: arrival, travelMinutes: travel, slackMinutes: slack, workload: workload,
                                   reasons: reasons, onTime: (slack ?? 0) >= 0, hasParts: hasParts))
    }

    /// Candidates for one job, best first, and everyone excluded with why.
    public func suggest(_ job: DispatchJob, now: Timestamp) -> DispatchSuggestion {
        var assessed: [Assessment] = []
        var excluded: [DispatchExclusion] = []
        for e in engineers {
            switch assess(e, for: job, now: now) {
            case let .success(a): assessed.append(a)
            case let .failure(x): excluded.append(x)
            }
        }
        assessed.sort { a, b in
            if a.onTime != b.onTime { return a.onTime }
            // Whose van holds the parts fixes it on the first visit without a detour to the store.
            if a.hasParts != b.hasParts { return a.hasParts }
            if a.arrival != b.arrival { return a.arrival < b.arrival }
            if a.workload != b.workload { return a.workload < b.workload }
            return a.engineer.id < b.engineer.id
        }
        var candidates = assessed.enumerated().map { i, a in
            DispatchCandidate(engineer: a.engineer.id, name: a.engineer.name, rank: i + 1, eta_minutes: Int((a.arrival - now).secondsDouble / 60),
                              arrives_at: a.arrival.rfc3339, distance_km: (a.distance * 10).rounded() / 10, sla_slack_minutes: a.slackMinutes,
                              workload: a.workload, partner: nil, reasons: (job.tier == .vip ? ["VIP customer"] : []) + a.reasons)
        }
        if !assessed.contains(where: \.onTime) {
            for p in partners {
                let missing = job.skills.filter { !p.skills.contains($0) }
                guard missing.isEmpty else { excluded.append(DispatchExclusion(engineer: "partner:\(p.id)", why: "lacks \(missing.joined(separator: ", "))")); continue }
                guard let point = p.servicePoints.filter({ $0.covers(job.position) }).min(by: { $0.position.kilometres(to: job.position) < $1.position.kilometres(to: job.position) }) else {
                    excluded.append(DispatchExclusion(engineer: "partner:\(p.id)", why: "no service point of theirs covers the site"))
                    continue
                }
                let arrival = now + .seconds(Int64(p.responseMinutes) * 60)
                let slack = job.deadline.map { Int((($0 - arrival).secondsDouble / 60).rounded(.down)) }
                var reasons = ["partner provider: no in-house engineer can arrive before the on-site deadline",
                               "covers the site from \(point.name) (\(String(format: "%.1f", point.position.kilometres(to: job.position))) km, radius \(Int(point.radiusKilometres)) km)",
                               "committed response \(spell(p.responseMinutes))"]
                if let slack { reasons.append(slack >= 0 ? "arrives \(spell(slack)) before the on-site deadline" : "arrives \(spell(-slack)) after the on-site deadline") }
                candidates.append(DispatchCandidate(engineer: p.id, name: p.name, rank: 0, eta_minutes: p.responseMinutes, arrives_at: arrival.rfc3339,
                                                    distance_km: (point.position.kilometres(to: job.position) * 10).rounded() / 10, sla_slack_minutes: slack,
                                                    workload: 0, partner: p.id, reasons: reasons))
            }
            // Partners that make the deadline go ahead of late in-house engineers.
            candidates.sort { a, b in
                let ao = (a.sla_slack_minutes ?? 0) >= 0, bo = (b.sla_slack_minutes ?? 0) >= 0
                if ao != bo { return ao }
                return a.eta_minutes < b.eta_minutes
            }
            for i in candidates.indices { candidates[i].rank = i + 1 }
        }
        return DispatchSuggestion(ticket: job.ticketID, skills: job.skills, deadline: job.deadline?.rfc3339, candidates: candidates, excluded: excluded,
                                  parts: job.parts.keys.sorted().map { "\($0) ×\(job.parts[$0]!)" })
    }

    func local(_ t: Timestamp, _ zone: TimeZone) -> String {
        let f = DateFormatter()
        f.timeZone = zone
        f.locale = Locale(identifier: "en_US_POSIX")
        f.dateFormat = "yyyy-MM-dd HH:mm"
        return "\(f.string(from: t.date)) (\(zone.identifier))"
    }
}

/// "3h 05m", "45 min".
func spell(_ minutes: Int) -> String {
    minutes >= 60 ? "\(minutes / 60)h \(String(format: "%02d", minutes % 60))m" : "\(minutes) min"
}
