import FieldwatchCore
import FieldwatchTesting
import Foundation
import Profiles
import Testing
@testable import ServiceDesk
@testable import Storage

/// Monday 2026-12-07 10:00 in Shanghai.
let dispatchNow = Timestamp(rfc3339: "2026-12-07T02:00:00Z")!
let pumpStation = GeoPoint(latitude: 22.5329, longitude: 113.9305)

/// A point `km` kilometres north of the pump station.
func north(_ km: Double) -> GeoPoint { GeoPoint(latitude: pumpStation.latitude + km / 111.195, longitude: pumpStation.longitude) }

func engineer(_ id: String, at km: Double, skills: [HeldSkill] = [HeldSkill(skill: "mechanical", certificateUntil: "2027-06-30")],
              role: FieldRole = .engineer, shift: Shift = .always, maxJobs: Int = 3) -> Engineer {
    Engineer(id: id, name: id.capitalized, role: role, skills: skills, home: north(km), shift: shift, maxJobs: maxJobs, hourlyRate: 150)
}

func job(deadlineIn minutes: Int? = 120, skills: [String] = ["mechanical"], tier: CustomerTier = .standard) -> DispatchJob {
    DispatchJob(ticketID: 7, site: "sz-ps3", position: pumpStation, timeZone: "Asia/Shanghai", skills: skills,
                deadline: minutes.map { dispatchNow + .seconds(Int64($0) * 60) }, tier: tier)
}

@Suite("Dispatch: the nearest suitable engineer")
struct DispatchRankingTests {
    @Test func theNearerSuitableEngineerWinsAndEveryExclusionSaysWhy() {
        let office = Shift(weekly: [2: [.init(start: 20 * 60, end: 23 * 60)]], timeZone: "Asia/Shanghai")  // Mondays 20:00–23:00 only
        let d = Dispatcher(engineers: [
            engineer("far", at: 50), engineer("near", at: 2),
            engineer("no-skill", at: 1, skills: [HeldSkill(skill: "electrical")]),
            engineer("expired", at: 1, skills: [HeldSkill(skill: "mechanical", certificateUntil: "2026-12-06")]),
            engineer("busy", at: 1, maxJobs: 1), engineer("evening", at: 1, shift: office), engineer("boss", at: 1, role: .supervisor),
        ], jobs: ["busy": [(ticket: 99, position: north(1))]])
        let s = d.suggest(job(), now: dispatchNow)
        #expect(s.candidates.map(\.engineer) == ["near", "far"])
        #expect(s.candidates[0].rank == 1 && s.candidates[0].distance_km == 2 && s.candidates[0].eta_minutes == 18)
        #expect(s.candidates[0].sla_slack_minutes == 102 && s.candidates[0].reasons.contains("arrives 1h 42m before the on-site deadline"))
        #expect(s.candidates[1].eta_minutes == 90, "50 km at 40 km/h is 75 min, plus 15 min of site access")
        let why = Dictionary(uniqueKeysWithValues: s.excluded.map { ($0.engineer, $0.why) })
        #expect(why["no-skill"] == "lacks mechanical")
        #expect(why["expired"] == "mechanical certificate expired on 2026-12-06")
        #expect(why["busy"] == "already has 1 open jobs, the most they take at once")
        #expect(why["evening"]?.hasPrefix("off shift until 2026-12-07 20:00 (Asia/Shanghai), after the on-site deadline") == true, "\(why)")
        #expect(why["boss"] == "a supervisor, not a field engineer")
        #expect(!s.candidates.contains { $0.partner != nil }, "partners only when nobody in house arrives in time")
    }

