import FieldwatchCore
import Foundation
import Hummingbird
import Profiles
import ServiceDesk
import Storage
import TimeSeries

/// The board and tickets: list, report, detail and every step on one ticket.
enum TicketRoutes {
    static let all: [RouteSpec] = [
        RouteSpec(method: .get, path: "/api/v1/board",
                  summary: "Open tickets the caller may see, most urgent deadline first, with clocks and escalation level (the dashboard's board).",
                  operation: .readTickets, response: "BoardItem[]") { request, context, env in
            let token = try context.caller()
            try Access.require(.readTickets, token)
            return try respond(try Board.items(env.store, now: env.now(), visible: { Access.canSee($0, token) }), request, context)
        },
        RouteSpec(method: .get, path: "/api/v1/tickets", summary: "Tickets the caller may see, newest first.", operation: .readTickets,
                  query: [("status", "open (default), all, or one status"), ("grade", "urgent, general or minor"), ("site", "site id"),
                          ("device", "device id"), ("limit", "at most this many (default 100, max 1000)")],
                  response: "Ticket[]") { request, context, env in
            let token = try context.caller()
            try Access.require(.readTickets, token)
            let status = request.query("status") ?? "open"
            guard status == "open" || status == "all" || TicketStatus(rawValue: status) != nil else {
                throw APIError(.unprocessableContent, "invalid", "status \"\(status)\": use open, all or one of \(TicketStatus.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            let grade = try request.query("grade").map { g -> Grade in
                guard let grade = Grade(rawValue: g) else { throw APIError(.unprocessableContent, "invalid", "grade \"\(g)\": use urgent, general or minor") }
                return grade
            }
            let limitText = request.query("limit") ?? "100"
            guard let limit = Int(limitText), (1...1000).contains(limit) else {
                throw APIError(.unprocessableContent, "invalid", "limit \"\(limitText)\": give a number from 1 to 1000")
            }
            let site = request.query("site"), device = request.query("device")
            let tickets = try env.store.tickets(openOnly: status == "open").filter { t in
                Access.canSee(t, token) && (status == "open" || status == "all" || t.status.rawValue == status)
                    && (grade == nil || t.grade == grade) && (site == nil || t.site.rawValue == site) && (device == nil || t.device.rawValue == device)
            }
            return try respond(tickets.prefix(limit).map(TicketView.init), request, context)
        },
        RouteSpec(method: .post, path: "/api/v1/tickets",
                  summary: "Report a fault (a customer's report): linked to the device's open ticket if there is one, else a new ticket.",
                  operation: .report, body: "ReportRequest", response: "ReportOutcome") { request, context, env in
            let token = try context.caller()
            try Access.require(.report, token)
            let body = try await request.body(ReportRequest.self, context: context)
            guard let channel = CustomerReport.Channel(rawValue: body.channel) else {
                throw APIError(.unprocessableContent, "invalid", "channel \"\(body.channel)\": use phone, online or email")
            }
            let device = DeviceID(body.device)
            if token.role == .customer {
                let customer = env.inventory.device(device).flatMap { env.inventory.site($0.site) }?.customer
                guard customer == token.organisation else {
                    throw APIError(.notFound, "not_found", "no device \"\(device)\" at your organisation's sites; GET /api/v1/devices lists them")
                }
            }
            let outcome = try env.workflow.report(CustomerReport(
                device: device, faultCode: body.fault_code.map { FaultCode($0) }, channel: channel, reporter: body.reporter ?? token.subject,
                description: body.description, severity: body.stopped == true ? .critical : .warning), at: env.now())
            let now = env.now()
            return try respond(ReportOutcome(linked: outcome.linked, ticket: TicketView(outcome.ticket),
                                             clocks: try env.store.clocks(ticketID: outcome.ticket.id).map { ClockView($0, now: now) }),
                               request, context, status: outcome.linked ? .ok : .created)
        },
        RouteSpec(method: .get, path: "/api/v1/tickets/{id}",
                  summary: "One ticket with its clocks, pauses, solutions, escalations, detections with evidence, and timeline.",
                  operation: .readTickets, response: "TicketDetail") { request, context, env in
            let token = try context.caller()
            try Access.require(.readTickets, token)
            let ticket = try visibleTicket(try ticketID(context), token, env)
            let detail = try TicketDetail.load(ticket, from: env.store, now: env.now(), may: { Access.roles(for: .step($0)).contains(token.role) })
            return try respond(token.role == .customer ? detail.forCustomer() : detail, request, context)
        },
        RouteSpec(method: .get, path: "/api/v1/cases",
                  summary: "Search the case library (past repairs and the FAQ): words, part numbers, Chinese or English; best first.",
                  operation: .readTeam, query: [("q", "what to look for (required)"), ("model", "only this equipment model (profile id)"),
                                               ("fault", "only this fault code")],
                  response: "CaseSearch") { request, context, env in
            try Access.require(.readTeam, try context.caller())
            guard let q = request.query("q"), !q.trimmingCharacters(in: .whitespaces).isEmpty else {
                throw APIError(.unprocessableContent, "invalid", "give ?q=WORDS, such as ?q=bearing or ?q=跳闸")
            }
            let hits = try env.store.searchCases(q, model: request.query("model"), faultCode: request.query("fault"))
            struct Out: Encodable, Sendable { var query: String; var cases: [CaseLibrary.Suggestion] }
            return try respond(Out(query: q, cases: hits.map { CaseLibrary.Suggestion(case: $0.record, why: String(format: "text rank %.2f", $0.rank)) }),
                               request, context)
        },
        RouteSpec(method: .get, path: "/api/v1/tickets/{id}/cases",
                  summary: "The three past cases most like this ticket (same model and fault, detection signature, words), each with its diagnosis, fix, parts, labour and time to repair.",
                  operation: .readTeam, response: "CaseSuggestions") { request, context, env in
            let token = try context.caller()
            try Access.require(.readTeam, token)
            let ticket = try visibleTicket(try ticketID(context), token, env)
            struct Out: Encodable, Sendable { var ticket: Int64; var cases: [CaseLibrary.Suggestion] }
            return try respond(Out(ticket: ticket.id, cases: try CaseLibrary(store: env.store).suggest(ticketID: ticket.id)), request, context)
        },
        RouteSpec(method: .post, path: "/api/v1/tickets/{id}/actions/{action}",
                  summary: "One lifecycle step: acknowledge, contact, dispatch, arrive, resolve, confirm, reopen, cancel, pause, resume. The caller is the actor.",
                  operation: .step(.acknowledge), body: "StepRequest", response: "StepOutcome") { request, context, env in
            let token = try context.caller()
            let name = context.parameters.get("action") ?? ""
            guard let action = TicketAction(rawValue: name) else {
                throw APIError(.notFound, "no_route", "no action \"\(name)\"; use one of \(TicketAction.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            try Access.require(.step(action), token)
            let id = try ticketID(context)
            _ = try visibleTicket(id, token, env)
            let body = try await request.body(StepRequest.self, context: context)
            var pause: (reason: PauseReason, evidence: String)?
            if action == .pause {
                guard let r = body.pause_reason.flatMap(PauseReason.init(rawValue:)) else {
                    throw APIError(.unprocessableContent, "invalid", "a pause needs pause_reason: \(PauseReason.allCases.map(\.rawValue).joined(separator: ", ")), and evidence")
                }
                pause = (r, body.evidence ?? "")
            }
            let at = try time(body.at, "at", default: env.now())
            guard at <= env.now() + .seconds(60) else { throw APIError(.unprocessableContent, "invalid", "at \(body.at ?? "") is in the future; record steps when they have happened") }
            let ticket = try env.workflow.perform(action, ticketID: id, actor: actor(token), reason: body.reason, pause: pause, at: at)
            return try stepOutcome(ticket, env, request, context)
        },
        RouteSpec(method: .post, path: "/api/v1/tickets/{id}/solutions",
                  summary: "Propose the repair (diagnosis, work, parts, estimated cost); the policy decides whether it needs approval.",
                  operation: .propose, body: "ProposeRequest", response: "Solution") { request, context, env in
            let (token, id, body) = try await ticketCommand(.propose, ProposeRequest.self, request, context, env)
            let solution = try env.workflow.propose(ticketID: id, actor: actor(token), diagnosis: body.diagnosis, plannedWork: body.work,
                                                    parts: body.parts ?? "", estimatedCost: body.cost, at: env.now())
            return try respond(SolutionView(solution), request, context, status: .created)
        },
        RouteSpec(method: .post, path: "/api/v1/tickets/{id}/solutions/decision",
                  summary: "Approve or reject the pending solution (not one's own); a rejection needs a reason.",
                  operation: .decide, body: "DecisionRequest", response: "Solution") { request, context, env in
            let (token, id, body) = try await ticketCommand(.decide, DecisionRequest.self, request, context, env)
            let solution = try env.workflow.decide(ticketID: id, approve: body.approve, actor: actor(token), note: body.reason, at: env.now())
            return try respond(SolutionView(solution), request, context)
        },
        RouteSpec(method: .post, path: "/api/v1/tickets/{id}/rating",
                  summary: "The customer's rating of a fixed fault, 1 to 5 (the latest counts); 2 or less opens a complaint ticket.",
                  operation: .rate, body: "RatingRequest", response: "RatingOutcome") { request, context, env in
            let (token, id, body) = try await ticketCommand(.rate, RatingRequest.self, request, context, env)
            let outcome = try env.workflow.rate(ticketID: id, score: body.score, comment: body.comment ?? "", actor: actor(token), at: env.now())
            return try respond(RatingOutcome(ticket: TicketView(outcome.ticket), complaint: outcome.complaint.map(TicketView.init)), request, context,
                               status: .created)
        },
        RouteSpec(method: .post, path: "/api/v1/tickets/{id}/grade", summary: "Change the grade; lowering it needs a reason.",
                  operation: .regrade, body: "GradeRequest", response: "StepOutcome") { request, context, env in
            let (token, id, body) = try await ticketCommand(.regrade, GradeRequest.self, request, context, env)
            guard let grade = Grade(rawValue: body.grade) else { throw APIError(.unprocessableContent, "invalid", "grade \"\(body.grade)\": use urgent, general or minor") }
            let ticket = try env.workflow.regrade(ticketID: id, to: grade, actor: actor(token), reason: body.reason, at: env.now())
            return try stepOutcome(ticket, env, request, context)
        },
    ]
}
