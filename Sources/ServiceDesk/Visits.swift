import FieldwatchCore
import Foundation
import Storage

/// Visits to site and remote assistance: what first-time fix is counted from. Each record is
/// written in one transaction with the lifecycle step it implies (a check-in at the site is the
/// arrival, a fix resolves), its audit record and its notification.
extension FieldOperations {
    /// An engineer checks in at a ticket's site. Within `checkInRadiusMetres` of the site it is
    /// evidence of arrival (the on-site clock stops); away from it, or without a position, it is
    /// flagged and a supervisor may accept it.
    public func startVisit(ticketID: Int64, engineer: String, position: GeoPoint?, at: Timestamp) throws(ServiceDeskError) -> VisitRecord {
        let ticket = try openTicket(ticketID)
        guard [.dispatched, .onSite].contains(ticket.status) else {
            throw ServiceDeskError(.conflict, "ticket #\(ticketID) is \(ticket.status.rawValue); a visit starts once it is dispatched (`fieldwatch tickets dispatch \(ticketID) --by NAME`)")
        }
        try requireEngineer(engineer)
        guard let site = inventory.site(ticket.site) else {
            throw ServiceDeskError(.notFound, "ticket #\(ticketID)'s site \(ticket.site) is not in the inventory, so a check-in cannot be placed; add it to the inventory")
        }
        if let p = position, !(-90...90).contains(p.latitude) || !(-180...180).contains(p.longitude) {
            throw ServiceDeskError(.invalid, "latitude \(p.latitude), longitude \(p.longitude) is not a position; give decimal degrees")
        }
        let distance = position.map { $0.kilometres(to: GeoPoint(latitude: site.latitude, longitude: site.longitude)) * 1000 }
        let within = distance.map { $0 <= settings.checkInRadiusMetres } ?? false
        let rules = workflow.rules, radius = settings.checkInRadiusMetres, received = workflow.clock()
        return try transaction("start a visit on ticket #\(ticketID)") { tx in
            if let open = try tx.openVisit(ticketID: ticketID, engineer: engineer) {
                throw ServiceDeskError(.conflict, "\(engineer) already checked in on ticket #\(ticketID) (visit #\(open.id)); finish it first (`fieldwatch visits finish \(open.id)`)")
            }
            let visit = try tx.insertVisit(ticketID: ticketID, engineer: engineer, at: at, position: position, distanceMetres: distance, withinRadius: within)
            var detail = ["visit": "\(visit.id)", "engineer": engineer]
            if let distance { detail["distance_m"] = String(format: "%.0f", distance) }
            detail["check_in"] = within ? "at the site" : distance == nil ? "no position sent: needs a supervisor's acceptance"
                : String(format: "%.0f m from the site (more than %.0f m): needs a supervisor's acceptance", distance!, radius)
            try tx.appendAudit(at: at, actor: engineer, action: "visit.started", ticketID: ticketID, detail: detail)
            if within && ticket.status == .dispatched {
                _ = try TicketWorkflow.step(.arrive, ticketID: ticketID, actor: engineer, reason: "check-in \(String(format: "%.0f", distance!)) m from the site",
                                            pause: nil, at: at, receivedAt: received, in: tx, rules: rules)
            }
            return visit
        }
    }