    @Test func theEngineerWhoseVanHoldsThePartsRanksAboveANearerOneWhoMustCollectThem() {
        var j = job()
        j.parts = ["SKF-6309-2Z": 2]
        let d = Dispatcher(engineers: [engineer("near", at: 2), engineer("stocked", at: 20), engineer("late", at: 200)],
                           vans: ["stocked": ["SKF-6309-2Z": 2], "near": ["SKF-6309-2Z": 1], "late": ["SKF-6309-2Z": 5]])
        let s = d.suggest(j, now: dispatchNow)
        #expect(s.candidates.map(\.engineer) == ["stocked", "near", "late"], "on time first, then the parts, then the arrival")
        #expect(s.candidates[0].reasons.contains("van holds the parts (SKF-6309-2Z ×2)"))
        #expect(s.candidates[1].reasons.contains("must collect SKF-6309-2Z ×1 (the van lacks them)"))
        #expect((s.candidates[2].sla_slack_minutes ?? 0) < 0, "a stocked van does not beat being on time")
        #expect(s.parts == ["SKF-6309-2Z ×2"], "the card says what to bring")
    }

    @Test func anOffShiftEngineerWhoseShiftStartsBeforeTheDeadlineStillCounts() {
        let later = Shift(weekly: [2: [.init(start: 11 * 60, end: 18 * 60)]], timeZone: "Asia/Shanghai")  // from 11:00
        let s = Dispatcher(engineers: [engineer("later", at: 4, shift: later)]).suggest(job(deadlineIn: 240), now: dispatchNow)
        #expect(s.candidates.first?.engineer == "later" && s.candidates.first?.eta_minutes == 81, "60 min to 11:00, then 6 + 15 min")
        #expect(s.candidates.first?.reasons.contains("on shift from 2026-12-07 11:00 (Asia/Shanghai)") == true)
    }

    @Test func onTimeBeatsNearerButLateAndLoadBreaksTies() {
        // The nearer one is on a job 80 km away (travel from there); the other is at home, 10 km off.
        let d = Dispatcher(engineers: [engineer("nearer-home", at: 1), engineer("home", at: 10), engineer("twin", at: 10)],
                           positions: [:], jobs: ["nearer-home": [(ticket: 5, position: north(80))], "twin": [(ticket: 6, position: north(10))]])
        let s = d.suggest(job(deadlineIn: 60), now: dispatchNow)
        #expect(s.candidates.map(\.engineer) == ["home", "twin", "nearer-home"], "\(s.candidates.map { ($0.engineer, $0.eta_minutes) })")
        #expect(s.candidates[2].sla_slack_minutes! < 0 && s.candidates[2].reasons.contains { $0.contains("current job, ticket #5") })
        // A last known position beats both the job and the home base.
        let located = Dispatcher(engineers: [engineer("a", at: 30)], positions: ["a": EngineerPosition(engineer: "a", position: north(0.5), at: dispatchNow)])
            .suggest(job(), now: dispatchNow)
        #expect(located.candidates.first?.distance_km == 0.5 && located.candidates.first?.reasons.contains { $0.contains("last known position") } == true)
    }

    @Test func partnersCoverWhenNobodyInHouseArrivesInTime() {
        let covering = Partner(id: "prm", name: "Pearl River M&E", skills: ["mechanical", "electrical"],
                               servicePoints: [ServicePoint(id: "prm-1", name: "Foshan", position: north(30), radiusKilometres: 50, partner: "prm")],
                               responseMinutes: 45)
        let far = Partner(id: "far", name: "Far Away Ltd", skills: ["mechanical"],
                          servicePoints: [ServicePoint(id: "far-1", name: "Wuhan", position: north(900), radiusKilometres: 100, partner: "far")], responseMinutes: 30)
        let unskilled = Partner(id: "elec", name: "Sparks", skills: ["electrical"],
                                servicePoints: [ServicePoint(id: "elec-1", name: "Here", position: north(1), radiusKilometres: 50, partner: "elec")], responseMinutes: 20)
        let d = Dispatcher(engineers: [engineer("distant", at: 200)], partners: [covering, far, unskilled])
        let s = d.suggest(job(deadlineIn: 60), now: dispatchNow)
        #expect(s.candidates.map(\.engineer) == ["prm", "distant"], "the partner makes the deadline, the engineer does not")
        #expect(s.candidates[0].partner == "prm" && s.candidates[0].sla_slack_minutes == 15 && s.candidates[0].rank == 1)
        let why = Dictionary(uniqueKeysWithValues: s.excluded.map { ($0.engineer, $0.why) })
        #expect(why["partner:far"] == "no service point of theirs covers the site" && why["partner:elec"] == "lacks mechanical")
        // With nobody in house at all, the partner is the only proposal.
        #expect(Dispatcher(engineers: [], partners: [covering]).suggest(job(), now: dispatchNow).candidates.map(\.engineer) == ["prm"])
    }

