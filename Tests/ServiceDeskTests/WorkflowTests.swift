import FieldwatchCore
import FieldwatchTesting
import Foundation
import GRDB
import Testing
@testable import ServiceDesk
@testable import Storage

let shanghai = "Asia/Shanghai"

/// A pump (criticality 4) at a standard site and a chiller (criticality 2) at a VIP site, both in Shanghai.
let directory = SiteDirectory(
    sites: ["site-std": .init(customer: "Acme Build", tier: .standard, timeZone: shanghai),
            "site-vip": .init(customer: "Harbour Tower", tier: .vip, timeZone: shanghai)],
    devices: ["pump-1": .init(site: "site-std", criticality: 4), "chiller-9": .init(site: "site-vip", criticality: 2),
              "pump-v": .init(site: "site-vip", criticality: 4)])

func makeWorkflow(_ path: String? = nil, clock: (@Sendable () -> Timestamp)? = nil) throws -> TicketWorkflow {
    let file = try path ?? makeTemporaryDirectory().appendingPathComponent("desk.db").path
    let rules = ServiceRules(policy: .default, directory: directory)
    let store = try TicketStore(path: file)
    return clock.map { TicketWorkflow(store: store, rules: rules, clock: $0) } ?? TicketWorkflow(store: store, rules: rules)
}

func detection(_ device: DeviceID = "pump-1", site: SiteID = "site-std", fault: FaultCode = "BEARING_OVERTEMP",
               severity: Severity = .warning, at: Timestamp) -> Anomaly {
    Anomaly(site: site, device: device, sensor: "bearing_temp", faultCode: fault, transition: .raised, severity: severity,
            detectedAt: at, conditionSince: at, value: 85, limit: 80, unit: "Cel", detector: "threshold", detectorVersion: 1,
            profileID: "pump", profileVersion: 1, summary: "Bearing temperature 85 Cel above warning limit 80", evidence: [])
}

func open(_ w: TicketWorkflow, _ a: Anomaly) throws -> Ticket {
    let effect = try w.store.writeSync { tx in try TicketDesk.apply(a, in: tx, recordedAt: a.detectedAt, rules: w.rules) }
    guard case let .opened(t) = effect else { throw FixtureError("expected a new ticket, got \(effect)") }
    return t
}

func clock(_ w: TicketWorkflow, _ id: Int64, _ kind: ClockKind) throws -> ClockRecord {
    try #require(try w.store.clocks(ticketID: id).first { $0.kind == kind.rawValue })
}

