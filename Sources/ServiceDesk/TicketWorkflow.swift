import FieldwatchCore
import Foundation
import Profiles
import Storage

/// A fault a customer reported by hand.
public struct CustomerReport: Sendable, Equatable {
    public enum Channel: String, Sendable, CaseIterable, Codable {
        case phone, online, email
    }
    public var device: DeviceID
    /// When the customer names it (from the fault catalogue); otherwise CUSTOMER_REPORTED.
    public var faultCode: FaultCode?
    public var channel: Channel
    /// Who called or wrote, as the customer gave it.
    public var reporter: String
    public var description: String
    /// `critical` when the equipment is down, `warning` when it still runs.
    public var severity: Severity

    public init(device: DeviceID, faultCode: FaultCode? = nil, channel: Channel, reporter: String, description: String, severity: Severity) {
        self.device = device
        self.faultCode = faultCode
        self.channel = channel
        self.reporter = reporter
        self.description = description
        self.severity = severity
    }
}

/// One escalation step that fired.
public struct EscalationEvent: Sendable, Equatable {
    public enum Level: String, Sendable, CaseIterable {
        /// A share of the deadline has passed: the owner is reminded.
        case warning
        /// The deadline passed: the supervisor is told.
        case supervisor
        /// Still not met a while after the deadline: management is told.
        case management
        /// Nobody acknowledged the ticket in time: it is offered again.
        case reoffer
    }
    public var ticketID: Int64
    public var clock: String
    public var level: Level
    public var deadline: Timestamp
    public var dueAt: Timestamp
    public var firedAt: Timestamp
}

/// People's side of a ticket: lifecycle steps with ownership, pauses, grade changes,
/// customer reports and the escalation scan. Every change commits in one transaction with
/// its recomputed SLA clocks, its audit record and its notification in the outbox.
public final class TicketWorkflow: Sendable {
    public let store: TicketStore
    public let rules: ServiceRules
    /// The server's clock: when a step is received, whatever time it claims (`at`).
    public let clock: @Sendable () -> Timestamp

    public init(store: TicketStore, rules: ServiceRules, clock: @escaping @Sendable () -> Timestamp = { Timestamp.now() }) {
        self.store = store
        self.rules = rules
        self.clock = clock
    }

    /// A lifecycle step. `reason` is required to cancel, reopen or pause; `pause` names the
    /// closed-list reason and the evidence for it.
    @discardableResult
    public func perform(
        _ action: TicketAction, ticketID: Int64, actor: String, reason: String? = nil,
        pause: (reason: PauseReason, evidence: String)? = nil, at: Timestamp
    ) throws(ServiceDeskError) -> Ticket {
        let actor = actor.trimmingCharacters(in: .whitespaces)
        let reason = reason?.trimmingCharacters(in: .whitespacesAndNewlines).nilIfEmpty
        guard !actor.isEmpty else { throw ServiceDeskError(.invalid, "who did it? give the person's name or id (for example --by li.wei)") }
        switch action {
        case .cancel where reason == nil:
            throw ServiceDeskError(.invalid, "cancelling needs a reason (false alarm, duplicate of #N, …); it feeds the detectors' quality statistics")
        case .reopen where reason == nil:
            throw ServiceDeskError(.invalid, "reopening needs a reason: what is still wrong")
        case .pause where pause == nil || pause!.evidence.trimmingCharacters(in: .whitespaces).isEmpty:
            throw ServiceDeskError(.invalid, """
                a pause needs a reason from the list (\(PauseReason.allCases.map(\.rawValue).joined(separator: ", "))) \
                and evidence, such as the time and number of the unanswered call
                """)
        default: break
        }
        let rules = rules, receivedAt = clock()
        let ticket = try write("\(action.rawValue) ticket #\(ticketID)") { tx in
            try Self.step(action, ticketID: ticketID, actor: actor, reason: reason, pause: pause, at: at, receivedAt: receivedAt, in: tx, rules: rules)
        }
        caseIfFixed(ticket, at: at)
        return ticket
    }

