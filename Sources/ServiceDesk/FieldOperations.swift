import FieldwatchCore
import Foundation
import Profiles
import Storage

/// The field half of the desk: the team, who goes to which ticket, and why. One façade for
/// the command line and the HTTP API over the tickets, the team's records, the inventory
/// (site coordinates) and the device profiles (the trades each fault needs).
public final class FieldOperations: Sendable {
    public let workflow: TicketWorkflow
    public let team: any FieldTeamRepository
    public let inventory: Inventory
    public let profiles: [String: DeviceProfile]
    public let settings: DispatchSettings

    public init(workflow: TicketWorkflow, team: any FieldTeamRepository, inventory: Inventory, profiles: [String: DeviceProfile],
                settings: DispatchSettings = DispatchSettings()) {
        self.workflow = workflow
        self.team = team
        self.inventory = inventory
        self.profiles = profiles
        self.settings = settings
    }

    var store: TicketStore { workflow.store }

    /// Imports a field-team file; see `FieldTeamFile`.
    public func importTeam(_ team: FieldTeam, source: String, actor: String, at: Timestamp) throws(ServiceDeskError) -> FieldTeamImport {
        do {
            return try self.team.importTeam(team, source: source, actor: actor, at: at)
        } catch {
            throw ServiceDeskError(.storage, "cannot import the field team from \(source): \(error)")
        }
    }

    /// A ticket as dispatch sees it; nil when its site is not in the inventory.
    public func job(for t: Ticket) throws(ServiceDeskError) -> DispatchJob {
        guard let site = inventory.site(t.site) else {
            throw ServiceDeskError(.notFound, "ticket #\(t.id)'s site \(t.site) is not in the inventory, so its position is unknown; add it to the inventory")
        }
        let profile = (t.profileID ?? inventory.device(t.device)?.profileID).flatMap { profiles[$0] }
        let clocks: [ClockRecord]
        do { clocks = try store.clocks(ticketID: t.id) } catch { throw ServiceDeskError(.storage, "\(error)") }
        let deadline = clocks.first { $0.kind == "on_site" && $0.state == .running }?.deadline
        return DispatchJob(ticketID: t.id, site: t.site, position: GeoPoint(latitude: site.latitude, longitude: site.longitude), timeZone: site.timeZone,
                           skills: DispatchJob.skills(for: t.faultCode, profile: profile), deadline: deadline, tier: t.tier, grade: t.grade,
                           assignee: t.assignee,
                           parts: Dictionary((profile?.fault(t.faultCode)?.parts ?? []).map { ($0.part, $0.quantity) }, uniquingKeysWith: +))
    }

    /// The team as it stands: active engineers and partners, positions and open jobs.
    public func dispatcher() throws(ServiceDeskError) -> Dispatcher {
        do {
            let open = try team.openJobs()
            var jobs: [String: [(ticket: Int64, position: GeoPoint)]] = [:]
            for (engineer, tickets) in open {
                jobs[engineer] = tickets.compactMap { t in inventory.site(t.site).map { (t.id, GeoPoint(latitude: $0.latitude, longitude: $0.longitude)) } }
            }
            var vans: [String: [String: Int]] = [:]
            for s in try SQLitePartsStore(store).stock() where s.kind == .van { vans[s.location, default: [:]][s.part] = s.available }
            return Dispatcher(engineers: try team.engineers(includeInactive: false), partners: try team.partners(), positions: try team.positions(),
                              jobs: jobs, settings: settings, vans: vans)
        } catch {
            throw ServiceDeskError(.storage, "cannot read the field team: \(error)")
        }
    }

    func openTicket(_ id: Int64) throws(ServiceDeskError) -> Ticket {
        let ticket: Ticket?
        do { ticket = try store.ticket(id: id) } catch { throw ServiceDeskError(.storage, "\(error)") }
        guard let ticket else { throw ServiceDeskError(.notFound, "no ticket #\(id)") }
        guard ticket.status.isOpen && ticket.status != .resolved else {
            throw ServiceDeskError(.conflict, "ticket #\(id) is \(ticket.status.rawValue); only open tickets are dispatched")
        }
        return ticket
    }

    /// Ranked candidates for a ticket, with every excluded engineer and why.
    public func suggest(ticketID: Int64, now: Timestamp) throws(ServiceDeskError) -> DispatchSuggestion {
        let ticket = try openTicket(ticketID)
        let dispatcher = try dispatcher()
        guard !dispatcher.engineers.isEmpty || !dispatcher.partners.isEmpty else {
            throw ServiceDeskError(.conflict, "no field team is loaded; import one with `fieldwatch engineers import FILE`")
        }
        return dispatcher.suggest(try job(for: ticket), now: now)
    }

