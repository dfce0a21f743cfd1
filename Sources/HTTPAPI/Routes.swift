import FieldwatchCore
import Foundation
import Hummingbird
import Profiles
import ServiceDesk
import Storage
import TimeSeries

/// What the API serves from: the desk, the inventory and profiles, and the ring buffers.
public struct APIEnvironment: Sendable {
    public var workflow: TicketWorkflow
    public var inventory: Inventory
    public var profiles: [String: DeviceProfile]
    /// The live ring buffers; nil when the API runs without a gateway (telemetry is then empty).
    public var series: SeriesStore?
    public var now: @Sendable () -> Timestamp
    /// The Prometheus text for /metrics; nil when there is nothing to expose.
    public var metrics: (@Sendable () -> String)?
    /// The FAQ the customer assistant searches.
    public var faq: FAQ

    public init(workflow: TicketWorkflow, inventory: Inventory, profiles: [String: DeviceProfile], series: SeriesStore?,
                now: @escaping @Sendable () -> Timestamp = { Timestamp.now() }, metrics: (@Sendable () -> String)? = nil, faq: FAQ = .empty) {
        self.workflow = workflow
        self.faq = faq
        self.metrics = metrics
        self.inventory = inventory
        self.profiles = profiles
        self.series = series
        self.now = now
    }

    var store: TicketStore { workflow.store }

    /// Dispatch and the field team, on the same database.
    var field: FieldOperations {
        FieldOperations(workflow: workflow, team: SQLiteFieldTeamStore(workflow.store), inventory: inventory, profiles: profiles)
    }
}

/// One route: how it is called, who may call it, what it takes and gives (for /openapi.json),
/// and its handler. Routes and the OpenAPI document are both generated from `APIRoutes.all`.
struct RouteSpec: Sendable {
    typealias Handler = @Sendable (Request, APIRequestContext, APIEnvironment) async throws -> Response
    var method: HTTPRequest.Method
    /// OpenAPI form: `/api/v1/tickets/{id}`.
    var path: String
    var summary: String
    /// nil: no token needed.
    var operation: Access.Operation?
    var query: [(name: String, help: String)] = []
    var body: String?
    var response: String
    var handler: Handler

    /// Hummingbird form: `/api/v1/tickets/:id`.
    var routerPath: String {
        path.split(separator: "/", omittingEmptySubsequences: false).map { part in
            part.hasPrefix("{") && part.hasSuffix("}") ? ":" + part.dropFirst().dropLast() : part
        }.joined(separator: "/")
    }
    var pathParameters: [String] {
        path.split(separator: "/").filter { $0.hasPrefix("{") }.map { String($0.dropFirst().dropLast()) }
    }
}

// MARK: - JSON bodies

struct SiteView: Codable, Sendable {
    var id: String
    var name: String
    var customer: String
    var tier: String
    var timezone: String
    var latitude: Double
    var longitude: Double
    var devices: Int
    var open_tickets: Int
}

struct SensorView: Codable, Sendable {
    var key: String
    var unit: String
    var latest: SampleView?
    var warning: Double?
    var critical: Double?
}

struct DeviceView: Codable, Sendable {
    var id: String
    var site: String
    var profile: String
    var name: String?
    var criticality: Int
    /// ok, fault (an open ticket), silent (nothing within 10 min) or unknown (nothing received yet).
    var status: String
    var last_seen: String?
    var open_tickets: Int
    var sensors: [SensorView]
}

/// One rollup bucket: the samples whose time falls in [ts, ts + step).
struct BucketView: Codable, Sendable {
    var ts: String
    var count: Int
    var min: Double
    var max: Double
    var mean: Double
}

struct TelemetryView: Codable, Sendable {
    var device: String
    var sensor: String
    var unit: String
    var from: String
    var to: String
    var samples: [SampleView]
    var count: Int
    var min: Double?
    var max: Double?
    var mean: Double?
    var warning: Double?
    var critical: Double?
    /// With `?step=`: the window rolled up into buckets of that length (empty buckets left out).
    var rollup: [BucketView]?
}

struct MeView: Codable, Sendable {
    var subject: String
    var role: String
    var organisation: String?
    var token_name: String
}

struct KPIView: Encodable, Sendable {
    struct Row: Encodable, Sendable {
        var kpi: String
        var value: String
        var target: String
        var status: String
    }
    var month: String
    var timezone: String
    var kpis: ServiceKPIs
    var table: [Row]
}

