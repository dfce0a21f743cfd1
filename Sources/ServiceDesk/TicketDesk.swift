import FieldwatchCore
import Logging
import ServiceLifecycle
import Storage
import Synchronization

/// Turns anomalies into predictive fault tickets, off the hot path.
///
/// `submit(_:)` is called from the ingest path: it only appends to a bounded in-memory queue
/// and returns. `run()` drains the queue in batches, and commits each anomaly's ticket change,
/// detection, evidence and audit record in one transaction. On graceful shutdown the queue is
/// drained before `run()` returns (for at most `shutdownGrace` while the store fails). A write the
/// machine refused (disk full) is retried, never dropped; see `drain(until:)`.
public final class TicketDesk: Service, Sendable {
    public struct Configuration: Sendable {
        /// Anomalies waiting for the store; beyond this, submissions are counted as dropped.
        public var queueCapacity: Int
        /// Anomalies committed per transaction at most.
        public var batchSize: Int
        /// Pause before retrying a failed write; doubled at each failure up to `maxRetryDelay`.
        public var retryDelay: Duration
        public var maxRetryDelay: Duration
        /// How long a graceful stop keeps trying to store what is queued when the store fails.
        public var shutdownGrace: Duration

        public init(queueCapacity: Int = 100_000, batchSize: Int = 256, retryDelay: Duration = .seconds(1), maxRetryDelay: Duration = .seconds(30),
                    shutdownGrace: Duration = .seconds(15)) {
            self.queueCapacity = queueCapacity
            self.batchSize = batchSize
            self.retryDelay = retryDelay
            self.maxRetryDelay = maxRetryDelay
            self.shutdownGrace = shutdownGrace
        }
    }

    /// What one anomaly did to the tickets.
    public enum Effect: Sendable, Equatable {
        case opened(Ticket)
        case occurrenceAdded(Ticket, gradeRaised: Bool)
        /// The detector saw the condition clear; the ticket stays open for a person to close.
        case recovered(Ticket)
        /// A clear with no open ticket to attach to.
        case ignored
    }

    public struct Counters: Sendable, Equatable {
        public var submitted = 0
        public var droppedQueueFull = 0
        public var ticketsOpened = 0
        public var occurrencesAdded = 0
        public var recoveries = 0
        public var writeFailures = 0
        /// The last write failed because of the machine (disk full, I/O) and is being retried.
        public var storageFailing = false
        /// …because the disk (or the database's size limit) is full.
        public var diskFull = false
        public var lastWriteError: String?
        /// Detections the store refused because of their data, each on its own: set aside, logged whole.
        public var quarantined = 0
        public var committed = 0
        /// From `submit` to the end of the transaction that committed the anomaly.
        public var commitDelay = DelayHistogram()
    }

    private struct Queued {
        var anomaly: Anomaly
        var submitted: ContinuousClock.Instant
    }

    private struct State: ~Copyable {
        var pending: [Queued] = []
        var counters = Counters()
        var shuttingDown = false
    }

    public let configuration: Configuration
    public let store: TicketStore
    public let rules: ServiceRules
    private let state = Mutex(State())
    private let wakeups: AsyncStream<Void>
    private let wakeup: AsyncStream<Void>.Continuation
    private let logger: Logger
    private let now: @Sendable () -> Timestamp
    private let onEffect: @Sendable (Effect) -> Void
    private let onCommit: @Sendable ([Anomaly], Timestamp) -> Void