    /// A supervisor accepts a check-in made away from the site (or without a position) as the arrival.
    public func acceptVisit(_ visitID: Int64, by supervisor: String, at: Timestamp) throws(ServiceDeskError) -> VisitRecord {
        let rules = workflow.rules, received = workflow.clock()
        return try transaction("accept visit #\(visitID)") { tx in
            guard let visit = try tx.visit(id: visitID) else { throw ServiceDeskError(.notFound, "no visit #\(visitID)") }
            guard !visit.withinRadius && visit.acceptedBy == nil else {
                throw ServiceDeskError(.conflict, "visit #\(visitID)'s check-in \(visit.withinRadius ? "was at the site" : "was already accepted by \(visit.acceptedBy!)"); nothing to accept")
            }
            guard supervisor != visit.engineer else { throw ServiceDeskError(.invalid, "\(supervisor) cannot accept their own check-in; a supervisor does") }
            try tx.acceptVisit(id: visitID, by: supervisor)
            try tx.appendAudit(at: at, actor: supervisor, action: "visit.accepted", ticketID: visit.ticketID,
                               detail: ["visit": "\(visitID)", "engineer": visit.engineer, "started_at": visit.startedAt.rfc3339])
            if try tx.ticket(id: visit.ticketID)?.status == .dispatched {
                _ = try TicketWorkflow.step(.arrive, ticketID: visit.ticketID, actor: visit.engineer, reason: "check-in accepted by \(supervisor)",
                                            pause: nil, at: visit.startedAt, receivedAt: received, in: tx, rules: rules)
            }
            var accepted = visit
            accepted.acceptedBy = supervisor
            return accepted
        }
    }