@Suite("Ticket workflow: lifecycle, clocks, escalation, reports")
struct WorkflowTests {
    @Test func illegalStepsAreRefusedNamingThePossibleOnes() throws {
        let w = try makeWorkflow()
        let t = try open(w, detection(at: local("2026-11-24 09:00", shanghai)))
        let error = #expect(throws: ServiceDeskError.self) {
            try w.perform(.arrive, ticketID: t.id, actor: "li.wei", at: local("2026-11-24 09:05", shanghai))
        }
        #expect(error?.kind == .conflict)
        #expect(error?.message == "ticket #\(t.id) is new; `arrive` is not possible from there. Possible now: acknowledge, cancel")
        #expect(throws: ServiceDeskError.self) { try w.perform(.cancel, ticketID: t.id, actor: "li.wei", at: local("2026-11-24 09:05", shanghai)) }
        #expect(throws: ServiceDeskError.self) { try w.perform(.acknowledge, ticketID: 999, actor: "li.wei", at: local("2026-11-24 09:05", shanghai)) }
        #expect(try w.store.ticket(id: t.id)?.status == .new, "a refused step changes nothing")
    }

    @Test func theFullLifecycleRecordsOwnerClocksAuditAndNotifications() throws {
        let w = try makeWorkflow()
        let opened = local("2026-11-24 09:00", shanghai)  // Tuesday
        let t = try open(w, detection(severity: .critical, at: opened))
        #expect(t.grade == .urgent && t.tier == .standard && t.customer == "Acme Build" && t.timeZone == shanghai)
        #expect(try clock(w, t.id, .firstContact).deadline == local("2026-11-24 11:00", shanghai))
        #expect(try clock(w, t.id, .onSite).deadline == local("2026-11-25 09:00", shanghai))
        try w.perform(.acknowledge, ticketID: t.id, actor: "li.wei", at: local("2026-11-24 09:10", shanghai))
        try w.perform(.contact, ticketID: t.id, actor: "li.wei", reason: "called site manager", at: local("2026-11-24 09:40", shanghai))
        try w.perform(.dispatch, ticketID: t.id, actor: "dispatch.zhao", at: local("2026-11-24 10:00", shanghai))
        try w.perform(.arrive, ticketID: t.id, actor: "eng.chen", at: local("2026-11-24 15:00", shanghai))
        try w.propose(ticketID: t.id, actor: "eng.chen", diagnosis: "drive-end bearing worn", plannedWork: "replace bearing",
                      parts: "SKF 6308 x1", estimatedCost: 800, at: local("2026-11-24 15:30", shanghai))
        try w.decide(ticketID: t.id, approve: true, actor: "sup.liu", note: nil, at: local("2026-11-24 15:45", shanghai))
        try w.perform(.resolve, ticketID: t.id, actor: "eng.chen", reason: "bearing replaced", at: local("2026-11-24 18:00", shanghai))
        let closed = try w.perform(.confirm, ticketID: t.id, actor: "customer:wang", at: local("2026-11-25 09:00", shanghai))
        #expect(closed.status == .closed && closed.owner == "li.wei")
        #expect(try clock(w, t.id, .firstContact).metAt == local("2026-11-24 09:40", shanghai))
        #expect(try clock(w, t.id, .onSite).state == .met)
        #expect(try !clock(w, t.id, .resolution).isBreached(at: local("2026-11-30 00:00", shanghai)))
        let audit = try w.store.auditRecords(ticketID: t.id)
        #expect(audit.map(\.action) == ["ticket.opened", "ticket.acknowledge", "ticket.contact", "ticket.dispatch", "ticket.arrive",
                                        "solution.proposed", "solution.approved", "ticket.resolve", "ticket.confirm"])
        #expect(audit[2].detail.contains("\"first_contact_met\":\"within target\""))
        #expect(audit[7].actor == "eng.chen" && audit[7].detail.contains("bearing replaced"))
        #expect(try w.store.outbox().count == 9)
        #expect(try w.store.verifyAuditChain().isIntact)
    }

    @Test func aPauseNeedsAReasonAndEvidenceAndMovesThePausableDeadlines() throws {
        let w = try makeWorkflow()
        let t = try open(w, detection(severity: .critical, at: local("2026-11-24 09:00", shanghai)))
        try w.perform(.acknowledge, ticketID: t.id, actor: "li.wei", at: local("2026-11-24 09:10", shanghai))
        #expect(throws: ServiceDeskError.self) {
            try w.perform(.pause, ticketID: t.id, actor: "li.wei", pause: (.waitingForCustomer, "x"), at: local("2026-11-24 09:20", shanghai))
        }
        try w.perform(.contact, ticketID: t.id, actor: "li.wei", at: local("2026-11-24 09:30", shanghai))
        #expect(throws: ServiceDeskError.self) {
            try w.perform(.pause, ticketID: t.id, actor: "li.wei", pause: (.siteAccessRefused, "  "), at: local("2026-11-24 10:00", shanghai))
        }
        try w.perform(.pause, ticketID: t.id, actor: "li.wei", pause: (.siteAccessRefused, "gate guard refused entry, 10:00, badge 17"),
                      at: local("2026-11-24 10:00", shanghai))
        #expect(try clock(w, t.id, .onSite).state == .paused && clock(w, t.id, .onSite).deadline == nil)
        let refused = #expect(throws: ServiceDeskError.self) {
            try w.perform(.dispatch, ticketID: t.id, actor: "li.wei", at: local("2026-11-24 11:00", shanghai))
        }
        #expect(refused?.message.contains("Possible now: resume, cancel") == true)
        try w.perform(.resume, ticketID: t.id, actor: "li.wei", at: local("2026-11-24 16:00", shanghai))
        // Six hours paused on a round-the-clock calendar: on site by Wednesday 15:00 instead of 09:00.
        #expect(try clock(w, t.id, .onSite).deadline == local("2026-11-25 15:00", shanghai))
        #expect(try clock(w, t.id, .onSite).state == .running)
        let pauses = try w.store.pauses(ticketID: t.id)
        #expect(pauses.count == 1 && pauses[0].reason == "site_access_refused" && pauses[0].endedAt == local("2026-11-24 16:00", shanghai))
    }

    @Test func aRepairWaitsForTheSupervisorsApprovalWhenThePolicySaysSo() throws {
        let w = try makeWorkflow()
        let t = try open(w, detection(severity: .critical, at: local("2026-11-24 09:00", shanghai)))
        for (a, who) in [(TicketAction.acknowledge, "li.wei"), (.contact, "li.wei"), (.dispatch, "li.wei"), (.arrive, "eng.chen")] {
            try w.perform(a, ticketID: t.id, actor: who, at: local("2026-11-24 10:00", shanghai))
        }
        let before = try clock(w, t.id, .resolution)
        let noProposal = #expect(throws: ServiceDeskError.self) {
            try w.perform(.resolve, ticketID: t.id, actor: "eng.chen", at: local("2026-11-24 11:00", shanghai))
        }
        #expect(noProposal?.message.contains("urgent: the policy asks for an approved solution") == true)
        let proposed = try w.propose(ticketID: t.id, actor: "eng.chen", diagnosis: "impeller cracked", plannedWork: "replace impeller",
                                     parts: "IMP-200 x1", estimatedCost: 12_000, at: local("2026-11-24 11:00", shanghai))
        #expect(proposed.status == .proposed)
        #expect(throws: ServiceDeskError.self) { try w.perform(.resolve, ticketID: t.id, actor: "eng.chen", at: local("2026-11-24 11:10", shanghai)) }
        let own = #expect(throws: ServiceDeskError.self) {
            try w.decide(ticketID: t.id, approve: true, actor: "eng.chen", note: nil, at: local("2026-11-24 11:20", shanghai))
        }
        #expect(own?.message.contains("cannot approve") == true)
        #expect(throws: ServiceDeskError.self) { try w.decide(ticketID: t.id, approve: false, actor: "sup.liu", note: nil, at: local("2026-11-24 11:20", shanghai)) }
        try w.decide(ticketID: t.id, approve: false, actor: "sup.liu", note: "try re-balancing first", at: local("2026-11-24 11:30", shanghai))
        let rejected = #expect(throws: ServiceDeskError.self) { try w.perform(.resolve, ticketID: t.id, actor: "eng.chen", at: local("2026-11-24 11:40", shanghai)) }
        #expect(rejected?.message.contains("rejected by sup.liu: try re-balancing first") == true)
        try w.propose(ticketID: t.id, actor: "eng.chen", diagnosis: "impeller unbalanced", plannedWork: "re-balance impeller", parts: "",
                      estimatedCost: 300, at: local("2026-11-24 12:00", shanghai))
        try w.decide(ticketID: t.id, approve: true, actor: "sup.liu", note: nil, at: local("2026-11-24 12:10", shanghai))
        try w.perform(.resolve, ticketID: t.id, actor: "eng.chen", at: local("2026-11-24 13:00", shanghai))
        // Internal approval never stopped the customer's clock.
        #expect(before.deadline == (try clock(w, t.id, .resolution)).deadline)
        #expect(try w.store.solutions(ticketID: t.id).map(\.status) == [.rejected, .approved])
        #expect(try w.store.outbox().filter { $0.kind == "solution.approval_requested" }.count == 2)
    }

    @Test func aCheapRepairOfAGeneralTicketNeedsNoApprovalAnExpensiveOneDoes() throws {
        let w = try makeWorkflow()
        let t = try open(w, detection(severity: .warning, at: local("2026-11-24 09:00", shanghai)))
        #expect(t.grade == .general)
        try w.perform(.acknowledge, ticketID: t.id, actor: "li.wei", at: local("2026-11-24 09:10", shanghai))
        #expect(try w.propose(ticketID: t.id, actor: "li.wei", diagnosis: "d", plannedWork: "w", parts: "", estimatedCost: 6_000,
                              at: local("2026-11-24 09:20", shanghai)).status == .proposed)
        #expect(try w.propose(ticketID: t.id, actor: "li.wei", diagnosis: "d", plannedWork: "cheaper", parts: "", estimatedCost: 200,
                              at: local("2026-11-24 09:30", shanghai)).status == .notRequired)
        try w.perform(.contact, ticketID: t.id, actor: "li.wei", at: local("2026-11-24 09:40", shanghai))
        try w.perform(.resolve, ticketID: t.id, actor: "li.wei", reason: "fixed by phone", at: local("2026-11-24 09:50", shanghai))
        #expect(try clock(w, t.id, .onSite).state == .notNeeded)
    }

    @Test func loweringAGradeNeedsAReasonAndMovesTheClocks() throws {
        let w = try makeWorkflow()
        let t = try open(w, detection(severity: .critical, at: local("2026-11-24 09:00", shanghai)))
        #expect(throws: ServiceDeskError.self) { try w.regrade(ticketID: t.id, to: .general, actor: "sup.liu", reason: nil, at: local("2026-11-24 09:05", shanghai)) }
        try w.regrade(ticketID: t.id, to: .general, actor: "sup.liu", reason: "standby pump running", at: local("2026-11-24 09:05", shanghai))
        // General: office calendar, 8 working hours a day: Tuesday from 09:00 (7.5 h), Wednesday, Thursday, 0.5 h on Friday.
        let onSite = try clock(w, t.id, .onSite)
        #expect(onSite.calendar == "office")
        #expect(onSite.deadline?.rfc3339 == local("2026-11-27 09:00", shanghai).rfc3339)
        #expect(try w.store.auditRecords(ticketID: t.id).last?.action == "ticket.grade_lowered")
    }

    @Test func aCustomerReportIsLinkedToTheOpenPredictiveTicket() throws {
        let w = try makeWorkflow()
        let t = try open(w, detection("pump-v", site: "site-vip", severity: .warning, at: local("2026-11-24 09:00", shanghai)))
        #expect(t.grade == .urgent, "VIP + criticality 4 + warning is urgent by the default table")
        let (linked, wasLinked) = try w.report(CustomerReport(device: "pump-v", channel: .phone, reporter: "Mr Wang",
                                                              description: "pump is noisy", severity: .warning), at: local("2026-11-24 09:30", shanghai))
        #expect(wasLinked && linked.id == t.id)
        #expect(try w.store.tickets().count == 1)
        #expect(try w.store.auditRecords(ticketID: t.id).last?.action == "ticket.customer_report")
        // A report on a device with nothing open opens a customer-report ticket.
        let (fresh, freshLinked) = try w.report(CustomerReport(device: "chiller-9", channel: .online, reporter: "Ms Li",
                                                               description: "no cooling on floor 3", severity: .critical), at: local("2026-11-24 10:00", shanghai))
        #expect(!freshLinked && fresh.source == .customerReport && fresh.grade == .urgent && fresh.channel == "online" && fresh.tier == .vip)
        #expect(try clock(w, fresh.id, .firstContact).deadline == local("2026-11-24 11:00", shanghai), "VIP urgent: 1 h")
        let unknown = #expect(throws: ServiceDeskError.self) {
            _ = try w.report(CustomerReport(device: "pump-2", channel: .email, reporter: "x", description: "y", severity: .warning), at: local("2026-11-24 10:00", shanghai))
        }
        #expect(unknown?.kind == .notFound && unknown?.message.contains("did you mean \"pump-1\"") == true)
    }

    @Test func escalationsFireOncePerLevelAcrossARestart() throws {
        let path = try makeTemporaryDirectory().appendingPathComponent("desk.db").path
        var w = try makeWorkflow(path)
        // General fault (warning on a criticality-4 pump, standard tier) on Friday 17:30: office calendar.
        let t = try open(w, detection(severity: .warning, at: local("2026-11-27 17:30", shanghai)))
        #expect(t.grade == .general)
        // First contact 2 working hours: 30 min Friday + Saturday 09:00–10:30.
        #expect(try clock(w, t.id, .firstContact).deadline == local("2026-11-28 10:30", shanghai))
        // Nobody acknowledges: re-offered after 30 min, once, however often the scan runs.
        #expect(try w.escalate(now: local("2026-11-27 17:59", shanghai)).isEmpty)
        #expect(try w.escalate(now: local("2026-11-27 18:00", shanghai)).map(\.level) == [.reoffer])
        #expect(try w.escalate(now: local("2026-11-27 18:10", shanghai)).isEmpty)
        try w.perform(.acknowledge, ticketID: t.id, actor: "li.wei", at: local("2026-11-27 18:15", shanghai))
        // Overnight nothing is due: the warning at 75 % (1 h 30 min of working time) falls on Saturday 10:00.
        #expect(try w.escalate(now: local("2026-11-28 09:59", shanghai)).isEmpty)
        #expect(try w.escalate(now: local("2026-11-28 10:00", shanghai)).map(\.level) == [.warning])
        // The gateway goes down at 10:05 and comes back on Monday 13:00: the breach (Sat 10:30) and
        // management (4 working hours later: Sat 12:00 + Mon 08:30–11:00) fell due meanwhile.
        w = try makeWorkflow(path)
        let late = try w.escalate(now: local("2026-11-30 13:00", shanghai))
        #expect(late.filter { $0.clock == "first_contact" }.map(\.level) == [.supervisor, .management])
        #expect(late.first { $0.level == .management }?.dueAt == local("2026-11-30 11:00", shanghai))
        w = try makeWorkflow(path)
        #expect(try w.escalate(now: local("2026-11-30 13:01", shanghai)).filter { $0.clock == "first_contact" }.isEmpty, "never twice")
        let fired = try w.store.escalations(ticketID: t.id).filter { $0.clock != "on_site" && $0.clock != "resolution" }
        #expect(fired.map(\.level) == ["reoffer", "warning", "supervisor", "management"])
        let audit = try w.store.auditRecords(ticketID: t.id).filter { $0.action.hasPrefix("sla.") }
        #expect(audit.contains { $0.action == "sla.management" && $0.detail.contains("late_by") })
        #expect(try w.store.outbox().filter { $0.kind == "ticket.escalated" }.count == late.count + 1)
    }

    @Test func aBurstOfTenThousandDetectionsMakesOneTicket() async throws {
        let store = try TicketStore(path: try makeTemporaryDirectory().appendingPathComponent("burst.db").path)
        let desk = TicketDesk(store: store, rules: ServiceRules(policy: .default, directory: directory))
        let start = local("2026-11-24 09:00", shanghai)
        for i in 0..<10_000 { desk.submit(detection(at: start.adding(milliseconds: Int64(i) * 100))) }
        await desk.drain()
        let tickets = try store.tickets()
        #expect(tickets.count == 1 && tickets[0].occurrences == 10_000)
        #expect(desk.counters.ticketsOpened == 1 && desk.counters.occurrencesAdded == 9_999)
        #expect(try store.outbox().count == 1, "one notification for the ticket, not one per detection")
    }
}