    /// `onEffect` hears what each committed anomaly did to the tickets; `onCommit` hears each
    /// committed batch and the time its transaction ended (for latency figures).
    public init(
        store: TicketStore, rules: ServiceRules = .default, configuration: Configuration = .init(), logger: Logger = Logger(label: "fieldwatch.desk"),
        now: @escaping @Sendable () -> Timestamp = { Timestamp.now() }, onEffect: @escaping @Sendable (Effect) -> Void = { _ in },
        onCommit: @escaping @Sendable ([Anomaly], Timestamp) -> Void = { _, _ in }
    ) {
        self.store = store
        self.rules = rules
        self.configuration = configuration
        self.logger = logger
        self.now = now
        self.onEffect = onEffect
        self.onCommit = onCommit
        (wakeups, wakeup) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    public var counters: Counters { state.withLock { $0.counters } }
    public var pendingCount: Int { state.withLock { $0.pending.count } }

    /// Queues an anomaly for the store. Never blocks; a full queue counts the drop and logs it.
    public func submit(_ anomaly: Anomaly) {
        let accepted = state.withLock { state -> Bool in
            guard state.pending.count < configuration.queueCapacity else {
                state.counters.droppedQueueFull += 1
                return false
            }
            state.pending.append(Queued(anomaly: anomaly, submitted: .now))
            state.counters.submitted += 1
            return true
        }
        if accepted {
            wakeup.yield()
        } else {
            logger.error("ticket queue full (\(configuration.queueCapacity)); anomaly dropped",
                         metadata: ["device.id": .string(anomaly.device.rawValue), "fault.code": .string(anomaly.faultCode.rawValue)])
        }
    }

    public func run() async throws {
        await withGracefulShutdownHandler {
            for await _ in wakeups {
                await drain()
            }
        } onGracefulShutdown: { [self] in
            state.withLock { $0.shuttingDown = true }
            wakeup.finish()
        }
        // Whatever arrived between the last wake-up and shutdown, for at most `shutdownGrace`
        // if the store keeps failing: a gateway whose disk is full must still stop when asked.
        if !(await drain(until: .now + configuration.shutdownGrace)) {
            let c = counters
            logger.critical("""
                stopping with \(pendingCount) detection(s) not stored: \(c.lastWriteError ?? "the store kept failing"). \
                The detectors' last checkpoint was saved before them, so conditions that persist are raised again after the restart
                """)
        }
    }

    private enum Outcome {
        case committed
        /// The machine failed (disk full, I/O): the same write may succeed later.
        case environmental(String, diskFull: Bool)
        /// The data failed (a constraint): it will fail again.
        case data(String)
    }

    /// Commits everything queued, batch by batch. A batch the store refuses because of the
    /// machine (disk full, I/O error) is kept and retried with a growing pause, never dropped;
    /// one it refuses because of its data is split, so one bad detection cannot hold up the
    /// others: each is committed alone and one that still fails is set aside (logged whole at
    /// error level and counted as quarantined). Returns whether the queue is empty: false when
    /// `deadline` passed, the task was cancelled, or the desk is shutting down while the store
    /// fails (the final drain then has its own bounded time).
    @discardableResult
    public func drain(until deadline: ContinuousClock.Instant? = nil) async -> Bool {
        var delay = configuration.retryDelay
        while true {
            let queued = state.withLock { state -> [Queued] in
                let n = min(configuration.batchSize, state.pending.count)
                let batch = Array(state.pending.prefix(n))
                state.pending.removeFirst(n)
                return batch
            }
            if queued.isEmpty { return true }
            var failure: (message: String, diskFull: Bool)?
            switch await commit(queued) {
            case .committed:
                break
            case let .environmental(message, full):
                failure = (message, full)
                state.withLock { $0.pending.insert(contentsOf: queued, at: 0) }
            case .data(let message):
                logger.error("cannot commit \(queued.count) detection(s) (\(message)); committing them one by one to find the one at fault")
                for (i, q) in queued.enumerated() {
                    switch await commit([q]) {
                    case .committed: continue
                    case .data(let message): quarantine(q.anomaly, message)
                    case let .environmental(message, full):
                        failure = (message, full)
                        state.withLock { $0.pending.insert(contentsOf: queued[i...], at: 0) }
                    }
                    if failure != nil { break }
                }
            }
            guard let failure else {
                if delay != configuration.retryDelay || counters.storageFailing {
                    logger.notice("the store accepts writes again; \(pendingCount) detection(s) still queued")
                }
                state.withLock { $0.counters.storageFailing = false; $0.counters.diskFull = false }
                delay = configuration.retryDelay
                continue
            }
            state.withLock {
                $0.counters.writeFailures += 1
                $0.counters.storageFailing = true
                $0.counters.diskFull = failure.diskFull
                $0.counters.lastWriteError = failure.message
            }
            logger.error("""
                cannot store \(pendingCount) detection(s)\(failure.diskFull ? " because the disk is full" : ""): \(failure.message); \
                they stay queued (\(pendingCount) of \(configuration.queueCapacity)) and are retried in \(delay)
                """)
            let now = ContinuousClock.now
            if let deadline, now >= deadline { return false }
            if deadline == nil && state.withLock({ $0.shuttingDown }) { return false }
            let pause = deadline.map { min(delay, now.duration(to: $0)) } ?? delay
            if (try? await Task.sleep(for: pause)) == nil { return false }
            delay = min(delay * 2, configuration.maxRetryDelay)
        }
    }

    private func commit(_ queued: [Queued]) async -> Outcome {
        let batch = queued.map(\.anomaly)
        do {
            let recordedAt = now()
            let silent = Dictionary(grouping: batch.filter { $0.transition == .raised && $0.faultCode.isLossOfContact && !$0.drill }, by: \.site)
                .mapValues { Set($0.map(\.device)) }
            let effects = try await store.write { [rules] tx in
                try batch.map { try Self.apply($0, in: tx, recordedAt: recordedAt, rules: rules, outOfContact: silent[$0.site] ?? []) }
            }
            let committed = ContinuousClock.now
            state.withLock { state in
                for q in queued { state.counters.commitDelay.record(committed - q.submitted) }
            }
            onCommit(batch, now())
            report(effects, batch)
            return .committed
        } catch {
            if error.environmental { return .environmental(error.description, diskFull: error.diskFull) }
            return .data(error.description)
        }
    }

    private func quarantine(_ anomaly: Anomaly, _ message: String) {
        state.withLock { $0.counters.quarantined += 1 }
        logger.error("""
            detection set aside, the store refuses it (\(message)): \(anomaly.detectedAt.rfc3339) \(anomaly.transition) \(anomaly.severity) \
            \(anomaly.faultCode) on \(anomaly.site)/\(anomaly.device)/\(anomaly.sensor) by \(anomaly.detector)@\(anomaly.detectorVersion), \
            value \(anomaly.value): \(anomaly.summary). Report this: it is a bug or a damaged database
            """, metadata: ["device.id": .string(anomaly.device.rawValue), "fault.code": .string(anomaly.faultCode.rawValue)])
    }

    private func report(_ effects: [Effect], _ batch: [Anomaly]) {
        state.withLock { state in
            state.counters.committed += effects.count
            for effect in effects {
                switch effect {
                case .opened: state.counters.ticketsOpened += 1
                case .occurrenceAdded: state.counters.occurrencesAdded += 1
                case .recovered: state.counters.recoveries += 1
                case .ignored: break
                }
            }
        }
        for (effect, anomaly) in zip(effects, batch) {
            switch effect {
            case let .opened(t):
                logger.notice("\(t.drill ? "DRILL " : "")ticket #\(t.id) opened: \(t.grade.rawValue) \(t.faultCode) on \(t.device) at \(t.site): \(anomaly.summary)",
                              metadata: ["ticket.id": .stringConvertible(t.id), "device.id": .string(t.device.rawValue)])
            case let .occurrenceAdded(t, raised):
                // Repeats are routine (a burst can bring thousands): only a grade change is worth an info line.
                logger.log(level: raised ? .info : .debug, "ticket #\(t.id) \(raised ? "raised to \(t.grade.rawValue)" : "occurrence \(t.occurrences)"): \(anomaly.summary)",
                           metadata: ["ticket.id": .stringConvertible(t.id), "device.id": .string(t.device.rawValue)])
            case let .recovered(t):
                logger.info("ticket #\(t.id) detector reports recovery (ticket stays open): \(anomaly.summary)",
                            metadata: ["ticket.id": .stringConvertible(t.id), "device.id": .string(t.device.rawValue)])
            case .ignored:
                break
            }
            onEffect(effect)
        }
    }

    /// The rule that maps one anomaly onto the tickets, inside the caller's transaction.
    /// `outOfContact` names the devices of the anomaly's site that lost contact in the same
    /// batch, so a whole site going silent opens one site ticket rather than one per device.
    static func apply(_ a: Anomaly, in tx: TicketTransaction, recordedAt: Timestamp, rules: ServiceRules = .default,
                      outOfContact: Set<DeviceID> = []) throws -> Effect {
        let actor = "detector:\(a.detector)@\(a.detectorVersion)"
        let detail: [String: String] = [
            "fault_code": a.faultCode.rawValue, "sensor": a.sensor.rawValue, "severity": a.severity.description,
            "value": "\(a.value)", "limit": "\(a.limit)", "detected_at": a.detectedAt.rfc3339,
            "profile": "\(a.profileID)@\(a.profileVersion)", "summary": a.summary, "device": a.device.rawValue,
        ].merging(a.drill ? ["drill": "true"] : [:]) { $1 }
            .merging(a.forecast.map(Self.auditDetail) ?? [:]) { $1 }
        switch a.transition {
        case .raised:
            let facts = rules.facts(severity: a.severity, site: a.site, device: a.device)
            let grade = rules.policy.grade(facts)
            if let ticket = try tx.openTicket(device: a.device, faultCode: a.faultCode, drill: a.drill) {
                return try addOccurrence(a, to: ticket, grade: grade, action: "ticket.occurrence", detail: detail, in: tx, recordedAt: recordedAt, rules: rules)
            }
            let correlation = rules.policy.correlation
            if !a.drill, a.faultCode.isLossOfContact, correlation.siteOffline,
               let (siteTicket, created) = try siteOfflineTicket(for: a, in: tx, recordedAt: recordedAt, rules: rules, outOfContact: outOfContact) {
                try tx.addSymptom(ticketID: siteTicket.id, device: a.device, faultCode: a.faultCode, at: a.detectedAt)
                if created {
                    // The anomaly that completed the picture is the site ticket's first detection.
                    try tx.insertDetection(a, ticketID: siteTicket.id, recordedAt: recordedAt)
                    return .opened(siteTicket)
                }
                return try addOccurrence(a, to: siteTicket, grade: siteTicket.grade, action: "ticket.symptom_added", detail: detail, in: tx,
                                         recordedAt: recordedAt, rules: rules)
            }
            if !a.faultCode.isSensorOrLinkHealth, correlation.window > .zero,
               let related = try tx.recentMachineTicket(device: a.device, drill: a.drill, since: a.detectedAt - correlation.window,
                                                        excluding: [.sensorStale, .deviceOffline, .sensorStuck, .sensorOutOfRange, .siteOffline]) {
                try tx.addSymptom(ticketID: related.id, device: a.device, faultCode: a.faultCode, at: a.detectedAt)
                return try addOccurrence(a, to: related, grade: grade, action: "ticket.symptom_added", detail: detail, in: tx,
                                         recordedAt: recordedAt, rules: rules)
            }
            let site = rules.directory.sites[a.site]
            let ticket = try tx.insertTicket(NewTicket(
                site: a.site, device: a.device, sensor: a.sensor, faultCode: a.faultCode, source: .predictive, grade: grade,
                title: a.summary, openedAt: recordedAt, detector: a.detector, detectorVersion: a.detectorVersion,
                profileID: a.profileID, profileVersion: a.profileVersion, lastValue: a.value, limit: a.limit, unit: a.unit,
                drill: a.drill, customer: site?.customer, tier: facts.tier, criticality: facts.criticality, timeZone: site?.timeZone,
                forecast: a.forecast))
            try tx.insertDetection(a, ticketID: ticket.id, recordedAt: recordedAt)
            try rules.refreshClocks(ticket, in: tx)
            let auditID = try tx.appendAudit(at: recordedAt, actor: actor, action: "ticket.opened", ticketID: ticket.id,
                               detail: detail.merging(["grade": grade.rawValue, "evidence_samples": "\(a.evidence.count)"]) { $1 })
            if !a.drill {
                try tx.enqueue(key: "audit-\(auditID)", kind: "ticket.opened", topic: TicketWorkflow.topic(ticket),
                               payload: TicketWorkflow.payload(ticket, event: "ticket.opened", actor: actor, at: recordedAt, extra: detail), at: recordedAt)
            }
            return .opened(ticket)
        case .cleared:
            guard let ticket = try tx.openTicket(device: a.device, faultCode: a.faultCode, drill: a.drill) else { return .ignored }
            try tx.insertDetection(a, ticketID: ticket.id, recordedAt: recordedAt)
            // A recovery proposes closing to whoever owns the ticket; it never closes it.
            let proposal = detail.merging(["note": "condition cleared; the ticket stays open until a person closes it",
                                           "audience": ticket.owner ?? "dispatch"]) { $1 }
            let auditID = try tx.appendAudit(at: recordedAt, actor: actor, action: "detector.recovered", ticketID: ticket.id, detail: proposal)
            if !a.drill {
                try tx.enqueue(key: "audit-\(auditID)", kind: "ticket.recovery_proposed", topic: TicketWorkflow.topic(ticket),
                               payload: TicketWorkflow.payload(ticket, event: "detector.recovered", actor: actor, at: recordedAt, extra: proposal), at: recordedAt)
            }
            return .recovered(ticket)
        }
    }

    /// A forecast in an audit record: the crossing, its band and the trend.
    static func auditDetail(_ f: LimitForecast) -> [String: String] {
        [
            "forecast_crossing_at": f.crossingAt.rfc3339, "forecast_earliest": f.earliest.rfc3339,
            "forecast_latest": f.latest?.rfc3339 ?? "never", "forecast_slope_per_hour": "\(f.slopePerHour)",
            "forecast_window_start": f.windowStart.rfc3339, "forecast_points": "\(f.points)",
        ]
    }

    /// One more detection on an open ticket: its own fault again, or a symptom it absorbs.
    static func addOccurrence(_ a: Anomaly, to ticket: Ticket, grade: Grade, action: String, detail: [String: String], in tx: TicketTransaction,
                              recordedAt: Timestamp, rules: ServiceRules) throws -> Effect {
        var ticket = ticket
        let actor = "detector:\(a.detector)@\(a.detectorVersion)"
        let newGrade = max(ticket.grade, grade)
        let raised = newGrade > ticket.grade
        try tx.addOccurrence(ticketID: ticket.id, grade: newGrade, title: raised ? a.summary : ticket.title,
                             lastValue: a.value, limit: a.limit, at: a.detectedAt, forecast: a.forecast)
        try tx.insertDetection(a, ticketID: ticket.id, recordedAt: recordedAt)
        try tx.appendAudit(at: recordedAt, actor: actor, action: action, ticketID: ticket.id, detail: detail)
        if raised {
            try tx.appendAudit(at: recordedAt, actor: actor, action: "ticket.grade_raised", ticketID: ticket.id,
                               detail: ["from": ticket.grade.rawValue, "to": newGrade.rawValue, "reason": a.summary])
        }
        ticket.occurrences += 1
        ticket.grade = newGrade
        ticket.lastValue = a.value
        let refined = a.forecast != nil && a.forecast != ticket.forecast
        if let forecast = a.forecast { ticket.forecast = forecast }
        if raised || refined { try rules.refreshClocks(ticket, in: tx) }
        return .occurrenceAdded(ticket, gradeRaised: raised)
    }

    /// The open SITE_OFFLINE ticket of the anomaly's site, opening it when every device of the
    /// site (two or more) is now out of contact. Loss-of-contact tickets of those devices that
    /// nobody has taken yet are folded into it (cancelled as merged, kept as its symptoms), the
    /// way Alertmanager inhibits symptoms under a root cause.
    static func siteOfflineTicket(for a: Anomaly, in tx: TicketTransaction, recordedAt: Timestamp, rules: ServiceRules,
                                  outOfContact: Set<DeviceID>) throws -> (Ticket, created: Bool)? {
        let siteDevice = DeviceID(a.site.rawValue)
        if let open = try tx.openTicket(device: siteDevice, faultCode: .siteOffline) { return (open, false) }
        let devices = Set(rules.directory.devices.filter { $0.value.site == a.site }.keys)
        guard devices.count >= 2 else { return nil }
        let silent = try tx.devicesWithOpenTickets(site: a.site, faults: [.sensorStale, .deviceOffline], drill: false)
            .union(outOfContact).union([a.device])
        guard devices.isSubset(of: silent) else { return nil }
        let site = rules.directory.sites[a.site]
        let criticality = devices.compactMap { rules.directory.devices[$0]?.criticality }.max() ?? 3
        let tier = site?.tier ?? .standard
        let grade = rules.policy.grade(GradingFacts(severity: .critical, criticality: criticality, tier: tier))
        let ticket = try tx.insertTicket(NewTicket(
            site: a.site, device: siteDevice, sensor: nil, faultCode: .siteOffline, source: .predictive, grade: grade,
            title: "No contact with any of the \(devices.count) devices at site \(a.site): check the site's network and power",
            openedAt: recordedAt, detector: "site-offline", detectorVersion: 1, customer: site?.customer, tier: tier,
            criticality: criticality, timeZone: site?.timeZone))
        try rules.refreshClocks(ticket, in: tx)
        let detail = ["fault_code": FaultCode.siteOffline.rawValue, "devices": devices.map(\.rawValue).sorted().joined(separator: ","), "grade": grade.rawValue]
        let auditID = try tx.appendAudit(at: recordedAt, actor: "desk:correlation", action: "ticket.opened", ticketID: ticket.id, detail: detail)
        try tx.enqueue(key: "audit-\(auditID)", kind: "ticket.opened", topic: TicketWorkflow.topic(ticket),
                       payload: TicketWorkflow.payload(ticket, event: "ticket.opened", actor: "desk:correlation", at: recordedAt, extra: detail), at: recordedAt)
        for device in devices.sorted(by: { $0.rawValue < $1.rawValue }) {
            for fault in [FaultCode.sensorStale, .deviceOffline] {
                guard var merged = try tx.openTicket(device: device, faultCode: fault), merged.id != ticket.id,
                      merged.device == device, merged.status == .new, merged.owner == nil else { continue }
                merged.status = .cancelled
                merged.cancelReason = "merged into site-offline ticket #\(ticket.id)"
                try tx.updateStatus(ticketID: merged.id, status: .cancelled, owner: nil, paused: false, cancelReason: merged.cancelReason, at: recordedAt)
                try rules.refreshClocks(merged, in: tx)
                try tx.addSymptom(ticketID: ticket.id, device: device, faultCode: fault, at: merged.openedAt)
                try tx.appendAudit(at: recordedAt, actor: "desk:correlation", action: "ticket.merged", ticketID: merged.id,
                                   detail: ["into": "\(ticket.id)", "reason": "every device of site \(a.site) lost contact"])
            }
        }
        return (ticket, true)
    }
}