    /// The engineer finishes a visit: fixed (the ticket is resolved) or not, and why not.
    public func finishVisit(_ visitID: Int64, outcome: VisitRecord.Outcome, reason: VisitRecord.NotFixedReason?, work: String, labourHours: Double,
                            parts: String?, at: Timestamp) throws(ServiceDeskError) -> VisitRecord {
        let work = work.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !work.isEmpty else { throw ServiceDeskError(.invalid, "say what was done (--work), for the next engineer and the case library") }
        guard labourHours >= 0, labourHours.isFinite, labourHours <= 72 else {
            throw ServiceDeskError(.invalid, "labour hours \(labourHours): give the hours worked on this visit, 0 to 72")
        }
        if outcome == .notFixed && reason == nil {
            throw ServiceDeskError(.invalid, "a visit that did not fix the fault needs a reason: \(VisitRecord.NotFixedReason.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        if outcome == .fixed && reason != nil { throw ServiceDeskError(.invalid, "a fixed visit takes no not-fixed reason") }
        let parts = try parseParts(parts)
        let rules = workflow.rules, received = workflow.clock()
        let finished = try transaction("finish visit #\(visitID)") { tx in
            guard var visit = try tx.visit(id: visitID) else { throw ServiceDeskError(.notFound, "no visit #\(visitID); `fieldwatch tickets show N` lists a ticket's visits") }
            guard visit.finishedAt == nil else { throw ServiceDeskError(.conflict, "visit #\(visitID) was already finished (\(visit.outcome!.rawValue))") }
            guard at >= visit.startedAt else { throw ServiceDeskError(.invalid, "\(at.rfc3339) is before the visit started (\(visit.startedAt.rfc3339))") }
            try tx.finishVisit(id: visitID, at: at, outcome: outcome, reason: reason, work: work, labourHours: labourHours, parts: parts)
            var detail = ["visit": "\(visitID)", "outcome": outcome.rawValue, "work": work, "labour_hours": String(format: "%g", labourHours)]
            if let reason { detail["reason"] = reason.rawValue }
            if let parts { detail["parts"] = parts }
            if let parts {
                let used = parts.split(separator: ",").compactMap { item -> (part: String, quantity: Int)? in
                    let p = item.split(separator: ":")
                    return p.count == 2 ? (String(p[0]), Int(p[1]) ?? 0) : nil
                }
                let unsourced = try SQLitePartsStore.consume(used, engineer: visit.engineer, ticketID: visit.ticketID, visitID: visitID, at: at, in: tx)
                if !unsourced.isEmpty { detail["stock_warning"] = "used but in no location's stock: \(unsourced.joined(separator: ", ")); count the stock" }
            }
            try tx.appendAudit(at: at, actor: visit.engineer, action: "visit.finished", ticketID: visit.ticketID, detail: detail)
            if outcome == .fixed {
                guard try tx.ticket(id: visit.ticketID)?.status == .onSite else {
                    throw ServiceDeskError(.conflict, "ticket #\(visit.ticketID) has no accepted arrival: the check-in of visit #\(visitID) was away from the site; a supervisor accepts it first (`fieldwatch visits accept \(visitID) --by NAME`)")
                }
                _ = try TicketWorkflow.step(.resolve, ticketID: visit.ticketID, actor: visit.engineer, reason: "fixed on visit #\(visitID): \(work)",
                                            pause: nil, at: at, receivedAt: received, in: tx, rules: rules)
            }
            visit.finishedAt = at
            visit.outcome = outcome
            visit.reason = reason
            visit.work = work
            visit.labourHours = labourHours
            visit.parts = parts
            return visit
        }
        if outcome == .fixed, let ticket = try? workflow.store.ticket(id: finished.ticketID) { workflow.caseIfFixed(ticket, at: at) }
        return finished
    }

    /// Remote assistance (a video call, a live telemetry review). A remote fix resolves the
    /// ticket without a visit and is counted apart from first-time fix.
    public func remoteAssist(ticketID: Int64, by actor: String, checked: String, instructions: String, outcome: VisitRecord.Outcome,
                             at: Timestamp) throws(ServiceDeskError) -> RemoteAssistRecord {
        let checked = checked.trimmingCharacters(in: .whitespacesAndNewlines), instructions = instructions.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !checked.isEmpty, !instructions.isEmpty else {
            throw ServiceDeskError(.invalid, "say what was checked (--checked) and what the customer was told to do (--instructions)")
        }
        guard !actor.trimmingCharacters(in: .whitespaces).isEmpty else { throw ServiceDeskError(.invalid, "who gave the assistance? (--by NAME)") }
        _ = try openTicket(ticketID)
        let rules = workflow.rules, received = workflow.clock()
        let record = try transaction("record remote assistance on ticket #\(ticketID)") { tx in
            let record = try tx.insertRemoteAssist(ticketID: ticketID, actor: actor, at: at, checked: checked, instructions: instructions, outcome: outcome)
            try tx.appendAudit(at: at, actor: actor, action: "remote.assisted", ticketID: ticketID,
                               detail: ["checked": checked, "instructions": instructions, "outcome": outcome.rawValue, "remote": "\(record.id)"])
            if outcome == .fixed {
                _ = try TicketWorkflow.step(.resolve, ticketID: ticketID, actor: actor, reason: "fixed remotely: \(instructions)", pause: nil, at: at, receivedAt: received, in: tx, rules: rules)
            }
            return record
        }
        if outcome == .fixed, let ticket = try? workflow.store.ticket(id: ticketID) { workflow.caseIfFixed(ticket, at: at) }
        return record
    }

    /// `PART:QTY,PART:QTY` as typed, checked and normalised.
    func parseParts(_ text: String?) throws(ServiceDeskError) -> String? {
        guard let text = text?.trimmingCharacters(in: .whitespaces), !text.isEmpty else { return nil }
        var out: [String] = []
        for item in text.split(separator: ",") {
            let pieces = item.split(separator: ":").map { $0.trimmingCharacters(in: .whitespaces) }
            guard pieces.count == 2, !pieces[0].isEmpty, let qty = Int(pieces[1]), qty > 0 else {
                throw ServiceDeskError(.invalid, "parts \"\(item)\": write PART:QTY, comma-separated, such as SKF-6309-2Z:1,GREASE-LGHP2-0.4KG:1")
            }
            out.append("\(pieces[0]):\(qty)")
        }
        return out.joined(separator: ",")
    }

    func requireEngineer(_ id: String) throws(ServiceDeskError) {
        let known: [Engineer]
        do { known = try team.engineers(includeInactive: false) } catch { throw ServiceDeskError(.storage, "\(error)") }
        guard known.contains(where: { $0.id == id }) else {
            throw ServiceDeskError(.notFound, "no active engineer \"\(id)\"\(didYouMeanID(id, known.map(\.id))); `fieldwatch engineers list` shows the team")
        }
    }

    func transaction<T>(_ what: String, _ body: (TicketTransaction) throws -> T) throws(ServiceDeskError) -> T {
        try workflow.write(what, body)
    }
}
