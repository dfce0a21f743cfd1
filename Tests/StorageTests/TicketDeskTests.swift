import FieldwatchCore
import FieldwatchTesting
import Foundation
import ServiceLifecycle
import Synchronization
import Testing
@testable import ServiceDesk
@testable import Storage
import GRDB

func anomaly(
    device: DeviceID = "pump-1", fault: FaultCode = "BEARING_OVERTEMP", transition: Anomaly.Transition = .raised,
    severity: Severity = .critical, at ms: Int64 = 1_764_240_000_000, value: Double = 97, evidence: Int = 3
) -> Anomaly {
    Anomaly(site: "site-a", device: device, sensor: "bearing_temp", faultCode: fault, transition: transition, severity: severity,
            detectedAt: Timestamp(milliseconds: ms), conditionSince: Timestamp(milliseconds: ms - 2000), value: value,
            limit: severity == .critical ? 95 : 80, unit: "Cel", detector: "threshold", detectorVersion: 1,
            profileID: "test-pump", profileVersion: 3, summary: "Bearing temperature \(value) Cel above \(severity) limit",
            evidence: (0..<evidence).map { Sample(timestamp: Timestamp(milliseconds: ms - Int64(evidence - $0) * 1000), value: Double($0)) })
}

func temporaryStore() throws -> TicketStore {
    try TicketStore(path: try makeTemporaryDirectory().appendingPathComponent("fieldwatch.db").path)
}

func apply(_ store: TicketStore, _ anomalies: [Anomaly]) throws -> [TicketDesk.Effect] {
    try store.writeSync { tx in try anomalies.map { try TicketDesk.apply($0, in: tx, recordedAt: Timestamp(milliseconds: 1_764_240_100_000)) } }
}

@Suite("Tickets in SQLite")
struct TicketStoreTests {
    @Test func aDetectionOpensOnePredictiveTicketWithEvidenceAndAudit() throws {
        let store = try temporaryStore()
        let effects = try apply(store, [anomaly()])
        guard case let .opened(ticket) = effects.first else { Issue.record("expected opened, got \(effects)"); return }
        let tickets = try store.tickets()
        #expect(tickets == [ticket])
        #expect(ticket.source == .predictive && ticket.grade == .urgent && ticket.status == .new && ticket.occurrences == 1)
        #expect(ticket.profileID == "test-pump" && ticket.profileVersion == 3 && ticket.detector == "threshold" && ticket.detectorVersion == 1)
        let detections = try store.detections(ticketID: ticket.id)
        #expect(detections.count == 1)
        #expect(detections[0].evidence.map(\.value) == [0, 1, 2])
        let audit = try store.auditRecords(ticketID: ticket.id)
        #expect(audit.map(\.action) == ["ticket.opened"])
        #expect(audit[0].actor == "detector:threshold@1")
        #expect(audit[0].detail.contains("\"fault_code\":\"BEARING_OVERTEMP\""))
    }

    /// A device whose clock was reset (or telemetry buffered for hours and sent late) must not
    /// open a ticket dated in the past, already breached: tickets open at the gateway's time, and
    /// the device's time stays with the detection as evidence.
    @Test func aTicketOpensAtTheGatewaysTimeWhateverTheDeviceClockSays() throws {
        let store = try temporaryStore()
        let year2000: Int64 = 946_684_800_000
        let effects = try apply(store, [anomaly(at: year2000)])
        guard case let .opened(ticket) = effects.first else { Issue.record("expected opened, got \(effects)"); return }
        #expect(ticket.openedAt == Timestamp(milliseconds: 1_764_240_100_000))
        #expect(try store.detections(ticketID: ticket.id).map(\.detectedAt) == [Timestamp(milliseconds: year2000)])
        let clocks = try store.clocks(ticketID: ticket.id)
        #expect(!clocks.isEmpty && clocks.allSatisfy { $0.startedAt == ticket.openedAt && !$0.isBreached(at: ticket.openedAt) })
    }

    @Test func warningIsGeneralAndCriticalRaisesTheGradeOnTheSameTicket() throws {
        let store = try temporaryStore()
        _ = try apply(store, [anomaly(severity: .warning, value: 85)])
        #expect(try store.tickets().map(\.grade) == [.general])
        let effects = try apply(store, [anomaly(severity: .critical, at: 1_764_240_010_000)])
        guard case let .occurrenceAdded(t, raised) = effects.first else { Issue.record("\(effects)"); return }
        #expect(raised && t.grade == .urgent && t.occurrences == 2)
        let stored = try store.tickets()
        #expect(stored.count == 1 && stored[0].grade == .urgent && stored[0].occurrences == 2)
        #expect(try store.auditRecords(ticketID: t.id).map(\.action) == ["ticket.opened", "ticket.occurrence", "ticket.grade_raised"])
    }