    /// A resolved or closed ticket becomes (or refreshes) a case of the library, after its step
    /// committed. Best effort: the step stands whatever happens here, and `fieldwatch cases
    /// rebuild` makes any missing case.
    func caseIfFixed(_ ticket: Ticket, at: Timestamp) {
        guard ticket.status == .resolved || ticket.status == .closed, !ticket.drill else { return }
        _ = try? CaseLibrary(store: store).record(ticketID: ticket.id, at: at)
    }

    /// The lifecycle step inside the caller's transaction (a visit's check-in arrives, a fix
    /// resolves, in the same transaction as the visit's record). Arguments are checked by `perform`.
    ///
    /// `at` is the time the step claims, `receivedAt` the server's: a step may be logged after
    /// the fact, but never dated before the ticket's previous step (a `resolve` back-dated to a
    /// minute after opening would make the SLA and the KPIs say "within target"). Both times go
    /// into the audit record, so into its hash; a step logged more than the policy's
    /// `steps.late_logged_after` after its time is marked late-logged on the timeline and counted.
    static func step(_ action: TicketAction, ticketID: Int64, actor: String, reason: String?, pause: (reason: PauseReason, evidence: String)?,
                     at: Timestamp, receivedAt: Timestamp, in tx: TicketTransaction, rules: ServiceRules) throws -> Ticket {
        guard var ticket = try tx.ticket(id: ticketID) else {
            throw ServiceDeskError(.notFound, "no ticket #\(ticketID); `fieldwatch tickets list` shows the ids")
        }
        guard at >= ticket.openedAt else {
            throw ServiceDeskError(.invalid, "\(at.rfc3339) is before ticket #\(ticketID) opened (\(ticket.openedAt.rfc3339)); check the time")
        }
        if let previous = try tx.lastStep(ticketID: ticketID, actions: TicketAction.allCases.map { "ticket.\($0.rawValue)" }), at < previous.at {
            throw ServiceDeskError(.invalid, """
                \(at.rfc3339) is before ticket #\(ticketID)'s previous step (\(previous.action.dropFirst("ticket.".count)) at \(previous.at.rfc3339)); \
                steps are recorded in the order they happened. If a time was wrong, add a note saying so (`fieldwatch tickets note`)
                """)
        }
        let from = ticket.status
        let to = try Lifecycle.apply(action, to: ticket, paused: ticket.paused)
        if action == .resolve { try Self.checkApproval(ticket, in: tx, policy: rules.policy) }
        var met: [ClockKind: Timestamp?] = [:]
        var detail = ["from": from.rawValue, "to": to.rawValue]
        switch action {
        case .acknowledge:
            ticket.owner = actor
        case .contact:
            met[.firstContact] = at
        case .arrive:
            met[.onSite] = at
        case .resolve:
            met[.resolution] = at
            // What was reserved for the repair and not used goes back to stock.
            try SQLitePartsStore.release(ticketID: ticketID, actor: actor, reason: "not used for the repair of ticket #\(ticketID)", at: at, in: tx)
        case .reopen:
            met[.resolution] = .some(nil)
        case .cancel:
            ticket.cancelReason = reason
            try SQLitePartsStore.release(ticketID: ticketID, actor: actor, reason: "ticket #\(ticketID) cancelled", at: at, in: tx)
        case .pause:
            try tx.startPause(ticketID: ticketID, reason: pause!.reason.rawValue, evidence: pause!.evidence, actor: actor, at: at)
            ticket.paused = true
            detail["pause_reason"] = pause!.reason.rawValue
            detail["evidence"] = pause!.evidence
        case .resume:
            try tx.endPause(ticketID: ticketID, at: at)
            ticket.paused = false
        case .dispatch, .confirm:
            break
        }
        if action == .cancel && ticket.paused {
            try tx.endPause(ticketID: ticketID, at: at)
            ticket.paused = false
        }
        // A first contact made before anyone acknowledged is impossible by the state
        // machine, so the owner is always set from here on.
        ticket.status = to
        try tx.updateStatus(ticketID: ticketID, status: to, owner: ticket.owner, paused: ticket.paused, cancelReason: ticket.cancelReason, at: at)
        let clocks = try rules.refreshClocks(ticket, in: tx, met: met)
        if let reason { detail["reason"] = reason }
        if let owner = ticket.owner { detail["owner"] = owner }
        detail["received_at"] = receivedAt.rfc3339
        if receivedAt - at > rules.policy.lateLoggedAfter {
            detail["late_logged"] = "logged \(formatMinutes(receivedAt.milliseconds - at.milliseconds)) after the fact"
        }
        for c in clocks where c.metAt == at && met[ClockKind(rawValue: c.kind)!] != nil {
            detail["\(c.kind)_met"] = c.deadline.map { at <= $0 ? "within target" : "late by \(formatMinutes(at.milliseconds - $0.milliseconds))" } ?? "met"
        }
        let auditID = try tx.appendAudit(at: at, actor: actor, action: "ticket.\(action.rawValue)", ticketID: ticketID, detail: detail)
        try tx.enqueue(key: "audit-\(auditID)", kind: action == .acknowledge ? "ticket.assigned" : "ticket.progress",
                       topic: Self.topic(ticket), payload: Self.payload(ticket, event: "ticket.\(action.rawValue)", actor: actor, at: at, extra: detail), at: at)
        ticket.updatedAt = max(ticket.updatedAt, at)
        return ticket
    }