@Suite("Escalation on a business calendar in Berlin")
struct CalendarEscalationTests {
    @Test func aFridayFaultWaitsOutTheWeekendTheDSTChangeAndAHolidayBeforeItEscalates() throws {
        var policy = ServicePolicy.default
        let day = [BusinessCalendar.Window(start: 8 * 60, end: 17 * 60)]
        policy.calendars["office"] = .init(weekly: [2: day, 3: day, 4: day, 5: day, 6: day], holidays: ["2026-10-26"])
        let berlin = SiteDirectory(sites: ["plant": .init(customer: "Stadtwerke", tier: .standard, timeZone: "Europe/Berlin")],
                                   devices: ["chiller-b": .init(site: "plant", criticality: 3)])
        let w = TicketWorkflow(store: try TicketStore(path: try makeTemporaryDirectory().appendingPathComponent("berlin.db").path),
                               rules: ServiceRules(policy: policy, directory: berlin))
        func at(_ text: String) -> Timestamp { local(text, "Europe/Berlin") }
        // Friday 16:00 CEST; the clocks go back on Sunday night; Monday is a holiday.
        let t = try open(w, detection("chiller-b", site: "plant", fault: "CONDENSER_FOULING", severity: .warning, at: at("2026-10-23 16:00")))
        #expect(t.grade == .general)
        try w.perform(.acknowledge, ticketID: t.id, actor: "k.meier", at: at("2026-10-23 16:05"))
        // First contact, 2 working hours: 1 h on Friday, 1 h on Tuesday (CET now).
        #expect(try clock(w, t.id, .firstContact).deadline == at("2026-10-27 09:00"))
        for quiet in ["2026-10-24 12:00", "2026-10-25 02:30", "2026-10-26 10:00", "2026-10-27 08:29"] {
            #expect(try w.escalate(now: at(quiet)).isEmpty, "nothing may fire at \(quiet)")
        }
        #expect(try w.escalate(now: at("2026-10-27 08:30")).map(\.level) == [.warning])
        #expect(try w.escalate(now: at("2026-10-27 09:00")).map(\.level) == [.supervisor])
        // Management: 4 working hours after the breach.
        #expect(try w.escalate(now: at("2026-10-27 12:59")).isEmpty)
        let management = try w.escalate(now: at("2026-10-27 13:00"))
        #expect(management.map(\.level) == [.management] && management.first?.dueAt == at("2026-10-27 13:00"))
    }

    @Test func manualTicketsAreGradedTimedAndDeduplicated() throws {
        let w = try makeWorkflow()
        let (t, existing) = try w.openManual(device: "pump-1", faultCode: "SEAL_LEAK", severity: .critical, title: "seal weeping at the gland",
                                             actor: "eng.chen", at: local("2026-11-24 10:00", shanghai))
        #expect(!existing && t.source == .manual && t.grade == .urgent && t.customer == "Acme Build")
        #expect(try clock(w, t.id, .firstContact).deadline == local("2026-11-24 12:00", shanghai))
        let (again, wasExisting) = try w.openManual(device: "pump-1", faultCode: "SEAL_LEAK", severity: .warning, title: "still weeping",
                                                    actor: "eng.chen", at: local("2026-11-24 11:00", shanghai))
        #expect(wasExisting && again.id == t.id)
        #expect(try w.store.auditRecords(ticketID: t.id).map(\.action) == ["ticket.opened", "ticket.finding"])
        #expect(throws: ServiceDeskError.self) {
            _ = try w.openManual(device: "pump-9", faultCode: "X", severity: .warning, title: "x", actor: "a", at: local("2026-11-24 11:00", shanghai))
        }
    }
}