    @Test func repeatedDetectionsAddOccurrencesNotTickets() throws {
        let store = try temporaryStore()
        _ = try apply(store, (0..<5).map { anomaly(at: 1_764_240_000_000 + Int64($0) * 60_000) })
        _ = try apply(store, [anomaly(device: "pump-2")])
        let tickets = try store.tickets()
        #expect(tickets.count == 2)
        #expect(tickets.first { $0.device == "pump-1" }?.occurrences == 5)
        #expect(try store.detections(ticketID: tickets.first { $0.device == "pump-1" }!.id).count == 5)
    }

    @Test func recoveryIsRecordedButNeverClosesTheTicket() throws {
        let store = try temporaryStore()
        _ = try apply(store, [anomaly()])
        let effects = try apply(store, [anomaly(transition: .cleared, value: 70), anomaly(device: "pump-9", transition: .cleared)])
        #expect(effects.last == .ignored)
        let t = try #require(try store.tickets().first)
        #expect(t.status == .new && t.occurrences == 1)
        #expect(try store.auditRecords(ticketID: t.id).map(\.action) == ["ticket.opened", "detector.recovered"])
    }

    @Test func thePartialUniqueIndexAllowsOnlyOneOpenTicketPerDeviceAndFault() throws {
        let store = try temporaryStore()
        let new = NewTicket(site: "site-a", device: "pump-1", sensor: nil, faultCode: "X", source: .manual, grade: .minor,
                            title: "t", openedAt: Timestamp(milliseconds: 1))
        _ = try store.writeSync { try $0.insertTicket(new) }
        #expect(throws: StorageError.self) { _ = try store.writeSync { try $0.insertTicket(new) } }
        // Once closed, a new ticket for the same fault may open.
        try store.writeSync { tx in try tx.db.execute(sql: "UPDATE ticket SET status = 'closed'") }
        _ = try store.writeSync { try $0.insertTicket(new) }
        #expect(try store.tickets().count == 2)
        #expect(try store.tickets(openOnly: true).count == 1)
    }

    @Test func auditRecordsAreAppendOnly() throws {
        let store = try temporaryStore()
        _ = try apply(store, [anomaly()])
        #expect(throws: StorageError.self) { try store.writeSync { tx in try tx.db.execute(sql: "UPDATE audit_record SET actor = 'me'") } }
        #expect(throws: StorageError.self) { try store.writeSync { tx in try tx.db.execute(sql: "DELETE FROM audit_record") } }
        #expect(try store.auditRecords().count == 1)
    }

    @Test func aFailedTransactionLeavesNothingBehind() throws {
        let store = try temporaryStore()
        struct Boom: Error {}
        #expect(throws: StorageError.self) {
            try store.writeSync { tx in
                _ = try TicketDesk.apply(anomaly(), in: tx, recordedAt: Timestamp(milliseconds: 1))
                throw Boom()
            }
        }
        #expect(try store.tickets().isEmpty)
        #expect(try store.auditRecords().isEmpty)
    }

    /// The WAL is copied into the database file by a checkpoint on another connection after
    /// a number of commits or a pause; the writer's own automatic checkpoint waits for 4,000
    /// pages. So after 64 small commits the main file alone, without its WAL, holds them all.
    @Test(arguments: [(64, Duration.seconds(3600)), (1_000_000, .milliseconds(200))])
    func theWriteAheadLogIsCheckpointedInTheBackground(every: Int, pause: Duration) async throws {
        let directory = try makeTemporaryDirectory()
        let path = directory.appendingPathComponent("fw.db").path
        let store = try TicketStore(path: path, checkpointEvery: every, checkpointPause: pause)
        for i in 0..<64 {
            if i == 63 && every > 64 { try await Task.sleep(for: pause * 2) }  // the pause, before the last commit
            _ = try store.writeSync { tx in
                try tx.appendAudit(at: Timestamp(milliseconds: Int64(i)), actor: "test", action: "test.write", ticketID: nil, detail: ["i": "\(i)"])
            }
        }
        // The main file alone, copied without its WAL, as a crash-free reader of it would see it.
        var copies = 0
        func recordsInTheMainFile() throws -> Int {
            copies += 1
            let copy = directory.appendingPathComponent("copy-\(copies).db").path
            try FileManager.default.copyItem(atPath: path, toPath: copy)
            return try TicketStore(path: copy).auditRecords().filter { $0.action == "test.write" }.count
        }
        let complete = try await eventually { try store.walCheckpoints.done >= 1 && recordsInTheMainFile() == 64 }
        #expect(complete)
        #expect(store.walCheckpoints.failed == 0)
        if every == 64 { #expect(store.walCheckpoints.done == 1) }
    }

    @Test func ticketsSurviveReopeningTheFile() throws {
        let path = try makeTemporaryDirectory().appendingPathComponent("fw.db").path
        do {
            let store = try TicketStore(path: path)
            _ = try apply(store, [anomaly()])
        }
        let reopened = try TicketStore(path: path)
        #expect(try reopened.tickets().count == 1)
        #expect(try reopened.detections(ticketID: reopened.tickets()[0].id)[0].evidence.count == 3)
    }

    @Test func openingSomethingThatIsNotADatabaseSaysSo() throws {
        let path = try makeTemporaryDirectory().appendingPathComponent("not.db").path
        try "hello".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(throws: StorageError.self) { _ = try TicketStore(path: path) }
    }
}