    /// A repair goes ahead only with a solution the policy lets through: approved by a
    /// supervisor, or not needing approval. Without any proposal, only tickets whose grade
    /// needs no approval may be resolved.
    static func checkApproval(_ ticket: Ticket, in tx: TicketTransaction, policy: ServicePolicy) throws {
        let solution = try tx.latestSolution(ticketID: ticket.id)
        switch solution?.status {
        case .approved?, .notRequired?:
            return
        case .proposed?:
            throw ServiceDeskError(.conflict, "ticket #\(ticket.id)'s proposed solution waits for a supervisor's approval (`fieldwatch tickets approve \(ticket.id) --by NAME`) before the repair")
        case .rejected?:
            throw ServiceDeskError(.conflict, "ticket #\(ticket.id)'s solution was rejected by \(solution!.decidedBy ?? "a supervisor")\(solution!.decisionNote.map { ": \($0)" } ?? ""); propose another (`fieldwatch tickets propose`)")
        case nil:
            if policy.approval.grades.contains(ticket.grade) {
                throw ServiceDeskError(.conflict, "ticket #\(ticket.id) is \(ticket.grade.rawValue): the policy asks for an approved solution before the repair; propose one with `fieldwatch tickets propose \(ticket.id) --by NAME --diagnosis … --work … --cost …`")
            }
        }
    }

