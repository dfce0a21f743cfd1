import FieldwatchCore
import Foundation
import Storage

// The one read model of a ticket with everything recorded about it. The HTTP API
// (`GET /api/v1/tickets/{id}`) and the command line (`fieldwatch tickets show`) both build
// their output from `TicketDetail.load`, so the two can no longer disagree on a field name
// or a time format: every time in it is RFC 3339, every key snake_case.

/// One sensor reading, as the telemetry endpoint and the evidence of a detection give it.
public struct SampleView: Codable, Sendable, Equatable {
    public var ts: String
    public var value: Double

    public init(ts: String, value: Double) {
        self.ts = ts
        self.value = value
    }

    public init(_ s: Sample) {
        ts = s.timestamp.rfc3339
        value = s.value
    }
}

/// A detection stored with a ticket, with the samples around it.
public struct DetectionView: Codable, Sendable, Equatable {
    public var id: Int64
    /// raised or cleared.
    public var transition: String
    /// warning or critical.
    public var severity: String
    public var sensor: String
    /// Sample time of the detection (the device's clock).
    public var detected_at: String
    public var condition_since: String
    public var value: Double
    public var limit: Double
    public var unit: String
    public var detector: String
    public var detector_version: Int
    public var profile_id: String
    public var profile_version: Int
    public var summary: String
    public var evidence: [SampleView]
    /// When the desk stored it (the gateway's clock).
    public var recorded_at: String
    public var forecast: ForecastView?

    public init(_ d: DetectionRecord) {
        id = d.id
        transition = d.transition.rawValue
        severity = d.severity.description
        sensor = d.sensor.rawValue
        detected_at = d.detectedAt.rfc3339
        condition_since = d.conditionSince.rfc3339
        value = d.value
        limit = d.limit
        unit = d.unit
        detector = d.detector
        detector_version = d.detectorVersion
        profile_id = d.profileID
        profile_version = d.profileVersion
        summary = d.summary
        evidence = d.evidence.map(SampleView.init)
        recorded_at = d.recordedAt.rfc3339
        forecast = d.forecast.map(ForecastView.init)
    }
}

/// A pause of a ticket's clocks.
public struct PauseView: Codable, Sendable, Equatable {
    public var id: Int64
    public var reason: String
    public var evidence: String
    public var actor: String
    public var started_at: String
    /// nil while the pause lasts.
    public var ended_at: String?

    public init(_ p: PauseRecord) {
        id = p.id
        reason = p.reason
        evidence = p.evidence
        actor = p.actor
        started_at = p.startedAt.rfc3339
        ended_at = p.endedAt?.rfc3339
    }
}

/// A proposed repair and the decision on it.
public struct SolutionView: Codable, Sendable, Equatable {
    public var id: Int64
    public var ticket_id: Int64
    public var proposed_by: String
    public var proposed_at: String
    public var diagnosis: String
    public var planned_work: String
    public var parts: String
    /// nil in a customer's view: an internal estimate, not a quote.
    public var estimated_cost: Double?
    /// proposed, approved, rejected or not_required.
    public var status: String
    public var decided_by: String?
    public var decided_at: String?
    public var decision_note: String?

    public init(_ s: SolutionRecord) {
        id = s.id
        ticket_id = s.ticketID
        proposed_by = s.proposedBy
        proposed_at = s.proposedAt.rfc3339
        diagnosis = s.diagnosis
        planned_work = s.plannedWork
        parts = s.parts
        estimated_cost = s.estimatedCost
        status = s.status.rawValue
        decided_by = s.decidedBy
        decided_at = s.decidedAt?.rfc3339
        decision_note = s.decisionNote
    }
}

/// A customer's rating of a fixed fault.
public struct RatingView: Codable, Sendable, Equatable {
    public var id: Int64
    public var score: Int
    public var comment: String
    public var actor: String
    public var at: String

    public init(_ r: RatingRecord) {
        id = r.id
        score = r.score
        comment = r.comment
        actor = r.actor
        at = r.at.rfc3339
    }
}

/// An escalation step that fired for a clock's deadline.
public struct EscalationView: Codable, Sendable, Equatable {
    public var clock: String
    /// warning, supervisor or management.
    public var level: String
    public var deadline: String
    public var due_at: String
    public var fired_at: String
}

/// A visit to site: check-in, and the finish when there is one.
public struct VisitView: Codable, Sendable, Equatable {
    public var id: Int64
    public var engineer: String
    public var started_at: String
    public var distance_m: Double?
    /// at_site, away (needs a supervisor's acceptance) or accepted.
    public var check_in: String
    public var accepted_by: String?
    public var finished_at: String?
    public var outcome: String?
    public var reason: String?
    public var work: String?
    public var labour_hours: Double?
    public var parts: String?

    public init(_ v: VisitRecord) {
        id = v.id
        engineer = v.engineer
        started_at = v.startedAt.rfc3339
        distance_m = v.distanceMetres.map { $0.rounded() }
        check_in = v.withinRadius ? "at_site" : v.acceptedBy == nil ? "away" : "accepted"
        accepted_by = v.acceptedBy
        finished_at = v.finishedAt?.rfc3339
        outcome = v.outcome?.rawValue
        reason = v.reason?.rawValue
        work = v.work
        labour_hours = v.labourHours
        parts = v.parts
    }
}

/// Remote assistance given on a ticket.
public struct RemoteAssistView: Codable, Sendable, Equatable {
    public var id: Int64
    public var actor: String
    public var at: String
    public var checked: String
    public var instructions: String
    public var outcome: String