    @Test func faultsWithoutACatalogueEntryNeedTheTradeThatFixesSensorsOrLinks() {
        #expect(DispatchJob.skills(for: .sensorStuck, profile: nil) == ["instrumentation"])
        #expect(DispatchJob.skills(for: .siteOffline, profile: nil) == ["controls"])
        #expect(DispatchJob.skills(for: .customerReported, profile: nil).isEmpty)
        let vip = Dispatcher(engineers: [engineer("a", at: 1)]).suggest(job(tier: .vip), now: dispatchNow)
        #expect(vip.candidates.first?.reasons.first == "VIP customer")
    }
}

@Suite("Field team file and store")
struct FieldTeamStoreTests {
    static let file = """
        service_points:
          - {id: sp-1, name: Nanshan, latitude: 22.54, longitude: 113.94, radius_km: 60}
        partners:
          - id: prm
            name: Pearl River
            skills: [mechanical]
            response: 4h
            service_points:
              - {id: prm-1, name: Foshan, latitude: 23.02, longitude: 113.12, radius_km: 150}
        engineers:
          - id: eng.chen
            name: Chen Jie
            service_point: sp-1
            home: {latitude: 22.55, longitude: 113.95}
            skills:
              - {skill: mechanical, certificate_until: 2027-06-30}
              - electrical
            shift: {hours: {mon-fri: [08:00-18:00]}, timezone: Asia/Shanghai}
            max_jobs: 2
            hourly_rate: 180
          - {id: eng.wang, name: Wang Qiang, home: {latitude: 22.52, longitude: 114.05}, skills: [instrumentation]}
        """

    @Test func aTeamFileReadsWithItsShiftCertificatesAndPartners() throws {
        let team = try FieldTeamFile.parse(Self.file, file: "team.yaml")
        #expect(team.engineers.map(\.id) == ["eng.chen", "eng.wang"] && team.partners.first?.responseMinutes == 240)
        let chen = team.engineers[0]
        #expect(chen.skills == [HeldSkill(skill: "electrical"), HeldSkill(skill: "mechanical", certificateUntil: "2027-06-30")])
        #expect(chen.shift.weekly?[2] == [Shift.Window(start: 480, end: 1080)] && chen.shift.timeZone == "Asia/Shanghai" && chen.maxJobs == 2)
        #expect(team.engineers[1].shift == .always && team.engineers[1].maxJobs == 3 && team.engineers[1].role == .engineer)
        #expect(team.servicePoints.map(\.id) == ["sp-1"] && team.partners[0].servicePoints.map(\.partner) == ["prm"])
    }

    @Test(arguments: [
        ("skills: [mechanicl]", "team.yaml:6:", "engineers[0].skills[0]: \"mechanicl\" is not a skill the fault catalogues use (did you mean \"mechanical\"?)"),
        ("skills: [{skill: mechanical, certificate_until: 30/06/2027}]", "team.yaml:6:", "is not a date; write YYYY-MM-DD"),
        ("skills: []\n    service_point: sp-9", "team.yaml:7:", "no service point \"sp-9\" (did you mean \"sp-1\"?)"),
        ("skills: []\n    max_jobs: 0", "team.yaml:7:", "max_jobs: 0 is outside 1...50"),
        ("skills: []\n    shift: weekdays", "team.yaml:7:", "\"weekdays\" is not a calendar"),
        ("skills: []\n    rank: senior", "team.yaml:7:", "engineers[0].rank: unknown field"),
        ("skills: []\n    home: {latitude: 113.9, longitude: 22.5}", "team.yaml:", "did you swap latitude and longitude?"),
    ])
    func mistakesAreNamedWithTheirLineAndFix(lines: String, position: String, message: String) {
        let source = """
            service_points: [{id: sp-1, name: N, latitude: 22.5, longitude: 113.9, radius_km: 10}]
            engineers:
              - id: eng.x
                name: X
            \(lines.contains("home:") ? "" : "    home: {latitude: 22.5, longitude: 113.9}\n")    \(lines)
            """
        do {
            _ = try FieldTeamFile.parse(source, file: "team.yaml")
            Issue.record("\(lines) was accepted")
        } catch {
            #expect(error.description.contains(position) && error.description.contains(message), "\(error.description)")
        }
    }

