import FieldwatchCore
import FieldwatchTesting
import Foundation
import Profiles
import Testing
@testable import ServiceDesk
@testable import Storage

@Suite("Spare parts: catalogue, stock, movements, priced costs")
struct PartsTests {
    static let file = """
        parts:
          - {part: SKF-6309-2Z, name: Bearing 6309-2Z, unit_cost: 185, supplier: SKF, lead_time: 5d, safety_stock: 4}
          - {part: GREASE-LGHP2-0.4KG, name: Grease, unit_cost: 138, lead_time: 3d}
        stock:
          - {location: wh-sz, kind: warehouse, part: SKF-6309-2Z, quantity: 6}
          - {location: sp-nanshan, kind: service_point, part: SKF-6309-2Z, quantity: 2}
          - {location: eng.chen, kind: van, part: SKF-6309-2Z, quantity: 1}
          - {location: wh-sz, kind: warehouse, part: GREASE-LGHP2-0.4KG, quantity: 0}
        """

    @Test func badFilesAreNamedByLineAndMissingFaultPartsAreListed() throws {
        let pump = try ProfileLoader.parse(Fixtures.pumpProfile.replacingOccurrences(
            of: "    skills: [mechanical]\n", with: "    skills: [mechanical]\n    parts:\n      - {part: SEAL-KIT-9, quantity: 1}\n"), file: "pump.yaml")
        do {
            _ = try PartsFile.parse(Self.file + "\n  - {location: wh-sz, kind: warehouse, part: SKF-6309-22, quantity: -1}\n", file: "parts.yaml",
                                    profiles: ["test-pump": pump])
            Issue.record("a bad parts file was accepted")
        } catch {
            let text = error.description
            #expect(text.contains("parts.yaml:9:") && text.contains("SKF-6309-22 is not in the catalogue (did you mean \"SKF-6309-2Z\"?)"), "\(text)")
            #expect(text.contains("missing from the catalogue but named by the profiles' fault catalogues: SEAL-KIT-9 (test-pump BEARING_OVERTEMP)"), "\(text)")
        }
    }

    @Test func importIsIdempotentAuditedAndNeverDeletes() throws {
        let w = try makeWorkflow()
        let store = SQLitePartsStore(w.store)
        let catalogue = try PartsFile.parse(Self.file, file: "parts.yaml")
        let first = try store.importCatalogue(catalogue, source: "parts.yaml", actor: "ops", at: .now())
        #expect(first.added == ["SKF-6309-2Z", "GREASE-LGHP2-0.4KG"] && first.counted.count == 4)
        #expect(try store.importCatalogue(catalogue, source: "parts.yaml", actor: "ops", at: .now()).isEmpty, "the same file again changes nothing")
        var fewer = catalogue
        fewer.parts.removeLast()
        fewer.stock.removeLast()
        fewer.parts[0].unitCost = 190
        let second = try store.importCatalogue(fewer, source: "parts.yaml", actor: "ops", at: .now())
        #expect(second.updated == ["SKF-6309-2Z"] && second.deactivated == ["GREASE-LGHP2-0.4KG"])
        #expect(try store.parts(includeInactive: true).count == 2 && store.parts(includeInactive: false).map(\.number) == ["SKF-6309-2Z"])
        #expect(try w.store.auditRecords().filter { $0.action.hasPrefix("part.") || $0.action.hasPrefix("stock.") }.count == 2 + 3 + 2)
        #expect(try w.store.verifyAuditChain().isIntact)
    }