    /// An engineer proposes the repair. It needs a supervisor's approval when the policy says
    /// so (by grade or estimated cost); otherwise it is recorded as not needing one. Waiting
    /// for approval never pauses the customer's clocks.
    @discardableResult
    public func propose(ticketID: Int64, actor: String, diagnosis: String, plannedWork: String, parts: String, estimatedCost: Double,
                        at: Timestamp) throws(ServiceDeskError) -> SolutionRecord {
        let diagnosis = diagnosis.trimmingCharacters(in: .whitespacesAndNewlines)
        let plannedWork = plannedWork.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !diagnosis.isEmpty, !plannedWork.isEmpty else {
            throw ServiceDeskError(.invalid, "a solution needs a diagnosis (what is wrong) and the planned work (what will be done)")
        }
        guard estimatedCost.isFinite, estimatedCost >= 0 else { throw ServiceDeskError(.invalid, "the estimated cost must be a number ≥ 0") }
        let policy = rules.policy
        return try write("propose a solution for ticket #\(ticketID)") { tx in
            guard let ticket = try tx.ticket(id: ticketID) else { throw ServiceDeskError(.notFound, "no ticket #\(ticketID)") }
            guard [.acknowledged, .contacted, .dispatched, .onSite].contains(ticket.status) else {
                throw ServiceDeskError(.conflict, "ticket #\(ticketID) is \(ticket.status.rawValue); solutions are proposed between acknowledgement and resolution")
            }
            let required = policy.approval.isRequired(grade: ticket.grade, estimatedCost: estimatedCost)
            let solution = try tx.insertSolution(SolutionRecord(
                id: 0, ticketID: ticketID, proposedBy: actor, proposedAt: at, diagnosis: diagnosis, plannedWork: plannedWork, parts: parts,
                estimatedCost: estimatedCost, status: required ? .proposed : .notRequired))
            let detail = ["solution_id": "\(solution.id)", "diagnosis": diagnosis, "planned_work": plannedWork, "parts": parts,
                          "estimated_cost": String(format: "%.2f", estimatedCost), "approval": required ? "required" : "not required"]
            let auditID = try tx.appendAudit(at: at, actor: actor, action: "solution.proposed", ticketID: ticketID, detail: detail)
            if required {
                try tx.enqueue(key: "audit-\(auditID)", kind: "solution.approval_requested", topic: Self.topic(ticket),
                               payload: Self.payload(ticket, event: "solution.proposed", actor: actor, at: at, extra: detail.merging(["audience": "supervisor"]) { $1 }), at: at)
            }
            return solution
        }
    }

    /// A supervisor approves or rejects the pending solution. Nobody approves their own.
    @discardableResult
    public func decide(ticketID: Int64, approve: Bool, actor: String, note: String?, at: Timestamp) throws(ServiceDeskError) -> SolutionRecord {
        let note = note?.trimmingCharacters(in: .whitespacesAndNewlines).nilIfEmpty
        if !approve && note == nil { throw ServiceDeskError(.invalid, "a rejection needs a reason (--reason): what the engineer should change") }
        return try write("decide on the solution of ticket #\(ticketID)") { tx in
            guard let ticket = try tx.ticket(id: ticketID) else { throw ServiceDeskError(.notFound, "no ticket #\(ticketID)") }
            guard var solution = try tx.latestSolution(ticketID: ticketID), solution.status == .proposed else {
                throw ServiceDeskError(.conflict, "ticket #\(ticketID) has no solution waiting for approval")
            }
            guard solution.proposedBy != actor else {
                throw ServiceDeskError(.conflict, "\(actor) proposed this solution and cannot approve or reject it; another supervisor decides")
            }
            solution.status = approve ? .approved : .rejected
            solution.decidedBy = actor
            solution.decidedAt = at
            solution.decisionNote = note
            try tx.decideSolution(id: solution.id, status: solution.status, by: actor, at: at, note: note)
            var detail = ["solution_id": "\(solution.id)", "estimated_cost": String(format: "%.2f", solution.estimatedCost)]
            if let note { detail["note"] = note }
            let action = approve ? "solution.approved" : "solution.rejected"
            let auditID = try tx.appendAudit(at: at, actor: actor, action: action, ticketID: ticketID, detail: detail)
            try tx.enqueue(key: "audit-\(auditID)", kind: action, topic: Self.topic(ticket),
                           payload: Self.payload(ticket, event: action, actor: actor, at: at, extra: detail.merging(["audience": solution.proposedBy]) { $1 }), at: at)
            return solution
        }
    }

