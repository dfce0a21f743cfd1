import FieldwatchCore
import Foundation
import Hummingbird
import Profiles
import ServiceDesk
import Storage
import TimeSeries

/// Every route of the API. Field operations (engineers, visits, parts, knowledge base) add
/// their own entries here under /api/v1/…; the router and /openapi.json follow.
enum APIRoutes {
    static let all: [RouteSpec] = [
        RouteSpec(method: .get, path: "/healthz", summary: "Liveness: 200 while the gateway serves.", operation: nil, response: "Health") { request, context, _ in
            try respond(["status": "ok"], request, context)
        },
        RouteSpec(method: .get, path: "/openapi.json", summary: "This document.", operation: nil, response: "OpenAPI document") { request, context, _ in
            var response = Response(status: .ok, headers: [.contentType: "application/json"],
                                    body: .init(byteBuffer: ByteBuffer(bytes: OpenAPI.document())))
            response.headers[.cacheControl] = "no-cache"
            return response
        },
        RouteSpec(method: .get, path: "/metrics", summary: "Gateway metrics in the Prometheus text format (no token, for scrapers).",
                  operation: nil, response: "Prometheus text") { request, context, env in
            guard let metrics = env.metrics else { throw APIError(.notFound, "not_found", "this server exposes no metrics") }
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                            body: .init(byteBuffer: ByteBuffer(string: metrics())))
        },
        RouteSpec(method: .get, path: "/api/v1/me", summary: "Who the token speaks for: subject, role, organisation.",
                  operation: .readTickets, response: "Me") { request, context, _ in
            let token = try context.caller()
            return try respond(MeView(subject: token.subject, role: token.role.rawValue, organisation: token.organisation, token_name: token.name),
                               request, context)
        },
        RouteSpec(method: .get, path: "/api/v1/board",
                  summary: "Open tickets the caller may see, most urgent deadline first, with clocks and escalation level (the dashboard's board).",
                  operation: .readTickets, response: "BoardItem[]") { request, context, env in
            let token = try context.caller()
            try Access.require(.readTickets, token)
            let now = env.now()
            let items = try env.store.tickets(openOnly: true).filter { !$0.drill && Access.canSee($0, token) }.map { t -> BoardItem in
                let clocks = try env.store.clocks(ticketID: t.id)
                let next = clocks.filter { $0.state == .running && $0.deadline != nil }.min { $0.deadline! < $1.deadline! }
                let deadlines = Set(clocks.compactMap { $0.deadline?.milliseconds })
                let fired = try env.store.escalations(ticketID: t.id).filter { deadlines.contains($0.deadline.milliseconds) }.map(\.level)
                let level = ["management", "supervisor", "warning"].first { fired.contains($0) }
                let share = next.map { Double($0.deadline!.milliseconds - now.milliseconds) / Double(max(1, $0.targetMilliseconds)) }
                return BoardItem(ticket: TicketView(t), clocks: clocks.map { ClockView($0, now: now) }, next_clock: next?.kind,
                                 next_deadline: next?.deadline?.rfc3339, share_left: share, escalation: level)
            }
            let sorted = items.sorted { ($0.next_deadline ?? "~") < ($1.next_deadline ?? "~") }
            return try respond(sorted, request, context)
        },
        RouteSpec(method: .get, path: "/api/v1/sites", summary: "Sites the caller may see, with device and open-ticket counts.",
                  operation: .readSites, response: "Site[]") { request, context, env in
            let token = try context.caller()
            try Access.require(.readSites, token)
            let open = try env.store.tickets(openOnly: true).filter { !$0.drill }
            let sites = env.inventory.sites.filter { Access.canSee(siteCustomer: $0.customer, token) }.map { s in
                SiteView(id: s.id.rawValue, name: s.name, customer: s.customer, tier: s.tier.rawValue, timezone: s.timeZone, latitude: s.latitude,
                         longitude: s.longitude, devices: env.inventory.devices.filter { $0.site == s.id }.count,
                         open_tickets: open.filter { $0.site == s.id && Access.canSee($0, token) }.count)
            }
            return try respond(sites, request, context)
        },
        RouteSpec(method: .get, path: "/api/v1/devices", summary: "Devices with status, last reading per sensor and open tickets.",
                  operation: .readSites, query: [("site", "only this site's devices")], response: "Device[]") { request, context, env in
            let token = try context.caller()
            try Access.require(.readSites, token)
            let site = request.query("site")
            let open = try env.store.tickets(openOnly: true).filter { !$0.drill }
            let customers = Dictionary(env.inventory.sites.map { ($0.id, $0.customer) }, uniquingKeysWith: { a, _ in a })
            let devices = env.inventory.devices.filter { d in
                (site == nil || d.site.rawValue == site) && Access.canSee(siteCustomer: customers[d.site] ?? "", token)
            }
            return try respond(devices.map { deviceView($0, env, open: open.filter { Access.canSee($0, token) }) }, request, context)
        },
        RouteSpec(method: .get, path: "/api/v1/devices/{id}/telemetry",
                  summary: "One sensor's samples from the in-memory ring buffer, with window statistics and limits.",
                  operation: .readSites,
                  query: [("sensor", "sensor key (required)"), ("from", "RFC 3339 start (default: 1 h before `to`)"), ("to", "RFC 3339 end (default: now)"),
                          ("step", "roll the window up into buckets of this length, such as 1m (min, max, mean, count per bucket)")],
                  response: "Telemetry") { request, context, env in
            let token = try context.caller()
            try Access.require(.readSites, token)
            let deviceID = DeviceID(context.parameters.get("id") ?? "")
            guard let device = env.inventory.device(deviceID),
                  Access.canSee(siteCustomer: env.inventory.site(device.site)?.customer ?? "", token) else {
                throw APIError(.notFound, "not_found", "no device \"\(deviceID)\" that this token may see; GET /api/v1/devices lists them")
            }
            let profile = env.profiles[device.profileID]
            guard let sensorKey = request.query("sensor") else {
                let known = profile?.sensors.map(\.key.rawValue).joined(separator: ", ") ?? ""
                throw APIError(.unprocessableContent, "invalid", "give ?sensor=KEY; \(deviceID) has \(known)")
            }
            guard let sensor = profile?.sensor(SensorKey(sensorKey)) else {
                let known = profile?.sensors.map(\.key.rawValue) ?? []
                throw APIError(.notFound, "not_found", "\(deviceID) has no sensor \"\(sensorKey)\"; it has \(known.joined(separator: ", "))")
            }
            let to = try time(request.query("to"), "to", default: env.now())
            let from = try time(request.query("from"), "from", default: to - .seconds(3600))
            guard from <= to else { throw APIError(.unprocessableContent, "invalid", "from (\(from.rfc3339)) is after to (\(to.rfc3339))") }
            let key = SeriesKey(device: deviceID, sensor: sensor.key)
            let samples = env.series?.range(key, from: from, to: to) ?? []
            let values = samples.map(\.value)
            var rollup: [BucketView]?
            if let stepText = request.query("step") {
                guard let step = parseDuration(stepText), step >= .seconds(1) else {
                    throw APIError(.unprocessableContent, "invalid", "step \"\(stepText)\": give a duration of at least 1s, such as 30s, 1m or 1h")
                }
                let width = step.wholeMilliseconds
                guard (to.milliseconds - from.milliseconds) / width <= 10_000 else {
                    throw APIError(.unprocessableContent, "invalid", "step \(stepText) makes more than 10000 buckets in this window; use a longer step")
                }
                rollup = Dictionary(grouping: samples) { ($0.timestamp.milliseconds - from.milliseconds) / width }.sorted { $0.key < $1.key }.map { index, group in
                    let v = group.map(\.value)
                    return BucketView(ts: Timestamp(milliseconds: from.milliseconds + index * width).rfc3339, count: v.count, min: v.min()!, max: v.max()!,
                                      mean: v.reduce(0, +) / Double(v.count))
                }
            }
            return try respond(TelemetryView(
                device: deviceID.rawValue, sensor: sensorKey, unit: sensor.unit, from: from.rfc3339, to: to.rfc3339,
                samples: samples.map { SampleView(ts: $0.timestamp.rfc3339, value: $0.value) }, count: samples.count, min: values.min(),
                max: values.max(), mean: values.isEmpty ? nil : values.reduce(0, +) / Double(values.count),
                warning: sensor.limits?.warning, critical: sensor.limits?.critical, rollup: rollup), request, context)
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
            let now = env.now()
            let store = env.store
            let allowed = Lifecycle.allowedActions(from: ticket.status, paused: ticket.paused)
                .filter { Access.roles(for: .step($0)).contains(token.role) }.map(\.rawValue)
            return try respond(TicketDetailView(
                ticket: TicketView(ticket), allowed_actions: allowed, clocks: try store.clocks(ticketID: ticket.id).map { ClockView($0, now: now) },
                pauses: try store.pauses(ticketID: ticket.id), solutions: try store.solutions(ticketID: ticket.id),
                ratings: try store.ratings(ticketID: ticket.id),
                escalations: try store.escalations(ticketID: ticket.id).map {
                    .init(clock: $0.clock, level: $0.level, deadline: $0.deadline.rfc3339, due_at: $0.dueAt.rfc3339, fired_at: $0.firedAt.rfc3339)
                },
                detections: try store.detections(ticketID: ticket.id), timeline: try store.auditRecords(ticketID: ticket.id)), request, context)
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
            return try respond(solution, request, context, status: .created)
        },
        RouteSpec(method: .post, path: "/api/v1/tickets/{id}/solutions/decision",
                  summary: "Approve or reject the pending solution (not one's own); a rejection needs a reason.",
                  operation: .decide, body: "DecisionRequest", response: "Solution") { request, context, env in
            let (token, id, body) = try await ticketCommand(.decide, DecisionRequest.self, request, context, env)
            let solution = try env.workflow.decide(ticketID: id, approve: body.approve, actor: actor(token), note: body.reason, at: env.now())
            return try respond(solution, request, context)
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
        RouteSpec(method: .post, path: "/api/v1/assistant",
                  summary: "Ask the customer assistant: answers from the caller's own tickets and the FAQ, names its sources, and hands the question to a person (through a ticket) when unsure.",
                  operation: .ask, body: "AskRequest", response: "AssistantAnswer") { request, context, env in
            let token = try context.caller()
            try Access.require(.ask, token)
            let body = try await request.body(AskRequest.self, context: context)
            let visible = try env.store.tickets().filter { Access.canSee($0, token) }
            var device: DeviceID?
            if let id = body.device {
                let customer = env.inventory.device(DeviceID(id)).flatMap { env.inventory.site($0.site) }?.customer
                guard let customer, Access.canSee(siteCustomer: customer, token) else {
                    throw APIError(.notFound, "not_found", "no device \"\(id)\" that this token may see; GET /api/v1/devices lists them")
                }
                device = DeviceID(id)
            }
            let answer = try Assistant(faq: env.faq, workflow: env.workflow).ask(body.question, visible: visible, device: device, actor: actor(token), at: env.now())
            return try respond(answer, request, context)
        },
        RouteSpec(method: .get, path: "/api/v1/kpis",
                  summary: "Service KPIs of the tickets the caller may see, opened in a month (definitions kpi-1), with the KPI table against the brief's targets.",
                  operation: .readTickets, query: [("month", "YYYY-MM (default: this month)"), ("timezone", "IANA zone of the month (default UTC)")],
                  response: "KPIs") { request, context, env in
            let token = try context.caller()
            try Access.require(.readTickets, token)
            let zoneName = request.query("timezone") ?? "UTC"
            guard let zone = TimeZone(identifier: zoneName) else { throw APIError(.unprocessableContent, "invalid", "timezone \"\(zoneName)\" is not an IANA zone such as Asia/Shanghai") }
            let now = env.now()
            let month = request.query("month") ?? String(now.rfc3339.prefix(7))
            guard let period = MonthlyReport.period(month, timeZone: zone) else {
                throw APIError(.unprocessableContent, "invalid", "month \"\(month)\": expected YYYY-MM, such as 2026-11")
            }
            let records = try env.store.kpiRecords(from: period.from, to: period.to).filter { Access.canSee($0.ticket, token) }
            let kpis = ServiceKPIs.compute(records, from: period.from, to: period.to, now: now,
                                           component: { env.profiles[$0]?.fault($1)?.component })
            return try respond(KPIView(month: month, timezone: zoneName, kpis: kpis,
                                       table: MonthlyReport.rows(kpis).map { .init(kpi: $0.kpi, value: $0.value, target: $0.target, status: $0.status) }),
                               request, context)
        },
        RouteSpec(method: .get, path: "/api/v1/audit/verify",
                  summary: "Check the hash-chained audit trail; names the first record modified, deleted or reordered.",
                  operation: .verifyAudit, query: [("head", "a head hash written down earlier, checked to still be in the chain")],
                  response: "AuditVerification") { request, context, env in
            let token = try context.caller()
            try Access.require(.verifyAudit, token)
            return try respond(try env.store.verifyAuditChain(expectedHead: request.query("head")), request, context)
        },
    ]

    static func deviceView(_ d: Device, _ env: APIEnvironment, open: [Ticket]) -> DeviceView {
        let profile = env.profiles[d.profileID]
        let sensors = (profile?.sensors ?? []).map { s -> SensorView in
            let latest = env.series?.latest(SeriesKey(device: d.id, sensor: s.key))
            return SensorView(key: s.key.rawValue, unit: s.unit, latest: latest.map { SampleView(ts: $0.timestamp.rfc3339, value: $0.value) },
                              warning: s.limits?.warning, critical: s.limits?.critical)
        }
        let lastSeen = sensors.compactMap { $0.latest.flatMap { Timestamp(rfc3339: $0.ts) } }.max()
        let openCount = open.filter { $0.device == d.id }.count
        let status: String
        if openCount > 0 { status = "fault" } else if let lastSeen { status = env.now() - lastSeen > .seconds(600) ? "silent" : "ok" } else { status = "unknown" }
        return DeviceView(id: d.id.rawValue, site: d.site.rawValue, profile: d.profileID, name: d.name, criticality: profile?.criticality ?? 3,
                          status: status, last_seen: lastSeen?.rfc3339, open_tickets: openCount, sensors: sensors)
    }
}