    /// Sends an engineer to a ticket. The first responder stays the owner; the assignee is
    /// who goes. Reassigning needs a reason. Audited and notified (the engineer's topic and
    /// the ticket's) in one transaction.
    @discardableResult
    public func assign(ticketID: Int64, engineer: String, by actor: String, reason: String?, at: Timestamp) throws(ServiceDeskError) -> Ticket {
        let reason = reason?.trimmingCharacters(in: .whitespacesAndNewlines).nilIfEmpty
        _ = try openTicket(ticketID)
        let known: [Engineer]
        do { known = try team.engineers(includeInactive: true) } catch { throw ServiceDeskError(.storage, "\(error)") }
        guard let person = known.first(where: { $0.id == engineer }) else {
            throw ServiceDeskError(.notFound, "no engineer \"\(engineer)\"\(didYouMeanID(engineer, known.map(\.id))); `fieldwatch engineers list` shows the team")
        }
        guard person.active else { throw ServiceDeskError(.conflict, "\(engineer) is no longer on the team (deactivated by the last import)") }
        return try transaction("assign ticket #\(ticketID)") { tx in
            guard var ticket = try tx.ticket(id: ticketID) else { throw ServiceDeskError(.notFound, "no ticket #\(ticketID)") }
            let previous = ticket.assignee
            if previous == engineer { throw ServiceDeskError(.conflict, "ticket #\(ticketID) is already assigned to \(engineer)") }
            if previous != nil && reason == nil {
                throw ServiceDeskError(.invalid, "ticket #\(ticketID) is assigned to \(previous!); reassigning it to \(engineer) needs a reason (--reason)")
            }
            try tx.assign(ticketID: ticketID, engineer: engineer, at: at)
            ticket.assignee = engineer
            var detail = ["engineer": engineer, "name": person.name]
            // The fault's parts (from the profile's fault catalogue) are set aside for this engineer.
            let needed = ticket.profileID.flatMap { profiles[$0]?.fault(ticket.faultCode)?.parts } ?? []
            if !needed.isEmpty && !ticket.drill {
                let held = try SQLitePartsStore.reserve(needed.map { ($0.part, $0.quantity) }, ticketID: ticketID, engineer: engineer, actor: actor, at: at, in: tx)
                if !held.reserved.isEmpty { detail["parts_reserved"] = held.reserved.joined(separator: ", ") }
                if !held.missing.isEmpty { detail["parts_missing"] = "\(held.missing.joined(separator: ", ")): not in stock anywhere near; order them" }
            }
            if let previous { detail["previous"] = previous }
            if let reason { detail["reason"] = reason }
            let auditID = try tx.appendAudit(at: at, actor: actor, action: previous == nil ? "ticket.assigned" : "ticket.reassigned", ticketID: ticketID, detail: detail)
            if !ticket.drill {
                let payload = TicketWorkflow.payload(ticket, event: "ticket.assigned", actor: actor, at: at, extra: detail)
                try tx.enqueue(key: "audit-\(auditID)", kind: "ticket.assigned", topic: TicketWorkflow.topic(ticket), payload: payload, at: at)
                try tx.enqueue(key: "audit-\(auditID)-engineer", kind: "ticket.assigned", topic: "fieldwatch/engineers/\(engineer)/jobs", payload: payload, at: at)
            }
            return ticket
        }
    }

    /// Records where an engineer is (the CLI, the phone view, a check-in).
    public func locate(engineer: String, at point: GeoPoint, time: Timestamp, actor: String) throws(ServiceDeskError) {
        let known: [Engineer]
        do { known = try team.engineers(includeInactive: false) } catch { throw ServiceDeskError(.storage, "\(error)") }
        guard known.contains(where: { $0.id == engineer }) else {
            throw ServiceDeskError(.notFound, "no active engineer \"\(engineer)\"\(didYouMeanID(engineer, known.map(\.id))); `fieldwatch engineers list` shows the team")
        }
        guard (-90...90).contains(point.latitude), (-180...180).contains(point.longitude) else {
            throw ServiceDeskError(.invalid, "latitude \(point.latitude), longitude \(point.longitude) is not a position; give decimal degrees (-90…90, -180…180)")
        }
        do { try team.locate(EngineerPosition(engineer: engineer, position: point, at: time), actor: actor) } catch {
            throw ServiceDeskError(.storage, "cannot record \(engineer)'s position: \(error)")
        }
    }

    /// One assignment for every open ticket without an engineer (drills aside); see `Dispatcher.plan`.
    public func plan(now: Timestamp) throws(ServiceDeskError) -> DispatchPlan {
        let waiting: [Ticket]
        do { waiting = try store.tickets(openOnly: true).filter { !$0.drill && $0.assignee == nil && $0.status != .resolved } } catch {
            throw ServiceDeskError(.storage, "\(error)")
        }
        var jobs: [DispatchJob] = []
        for t in waiting { jobs.append(try job(for: t)) }
        return try dispatcher().plan(jobs, now: now)
    }
}