    /// The customer's rating of a fixed fault, 1 (poor) to 5 (excellent); the latest counts.
    /// A rating of 2 or less opens a complaint: a ticket of its own, linked to this one, so
    /// "complaint closure" is a tracked loop with an owner and clocks, not a report line.
    public func rate(ticketID: Int64, score: Int, comment: String, actor: String, at: Timestamp)
        throws(ServiceDeskError) -> (ticket: Ticket, complaint: Ticket?) {
        guard (1...5).contains(score) else { throw ServiceDeskError(.invalid, "a rating is 1 (poor) to 5 (excellent), not \(score)") }
        let comment = comment.trimmingCharacters(in: .whitespacesAndNewlines)
        let rules = rules
        return try write("rate ticket #\(ticketID)") { tx in
            guard let ticket = try tx.ticket(id: ticketID) else { throw ServiceDeskError(.notFound, "no ticket #\(ticketID)") }
            guard ticket.status == .resolved || ticket.status == .closed else {
                throw ServiceDeskError(.conflict, "ticket #\(ticketID) is \(ticket.status.rawValue); a fault is rated once it is resolved")
            }
            try tx.insertRating(ticketID: ticketID, score: score, comment: comment, actor: actor, at: at)
            var detail = ["score": "\(score)"]
            if !comment.isEmpty { detail["comment"] = comment }
            try tx.appendAudit(at: at, actor: actor, action: "ticket.rated", ticketID: ticketID, detail: detail)
            guard score <= 2 else { return (ticket, nil) }
            if let open = try tx.openComplaint(about: ticketID) {
                try tx.appendAudit(at: at, actor: actor, action: "complaint.rating", ticketID: open.id, detail: detail)
                return (ticket, open)
            }
            let facts = rules.facts(severity: .warning, site: ticket.site, device: ticket.device)
            let complaint = try tx.insertTicket(NewTicket(
                site: ticket.site, device: ticket.device, sensor: nil, faultCode: "COMPLAINT", source: .customerReport, grade: ticket.grade == .urgent ? .urgent : .general,
                title: "Complaint about #\(ticketID) (rated \(score)/5)\(comment.isEmpty ? "" : ": \(comment)")", openedAt: at,
                customer: ticket.customer, tier: facts.tier, criticality: facts.criticality, timeZone: ticket.timeZone, channel: ticket.channel,
                complaintOf: ticketID))
            try rules.refreshClocks(complaint, in: tx)
            let complaintDetail = detail.merging(["about": "\(ticketID)", "fault_code": "COMPLAINT"]) { $1 }
            let auditID = try tx.appendAudit(at: at, actor: actor, action: "ticket.opened", ticketID: complaint.id, detail: complaintDetail)
            try tx.enqueue(key: "audit-\(auditID)", kind: "complaint.opened", topic: Self.topic(complaint),
                           payload: Self.payload(complaint, event: "complaint.opened", actor: actor, at: at, extra: complaintDetail.merging(["audience": "supervisor"]) { $1 }),
                           at: at)
            return (ticket, complaint)
        }
    }

    /// Adds a note to a ticket's timeline (audited and notified to whoever works it).
    public func addNote(ticketID: Int64, actor: String, action: String, detail: [String: String], at: Timestamp) throws(ServiceDeskError) {
        try write("add a note to ticket #\(ticketID)") { tx in
            guard let ticket = try tx.ticket(id: ticketID) else { throw ServiceDeskError(.notFound, "no ticket #\(ticketID)") }
            let auditID = try tx.appendAudit(at: at, actor: actor, action: action, ticketID: ticketID, detail: detail)
            try tx.enqueue(key: "audit-\(auditID)", kind: action, topic: Self.topic(ticket),
                           payload: Self.payload(ticket, event: action, actor: actor, at: at, extra: detail.merging(["audience": ticket.owner ?? "dispatch"]) { $1 }), at: at)
        }
    }

