import FieldwatchCore
import FieldwatchTesting
import Foundation
import GRDB
import Synchronization
import Testing
@testable import ServiceDesk
@testable import Storage

@Suite("Steps logged after the fact")
struct LateLoggingTests {
    static let t0 = local("2026-11-24 09:00", shanghai)
    static func at(_ minutes: Int64) -> Timestamp { t0.adding(milliseconds: minutes * 60_000) }

    /// A server clock the test moves.
    final class Clock: Sendable {
        let now = Mutex(LateLoggingTests.t0)
        func set(_ minutes: Int64) { now.withLock { $0 = LateLoggingTests.at(minutes) } }
        var read: @Sendable () -> Timestamp { { self.now.withLock { $0 } } }
    }

    @Test func aStepCannotBeDatedBeforeThePreviousOne() throws {
        let clock = Clock()
        let w = try makeWorkflow(clock: clock.read)
        let id = try open(w, detection(severity: .critical, at: Self.t0)).id
        clock.set(40)
        try w.perform(.acknowledge, ticketID: id, actor: "li.wei", at: Self.at(10))
        try w.perform(.contact, ticketID: id, actor: "li.wei", at: Self.at(30))
        try w.perform(.dispatch, ticketID: id, actor: "li.wei", at: Self.at(35))
        // Arrive "a minute after opening", after the dispatch at +35: the SLA would read "within target".
        #expect(throws: ServiceDeskError.self) { try w.perform(.arrive, ticketID: id, actor: "li.wei", at: Self.at(1)) }
        do {
            try w.perform(.arrive, ticketID: id, actor: "li.wei", at: Self.at(34))
            Issue.record("a step before the previous one was accepted")
        } catch {
            #expect(error.message.contains("before ticket #\(id)'s previous step (dispatch at"), "\(error.message)")
        }
        // The same time as the previous step, and later, are fine.
        try w.perform(.arrive, ticketID: id, actor: "li.wei", at: Self.at(35))
        #expect(try w.store.ticket(id: id)?.status == .onSite)
    }

    @Test func aStepLoggedLongAfterItsTimeIsMarkedAndCountedAndBothTimesAreInTheHash() throws {
        let clock = Clock()
        let w = try makeWorkflow(clock: clock.read)
        let id = try open(w, detection(severity: .critical, at: Self.t0)).id
        clock.set(12)
        try w.perform(.acknowledge, ticketID: id, actor: "li.wei", at: Self.at(10))
        // Contact made at +30, typed in at +200: 2 h 50 min after the fact (the policy allows 30 min).
        clock.set(200)
        try w.perform(.contact, ticketID: id, actor: "li.wei", at: Self.at(30))

        let timeline = try w.store.auditRecords(ticketID: id)
        func facts(_ r: AuditRecord) throws -> [String: String] { try JSONDecoder().decode([String: String].self, from: Data(r.detail.utf8)) }
        let ack = try #require(timeline.first { $0.action == "ticket.acknowledge" })
        let contact = try #require(timeline.first { $0.action == "ticket.contact" })
        #expect(try facts(ack)["received_at"] == Self.at(12).rfc3339 && facts(ack)["late_logged"] == nil, "two minutes late is not late-logged")
        #expect(try facts(contact)["received_at"] == Self.at(200).rfc3339)
        #expect(try facts(contact)["late_logged"] == "logged 2h50m after the fact")
        #expect(contact.at == Self.at(30), "the claimed time is the step's time")

        let period = (from: Self.at(-60), to: Self.at(600))
        let k = ServiceKPIs.compute(try w.store.kpiRecords(from: period.from, to: period.to), from: period.from, to: period.to, now: Self.at(600))
        #expect(k.lateLoggedSteps == 1 && k.engineers.first { $0.name == "li.wei" }?.lateLoggedSteps == 1)
        #expect(MonthlyReport.rows(k).contains { $0.kpi == "Steps logged late" && $0.value == "1 (li.wei 1)" })

        // The receipt time is covered by the hash: editing it breaks the chain at that record.
        #expect(try w.store.verifyAuditChain().problem == nil)
        try w.store.writeSync { tx in
            try tx.db.execute(sql: "DROP TRIGGER IF EXISTS audit_record_no_update")
            try tx.db.execute(sql: "UPDATE audit_record SET detail = replace(detail, ?, ?) WHERE action = 'ticket.contact'",
                              arguments: [Self.at(200).rfc3339, Self.at(31).rfc3339])
        }
        #expect(try w.store.verifyAuditChain().problem?.recordID == contact.id)
    }

    @Test func thePolicySetsTheDelayAndRefusesANonsenseOne() throws {
        let policy = try ServicePolicy.parse(ServicePolicy.defaultYAML.replacingOccurrences(of: "late_logged_after: 30m", with: "late_logged_after: 4h"), file: "p.yaml")
        #expect(policy.lateLoggedAfter == .seconds(4 * 3600))
        #expect(ServicePolicy.default.lateLoggedAfter == .seconds(1800))
        #expect(throws: (any Error).self) {
            try ServicePolicy.parse(ServicePolicy.defaultYAML.replacingOccurrences(of: "late_logged_after: 30m", with: "late_logged_after: 5s"), file: "p.yaml")
        }
    }
}