    @Test func importIsIdempotentDeactivatesNeverDeletesAndIsAudited() throws {
        let store = try TicketStore(path: try makeTemporaryDirectory().appendingPathComponent("team.db").path)
        let team = SQLiteFieldTeamStore(store)
        var parsed = try FieldTeamFile.parse(Self.file, file: "team.yaml")
        let first = try team.importTeam(parsed, source: "team.yaml", actor: "ops", at: dispatchNow)
        #expect(first.added.count == 5 && first.updated.isEmpty && first.deactivated.isEmpty)
        let again = try team.importTeam(parsed, source: "team.yaml", actor: "ops", at: dispatchNow + .seconds(60))
        #expect(again.isEmpty && again.unchanged == 5, "re-importing the same file changes nothing: \(again)")
        let audited = try store.auditRecords().count

        parsed.engineers[0].skills[1].certificateUntil = "2028-06-30"
        let wang = parsed.engineers.remove(at: 1)
        let changed = try team.importTeam(parsed, source: "team-v2.yaml", actor: "ops", at: dispatchNow + .seconds(120))
        #expect(changed.updated == ["engineer eng.chen"] && changed.deactivated == ["engineer eng.wang"] && changed.unchanged == 3)
        #expect(try team.engineers(includeInactive: false).map(\.id) == ["eng.chen"])
        #expect(try team.engineers(includeInactive: true).map(\.id) == ["eng.chen", "eng.wang"], "deactivated, never deleted")
        let records = try store.auditRecords()
        #expect(records.count == audited + 2)
        #expect(records.suffix(2).map(\.action) == ["engineer.updated", "engineer.deactivated"])
        #expect(records.suffix(2).first!.detail.contains("2028-06-30") && records.suffix(2).first!.detail.contains("2027-06-30"), "before and after")

        parsed.engineers.append(wang)
        #expect(try team.importTeam(parsed, source: "team.yaml", actor: "ops", at: dispatchNow + .seconds(180)).reactivated == ["engineer eng.wang"])
        #expect(try store.verifyAuditChain().isIntact)
    }
}

@Suite("Assigning a ticket")
struct AssignmentTests {
    func setUp() throws -> (FieldOperations, Ticket) {
        let w = try makeWorkflow()
        let inventory = Inventory(sites: [Site(id: "site-std", name: "Pump station", customer: "Acme Build", latitude: pumpStation.latitude,
                                               longitude: pumpStation.longitude, timeZone: shanghai)],
                                  devices: [Device(id: "pump-1", site: "site-std", profileID: "pump")], sourceFile: "inventory.yaml")
        let ops = FieldOperations(workflow: w, team: SQLiteFieldTeamStore(w.store), inventory: inventory, profiles: [:])
        _ = try ops.importTeam(FieldTeam(engineers: [engineer("eng.near", at: 2, skills: []), engineer("eng.far", at: 40, skills: []),
                                                     engineer("eng.gone", at: 1, skills: [])], servicePoints: [], partners: []),
                               source: "t.yaml", actor: "ops", at: dispatchNow)
        _ = try ops.importTeam(FieldTeam(engineers: [engineer("eng.near", at: 2, skills: []), engineer("eng.far", at: 40, skills: [])], servicePoints: [],
                                         partners: []), source: "t.yaml", actor: "ops", at: dispatchNow)
        let t = try open(w, detection(at: dispatchNow - .seconds(60)))
        try w.perform(.acknowledge, ticketID: t.id, actor: "li.wei", at: dispatchNow)
        return (ops, t)
    }

