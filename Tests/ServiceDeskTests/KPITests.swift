import FieldwatchCore
import FieldwatchTesting
import Foundation
import Testing
@testable import ServiceDesk
@testable import Storage

@Suite("KPIs from the desk's records")
struct KPITests {
    @Test func distributionsUseNearestRankPercentiles() throws {
        let d = try #require(ServiceKPIs.Distribution([10, 20, 30, 40, 50, 60, 70, 80, 90, 100]))
        #expect(d.count == 10 && d.mean == 55 && d.median == 55 && d.p90 == 90)
        #expect(ServiceKPIs.Distribution([]) == nil, "no data is not zero")
    }

    @Test func aMonthOfTicketsGivesResponseRepairComplianceFalseAlarmsAndRanking() throws {
        let w = try makeWorkflow()
        let day = local("2026-11-24 09:00", shanghai)
        func at(_ minutes: Int64) -> Timestamp { day.adding(milliseconds: minutes * 60_000) }
        // Three urgent tickets (critical, round the clock: first contact 2 h, on site 24 h).
        var ids: [Int64] = []
        for (i, device) in ["pump-1", "pump-v", "chiller-9"].enumerated() {
            let site: SiteID = device == "pump-1" ? "site-std" : "site-vip"
            ids.append(try open(w, detection(DeviceID(device), site: site, fault: FaultCode("F\(i)"), severity: .critical, at: at(Int64(i)))).id)
        }
        // #1: li.wei, contact after 30 min, on site after 3 h, resolved after 5 h (urgent: the repair is approved first).
        try w.perform(.acknowledge, ticketID: ids[0], actor: "li.wei", at: at(10))
        try w.perform(.contact, ticketID: ids[0], actor: "li.wei", at: at(30))
        try w.perform(.dispatch, ticketID: ids[0], actor: "li.wei", at: at(40))
        try w.perform(.arrive, ticketID: ids[0], actor: "li.wei", at: at(180))
        try w.propose(ticketID: ids[0], actor: "li.wei", diagnosis: "d", plannedWork: "w", parts: "", estimatedCost: 10, at: at(200))
        try w.decide(ticketID: ids[0], approve: true, actor: "sup.liu", note: nil, at: at(210))
        try w.perform(.resolve, ticketID: ids[0], actor: "li.wei", at: at(300))
        // #2: zhao, contact after 150 min: the VIP 1 h target is missed.
        try w.perform(.acknowledge, ticketID: ids[1], actor: "zhao", at: at(20))
        try w.perform(.contact, ticketID: ids[1], actor: "zhao", at: at(151))
        // #3: a false alarm.
        try w.perform(.cancel, ticketID: ids[2], actor: "sup.liu", reason: "sensor cable loose, not the chiller", at: at(40))

        let records = try w.store.kpiRecords(from: local("2026-11-01 00:00", shanghai), to: local("2026-12-01 00:00", shanghai))
        let k = ServiceKPIs.compute(records, from: local("2026-11-01 00:00", shanghai), to: local("2026-12-01 00:00", shanghai), now: at(600))
        #expect(k.tickets == 3 && k.resolved == 1)
        #expect(k.firstContact?.count == 2 && k.firstContact?.mean == 90)
        #expect(k.timeToSite?.median == 180 && k.mttrTicket?.median == 300 && k.mttrRepair?.median == 120)
        let urgent = try #require(k.slaCompliance.first { $0.grade == "urgent" })
        // Decided: #1's three clocks (met in time); #2's first contact (late) and, at +600 min, its VIP on-site
        // clock (12 h) still running; #3 cancelled (stopped, not decided).
        #expect(urgent.met == 3 && urgent.decided == 4)
        #expect(k.falseAlarmsByDetector == [.init(key: "threshold@1", predictive: 3, cancelled: 1)])
        #expect(k.engineers.map(\.name) == ["li.wei", "zhao"])
        #expect(k.engineers.first?.slaCompliance == 1)
        #expect(k.firstTimeFixRate.value == nil && k.firstTimeFixRate.tickets == 0 && k.csatMean == nil && k.mtbfHours.isEmpty, "not available is not zero")
        // Failing components come from the profiles' fault catalogues.
        let withParts = ServiceKPIs.compute(records, from: k.from, to: k.to, now: at(600), component: { _, fault in fault == "F2" ? nil : "bearing" })
        #expect(withParts.topComponents == [.init(key: "pump · bearing", count: 2)])
        // MTBF on operating hours: the hours the counters advanced over the failures of those devices.
        let hours = [OperatingHoursRow(device: "pump-1", site: "site-std", profile: "pump", hours: 400),
                     OperatingHoursRow(device: "pump-v", site: "site-vip", profile: "pump", hours: 200),
                     OperatingHoursRow(device: "chiller-9", site: "site-vip", profile: "chiller", hours: 300)]
        let mtbf = ServiceKPIs.compute(records, from: k.from, to: k.to, now: at(600), operatingHours: hours).mtbfHours
        #expect(mtbf.first { $0.model == "pump" && $0.fault == nil } == .init(model: "pump", fault: nil, devices: 2, operatingHours: 600, failures: 2, hours: 300))
        #expect(mtbf.filter { $0.model == "pump" && $0.fault != nil }.map(\.hours) == [600, 600], "one failure each of F0 and F1")
        #expect(mtbf.first { $0.model == "chiller" } == .init(model: "chiller", fault: nil, devices: 1, operatingHours: 300, failures: 0, hours: nil),
                "a false alarm is not a failure; no failure is not zero hours")
        let rows = MonthlyReport.rows(ServiceKPIs.compute(records, from: k.from, to: k.to, now: at(600), operatingHours: hours))
        #expect(rows.contains { $0.kpi == "MTBF (operating hours), pump" && $0.value.hasPrefix("300 h (2 failure(s) in 600 h run by 2 device(s))") })
        #expect(rows.contains { $0.kpi == "MTBF (operating hours), chiller" && $0.value == "no failure in 300 h run by 1 device(s)" })
        #expect(MonthlyReport.rows(k).contains { $0.kpi == "MTBF (operating hours)" && $0.status == "not available" })
    }
}