    @Test func stockNeverGoesNegativeAndEveryMovementIsARecord() throws {
        let w = try makeWorkflow()
        let store = SQLitePartsStore(w.store)
        _ = try store.importCatalogue(try PartsFile.parse(Self.file, file: "parts.yaml"), source: "parts.yaml", actor: "ops", at: .now())
        do {
            _ = try store.record(StockMovement(at: .now(), kind: .move, part: "SKF-6309-2Z", quantity: 7, from: "wh-sz", to: "eng.li", actor: "ops"), kind: .van)
            Issue.record("moving more than is there was accepted")
        } catch let error as StockError {
            #expect(error.message == "SKF-6309-2Z at wh-sz: 6 on hand, 0 reserved, 6 available; cannot move 7")
        }
        _ = try store.record(StockMovement(at: .now(), kind: .move, part: "SKF-6309-2Z", quantity: 2, from: "wh-sz", to: "eng.li", actor: "ops"), kind: .van)
        _ = try store.record(StockMovement(at: .now(), kind: .receive, part: "GREASE-LGHP2-0.4KG", quantity: 5, to: "wh-sz", actor: "ops", reason: "PO-7"), kind: nil)
        #expect(throws: StockError.self) {
            try store.record(StockMovement(at: .now(), kind: .adjust, part: "SKF-6309-2Z", quantity: -3, to: "eng.li", actor: "ops", reason: "lost"), kind: nil)
        }
        #expect(throws: StockError.self) {
            try store.record(StockMovement(at: .now(), kind: .adjust, part: "SKF-6309-2Z", quantity: -1, to: "eng.li", actor: "ops"), kind: nil)
        }
        #expect(throws: StockError.self) { try store.record(StockMovement(at: .now(), kind: .receive, part: "NOPE-1", quantity: 1, to: "wh-sz", actor: "ops"), kind: nil) }
        let levels = Dictionary(try store.stock().map { ("\($0.part)@\($0.location)", $0.onHand) }, uniquingKeysWith: { a, _ in a })
        #expect(levels["SKF-6309-2Z@wh-sz"] == 4 && levels["SKF-6309-2Z@eng.li"] == 2 && levels["GREASE-LGHP2-0.4KG@wh-sz"] == 5)
        // Status: company-wide 9 bearings available against a safety stock of 4; no grease warning (safety stock 0).
        let status = PartsStatus.compute(parts: try store.parts(includeInactive: false), stock: try store.stock())
        #expect(status.allSatisfy { $0.warnings.isEmpty } && status.first { $0.location == "eng.li" }?.available == 2)
    }

    @Test func aFinishedVisitConsumesFromTheVanFirstAndThePartsArePricedInTheCosts() throws {
        let w = try makeWorkflow()
        let site = GeoPoint(latitude: 22.5329, longitude: 113.9305)
        let inventory = Inventory(sites: [Site(id: "site-std", name: "Pump station", customer: "Acme Build", latitude: site.latitude, longitude: site.longitude,
                                               timeZone: shanghai)],
                                  devices: [Device(id: "pump-1", site: "site-std", profileID: "pump")], sourceFile: "inventory.yaml")
        let ops = FieldOperations(workflow: w, team: SQLiteFieldTeamStore(w.store), inventory: inventory, profiles: [:])
        var chen = engineer("eng.chen", at: 5, skills: [])
        chen.servicePoint = "sp-nanshan"
        _ = try ops.importTeam(FieldTeam(engineers: [chen], servicePoints: [ServicePoint(id: "sp-nanshan", name: "Nanshan", position: site, radiusKilometres: 50)],
                                         partners: []), source: "team.yaml", actor: "ops", at: .now() - .seconds(86_400))
        let parts = SQLitePartsStore(w.store)
        _ = try parts.importCatalogue(try PartsFile.parse(Self.file, file: "parts.yaml"), source: "parts.yaml", actor: "ops", at: .now() - .seconds(86_400))
        let start = Timestamp.now() - .seconds(7200)
        let t = try open(w, detection("pump-1", site: "site-std", fault: "BEARING_OVERTEMP", at: start))
        for (i, step) in [TicketAction.acknowledge, .contact, .dispatch].enumerated() {
            try w.perform(step, ticketID: t.id, actor: "eng.chen", at: start + .seconds(Int64(60 * (i + 1))))
        }
        let visit = try ops.startVisit(ticketID: t.id, engineer: "eng.chen", position: site, at: start + .seconds(600))
        // Four bearings: one from the van, two from the service point, one from the warehouse; a grease nobody holds.
        _ = try ops.finishVisit(visit.id, outcome: .fixed, reason: nil, work: "replaced both bearings twice over", labourHours: 2,
                                parts: "SKF-6309-2Z:4,GREASE-LGHP2-0.4KG:1", at: start + .seconds(3600))
        let levels = Dictionary(try parts.stock().map { ("\($0.part)@\($0.location)", $0.onHand) }, uniquingKeysWith: { a, _ in a })
        #expect(levels["SKF-6309-2Z@eng.chen"] == 0 && levels["SKF-6309-2Z@sp-nanshan"] == 0 && levels["SKF-6309-2Z@wh-sz"] == 5)
        let used = try parts.movements(part: nil).filter { $0.kind == .consume }
        #expect(used.map(\.from) == ["eng.chen", "sp-nanshan", "wh-sz", nil] && used.map(\.quantity) == [1, 2, 1, 1])
        #expect(used.allSatisfy { $0.ticketID == t.id && $0.visitID == visit.id })
        let finished = try #require(try w.store.auditRecords(ticketID: t.id).first { $0.action == "visit.finished" })
        #expect(finished.detail.contains("used but in no location's stock: GREASE-LGHP2-0.4KG ×1; count the stock"))
        // Costs: the parts are priced at the catalogue's unit cost.
        let month = String(start.rfc3339.prefix(7))
        let period = try #require(MonthlyReport.period(month, timeZone: TimeZone(identifier: "UTC")!))
        let report = try CostReport.load(month: month, from: period.from, to: period.to, store: w.store, inventory: inventory)
        let bearing = try #require(report.lines.first { $0.item == "SKF-6309-2Z" })
        #expect(bearing.unit_cost == 185 && bearing.amount == 740 && report.totals.unpriced_lines == 0)
        #expect(report.totals.billable == 740 + 138 + 2 * 150, "parts and two hours at 150, billable (no warranty, no contract)")
        let html = MonthlyReport.html(ServiceKPIs.compute(try w.store.kpiRecords(from: period.from, to: period.to), from: period.from, to: period.to, now: .now()),
                                      month: month, timeZone: "UTC", generatedAt: .now(), costs: report)
        #expect(html.contains("id=\"cost-totals\"") && html.contains("billable 1,178.00") && html.contains("id=\"costs-by-customer\""))
    }
}

