import FieldwatchCore
import Foundation
import Hummingbird
import ServiceDesk
import Storage

/// The field team and dispatch: who is where, who can go, who goes.
enum FieldRoutes {
    static let all: [RouteSpec] = [
        RouteSpec(method: .get, path: "/api/v1/team",
                  summary: "The field team: active engineers with skills, certificates, load and last position; service points; partner providers.",
                  operation: .readTeam, response: "Team") { request, context, env in
            let token = try context.caller()
            try Access.require(.readTeam, token)
            let field = env.field
            let jobs = try field.team.openJobs(), positions = try field.team.positions(), now = env.now()
            let engineers = try field.team.engineers(includeInactive: false).map { e in
                EngineerView(id: e.id, name: e.name, role: e.role.rawValue,
                             skills: e.skills.map { .init(skill: $0.skill, certificate_until: $0.certificateUntil, valid: $0.isValid(at: now)) },
                             service_point: e.servicePoint, home: .init(e.home), max_jobs: e.maxJobs, open_jobs: (jobs[e.id] ?? []).map(\.id),
                             position: positions[e.id].map { .init($0.position) }, position_at: positions[e.id]?.at.rfc3339)
            }
            let points = try field.team.servicePoints().map {
                ServicePointView(id: $0.id, name: $0.name, position: .init($0.position), radius_km: $0.radiusKilometres, partner: $0.partner)
            }
            let partners = try field.team.partners().map { PartnerView(id: $0.id, name: $0.name, skills: $0.skills, response_minutes: $0.responseMinutes) }
            return try respond(TeamView(engineers: engineers, service_points: points, partners: partners), request, context)
        },
        RouteSpec(method: .post, path: "/api/v1/engineers/{id}/position",
                  summary: "Record where an engineer is (the phone view sends it); an engineer may only send their own.",
                  operation: .locate, body: "PositionRequest", response: "Position") { request, context, env in
            let token = try context.caller()
            try Access.require(.locate, token)
            let id = context.parameters.get("id") ?? ""
            if token.role == .engineer && token.subject != id {
                throw APIError(.forbidden, "forbidden", "an engineer token may only send its own position (\(token.subject)), not \(id)'s")
            }
            let body = try await request.body(PositionRequest.self, context: context)
            let at = try time(body.at, "at", default: env.now())
            guard at <= env.now() + .seconds(60) else { throw APIError(.unprocessableContent, "invalid", "at \(body.at ?? "") is in the future") }
            try env.field.locate(engineer: id, at: GeoPoint(latitude: body.latitude, longitude: body.longitude), time: at, actor: actor(token))
            return try respond(PositionView(engineer: id, position: .init(GeoPoint(latitude: body.latitude, longitude: body.longitude)), at: at.rfc3339),
                               request, context)
        },
        RouteSpec(method: .get, path: "/api/v1/tickets/{id}/dispatch",
                  summary: "Rank the engineers for a ticket: hard filters (skills with valid certificates, shift, load), then arrival before the on-site deadline, ETA and load, each with its reasons; everyone excluded with why; partners when nobody in house arrives in time.",
                  operation: .dispatch, response: "DispatchSuggestion") { request, context, env in
            let token = try context.caller()
            try Access.require(.dispatch, token)
            let id = try ticketID(context)
            _ = try visibleTicket(id, token, env)
            return try respond(try env.field.suggest(ticketID: id, now: env.now()), request, context)
        },
        RouteSpec(method: .post, path: "/api/v1/tickets/{id}/assign",
                  summary: "Send an engineer to a ticket (they are notified); the first responder stays the owner; reassigning needs a reason.",
                  operation: .dispatch, body: "AssignRequest", response: "StepOutcome") { request, context, env in
            let (token, id, body) = try await ticketCommand(.dispatch, AssignRequest.self, request, context, env)
            let ticket = try env.field.assign(ticketID: id, engineer: body.engineer, by: actor(token), reason: body.reason, at: env.now())
            return try stepOutcome(ticket, env, request, context)
        },
        RouteSpec(method: .post, path: "/api/v1/tickets/{id}/visits",
                  summary: "Check in at the ticket's site (an engineer for themself). Within the radius of the site it is the arrival; away from it, or without a position, a supervisor may accept it.",
                  operation: .visit, body: "VisitStartRequest", response: "Visit") { request, context, env in
            let (token, id, body) = try await ticketCommand(.visit, VisitStartRequest.self, request, context, env)
            let engineer = body.engineer ?? token.subject
            if token.role == .engineer && engineer != token.subject {
                throw APIError(.forbidden, "forbidden", "an engineer token checks in only its own engineer (\(token.subject)), not \(engineer)")
            }
            var position: GeoPoint?
            if let lat = body.latitude, let lon = body.longitude { position = GeoPoint(latitude: lat, longitude: lon) }
            let at = try stepTime(body.at, env)
            return try respond(VisitView(try env.field.startVisit(ticketID: id, engineer: engineer, position: position, at: at)), request, context, status: .created)
        },
        RouteSpec(method: .post, path: "/api/v1/visits/{id}/accept", summary: "A supervisor accepts a check-in made away from the site as the arrival.",
                  operation: .acceptVisit, response: "Visit") { request, context, env in
            let token = try context.caller()
            try Access.require(.acceptVisit, token)
            return try respond(VisitView(try env.field.acceptVisit(try visitID(context), by: actor(token), at: env.now())), request, context)
        },
        RouteSpec(method: .post, path: "/api/v1/visits/{id}/finish",
                  summary: "Finish a visit: fixed (the ticket is resolved) or not_fixed with a reason (missing_part, missing_skill, no_access, misdiagnosis, needs_follow_up); work, labour hours, parts used (PART:QTY,…).",
                  operation: .visit, body: "VisitFinishRequest", response: "Visit") { request, context, env in
            let token = try context.caller()
            try Access.require(.visit, token)
            let id = try visitID(context)
            let body = try await request.body(VisitFinishRequest.self, context: context)
            let outcome = try choice(body.outcome, "outcome", VisitRecord.Outcome.self)
            let reason = try body.reason.map { try choice($0, "reason", VisitRecord.NotFixedReason.self) }
            if token.role == .engineer {
                let visit = try env.store.visit(id: id)
                guard visit?.engineer == token.subject else { throw APIError(.notFound, "not_found", "no visit #\(id) of yours") }
            }
            let at = try stepTime(body.at, env)
            return try respond(VisitView(try env.field.finishVisit(id, outcome: outcome, reason: reason, work: body.work, labourHours: body.labour_hours,
                                                                   parts: body.parts, at: at)), request, context)
        },
        RouteSpec(method: .post, path: "/api/v1/tickets/{id}/remote",
                  summary: "Record remote assistance (what was checked, what the customer was told); outcome fixed resolves the ticket without a visit.",
                  operation: .remote, body: "RemoteRequest", response: "RemoteAssist") { request, context, env in
            let (token, id, body) = try await ticketCommand(.remote, RemoteRequest.self, request, context, env)
            let outcome = try choice(body.outcome, "outcome", VisitRecord.Outcome.self)
            let at = try stepTime(body.at, env)
            return try respond(RemoteAssistView(try env.field.remoteAssist(ticketID: id, by: actor(token), checked: body.checked, instructions: body.instructions,
                                                                           outcome: outcome, at: at)), request, context, status: .created)
        },
    ]
}