    /// Raises or lowers a ticket's grade by hand. Lowering needs a reason; the clocks follow
    /// the new grade's targets.
    @discardableResult
    public func regrade(ticketID: Int64, to grade: Grade, actor: String, reason: String?, at: Timestamp) throws(ServiceDeskError) -> Ticket {
        let reason = reason?.trimmingCharacters(in: .whitespacesAndNewlines).nilIfEmpty
        let rules = rules
        return try write("regrade ticket #\(ticketID)") { tx in
            guard var ticket = try tx.ticket(id: ticketID) else { throw ServiceDeskError(.notFound, "no ticket #\(ticketID)") }
            guard ticket.status.isOpen else { throw ServiceDeskError(.conflict, "ticket #\(ticketID) is \(ticket.status.rawValue); only open tickets are regraded") }
            guard grade != ticket.grade else { throw ServiceDeskError(.conflict, "ticket #\(ticketID) is already \(grade.rawValue)") }
            if grade < ticket.grade && reason == nil {
                throw ServiceDeskError(.invalid, "lowering ticket #\(ticketID) from \(ticket.grade.rawValue) to \(grade.rawValue) needs a reason (--reason)")
            }
            let from = ticket.grade
            ticket.grade = grade
            try tx.updateGrade(ticketID: ticketID, grade: grade, at: at)
            try rules.refreshClocks(ticket, in: tx)
            var detail = ["from": from.rawValue, "to": grade.rawValue]
            if let reason { detail["reason"] = reason }
            try tx.appendAudit(at: at, actor: actor, action: grade > from ? "ticket.grade_raised" : "ticket.grade_lowered", ticketID: ticketID, detail: detail)
            return ticket
        }
    }

    /// Records a customer's report. When the device already has an open ticket (predictive
    /// first, or the one with the same fault code), the report is linked to it instead of
    /// opening a duplicate, and may raise its grade.
    public func report(_ r: CustomerReport, at: Timestamp) throws(ServiceDeskError) -> (ticket: Ticket, linked: Bool) {
        guard let device = rules.directory.devices[r.device] else {
            let known = rules.directory.devices.keys.map(\.rawValue).sorted()
            throw ServiceDeskError(.notFound, "device \"\(r.device)\" is not in the inventory\(didYouMeanID(r.device.rawValue, known)); check the id on the equipment's name plate")
        }
        let description = r.description.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !description.isEmpty else { throw ServiceDeskError(.invalid, "describe the fault in the customer's words (--description)") }
        guard !r.reporter.trimmingCharacters(in: .whitespaces).isEmpty else { throw ServiceDeskError(.invalid, "who reported it? (--reporter NAME)") }
        let site = rules.directory.sites[device.site]
        let rules = rules
        return try write("record a customer report for \(r.device)") { tx in
            let actor = "customer:\(r.reporter)"
            let facts = rules.facts(severity: r.severity, site: device.site, device: r.device)
            let grade = rules.policy.grade(facts)
            var detail = ["channel": r.channel.rawValue, "reporter": r.reporter, "description": description, "severity": r.severity.description]
            let open = try tx.openTickets(device: r.device)
            let target = open.first { r.faultCode != nil && $0.faultCode == r.faultCode } ?? open.first { $0.source == .predictive }
                ?? (r.faultCode == nil ? open.first : nil)
            if var ticket = target {
                try tx.appendAudit(at: at, actor: actor, action: "ticket.customer_report", ticketID: ticket.id, detail: detail.merging(["linked": "true"]) { $1 })
                if grade > ticket.grade {
                    try tx.updateGrade(ticketID: ticket.id, grade: grade, at: at)
                    try tx.appendAudit(at: at, actor: actor, action: "ticket.grade_raised", ticketID: ticket.id,
                                       detail: ["from": ticket.grade.rawValue, "to": grade.rawValue, "reason": "customer report: \(description)"])
                    ticket.grade = grade
                    try rules.refreshClocks(ticket, in: tx)
                }
                return (ticket, true)
            }
            let fault = r.faultCode ?? "CUSTOMER_REPORTED"
            let ticket = try tx.insertTicket(NewTicket(
                site: device.site, device: r.device, sensor: nil, faultCode: fault, source: .customerReport, grade: grade,
                title: description, openedAt: at, customer: site?.customer, tier: facts.tier, criticality: facts.criticality,
                timeZone: site?.timeZone, channel: r.channel.rawValue))
            try rules.refreshClocks(ticket, in: tx)
            detail["grade"] = grade.rawValue
            detail["fault_code"] = fault.rawValue
            let auditID = try tx.appendAudit(at: at, actor: actor, action: "ticket.opened", ticketID: ticket.id, detail: detail)
            try tx.enqueue(key: "audit-\(auditID)", kind: "ticket.opened", topic: Self.topic(ticket),
                           payload: Self.payload(ticket, event: "ticket.opened", actor: actor, at: at, extra: detail), at: at)
            return (ticket, false)
        }
    }