@Suite("TicketDesk service")
struct TicketDeskServiceTests {
    @Test func submittedAnomaliesAreCommittedAndDrainedOnGracefulShutdown() async throws {
        let store = try temporaryStore()
        let desk = TicketDesk(store: store)
        let group = ServiceGroup(configuration: .init(services: [.init(service: desk)], logger: .init(label: "test")))
        let running = Task { try await group.run() }
        desk.submit(anomaly())
        #expect(await eventually { (try? store.tickets().count) == 1 })
        for i in 1...200 { desk.submit(anomaly(at: 1_764_240_000_000 + Int64(i) * 1000)) }
        await group.triggerGracefulShutdown()
        try await running.value
        // Every submission is committed before run() returns.
        #expect(try store.tickets()[0].occurrences == 201)
        #expect(desk.counters.committed == 201 && desk.counters.droppedQueueFull == 0 && desk.pendingCount == 0)
    }

    @Test func everyCommitIsReportedWithItsEndTimeAndTimedInTheHistogram() async throws {
        let store = try temporaryStore()
        let heard = Mutex<[(Int, Timestamp)]>([])
        let desk = TicketDesk(store: store, onCommit: { batch, at in heard.withLock { $0.append((batch.count, at)) } })
        let before = Timestamp.now()
        for i in 0..<300 { desk.submit(anomaly(at: 1_764_240_000_000 + Int64(i) * 1000)) }
        await desk.drain()
        let batches = heard.withLock { $0 }
        // 300 anomalies in batches of at most 256, each reported once, after it committed.
        #expect(batches.map(\.0) == [256, 44])
        #expect(batches.allSatisfy { $0.1 >= before })
        let delays = desk.counters.commitDelay
        #expect(delays.count == 300 && delays.counts.reduce(0, +) == 300 && delays.sum > 0)
        #expect(try store.tickets()[0].occurrences == 300)
    }

    @Test func aFullQueueCountsDrops() throws {
        let desk = TicketDesk(store: try temporaryStore(), configuration: .init(queueCapacity: 2))
        for _ in 0..<5 { desk.submit(anomaly()) }
        #expect(desk.counters.submitted == 2 && desk.counters.droppedQueueFull == 3)
    }
}

@Suite("Drill tickets and migrations")
struct DrillTicketTests {
    @Test func drillAndRealTicketsForTheSameFaultStayApart() throws {
        let store = try temporaryStore()
        var drill = anomaly()
        drill.drill = true
        _ = try apply(store, [anomaly(), drill, drill, anomaly(at: 1_764_240_060_000)])
        let tickets = try store.tickets()
        #expect(tickets.count == 2)
        #expect(tickets.first { $0.drill }?.occurrences == 2)
        #expect(tickets.first { !$0.drill }?.occurrences == 2)
        #expect(try store.auditRecords(ticketID: tickets.first { $0.drill }!.id).first?.detail.contains("\"drill\":\"true\"") == true)
    }

