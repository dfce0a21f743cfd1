import FieldwatchCore
import Foundation
import Hummingbird
import Profiles
import ServiceDesk
import Storage
import TimeSeries

/// The customer assistant, the KPIs and the audit check.
enum ServiceRoutes {
    static let all: [RouteSpec] = [
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
            let now = env.now()
            let (month, zoneName, period) = try monthQuery(request, env)
            let records = try env.store.kpiRecords(from: period.from, to: period.to).filter { Access.canSee($0.ticket, token) }
            let customers = Dictionary(env.inventory.sites.map { ($0.id, $0.customer) }, uniquingKeysWith: { a, _ in a })
            let hours = try SQLiteOperatingHoursStore(env.store).operatingHours(from: period.from, to: period.to)
                .filter { Access.canSee(siteCustomer: customers[$0.site] ?? "", token) }
            var kpis = ServiceKPIs.compute(records, from: period.from, to: period.to, now: now,
                                           component: { env.profiles[$0]?.fault($1)?.component }, operatingHours: hours)
            // Per-person figures are the company's business, not its customers'.
            if token.role == .customer { kpis.engineers = [] }
            return try respond(KPIView(month: month, timezone: zoneName, kpis: kpis,
                                       table: MonthlyReport.rows(kpis).map { .init(kpi: $0.kpi, value: $0.value, target: $0.target, status: $0.status) }),
                               request, context)
        },
        RouteSpec(method: .get, path: "/api/v1/costs",
                  summary: "What the month's repairs cost and who pays: each finished visit's labour (hours × rate) and parts (at the parts catalogue's unit cost), decided warranty, contract or billable, with totals per ticket, model, fault and customer.",
                  operation: .readCosts, query: [("month", "YYYY-MM (default: this month)"), ("timezone", "IANA zone of the month (default UTC)")],
                  response: "Costs") { request, context, env in
            let token = try context.caller()
            try Access.require(.readCosts, token)
            let (month, _, period) = try monthQuery(request, env)
            return try respond(try CostReport.load(month: month, from: period.from, to: period.to, store: env.store, inventory: env.inventory), request, context)
        },
        RouteSpec(method: .get, path: "/api/v1/parts",
                  summary: "Stock per part and location (on hand, reserved, available) with warnings; the catalogue's parts with their unit costs.",
                  operation: .readCosts, response: "PartsStatus") { request, context, env in
            try Access.require(.readCosts, try context.caller())
            let store = SQLitePartsStore(env.store)
            let forecast = try PartForecast.load(store: env.store, profiles: env.profiles, now: env.now())
            let stock = try store.stock()
            return try respond(PartsView(parts: PartsStatus.compute(parts: try store.parts(includeInactive: false), stock: stock, forecast: forecast),
                                         orders: ReplenishOrder.compute(forecast, stock: stock)), request, context)
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
}

/// `?month=YYYY-MM&timezone=ZONE` (defaults: this month, UTC) as the month's bounds.
func monthQuery(_ request: Request, _ env: APIEnvironment) throws -> (month: String, timezone: String, period: (from: Timestamp, to: Timestamp)) {
    let zoneName = request.query("timezone") ?? "UTC"
    guard let zone = TimeZone(identifier: zoneName) else { throw APIError(.unprocessableContent, "invalid", "timezone \"\(zoneName)\" is not an IANA zone such as Asia/Shanghai") }
    let month = request.query("month") ?? String(env.now().rfc3339.prefix(7))
    guard let period = MonthlyReport.period(month, timeZone: zone) else {
        throw APIError(.unprocessableContent, "invalid", "month \"\(month)\": expected YYYY-MM, such as 2026-11")
    }
    return (month, zoneName, period)
}

struct PartsView: Encodable, Sendable {
    var parts: [PartsStatus]
    /// What to order now (`fieldwatch parts replenish`).
    var orders: [ReplenishOrder]
}