    public init(_ r: RemoteAssistRecord) {
        id = r.id
        actor = r.actor
        at = r.at.rfc3339
        checked = r.checked
        instructions = r.instructions
        outcome = r.outcome.rawValue
    }
}

/// One record of the audit trail, as people read it.
public struct TimelineEntry: Codable, Sendable, Equatable {
    public var id: Int64
    public var at: String
    public var actor: String
    public var action: String
    /// The step's details (the audit record's detail, a flat string map).
    public var detail: [String: String]
    /// The record's link in the hash chain.
    public var hash: String

    public init(_ a: AuditRecord) {
        id = a.id
        at = a.at.rfc3339
        actor = a.actor
        action = a.action
        detail = (try? JSONDecoder().decode([String: String].self, from: Data(a.detail.utf8))) ?? ["text": a.detail]
        hash = a.hash
    }
}

/// A ticket with its clocks, pauses, solutions, ratings, escalations, detections (with
/// evidence and forecasts) and timeline.
public struct TicketDetail: Codable, Sendable, Equatable {
    public var ticket: TicketView
    /// The lifecycle steps possible now (for the API: those the caller's role may take).
    public var allowed_actions: [String]
    public var clocks: [ClockView]
    public var pauses: [PauseView]
    public var solutions: [SolutionView]
    public var ratings: [RatingView]
    public var escalations: [EscalationView]
    public var detections: [DetectionView]
    public var visits: [VisitView]
    public var remote_assists: [RemoteAssistView]
    public var timeline: [TimelineEntry]

    /// Reads a ticket and everything recorded about it; nil when there is no such ticket.
    /// `may` filters the lifecycle steps offered (a role's rights); by default all possible ones.
    public static func load(_ id: Int64, from store: TicketStore, now: Timestamp,
                            may: (TicketAction) -> Bool = { _ in true }) throws(StorageError) -> TicketDetail? {
        guard let ticket = try store.ticket(id: id) else { return nil }
        return try load(ticket, from: store, now: now, may: may)
    }

    public static func load(_ ticket: Ticket, from store: TicketStore, now: Timestamp,
                            may: (TicketAction) -> Bool = { _ in true }) throws(StorageError) -> TicketDetail {
        let id = ticket.id
        return TicketDetail(
            ticket: TicketView(ticket),
            allowed_actions: Lifecycle.allowedActions(from: ticket.status, paused: ticket.paused).filter(may).map(\.rawValue),
            clocks: try store.clocks(ticketID: id).map { ClockView($0, now: now) },
            pauses: try store.pauses(ticketID: id).map(PauseView.init),
            solutions: try store.solutions(ticketID: id).map(SolutionView.init),
            ratings: try store.ratings(ticketID: id).map(RatingView.init),
            escalations: try store.escalations(ticketID: id).map {
                EscalationView(clock: $0.clock, level: $0.level, deadline: $0.deadline.rfc3339, due_at: $0.dueAt.rfc3339, fired_at: $0.firedAt.rfc3339)
            },
            detections: try store.detections(ticketID: id).map(DetectionView.init),
            visits: try store.visits(ticketID: id).map(VisitView.init),
            remote_assists: try store.remoteAssists(ticketID: id).map(RemoteAssistView.init),
            timeline: try store.auditRecords(ticketID: id).map(TimelineEntry.init))
    }

    /// The steps of the timeline a customer sees: what was done for them, not how the desk
    /// runs itself (notes, escalations, regrades, findings, merges, certificates). A solution's
    /// steps show, without its cost estimate or the supervisor's note (not in the keys below).
    public static let customerTimelineActions: Set<String> = Set(
        ["ticket.opened", "ticket.customer_report", "ticket.rated", "visit.started", "visit.finished", "remote.assisted", "complaint.rating",
         "solution.proposed", "solution.approved", "solution.rejected"]
            + TicketAction.allCases.map { "ticket.\($0.rawValue)" })
    /// The facts of a timeline step a customer sees; SLA verdicts ("late by"), receipt times,
    /// late-logging marks, owners and internal ids stay with the staff.
    public static let customerDetailKeys: Set<String> = [
        "from", "to", "reason", "pause_reason", "evidence", "score", "comment", "outcome", "work", "description", "engineer", "channel",
        "checked", "instructions", "summary", "fault_code", "severity",
    ]

    /// What a customer sees of a ticket of theirs, decided field by field: the ticket, its
    /// clocks (the commitments made to them), pauses with their evidence, detections and their
    /// evidence, visits (who came, when, what was done), remote assistance and ratings, and the
    /// steps of the timeline above. Not: escalations, estimated costs, supervisors' decision
    /// notes, labour hours, check-in distances and acceptances, or any step or fact outside
    /// the lists above.
    public func forCustomer() -> TicketDetail {
        var d = self
        d.escalations = []
        d.solutions = solutions.map {
            var s = $0
            s.estimated_cost = nil
            s.decided_by = nil
            s.decision_note = nil
            return s
        }
        d.visits = visits.map {
            var v = $0
            v.labour_hours = nil
            v.distance_m = nil
            v.accepted_by = nil
            if v.check_in == "accepted" || v.check_in == "away" { v.check_in = "checked_in" }
            return v
        }
        d.timeline = timeline.filter { Self.customerTimelineActions.contains($0.action) }.map {
            var t = $0
            t.detail = t.detail.filter { Self.customerDetailKeys.contains($0.key) }
            return t
        }
        return d
    }
}