    @Test func theAssigneeGoesTheOwnerStaysAndBothAreTold() throws {
        let (ops, t) = try setUp()
        let suggestion = try ops.suggest(ticketID: t.id, now: dispatchNow)
        #expect(suggestion.candidates.map(\.engineer) == ["eng.near", "eng.far"])
        let assigned = try ops.assign(ticketID: t.id, engineer: "eng.near", by: "dispatch.zhao", reason: nil, at: dispatchNow)
        #expect(assigned.assignee == "eng.near" && assigned.owner == "li.wei")
        #expect(try ops.workflow.store.ticket(id: t.id)?.assignee == "eng.near")
        let messages = try ops.workflow.store.outbox().filter { $0.kind == "ticket.assigned" }
        #expect(Set(messages.map(\.topic)) == ["fieldwatch/events/site-std/\(t.id)", "fieldwatch/engineers/eng.near/jobs"])
        #expect(try ops.workflow.store.auditRecords(ticketID: t.id).last?.action == "ticket.assigned")
        // The job now counts against the engineer's load.
        #expect(try ops.team.openJobs()["eng.near"]?.map(\.id) == [t.id])

        #expect(throws: ServiceDeskError.self) { try ops.assign(ticketID: t.id, engineer: "eng.far", by: "dispatch.zhao", reason: nil, at: dispatchNow) }
        do {
            try ops.assign(ticketID: t.id, engineer: "eng.far", by: "dispatch.zhao", reason: " ", at: dispatchNow)
        } catch {
            #expect(error.kind == .invalid && error.message.contains("needs a reason"), "\(error)")
        }
        let moved = try ops.assign(ticketID: t.id, engineer: "eng.far", by: "dispatch.zhao", reason: "eng.near called in sick", at: dispatchNow)
        #expect(moved.assignee == "eng.far" && moved.owner == "li.wei")
        let last = try #require(try ops.workflow.store.auditRecords(ticketID: t.id).last)
        #expect(last.action == "ticket.reassigned" && last.detail.contains("\"previous\":\"eng.near\"") && last.detail.contains("called in sick"))
    }

