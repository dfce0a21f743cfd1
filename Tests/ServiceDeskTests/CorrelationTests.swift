import FieldwatchCore
import FieldwatchTesting
import Foundation
import Testing
@testable import ServiceDesk
@testable import Storage

/// Three devices at one site, for site-offline inhibition.
let siteDirectory = SiteDirectory(
    sites: ["site-x": .init(customer: "Metro Line 4", tier: .standard, timeZone: shanghai)],
    devices: ["lift-1": .init(site: "site-x", criticality: 4), "lift-2": .init(site: "site-x", criticality: 4),
              "chiller-1": .init(site: "site-x", criticality: 3)])

func symptom(_ device: DeviceID, _ fault: FaultCode, sensor: SensorKey = "motor_temp", transition: Anomaly.Transition = .raised,
             at: Timestamp, site: SiteID = "site-x") -> Anomaly {
    Anomaly(site: site, device: device, sensor: sensor, faultCode: fault, transition: transition, severity: .warning,
            detectedAt: at, conditionSince: at, value: 1, limit: 0, unit: "1", detector: fault.isLossOfContact ? "staleness" : "threshold",
            detectorVersion: 1, profileID: "lift", profileVersion: 1, summary: "\(fault) on \(device)", evidence: [])
}

@Suite("Grouping: symptoms of one device, a site that goes silent")
struct CorrelationTests {
    func workflow() throws -> TicketWorkflow {
        TicketWorkflow(store: try TicketStore(path: try makeTemporaryDirectory().appendingPathComponent("c.db").path),
                       rules: ServiceRules(policy: .default, directory: siteDirectory))
    }

    func apply(_ w: TicketWorkflow, _ a: Anomaly, batch: Set<DeviceID> = []) throws -> TicketDesk.Effect {
        try w.store.writeSync { tx in try TicketDesk.apply(a, in: tx, recordedAt: a.detectedAt, rules: w.rules, outOfContact: batch) }
    }

    @Test func symptomsOfOneDeviceWithinTheWindowJoinOneTicket() throws {
        let w = try workflow()
        let t0 = local("2026-11-24 09:00", shanghai)
        guard case let .opened(first) = try apply(w, symptom("lift-1", "MOTOR_OVERTEMP", at: t0)) else { Issue.record("expected a ticket"); return }
        // Vibration five minutes later on the same lift: the same ticket, as a symptom.
        guard case let .occurrenceAdded(joined, _) = try apply(w, symptom("lift-1", "VIBRATION_HIGH", sensor: "vibration", at: t0.adding(milliseconds: 300_000)))
        else { Issue.record("expected the symptom to join"); return }
        #expect(joined.id == first.id)
        // Again later: found through the symptom, even outside the window.
        guard case let .occurrenceAdded(again, _) = try apply(w, symptom("lift-1", "VIBRATION_HIGH", sensor: "vibration", at: t0.adding(milliseconds: 3_600_000)))
        else { Issue.record("expected an occurrence"); return }
        #expect(again.id == first.id)
        // A sensor-health fault never joins a machine ticket; another device's fault neither.
        guard case .opened = try apply(w, symptom("lift-1", .sensorStuck, at: t0.adding(milliseconds: 60_000))) else { Issue.record("stuck joined"); return }
        guard case .opened = try apply(w, symptom("lift-2", "MOTOR_OVERTEMP", at: t0.adding(milliseconds: 60_000))) else { Issue.record("other device joined"); return }
        // Long after the ticket's last activity, a new machine fault opens its own ticket.
        guard case .opened = try apply(w, symptom("lift-1", "BRAKE_WEAR", at: t0.adding(milliseconds: 3 * 3_600_000))) else { Issue.record("joined too late"); return }
        #expect(try w.store.tickets().count == 4)
        #expect(try w.store.writeSync { try $0.symptoms(ticketID: first.id) }.map(\.faultCode) == ["VIBRATION_HIGH"])
        #expect(try w.store.auditRecords(ticketID: first.id).map(\.action) == ["ticket.opened", "ticket.symptom_added", "ticket.occurrence"])
    }

    @Test func aWholeSiteGoingSilentBecomesOneSiteTicketAndFoldsTheUntakenDeviceTickets() throws {
        let w = try workflow()
        let t0 = local("2026-11-24 09:00", shanghai)
        guard case let .opened(a) = try apply(w, symptom("lift-1", .sensorStale, at: t0)) else { Issue.record("no ticket for lift-1"); return }
        guard case let .opened(b) = try apply(w, symptom("lift-2", .deviceOffline, sensor: "status", at: t0.adding(milliseconds: 10_000))) else {
            Issue.record("no ticket for lift-2"); return
        }
        try w.perform(.acknowledge, ticketID: b.id, actor: "li.wei", at: t0.adding(milliseconds: 20_000))
        // The last device goes quiet: the site is offline.
        guard case let .opened(site) = try apply(w, symptom("chiller-1", .sensorStale, at: t0.adding(milliseconds: 30_000))) else {
            Issue.record("expected the site ticket"); return
        }
        #expect(site.faultCode == .siteOffline && site.device.rawValue == "site-x" && site.grade == .urgent)
        #expect(try w.store.ticket(id: a.id)?.status == .cancelled)
        #expect(try w.store.ticket(id: a.id)?.cancelReason == "merged into site-offline ticket #\(site.id)")
        #expect(try w.store.ticket(id: b.id)?.status == .acknowledged, "a ticket someone owns is never folded away")
        // More staleness from the silent devices lands on the site ticket.
        guard case let .occurrenceAdded(more, _) = try apply(w, symptom("lift-1", .sensorStale, sensor: "load", at: t0.adding(milliseconds: 60_000))) else {
            Issue.record("expected an occurrence"); return
        }
        #expect(more.id == site.id)
        #expect(try w.store.tickets(openOnly: true).map(\.id).sorted() == [b.id, site.id].sorted())
    }

    @Test func aSiteSilentInOneBatchOpensOnlyTheSiteTicket() async throws {
        let store = try TicketStore(path: try makeTemporaryDirectory().appendingPathComponent("batch.db").path)
        let desk = TicketDesk(store: store, rules: ServiceRules(policy: .default, directory: siteDirectory))
        let t0 = local("2026-11-24 09:00", shanghai)
        for (i, d) in ["lift-1", "lift-2", "chiller-1"].enumerated() {
            for sensor in ["motor_temp", "load"] { desk.submit(symptom(DeviceID(d), .sensorStale, sensor: SensorKey(sensor), at: t0.adding(milliseconds: Int64(i)))) }
        }
        await desk.drain()
        let tickets = try store.tickets()
        #expect(tickets.map(\.faultCode) == [.siteOffline])
        #expect(tickets.first?.occurrences == 6)
        #expect(try store.outbox().count == 1, "one notification: the site is offline")
    }

    @Test func aSingleDeviceSiteNeverOpensASiteTicket() throws {
        let w = TicketWorkflow(store: try TicketStore(path: try makeTemporaryDirectory().appendingPathComponent("one.db").path),
                               rules: ServiceRules(policy: .default, directory: directory))
        guard case let .opened(t) = try w.store.writeSync({ tx in
            try TicketDesk.apply(symptom("pump-1", .deviceOffline, at: local("2026-11-24 09:00", shanghai), site: "site-std"), in: tx,
                                 recordedAt: local("2026-11-24 09:00", shanghai), rules: w.rules)
        }) else { Issue.record("expected a device ticket"); return }
        #expect(t.faultCode == .deviceOffline)
    }
}