    /// Opens a ticket by hand (an engineer's own finding on site, a fault seen on a round). The
    /// usual dedup holds: if the device already has an open ticket for that fault, the finding
    /// is recorded on it instead.
    public func openManual(device: DeviceID, faultCode: FaultCode, severity: Severity, title: String, actor: String,
                           at: Timestamp) throws(ServiceDeskError) -> (ticket: Ticket, existing: Bool) {
        guard let facts = rules.directory.devices[device] else {
            throw ServiceDeskError(.notFound, "device \"\(device)\" is not in the inventory\(didYouMeanID(device.rawValue, rules.directory.devices.keys.map(\.rawValue).sorted()))")
        }
        let title = title.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !title.isEmpty else { throw ServiceDeskError(.invalid, "describe what was found (--description)") }
        let rules = rules
        return try write("open a ticket on \(device)") { tx in
            let site = rules.directory.sites[facts.site]
            let grading = rules.facts(severity: severity, site: facts.site, device: device)
            let grade = rules.policy.grade(grading)
            let detail = ["fault_code": faultCode.rawValue, "severity": severity.description, "description": title, "device": device.rawValue]
            if let open = try tx.openTicket(device: device, faultCode: faultCode) {
                try tx.appendAudit(at: at, actor: actor, action: "ticket.finding", ticketID: open.id, detail: detail)
                return (open, true)
            }
            let ticket = try tx.insertTicket(NewTicket(
                site: facts.site, device: device, sensor: nil, faultCode: faultCode, source: .manual, grade: grade, title: title, openedAt: at,
                customer: site?.customer, tier: grading.tier, criticality: grading.criticality, timeZone: site?.timeZone))
            try rules.refreshClocks(ticket, in: tx)
            let auditID = try tx.appendAudit(at: at, actor: actor, action: "ticket.opened", ticketID: ticket.id, detail: detail.merging(["grade": grade.rawValue]) { $1 })
            try tx.enqueue(key: "audit-\(auditID)", kind: "ticket.opened", topic: Self.topic(ticket),
                           payload: Self.payload(ticket, event: "ticket.opened", actor: actor, at: at, extra: detail), at: at)
            return (ticket, false)
        }
    }