    @Test func unknownDeactivatedAndClosedAreRefusedWithWhatToDo() throws {
        let (ops, t) = try setUp()
        do {
            try ops.assign(ticketID: t.id, engineer: "eng.neer", by: "d", reason: nil, at: dispatchNow)
            Issue.record("an unknown engineer was accepted")
        } catch { #expect(error.kind == .notFound && error.message.contains("did you mean \"eng.near\"?"), "\(error)") }
        do {
            try ops.assign(ticketID: t.id, engineer: "eng.gone", by: "d", reason: nil, at: dispatchNow)
            Issue.record("a deactivated engineer was accepted")
        } catch { #expect(error.kind == .conflict && error.message.contains("no longer on the team"), "\(error)") }
        try ops.workflow.perform(.cancel, ticketID: t.id, actor: "li.wei", reason: "false alarm", at: dispatchNow)
        do {
            try ops.assign(ticketID: t.id, engineer: "eng.near", by: "d", reason: nil, at: dispatchNow)
            Issue.record("a cancelled ticket was assigned")
        } catch { #expect(error.kind == .conflict && error.message.contains("only open tickets are dispatched"), "\(error)") }
    }
}

@Suite("Certificates about to expire")
struct CertificateNoticeTests {
    @Test func eachCertificateDueWithinThirtyDaysIsNoticedOnceAndAudited() throws {
        let w = try makeWorkflow()
        let team = SQLiteFieldTeamStore(w.store)
        _ = try team.importTeam(FieldTeam(engineers: [
            engineer("soon", at: 1, skills: [HeldSkill(skill: "mechanical", certificateUntil: "2026-12-27"), HeldSkill(skill: "electrical", certificateUntil: "2027-03-01")]),
            engineer("gone", at: 1, skills: [HeldSkill(skill: "mechanical", certificateUntil: "2026-12-01")]),
        ], servicePoints: [], partners: []), source: "t.yaml", actor: "ops", at: dispatchNow)
        #expect(try w.noticeExpiringCertificates(now: dispatchNow) == ["soon: mechanical certificate expires on 2026-12-27"])
        #expect(try w.noticeExpiringCertificates(now: dispatchNow + .seconds(3600)).isEmpty, "noticed once")
        let message = try #require(try w.store.outbox().first { $0.kind == "certificate.expiring" })
        #expect(message.topic == "fieldwatch/team/soon/certificates" && message.payload.contains("\"audience\":\"supervisor\""))
        #expect(try w.store.auditRecords().filter { $0.action == "certificate.expiring" }.count == 1)
    }
}


@Suite("Automatic dispatch")
struct AutoDispatchTests {
    func makeOps(auto: Bool) throws -> FieldOperations {
        var policy = ServicePolicy.default
        policy.autoDispatch = auto
        let w = TicketWorkflow(store: try TicketStore(path: try makeTemporaryDirectory().appendingPathComponent("a.db").path),
                               rules: ServiceRules(policy: policy, directory: directory))
        let inventory = Inventory(sites: [Site(id: "site-std", name: "Pump station", customer: "Acme Build", latitude: pumpStation.latitude,
                                               longitude: pumpStation.longitude, timeZone: shanghai)],
                                  devices: [Device(id: "pump-1", site: "site-std", profileID: "pump")], sourceFile: "inventory.yaml")
        let ops = FieldOperations(workflow: w, team: SQLiteFieldTeamStore(w.store), inventory: inventory, profiles: [:])
        _ = try ops.importTeam(FieldTeam(engineers: [engineer("eng.near", at: 2, skills: [], maxJobs: 1), engineer("eng.far", at: 30, skills: [])],
                                         servicePoints: [], partners: []), source: "t.yaml", actor: "ops", at: dispatchNow)
        return ops
    }

    @Test func urgentTicketsGetTheBestOnTimeEngineerAndTheLoadCounts() throws {
        let ops = try makeOps(auto: true)
        let urgent = try open(ops.workflow, detection(severity: .critical, at: dispatchNow))
        let second = try open(ops.workflow, detection(fault: "MOTOR_OVERLOAD", severity: .critical, at: dispatchNow + .seconds(3600)))
        let general = try open(ops.workflow, detection(fault: "SEAL_LEAK", severity: .warning, at: dispatchNow + .seconds(7200)))
        let done = try ops.autoDispatch(now: dispatchNow + .seconds(7300))
        #expect(done.map(\.ticket) == [urgent.id, second.id] && done.map(\.engineer) == ["eng.near", "eng.far"], "eng.near takes one job at most: \(done)")
        #expect(try ops.workflow.store.ticket(id: general.id)?.assignee == nil, "only urgent tickets are sent automatically")
        #expect(try ops.workflow.store.auditRecords(ticketID: urgent.id).last?.actor == "desk:auto-dispatch")
        #expect(try ops.autoDispatch(now: dispatchNow + .seconds(7400)).isEmpty, "nothing twice")
        let off = try makeOps(auto: false)
        _ = try open(off.workflow, detection(severity: .critical, at: dispatchNow))
        #expect(try off.autoDispatch(now: dispatchNow + .seconds(60)).isEmpty)
    }

    @Test func thePolicyFileTurnsItOn() throws {
        let policy = try ServicePolicy.parse("schema: 1\ndispatch:\n  auto: true\n", file: "p.yaml")
        #expect(policy.autoDispatch && !ServicePolicy.default.autoDispatch)
        #expect(throws: ProfileError.self) { try ServicePolicy.parse("schema: 1\ndispatch:\n  automatic: true\n", file: "p.yaml") }
    }
}