extension FieldOperations {
    /// `dispatch.auto`: sends the best in-house candidate (on time first, then earliest) to
    /// each open urgent ticket without an engineer; a partner is a person's call. Returns what
    /// it assigned, as (ticket, engineer).
    @discardableResult
    public func autoDispatch(now: Timestamp) throws(ServiceDeskError) -> [(ticket: Int64, engineer: String)] {
        guard workflow.rules.policy.autoDispatch else { return [] }
        let waiting: [Ticket]
        do {
            waiting = try store.tickets(openOnly: true).filter { !$0.drill && $0.grade == .urgent && $0.assignee == nil && $0.status != .resolved }
        } catch { throw ServiceDeskError(.storage, "\(error)") }
        guard !waiting.isEmpty else { return [] }
        var dispatcher = try dispatcher()
        guard !dispatcher.engineers.isEmpty else { return [] }
        var done: [(Int64, String)] = []
        for t in waiting.sorted(by: { $0.openedAt < $1.openedAt }) {
            guard let job = try? job(for: t),
                  let best = dispatcher.suggest(job, now: now).candidates.first(where: { $0.partner == nil })
            else { continue }
            // The best in house, on time or not: someone goes now; a partner is a person's call.
            let late = (best.sla_slack_minutes ?? 0) < 0 ? ", \(-best.sla_slack_minutes!) min after the on-site deadline" : ""
            try assign(ticketID: t.id, engineer: best.engineer, by: "desk:auto-dispatch",
                       reason: "dispatch.auto: best candidate, ETA \(best.eta_minutes) min\(late)", at: now)
            // The next ticket sees this job on the engineer's load.
            dispatcher.jobs[best.engineer, default: []].append((ticket: t.id, position: job.position))
            done.append((t.id, best.engineer))
        }
        return done
    }
}

extension TicketWorkflow {
    /// Tells supervisors, through the outbox, of each active engineer's certificate that
    /// expires within `days` (an expired certificate stops dispatch sending them to that
    /// trade). Each certificate is noticed once: the outbox key is the engineer, skill and
    /// date, and a notice is audited only when it is new. Returns the new notices.
    @discardableResult
    public func noticeExpiringCertificates(now: Timestamp, within days: Int = 30) throws(ServiceDeskError) -> [String] {
        let engineers: [Engineer]
        do { engineers = try SQLiteFieldTeamStore(store).engineers(includeInactive: false) } catch { throw ServiceDeskError(.storage, "\(error)") }
        let today = String(now.rfc3339.prefix(10)), horizon = String((now + .seconds(Int64(days) * 86_400)).rfc3339.prefix(10))
        let due = engineers.flatMap { e in
            e.skills.compactMap { s in s.certificateUntil.flatMap { $0 >= today && $0 <= horizon ? (e, s.skill, $0) : nil } }
        }
        guard !due.isEmpty else { return [] }
        return try write("queue certificate notices") { tx in
            var notices: [String] = []
            for (e, skill, until) in due {
                let payload = ["event": "certificate.expiring", "engineer": e.id, "name": e.name, "skill": skill, "certificate_until": until,
                               "audience": "supervisor", "at": now.rfc3339]
                guard try tx.enqueue(key: "certificate-\(e.id)-\(skill)-\(until)", kind: "certificate.expiring",
                                     topic: "fieldwatch/team/\(e.id)/certificates", payload: payload, at: now) else { continue }
                try tx.appendAudit(at: now, actor: "desk:certificates", action: "certificate.expiring", ticketID: nil,
                                   detail: ["engineer": e.id, "skill": skill, "certificate_until": until])
                notices.append("\(e.id): \(skill) certificate expires on \(until)")
            }
            return notices
        }
    }

    /// Tells the dispatchers and the stores, through the outbox (`parts.low_stock`), of each
    /// part whose available stock less the demand expected over its lead time falls below its
    /// safety stock (`PartForecast`): before it runs out, naming the tickets that would wait and
    /// their VIP customers. At most one notice per part a day (the outbox key). Returns the new ones.
    @discardableResult
    public func noticeLowStock(profiles: [String: DeviceProfile], now: Timestamp) throws(ServiceDeskError) -> [String] {
        let low: [PartForecast]
        do { low = try PartForecast.load(store: store, profiles: profiles, now: now).filter { $0.warning != nil } } catch {
            throw ServiceDeskError(.storage, "\(error)")
        }
        guard !low.isEmpty else { return [] }
        let day = String(now.rfc3339.prefix(10))
        return try write("queue low-stock notices") { tx in
            var notices: [String] = []
            for f in low {
                let payload = ["event": "parts.low_stock", "part": f.part, "available": "\(f.available)", "predicted_demand": String(format: "%.1f", f.predicted_demand),
                               "safety_stock": "\(f.safety_stock)", "order": "\(f.order)", "tickets": f.needs.map { "#\($0.ticket)" }.joined(separator: ","),
                               "vip": Set(f.needs.filter(\.vip).compactMap(\.customer)).sorted().joined(separator: ", "), "warning": f.warning ?? "",
                               "audience": "dispatch", "at": now.rfc3339]
                guard try tx.enqueue(key: "parts-low-\(f.part)-\(day)", kind: "parts.low_stock", topic: "fieldwatch/parts/\(f.part)/low", payload: payload, at: now)
                else { continue }
                try tx.appendAudit(at: now, actor: "desk:parts", action: "parts.low_stock", ticketID: nil, detail: ["part": f.part, "warning": f.warning ?? ""])
                notices.append("\(f.part): \(f.warning ?? "")")
            }
            return notices
        }
    }
}