@Suite("Spare parts follow the ticket: reserved on assignment, released on cancel, used on the visit")
struct PartsReservationTests {
    static let site = GeoPoint(latitude: 22.5329, longitude: 113.9305)

    func setUp() throws -> (FieldOperations, SQLitePartsStore) {
        let w = try makeWorkflow()
        let profile = try ProfileLoader.parse(Fixtures.pumpProfile.replacingOccurrences(
            of: "    skills: [mechanical]\n", with: "    skills: [mechanical]\n    parts:\n      - {part: SKF-6309-2Z, quantity: 2}\n"), file: "pump.yaml")
        let inventory = Inventory(sites: [Site(id: "site-std", name: "Pump station", customer: "Acme Build", latitude: Self.site.latitude,
                                               longitude: Self.site.longitude, timeZone: shanghai),
                                          Site(id: "site-vip", name: "Harbour Tower", customer: "Harbour Tower", latitude: Self.site.latitude,
                                               longitude: Self.site.longitude, timeZone: shanghai, tier: .vip)],
                                  devices: [Device(id: "pump-1", site: "site-std", profileID: "test-pump"), Device(id: "pump-2", site: "site-std", profileID: "test-pump"),
                                            Device(id: "pump-3", site: "site-std", profileID: "test-pump"), Device(id: "pump-v", site: "site-vip", profileID: "test-pump")],
                                  sourceFile: "inventory.yaml")
        let ops = FieldOperations(workflow: w, team: SQLiteFieldTeamStore(w.store), inventory: inventory, profiles: ["test-pump": profile])
        var chen = engineer("eng.chen", at: 5)
        chen.servicePoint = "sp-nanshan"
        _ = try ops.importTeam(FieldTeam(engineers: [chen, engineer("eng.li", at: 9)],
                                         servicePoints: [ServicePoint(id: "sp-nanshan", name: "Nanshan", position: Self.site, radiusKilometres: 50)],
                                         partners: []), source: "team.yaml", actor: "ops", at: .now() - .seconds(86_400))
        let parts = SQLitePartsStore(w.store)
        _ = try parts.importCatalogue(try PartsFile.parse(PartsTests.file, file: "parts.yaml"), source: "parts.yaml", actor: "ops", at: .now() - .seconds(86_400))
        return (ops, parts)
    }

