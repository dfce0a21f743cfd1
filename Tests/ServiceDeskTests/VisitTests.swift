import FieldwatchCore
import FieldwatchTesting
import Foundation
import Profiles
import Testing
@testable import ServiceDesk
@testable import Storage

/// Visits, remote assistance and the first-time-fix KPIs, on a real SQLite file.
@Suite("Visits, remote assistance and first-time fix")
struct VisitTests {
    static let stdSite = GeoPoint(latitude: 22.5329, longitude: 113.9305)
    static let vipSite = GeoPoint(latitude: 23.1291, longitude: 113.3240)
    static let t0 = Timestamp(rfc3339: "2026-11-03T02:00:00Z")!  // a Tuesday, 10:00 in Shanghai

    func setUp() throws -> FieldOperations {
        let w = try makeWorkflow()
        let inventory = Inventory(sites: [
            Site(id: "site-std", name: "Pump station", customer: "Acme Build", latitude: Self.stdSite.latitude, longitude: Self.stdSite.longitude, timeZone: shanghai),
            Site(id: "site-vip", name: "Harbour Tower", customer: "Harbour Tower", latitude: Self.vipSite.latitude, longitude: Self.vipSite.longitude,
                 timeZone: shanghai, tier: .vip),
        ], devices: [Device(id: "pump-1", site: "site-std", profileID: "pump"), Device(id: "chiller-9", site: "site-vip", profileID: "chiller")],
        sourceFile: "inventory.yaml")
        let ops = FieldOperations(workflow: w, team: SQLiteFieldTeamStore(w.store), inventory: inventory, profiles: [:])
        _ = try ops.importTeam(FieldTeam(engineers: [engineer("eng.chen", at: 5, skills: []), engineer("sup.liu", at: 1, skills: [], role: .supervisor)],
                                         servicePoints: [], partners: []), source: "team.yaml", actor: "ops", at: Self.t0 - .seconds(3600))
        return ops
    }

    /// Opens a ticket and takes it to `dispatched`.
    func dispatched(_ ops: FieldOperations, _ device: DeviceID, _ site: SiteID, _ fault: FaultCode, at: Timestamp) throws -> Ticket {
        let t = try open(ops.workflow, detection(device, site: site, fault: fault, at: at))
        for (i, step) in [TicketAction.acknowledge, .contact, .dispatch].enumerated() {
            try ops.workflow.perform(step, ticketID: t.id, actor: "eng.chen", at: at + .seconds(Int64(60 * (i + 1))))
        }
        return t
    }

    @Test func aCheckInAtTheSiteIsTheArrivalAndAFixResolvesInOneStep() throws {
        let ops = try setUp()
        let t = try dispatched(ops, "pump-1", "site-std", "BEARING_OVERTEMP", at: Self.t0)
        let near = GeoPoint(latitude: Self.stdSite.latitude + 0.001, longitude: Self.stdSite.longitude)  // about 111 m north
        let visit = try ops.startVisit(ticketID: t.id, engineer: "eng.chen", position: near, at: Self.t0 + .seconds(3600))
        #expect(visit.withinRadius && (100...120).contains(visit.distanceMetres ?? 0))
        #expect(try ops.workflow.store.ticket(id: t.id)?.status == .onSite)
        #expect(try clock(ops.workflow, t.id, .onSite).metAt == Self.t0 + .seconds(3600))
        #expect(throws: ServiceDeskError.self) { try ops.startVisit(ticketID: t.id, engineer: "eng.chen", position: near, at: Self.t0 + .seconds(3700)) }

        let done = try ops.finishVisit(visit.id, outcome: .fixed, reason: nil, work: "replaced the drive-end bearing", labourHours: 3.5,
                                       parts: "SKF-6309-2Z: 1, GREASE-LGHP2-0.4KG:1", at: Self.t0 + .seconds(5 * 3600))
        #expect(done.outcome == .fixed && done.parts == "SKF-6309-2Z:1,GREASE-LGHP2-0.4KG:1")
        #expect(try ops.workflow.store.ticket(id: t.id)?.status == .resolved)
        let actions = try ops.workflow.store.auditRecords(ticketID: t.id).map(\.action)
        #expect(Array(actions.suffix(4)) == ["visit.started", "ticket.arrive", "visit.finished", "ticket.resolve"], "\(actions)")
        let detail = try #require(try TicketDetail.load(t.id, from: ops.workflow.store, now: Self.t0 + .seconds(6 * 3600)))
        #expect(detail.visits.map(\.check_in) == ["at_site"] && detail.visits.first?.labour_hours == 3.5)
        #expect(try ops.workflow.store.verifyAuditChain().isIntact)
    }