    /// A database written by the first schema opens, migrates, and keeps its tickets.
    @Test func aVersionOneDatabaseMigrates() throws {
        let path = try makeTemporaryDirectory().appendingPathComponent("v1.db").path
        do {
            let pool = try DatabasePool(path: path)
            try Schema.migrator.migrate(pool, upTo: "v1-tickets-detections-audit")
            try pool.write { db in
                try db.execute(sql: """
                    INSERT INTO ticket (site_id, device_id, fault_code, source, grade, status, title, opened_at, updated_at)
                    VALUES ('s', 'd', 'F', 'predictive', 'urgent', 'new', 'old ticket', 1, 1)
                    """)
            }
        }
        let store = try TicketStore(path: path)
        let tickets = try store.tickets()
        #expect(tickets.map(\.title) == ["old ticket"] && tickets.first?.drill == false)
        var drill = anomaly(device: "d", fault: "F")
        drill.drill = true
        #expect(try apply(store, [drill]).first.map { if case .opened = $0 { true } else { false } } == true)
    }
}

@Suite("Forecast tickets")
struct ForecastTicketTests {
    static let t0: Int64 = 1_764_240_000_000
    static let hour: Int64 = 3_600_000

    /// A forecast anomaly: BEARING_OVERTEMP predicted `hoursAhead` from now, band ±20 %.
    static func forecastAnomaly(at ms: Int64 = t0, hoursAhead: Double, severity: Severity = .warning, value: Double = 70) -> Anomaly {
        var a = anomaly(severity: severity, at: ms, value: value)
        let ahead = Int64(hoursAhead * Double(hour))
        a.detector = "trend-forecast"
        a.limit = 95
        a.forecast = LimitForecast(
            limit: 95, crossingAt: Timestamp(milliseconds: ms + ahead), earliest: Timestamp(milliseconds: ms + ahead * 8 / 10),
            latest: Timestamp(milliseconds: ms + ahead * 12 / 10), slopePerHour: (95 - value) / hoursAhead, level: value,
            fittedAt: Timestamp(milliseconds: ms), windowStart: Timestamp(milliseconds: ms - 6 * hour), points: 48)
        a.summary = "Bearing temperature rising towards 95 Cel"
        return a
    }

    @Test func aForecastOpensAPredictiveTicketThatKeepsItsForecastAcrossAReopen() throws {
        let dir = try makeTemporaryDirectory()
        let path = dir.appendingPathComponent("fieldwatch.db").path
        let a = Self.forecastAnomaly(hoursAhead: 20)
        do {
            let store = try TicketStore(path: path)
            let effects = try apply(store, [a])
            guard case let .opened(t) = effects.first else { Issue.record("\(effects)"); return }
            #expect(t.forecast == a.forecast && t.source == .predictive && t.grade == .general)
        }
        let reopened = try TicketStore(path: path)
        let t = try #require(try reopened.tickets().first)
        #expect(t.forecast == a.forecast, "the forecast is stored with the ticket")
        #expect(try reopened.detections(ticketID: t.id).first?.forecast == a.forecast, "and with the detection that carried it")
        let audit = try reopened.auditRecords(ticketID: t.id)
        #expect(audit.first?.detail.contains("\"forecast_crossing_at\":\"\(a.forecast!.crossingAt.rfc3339)\"") == true)
    }

    /// General tickets are due on an office calendar (days away); a bearing predicted to fail
    /// in 20 h (earliest 16 h) must be fixed before that.
    @Test func theEarliestPredictedCrossingCapsTheOnSiteAndResolutionDeadlines() throws {
        let store = try temporaryStore()
        let a = Self.forecastAnomaly(hoursAhead: 20)
        _ = try apply(store, [a])
        let t = try #require(try store.tickets().first)
        let clocks = Dictionary(uniqueKeysWithValues: try store.clocks(ticketID: t.id).map { ($0.kind, $0) })
        let earliest = a.forecast!.earliest
        #expect(clocks["resolution"]?.deadline == earliest && clocks["on_site"]?.deadline == earliest)
        #expect(try #require(clocks["first_contact"]?.deadline) < earliest, "first contact keeps the contract's target")
        // The same ticket without a forecast would be due much later.
        let plain = try temporaryStore()
        _ = try apply(plain, [anomaly(severity: .warning, at: Self.t0, value: 85)])
        let plainResolution = try #require(try plain.clocks(ticketID: 1).first { $0.kind == "resolution" }?.deadline)
        #expect(plainResolution > earliest)
    }