struct ReportRequest: Decodable, Sendable {
    var device: String
    var channel: String
    var description: String
    var reporter: String?
    var stopped: Bool?
    var fault_code: String?
}

struct StepRequest: Decodable, Sendable {
    var reason: String?
    var pause_reason: String?
    var evidence: String?
    var at: String?
}

struct ProposeRequest: Decodable, Sendable {
    var diagnosis: String
    var work: String
    var parts: String?
    var cost: Double
}

struct DecisionRequest: Decodable, Sendable {
    var approve: Bool
    var reason: String?
}

struct AskRequest: Decodable, Sendable {
    var question: String
    var device: String?
}

struct RatingRequest: Decodable, Sendable {
    var score: Int
    var comment: String?
}

struct RatingOutcome: Encodable, Sendable {
    var ticket: TicketView
    var complaint: TicketView?
}

struct GradeRequest: Decodable, Sendable {
    var grade: String
    var reason: String?
}

struct ReportOutcome: Encodable, Sendable {
    var linked: Bool
    var ticket: TicketView
    var clocks: [ClockView]
}

struct StepOutcome: Encodable, Sendable {
    var ticket: TicketView
    var clocks: [ClockView]
}

// MARK: - Helpers

extension Request {
    func query(_ name: String) -> String? {
        uri.queryParameters.get(name).map { String($0) }.flatMap { $0.isEmpty ? nil : $0 }
    }

    /// A JSON body, with decoding failures as 400 naming the field.
    func body<T: Decodable>(_ type: T.Type, context: APIRequestContext) async throws -> T {
        do {
            return try await decode(as: type, context: context)
        } catch let error as HTTPError where error.status == .badRequest {
            throw APIError(.badRequest, "bad_json", "the request body is not the JSON this route takes (\(error.body ?? "invalid")); see /openapi.json")
        }
    }
}

func respond(_ value: some Encodable, _ request: Request, _ context: APIRequestContext, status: HTTPResponse.Status = .ok) throws -> Response {
    var response = try context.responseEncoder.encode(value, from: request, context: context)
    response.status = status
    return response
}

func ticketID(_ context: APIRequestContext) throws -> Int64 {
    try pathNumber(context, "the ticket id in the path must be a number, as in /api/v1/tickets/12")
}

/// The `{id}` of the path as a number, or 400 with `message`.
func pathNumber(_ context: APIRequestContext, _ message: String) throws -> Int64 {
    guard let text = context.parameters.get("id"), let id = Int64(text) else { throw APIError(.badRequest, "bad_id", message) }
    return id
}

/// A ticket the caller may see, or 404.
func visibleTicket(_ id: Int64, _ token: APIToken, _ env: APIEnvironment) throws -> Ticket {
    guard let ticket = try env.store.ticket(id: id), Access.canSee(ticket, token) else {
        throw APIError(.notFound, "not_found", "no ticket #\(id) that this token may see")
    }
    return ticket
}

/// The common start of a command on one ticket: the caller may do `operation`, may see the
/// ticket, and sent a valid body.
func ticketCommand<Body: Decodable>(_ operation: Access.Operation, _ type: Body.Type, _ request: Request, _ context: APIRequestContext,
                                    _ env: APIEnvironment) async throws -> (APIToken, Int64, Body) {
    let token = try context.caller()
    try Access.require(operation, token)
    let id = try ticketID(context)
    _ = try visibleTicket(id, token, env)
    return (token, id, try await request.body(type, context: context))
}

func time(_ text: String?, _ name: String, default fallback: Timestamp) throws -> Timestamp {
    guard let text else { return fallback }
    guard let t = Timestamp(rfc3339: text) else {
        throw APIError(.unprocessableContent, "invalid", "\(name) \"\(text)\" is not an RFC 3339 time such as 2026-11-24T09:40:00+08:00")
    }
    return t
}

func actor(_ token: APIToken) -> String { token.role == .customer ? "customer:\(token.subject)" : token.subject }

func stepOutcome(_ ticket: Ticket, _ env: APIEnvironment, _ request: Request, _ context: APIRequestContext) throws -> Response {
    let now = env.now()
    return try respond(StepOutcome(ticket: TicketView(ticket), clocks: try env.store.clocks(ticketID: ticket.id).map { ClockView($0, now: now) }), request, context)
}