    /// Fires every escalation step that is due at `now` and has not fired yet: reminders at
    /// `warn_at` of a clock, the supervisor at breach, management after a further delay, and
    /// a re-offer of tickets nobody acknowledged. Each step fires once per ticket, clock and
    /// deadline, also across restarts (the escalation table's primary key enforces it), so
    /// calling this after downtime fires what fell due meanwhile, once.
    @discardableResult
    public func escalate(now: Timestamp) throws(ServiceDeskError) -> [EscalationEvent] {
        let rules = rules
        let policy = rules.policy
        return try write("escalation scan") { tx in
            var events: [EscalationEvent] = []
            for ticket in try tx.ticketsNeedingAttention() {
                var due: [(clock: String, level: EscalationEvent.Level, deadline: Timestamp, dueAt: Timestamp)] = []
                if ticket.status == .new {
                    let timeout = policy.escalation.acknowledgeTimeout.wholeMilliseconds
                    let rounds = (now.milliseconds - ticket.openedAt.milliseconds) / timeout
                    // Only the latest round: a gateway that was down for hours re-offers once, not once per missed round.
                    if rounds >= 1 {
                        let at = ticket.openedAt.adding(milliseconds: rounds * timeout)
                        due.append(("acknowledge", .reoffer, at, at))
                    }
                }
                let clocks = try tx.clocks(ticketID: ticket.id).filter { $0.state == .running && $0.deadline != nil }
                if !clocks.isEmpty {
                    let targets = policy.targets(grade: ticket.grade, tier: ticket.tier)
                    let calendar = policy.calendar(targets.calendar, siteTimeZone: ticket.timeZone)
                    let pauses = try tx.pauses(ticketID: ticket.id).map { PauseInterval(start: $0.startedAt, end: $0.endedAt) }
                    for c in clocks {
                        let deadline = c.deadline!
                        let kind = ClockKind(rawValue: c.kind)!
                        let warnTarget = Duration.milliseconds(Int64(Double(c.targetMilliseconds) * policy.escalation.warnAt))
                        if let warn = SLA.deadline(start: c.startedAt, target: warnTarget, calendar: calendar, pauses: kind.isPausable ? pauses : []) {
                            due.append((c.kind, .warning, deadline, warn))
                        }
                        due.append((c.kind, .supervisor, deadline, calendar.adding(policy.escalation.supervisorAfter.wholeMilliseconds, to: deadline)))
                        due.append((c.kind, .management, deadline, calendar.adding(policy.escalation.managementAfter.wholeMilliseconds, to: deadline)))
                    }
                }
                for step in due where step.dueAt <= now {
                    guard try tx.recordEscalation(ticketID: ticket.id, clock: step.clock, level: step.level.rawValue, deadline: step.deadline,
                                                  dueAt: step.dueAt, firedAt: now) else { continue }
                    let audience = switch step.level {
                    case .warning: ticket.owner ?? "dispatch"
                    case .supervisor: "supervisor"
                    case .management: "management"
                    case .reoffer: "dispatch"
                    }
                    var detail = ["clock": step.clock, "level": step.level.rawValue, "deadline": step.deadline.rfc3339,
                                  "due_at": step.dueAt.rfc3339, "audience": audience]
                    if now.milliseconds - step.dueAt.milliseconds > 60_000 { detail["late_by"] = formatMinutes(now.milliseconds - step.dueAt.milliseconds) }
                    if let owner = ticket.owner { detail["owner"] = owner }
                    let action = step.level == .reoffer ? "ticket.reoffered" : "sla.\(step.level.rawValue)"
                    let auditID = try tx.appendAudit(at: now, actor: "desk:escalation", action: action, ticketID: ticket.id, detail: detail)
                    try tx.enqueue(key: "audit-\(auditID)", kind: step.level == .reoffer ? "ticket.reoffered" : "ticket.escalated", topic: Self.topic(ticket),
                                   payload: Self.payload(ticket, event: action, actor: "desk:escalation", at: now, extra: detail), at: now)
                    events.append(EscalationEvent(ticketID: ticket.id, clock: step.clock, level: step.level, deadline: step.deadline,
                                                  dueAt: step.dueAt, firedAt: now))
                }
            }
            return events
        }
    }

    static func topic(_ t: Ticket) -> String { "fieldwatch/events/\(t.site)/\(t.id)" }

    static func payload(_ t: Ticket, event: String, actor: String, at: Timestamp, extra: [String: String]) -> [String: String] {
        extra.merging([
            "event": event, "ticket_id": "\(t.id)", "site": t.site.rawValue, "device": t.device.rawValue, "fault_code": t.faultCode.rawValue,
            "grade": t.grade.rawValue, "status": t.status.rawValue, "actor": actor, "at": at.rfc3339, "title": t.title,
        ]) { _, new in new }
    }

    /// One transaction; a `ServiceDeskError` thrown inside comes out as it is, anything else as
    /// a storage error naming `what`.
    func write<T>(_ what: String, _ body: (TicketTransaction) throws -> T) throws(ServiceDeskError) -> T {
        do {
            return try store.transaction(body)
        } catch let error as ServiceDeskError {
            throw error
        } catch {
            throw ServiceDeskError(.storage, "cannot \(what): \(error)")
        }
    }
}

func formatMinutes(_ ms: Int64) -> String {
    let minutes = ms / 60_000
    return minutes >= 60 ? "\(minutes / 60)h\(String(format: "%02d", minutes % 60))m" : "\(minutes)m"
}

func didYouMeanID(_ word: String, _ known: [String]) -> String {
    known.isEmpty ? "" : didYouMean(word, known)
}

extension String {
    var nilIfEmpty: String? { isEmpty ? nil : self }
}