    @Test func laterEvidenceRefinesTheForecastAndTheCrossingRaisesTheGradeOnTheSameTicket() throws {
        let store = try temporaryStore()
        _ = try apply(store, [Self.forecastAnomaly(hoursAhead: 20)])
        // The trend steepens: the crossing is now 4 h away (critical forecast).
        let sooner = Self.forecastAnomaly(at: Self.t0 + 2 * Self.hour, hoursAhead: 4, severity: .critical, value: 88)
        let effects = try apply(store, [sooner])
        guard case let .occurrenceAdded(t, raised) = effects.first else { Issue.record("\(effects)"); return }
        #expect(raised && t.grade == .urgent && t.forecast == sooner.forecast)
        let resolution = try #require(try store.clocks(ticketID: t.id).first { $0.kind == "resolution" }?.deadline)
        #expect(resolution == sooner.forecast!.earliest, "the deadline follows the refined forecast")
        // Then the threshold fires: same ticket, the forecast is kept for the record.
        _ = try apply(store, [anomaly(severity: .critical, at: Self.t0 + 6 * Self.hour)])
        let tickets = try store.tickets()
        #expect(tickets.count == 1 && tickets[0].occurrences == 3 && tickets[0].forecast == sooner.forecast)
        #expect(try store.detections(ticketID: t.id).map { $0.forecast != nil } == [true, true, false])
    }
}

@Suite("The desk when the store fails")
struct TicketDeskFailureTests {
    static func distinctAnomalies(_ n: Int, from first: Int = 0) -> [Anomaly] {
        // Distinct devices and faults, so each opens its own ticket and needs new pages.
        (first..<first + n).map { anomaly(device: DeviceID("pump-\($0)"), fault: FaultCode("F\($0)"), evidence: 50) }
    }

    @Test func aFullDiskKeepsDetectionsQueuedAndTheyAreStoredWhenSpaceReturns() async throws {
        let store = try temporaryStore()
        let desk = TicketDesk(store: store, configuration: .init(retryDelay: .milliseconds(20), maxRetryDelay: .milliseconds(100)))
        let group = ServiceGroup(configuration: .init(services: [.init(service: desk)], logger: .init(label: "test")))
        let running = Task { try await group.run() }
        try store.limitSize(extraPages: 0)
        for a in Self.distinctAnomalies(300) { desk.submit(a) }
        #expect(await eventually { desk.counters.diskFull && desk.counters.writeFailures >= 3 })
        #expect(desk.counters.storageFailing && desk.counters.quarantined == 0, "a full disk is not the data's fault: nothing is set aside")
        #expect(desk.counters.lastWriteError?.contains("full") == true)
        #expect(try store.tickets().isEmpty && desk.pendingCount == 300, "nothing committed, nothing dropped")
        // Space returns: every detection is stored, by itself.
        try store.limitSize(extraPages: nil)
        #expect(await eventually { (try? store.tickets().count) == 300 })
        #expect(!desk.counters.storageFailing && !desk.counters.diskFull && desk.pendingCount == 0)
        await group.triggerGracefulShutdown()
        try await running.value
        #expect(try store.verifyAuditChain().problem == nil)
    }

    @Test func aGracefulStopWithAFullDiskEndsAfterTheGraceTime() async throws {
        let store = try temporaryStore()
        let desk = TicketDesk(store: store, configuration: .init(retryDelay: .milliseconds(20), maxRetryDelay: .milliseconds(50),
                                                                 shutdownGrace: .milliseconds(300)))
        let group = ServiceGroup(configuration: .init(services: [.init(service: desk)], logger: .init(label: "test")))
        let running = Task { try await group.run() }
        try store.limitSize(extraPages: 0)
        for a in Self.distinctAnomalies(10) { desk.submit(a) }
        #expect(await eventually { desk.counters.storageFailing })
        await group.triggerGracefulShutdown()
        // Before, the desk retried for ever and the stop waited to be killed.
        try await running.value
        #expect(desk.pendingCount == 10 && desk.counters.diskFull)
    }

    @Test func oneDetectionTheStoreRefusesDoesNotHoldUpTheOthers() async throws {
        let store = try temporaryStore()
        let desk = TicketDesk(store: store, configuration: .init(retryDelay: .milliseconds(20)))
        var bad = anomaly(device: "pump-x")
        bad.site = ""  // breaks the ticket table's CHECK: the data's fault, not the machine's
        let good = Self.distinctAnomalies(5)
        for a in good.prefix(2) + [bad] + good.suffix(3) { desk.submit(a) }
        #expect(await desk.drain())
        #expect(try store.tickets().count == 5, "the five good ones are stored")
        #expect(desk.counters.quarantined == 1 && desk.pendingCount == 0 && !desk.counters.storageFailing)
    }
}