func visitID(_ context: APIRequestContext) throws -> Int64 {
    try pathNumber(context, "the visit id in the path must be a number, as in /api/v1/visits/3/finish")
}

/// One of a closed list of values, or 422 naming them.
func choice<E: RawRepresentable & CaseIterable>(_ text: String, _ field: String, _ type: E.Type) throws -> E where E.RawValue == String {
    guard let value = E(rawValue: text) else {
        throw APIError(.unprocessableContent, "invalid", "\(field) \"\(text)\": use \(E.allCases.map(\.rawValue).joined(separator: ", "))")
    }
    return value
}

/// A step's time: now, or an RFC 3339 `at` that has already happened (a minute of clock skew allowed).
func stepTime(_ text: String?, _ env: APIEnvironment) throws -> Timestamp {
    let at = try time(text, "at", default: env.now())
    guard at <= env.now() + .seconds(60) else { throw APIError(.unprocessableContent, "invalid", "at \(text ?? "") is in the future; record steps when they have happened") }
    return at
}

struct VisitStartRequest: Decodable, Sendable {
    var engineer: String?
    var latitude: Double?
    var longitude: Double?
    var at: String?
}

struct VisitFinishRequest: Decodable, Sendable {
    var outcome: String
    var reason: String?
    var work: String
    var labour_hours: Double
    var parts: String?
    var at: String?
}

struct RemoteRequest: Decodable, Sendable {
    var checked: String
    var instructions: String
    var outcome: String
    var at: String?
}

struct GeoView: Codable, Sendable {
    var latitude: Double
    var longitude: Double
    init(_ p: GeoPoint) {
        latitude = p.latitude
        longitude = p.longitude
    }
}

struct EngineerView: Encodable, Sendable {
    struct Skill: Encodable, Sendable {
        var skill: String
        var certificate_until: String?
        var valid: Bool
    }
    var id: String
    var name: String
    var role: String
    var skills: [Skill]
    var service_point: String?
    var home: GeoView
    var max_jobs: Int
    var open_jobs: [Int64]
    var position: GeoView?
    var position_at: String?
}

struct ServicePointView: Encodable, Sendable {
    var id: String
    var name: String
    var position: GeoView
    var radius_km: Double
    var partner: String?
}

struct PartnerView: Encodable, Sendable {
    var id: String
    var name: String
    var skills: [String]
    var response_minutes: Int
}

struct TeamView: Encodable, Sendable {
    var engineers: [EngineerView]
    var service_points: [ServicePointView]
    var partners: [PartnerView]
}

struct PositionRequest: Decodable, Sendable {
    var latitude: Double
    var longitude: Double
    var at: String?
}

struct PositionView: Encodable, Sendable {
    var engineer: String
    var position: GeoView
    var at: String
}

struct AssignRequest: Decodable, Sendable {
    var engineer: String
    var reason: String?
}