@Suite("Ratings and complaints")
struct RatingTests {
    @Test func aLowRatingOpensOneLinkedComplaintAndTheKPIsCountBoth() throws {
        let w = try makeWorkflow()
        let t0 = local("2026-11-24 09:00", shanghai)
        func at(_ minutes: Int64) -> Timestamp { t0.adding(milliseconds: minutes * 60_000) }
        let t = try open(w, detection(severity: .warning, at: t0))
        #expect(throws: ServiceDeskError.self) { _ = try w.rate(ticketID: t.id, score: 5, comment: "", actor: "customer:wang", at: at(1)) }
        for (a, m) in [(TicketAction.acknowledge, 5), (.contact, 10)] { try w.perform(a, ticketID: t.id, actor: "li.wei", at: at(Int64(m))) }
        try w.perform(.resolve, ticketID: t.id, actor: "li.wei", reason: "reset by phone", at: at(20))
        #expect(throws: ServiceDeskError.self) { _ = try w.rate(ticketID: t.id, score: 6, comment: "", actor: "customer:wang", at: at(30)) }
        let (_, complaint) = try w.rate(ticketID: t.id, score: 2, comment: "it failed again the next day", actor: "customer:wang", at: at(30))
        let c = try #require(complaint)
        #expect(c.complaintOf == t.id && c.faultCode == "COMPLAINT" && c.title.contains("it failed again"))
        // A second low rating goes to the same open complaint.
        let (_, again) = try w.rate(ticketID: t.id, score: 1, comment: "still bad", actor: "customer:wang", at: at(40))
        #expect(again?.id == c.id)
        #expect(try w.store.outbox().filter { $0.kind == "complaint.opened" }.count == 1)
        let k = ServiceKPIs.compute(try w.store.kpiRecords(from: at(-60), to: at(600)), from: at(-60), to: at(600), now: at(600))
        #expect(k.csatMean == 1 && k.csatResponseRate == 1, "the latest rating counts")
        #expect(k.complaints == 1 && k.complaintClosure == 0)
        let rows = MonthlyReport.rows(k)
        #expect(rows.first { $0.kpi == "Customer satisfaction (CSAT)" }?.status == "missed")
        #expect(rows.first { $0.kpi == "Complaint closure" }?.value == "0.0 % of 1 complaint(s)")
    }
}