    func ticket(_ ops: FieldOperations, _ device: DeviceID, at: Timestamp, severity: Severity = .critical, crossingIn days: Double? = nil,
                site: SiteID = "site-std") throws -> Ticket {
        var a = detection(device, site: site, fault: "BEARING_OVERTEMP", severity: severity, at: at)
        a.profileID = "test-pump"
        if let days {
            let ahead = Duration.seconds(Int64(days * 86_400))
            a.detector = "trend-forecast"
            a.forecast = LimitForecast(limit: 95, crossingAt: at + ahead, earliest: at + ahead * 0.8, latest: at + ahead * 1.25, slopePerHour: 0.2,
                                       level: 70, fittedAt: at, windowStart: at - .seconds(6 * 3600), points: 48)
        }
        return try open(ops.workflow, a)
    }

    func levels(_ parts: SQLitePartsStore) throws -> [String: String] {
        Dictionary(try parts.stock().filter { $0.part == "SKF-6309-2Z" }.map { ($0.location, "\($0.onHand)/\($0.reserved)") }, uniquingKeysWith: { a, _ in a })
    }

    @Test func assignmentReservesTheNearestReassignmentMovesItCancelReleasesIt() throws {
        let (ops, parts) = try setUp()
        let start = Timestamp.now() - .seconds(3600)
        let t = try ticket(ops, "pump-1", at: start)
        // Two bearings for eng.chen: one from the van, one from the service point (on hand / reserved).
        _ = try ops.assign(ticketID: t.id, engineer: "eng.chen", by: "dispatch.zhao", reason: nil, at: start + .seconds(60))
        #expect(try levels(parts) == ["eng.chen": "1/1", "sp-nanshan": "2/1", "wh-sz": "6/0"])
        let van = try #require(PartsStatus.compute(parts: try parts.parts(includeInactive: false), stock: try parts.stock())
            .first { $0.location == "eng.chen" && $0.part == "SKF-6309-2Z" })
        #expect(van.available == 0 && van.warnings == ["all 1 reserved for assigned tickets"], "\(van.warnings)")
        let assigned = try #require(try ops.workflow.store.auditRecords(ticketID: t.id).first { $0.action == "ticket.assigned" })
        #expect(assigned.detail.contains("SKF-6309-2Z ×1 at eng.chen, SKF-6309-2Z ×1 at sp-nanshan"))
        // Reassigned to eng.li (no van, no service point): released, and taken from the warehouse.
        _ = try ops.assign(ticketID: t.id, engineer: "eng.li", by: "dispatch.zhao", reason: "Chen is off sick", at: start + .seconds(120))
        #expect(try levels(parts) == ["eng.chen": "1/0", "sp-nanshan": "2/0", "wh-sz": "6/2"])
        // A second ticket cannot take what the first holds: 4 free in the warehouse are left.
        let other = try ticket(ops, "pump-2", at: start)
        _ = try ops.assign(ticketID: other.id, engineer: "eng.li", by: "dispatch.zhao", reason: nil, at: start + .seconds(180))
        #expect(try levels(parts) == ["eng.chen": "1/0", "sp-nanshan": "2/0", "wh-sz": "6/4"])
        #expect(throws: StockError.self) {
            try parts.record(StockMovement(at: .now(), kind: .move, part: "SKF-6309-2Z", quantity: 3, from: "wh-sz", to: "eng.chen", actor: "ops"), kind: nil)
        }
        try ops.workflow.perform(.cancel, ticketID: other.id, actor: "sup.liu", reason: "duplicate of #\(t.id)", at: start + .seconds(240))
        #expect(try levels(parts) == ["eng.chen": "1/0", "sp-nanshan": "2/0", "wh-sz": "6/2"])
        #expect(try ops.workflow.store.verifyAuditChain().isIntact)
    }

    @Test func theVisitUsesWhatWasReservedAndReleasesTheRest() throws {
        let (ops, parts) = try setUp()
        let start = Timestamp.now() - .seconds(7200)
        let t = try ticket(ops, "pump-1", at: start, severity: .warning)  // general: no approval needed before the repair
        _ = try ops.assign(ticketID: t.id, engineer: "eng.chen", by: "dispatch.zhao", reason: nil, at: start + .seconds(60))
        for (i, step) in [TicketAction.acknowledge, .contact, .dispatch].enumerated() {
            try ops.workflow.perform(step, ticketID: t.id, actor: "eng.chen", at: start + .seconds(Int64(120 + 60 * i)))
        }
        let visit = try ops.startVisit(ticketID: t.id, engineer: "eng.chen", position: Self.site, at: start + .seconds(900))
        // Only one bearing was needed: it comes out of the reservation, the other reserved one goes back.
        _ = try ops.finishVisit(visit.id, outcome: .fixed, reason: nil, work: "replaced the drive-end bearing", labourHours: 2,
                                parts: "SKF-6309-2Z:1", at: start + .seconds(3600))
        #expect(try levels(parts) == ["eng.chen": "0/0", "sp-nanshan": "2/0", "wh-sz": "6/0"])
        let kinds = try parts.movements(part: "SKF-6309-2Z").filter { $0.ticketID == t.id }.map { "\($0.kind.rawValue) \($0.from ?? "-") \($0.quantity)" }
        #expect(kinds == ["reserve eng.chen 1", "reserve sp-nanshan 1", "release eng.chen 1", "consume eng.chen 1", "release sp-nanshan 1"], "\(kinds)")
    }

    @Test func forecastsWithinTheLeadTimeRaiseTheReorderPointAndWarnBeforeStockRunsOut() throws {
        let (ops, parts) = try setUp()
        let now = Timestamp.now()
        // 9 bearings (6 + 2 + 1), safety stock 4, lead time 5 days; each fault needs 2.
        _ = try ticket(ops, "pump-1", at: now - .seconds(600))                                   // threshold: the fault is there
        _ = try ticket(ops, "pump-2", at: now - .seconds(600), severity: .warning, crossingIn: 3)  // forecast inside the lead time
        _ = try ticket(ops, "pump-3", at: now - .seconds(600), severity: .warning, crossingIn: 30) // beyond it: can be ordered later
        var forecast = try #require(try PartForecast.load(store: ops.workflow.store, profiles: ops.profiles, now: now).first { $0.part == "SKF-6309-2Z" })
        // A new detector counts as a coin toss: 2 × 0.5 + 2 × 0.5; the one crossing in 30 days not at all.
        #expect(forecast.predicted_demand == 2 && forecast.reorder_point == 6 && forecast.warning == nil && forecast.needs.count == 2)
        #expect(forecast.needs.contains { $0.why.contains("within the lead time") })
        // Stock taken down to 4: 4 − 2 expected < 4 safety stock: the warning fires now, while 4 are still there.
        _ = try parts.record(StockMovement(at: now, kind: .adjust, part: "SKF-6309-2Z", quantity: -5, to: "wh-sz", actor: "ops", reason: "stock-take"), kind: nil)
        _ = try ticket(ops, "pump-v", at: now - .seconds(600), site: "site-vip")
        forecast = try #require(try PartForecast.load(store: ops.workflow.store, profiles: ops.profiles, now: now).first { $0.part == "SKF-6309-2Z" })
        #expect(forecast.available == 4 && forecast.predicted_demand == 3 && forecast.order == 3)
        let warning = try #require(forecast.warning)
        #expect(warning.contains("4 available, 3.0 expected over the 5-day lead time, safety stock 4") && warning.contains("VIP: Harbour Tower"), "\(warning)")
        let orders = ReplenishOrder.compute([forecast], stock: try parts.stock())
        #expect(orders.count == 1 && orders[0].location == "wh-sz" && orders[0].quantity == 3 && orders[0].vip && orders[0].tickets.count == 3)
        // The notice goes out once a day through the outbox.
        #expect(try ops.workflow.noticeLowStock(profiles: ops.profiles, now: now).count == 1)
        #expect(try ops.workflow.noticeLowStock(profiles: ops.profiles, now: now).isEmpty)
        #expect(try ops.workflow.store.outbox().filter { $0.kind == "parts.low_stock" }.count == 1)
        // A ticket that holds its parts reserved no longer adds to the demand.
        let vip = try #require(try ops.workflow.store.tickets().first { $0.device == "pump-v" })
        _ = try ops.assign(ticketID: vip.id, engineer: "eng.chen", by: "dispatch.zhao", reason: nil, at: now)
        forecast = try #require(try PartForecast.load(store: ops.workflow.store, profiles: ops.profiles, now: now).first { $0.part == "SKF-6309-2Z" })
        #expect(forecast.available == 2 && forecast.predicted_demand == 2)
    }
}