    @Test func aCheckInAwayFromTheSiteWaitsForASupervisorAndNotFixedNeedsAReason() throws {
        let ops = try setUp()
        let t = try dispatched(ops, "pump-1", "site-std", "BEARING_OVERTEMP", at: Self.t0)
        let away = try ops.startVisit(ticketID: t.id, engineer: "eng.chen", position: GeoPoint(latitude: Self.stdSite.latitude + 0.02, longitude: Self.stdSite.longitude),
                                      at: Self.t0 + .seconds(3600))
        #expect(!away.withinRadius && (away.distanceMetres ?? 0) > 2000)
        #expect(try ops.workflow.store.ticket(id: t.id)?.status == .dispatched, "no arrival without evidence")
        do {
            _ = try ops.finishVisit(away.id, outcome: .fixed, reason: nil, work: "bearing", labourHours: 1, parts: nil, at: Self.t0 + .seconds(7200))
            Issue.record("a fix was accepted without an accepted arrival")
        } catch { #expect(error.kind == .conflict && error.message.contains("visits accept \(away.id)"), "\(error)") }
        do {
            _ = try ops.acceptVisit(away.id, by: "eng.chen", at: Self.t0 + .seconds(3700))
            Issue.record("an engineer accepted their own check-in")
        } catch { #expect(error.kind == .invalid, "\(error)") }
        _ = try ops.acceptVisit(away.id, by: "sup.liu", at: Self.t0 + .seconds(4000))
        #expect(try clock(ops.workflow, t.id, .onSite).metAt == Self.t0 + .seconds(3600), "the arrival is the check-in's time")
        do {
            _ = try ops.finishVisit(away.id, outcome: .notFixed, reason: nil, work: "diagnosed", labourHours: 1, parts: nil, at: Self.t0 + .seconds(7200))
            Issue.record("not fixed without a reason was accepted")
        } catch { #expect(error.message.contains("needs a reason: missing_part"), "\(error)") }
        _ = try ops.finishVisit(away.id, outcome: .notFixed, reason: .missingPart, work: "bearing worn; no spare in the van", labourHours: 1,
                                parts: nil, at: Self.t0 + .seconds(7200))
        #expect(try ops.workflow.store.ticket(id: t.id)?.status == .onSite, "the ticket stays open for the next visit")
        #expect(throws: ServiceDeskError.self) {
            try ops.finishVisit(away.id, outcome: .fixed, reason: nil, work: "again", labourHours: 1, parts: "SKF:x", at: Self.t0 + .seconds(7300))
        }
        let second = try ops.startVisit(ticketID: t.id, engineer: "eng.chen", position: Self.stdSite, at: Self.t0 + .seconds(86_400))
        _ = try ops.finishVisit(second.id, outcome: .fixed, reason: nil, work: "replaced the bearing", labourHours: 3, parts: "SKF-6309-2Z:1",
                                at: Self.t0 + .seconds(90_000))
        #expect(try ops.workflow.store.visits(ticketID: t.id).map(\.outcome) == [.notFixed, .fixed])
    }

    /// Hand-made month: A fixed on its one visit; B fixed on the second (the first lacked a
    /// part); C fixed on one visit but the same fault came back within 30 days; D fixed remotely.
    @Test func firstTimeFixRemoteResolutionAndVisitsPerTicketOnAHandMadeMonth() throws {
        let ops = try setUp()
        let w = ops.workflow
        func visit(_ t: Ticket, _ at: Timestamp, _ outcome: VisitRecord.Outcome, _ reason: VisitRecord.NotFixedReason? = nil) throws {
            let site = t.site == "site-std" ? Self.stdSite : Self.vipSite
            let v = try ops.startVisit(ticketID: t.id, engineer: "eng.chen", position: site, at: at)
            _ = try ops.finishVisit(v.id, outcome: outcome, reason: reason, work: "work", labourHours: 2, parts: nil, at: at + .seconds(7200))
        }
        let a = try dispatched(ops, "pump-1", "site-std", "BEARING_OVERTEMP", at: Self.t0)
        try visit(a, Self.t0 + .seconds(3600), .fixed)
        let b = try dispatched(ops, "chiller-9", "site-vip", "COMPRESSOR_OVERLOAD", at: Self.t0)
        try visit(b, Self.t0 + .seconds(3600), .notFixed, .missingPart)
        try visit(b, Self.t0 + .seconds(86_400), .fixed)
        let c = try dispatched(ops, "pump-1", "site-std", "SEAL_LEAK", at: Self.t0 + .seconds(4 * 3600))
        try visit(c, Self.t0 + .seconds(5 * 3600), .fixed)
        try w.perform(.confirm, ticketID: c.id, actor: "customer:wang", at: Self.t0 + .seconds(8 * 3600))
        _ = try open(w, detection("pump-1", site: "site-std", fault: "SEAL_LEAK", at: Self.t0 + .seconds(10 * 86_400)))
        let d = try open(w, detection("chiller-9", site: "site-vip", fault: "EVAPORATOR_FREEZE_RISK", at: Self.t0 + .seconds(6 * 3600)))
        try w.perform(.acknowledge, ticketID: d.id, actor: "eng.chen", at: Self.t0 + .seconds(6 * 3600 + 60))
        try w.perform(.contact, ticketID: d.id, actor: "eng.chen", at: Self.t0 + .seconds(6 * 3600 + 120))
        _ = try ops.remoteAssist(ticketID: d.id, by: "eng.chen", checked: "live chilled-water temperatures with the operator",
                                 instructions: "raise the leaving-water set point to 7 °C", outcome: .fixed, at: Self.t0 + .seconds(6 * 3600 + 600))
        #expect(try w.store.ticket(id: d.id)?.status == .resolved)

        let period = MonthlyReport.period("2026-11", timeZone: TimeZone(identifier: shanghai)!)!
        let k = ServiceKPIs.compute(try w.store.kpiRecords(from: period.from, to: period.to), from: period.from, to: period.to, now: Self.t0 + .seconds(20 * 86_400))
        #expect(k.firstTimeFixRate.tickets == 3 && k.firstTimeFixRate.fixedFirstTime == 1, "\(k.firstTimeFixRate)")
        #expect(abs((k.firstTimeFixRate.value ?? 0) - 1.0 / 3) < 1e-9 && k.firstTimeFixRate.notFixedReasons == ["missing_part": 1])
        #expect(k.remoteResolutionRate == 0.25, "D of the four resolved tickets A–D")
        #expect(abs((k.visitsPerTicket ?? 0) - 4.0 / 3) < 1e-9)
        let row = try #require(MonthlyReport.rows(k).first { $0.kpi == "First-time fix rate" })
        #expect(row.value == "33.3 % (1 of 3 tickets with a visit); not fixed: missing_part 1" && row.status == "missed" && row.target == "≥ 85 %", "\(row)")
    }

    /// Two forecast tickets repaired: one before its predicted crossing, one after.
    @Test func predictiveLeadCountsRepairsBeforeThePredictedCrossing() throws {
        let ops = try setUp()
        func forecastTicket(_ device: DeviceID, _ site: SiteID, crossingIn hours: Int64, at: Timestamp) throws -> Ticket {
            var a = detection(device, site: site, fault: "BEARING_OVERTEMP", at: at)
            a.detector = "trend-forecast"
            a.forecast = LimitForecast(limit: 95, crossingAt: at + .seconds(hours * 3600), earliest: at + .seconds(hours * 2700), latest: at + .seconds(hours * 4500),
                                       slopePerHour: 2, level: 80, fittedAt: at, windowStart: at - .seconds(6 * 3600), points: 48)
            let t = try open(ops.workflow, a)
            for (i, step) in [TicketAction.acknowledge, .contact, .dispatch].enumerated() {
                try ops.workflow.perform(step, ticketID: t.id, actor: "eng.chen", at: at + .seconds(Int64(60 * (i + 1))))
            }
            return t
        }
        let early = try forecastTicket("pump-1", "site-std", crossingIn: 10, at: Self.t0)
        let late = try forecastTicket("chiller-9", "site-vip", crossingIn: 2, at: Self.t0)
        for (t, site) in [(early, Self.stdSite), (late, Self.vipSite)] {
            let v = try ops.startVisit(ticketID: t.id, engineer: "eng.chen", position: site, at: Self.t0 + .seconds(3600))
            _ = try ops.finishVisit(v.id, outcome: .fixed, reason: nil, work: "bearing", labourHours: 2, parts: nil, at: Self.t0 + .seconds(4 * 3600))
        }
        let period = MonthlyReport.period("2026-11", timeZone: TimeZone(identifier: shanghai)!)!
        let k = ServiceKPIs.compute(try ops.workflow.store.kpiRecords(from: period.from, to: period.to), from: period.from, to: period.to, now: Self.t0 + .seconds(86_400))
        #expect(k.predictiveLead.tickets == 2 && k.predictiveLead.repairedBeforeCrossing == 1 && k.predictiveLead.share == 0.5, "\(k.predictiveLead)")
        #expect(k.predictiveLead.medianLeadMinutes == 240)
        let row = try #require(MonthlyReport.rows(k).first { $0.kpi == "Predictive lead time achieved" })
        #expect(row.value == "50.0 % of 2 forecast ticket(s) repaired before the predicted crossing; median 4.0 h from forecast to repair", "\(row)")
    }

    /// A device in warranty, one under a labour contract, one billable.
    @Test func costsAreDecidedWarrantyContractOrBillable() throws {
        let ops = try setUp()
        let inventory = Inventory(sites: ops.inventory.sites, devices: [
            Device(id: "pump-1", site: "site-std", profileID: "pump", warrantyUntil: "2026-11-30"),
            Device(id: "chiller-9", site: "site-vip", profileID: "chiller", contract: ServiceContract(id: "SC-14", covers: .labour)),
        ], sourceFile: "inventory.yaml")
        let a = try dispatched(ops, "pump-1", "site-std", "BEARING_OVERTEMP", at: Self.t0)
        let b = try dispatched(ops, "chiller-9", "site-vip", "COMPRESSOR_OVERLOAD", at: Self.t0)
        for (t, site) in [(a, Self.stdSite), (b, Self.vipSite)] {
            let v = try ops.startVisit(ticketID: t.id, engineer: "eng.chen", position: site, at: Self.t0 + .seconds(3600))
            _ = try ops.finishVisit(v.id, outcome: .fixed, reason: nil, work: "repair", labourHours: 2, parts: "SKF-6309-2Z:1", at: Self.t0 + .seconds(3 * 3600))
        }
        let period = MonthlyReport.period("2026-11", timeZone: TimeZone(identifier: shanghai)!)!
        let report = CostReport.compute(month: "2026-11", records: try ops.workflow.store.kpiRecords(from: period.from, to: period.to), inventory: inventory,
                                        rates: ["eng.chen": 150], partCost: { $0 == "SKF-6309-2Z" ? 86.5 : nil })
        let labour = report.lines.filter { $0.kind == "labour" }
        #expect(labour.map(\.decision) == ["warranty", "contract"] && labour.map(\.amount) == [300, 300] && labour.last?.contract == "SC-14")
        #expect(report.lines.filter { $0.kind == "parts" }.map(\.decision) == ["warranty", "billable"], "the contract covers labour only")
        #expect(report.totals.warranty == 386.5 && report.totals.contract == 300 && report.totals.billable == 86.5 && report.totals.labour_hours == 4)
        #expect(report.by_customer.map(\.key).sorted() == ["Acme Build", "Harbour Tower"])
        let unpriced = CostReport.compute(month: "2026-11", records: try ops.workflow.store.kpiRecords(from: period.from, to: period.to), inventory: inventory,
                                          rates: ["eng.chen": 150])
        #expect(unpriced.totals.unpriced_lines == 2, "parts without a catalogue price are counted, never priced at zero")
    }
}

