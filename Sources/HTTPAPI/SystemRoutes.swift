import FieldwatchCore
import Foundation
import Hummingbird
import Profiles
import ServiceDesk
import Storage
import TimeSeries

/// Routes about the server itself: liveness, the API description, metrics and the caller.
enum SystemRoutes {
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
        RouteSpec(method: .get, path: "/api/v1/notifications/dead",
                  summary: "Notifications set aside: a webhook refused them webhook_max_attempts times, and the ones after them went on.",
                  operation: .notifications, response: "[DeadLetter]") { request, context, env in
            try Access.require(.notifications, try context.caller())
            return try respond(try env.store.outboxDeadLetters().map(DeadLetterView.init), request, context)
        },
        RouteSpec(method: .post, path: "/api/v1/notifications/retry",
                  summary: "Put the notifications set aside (of one destination, or all) back in the queue, in order, once the receiver is fixed.",
                  operation: .notifications, body: "RetryRequest", response: "RetryOutcome") { request, context, env in
            let token = try context.caller()
            try Access.require(.notifications, token)
            let body = try await request.body(RetryRequest.self, context: context)
            let n = try env.store.retryDeadLetters(destination: body.destination, actor: actor(token), at: env.now())
            return try respond(["requeued": n], request, context)
        },
        RouteSpec(method: .get, path: "/api/v1/me", summary: "Who the token speaks for: subject, role, organisation.",
                  operation: .readTickets, response: "Me") { request, context, _ in
            let token = try context.caller()
            return try respond(MeView(subject: token.subject, role: token.role.rawValue, organisation: token.organisation, token_name: token.name),
                               request, context)
        },
    ]
}

struct DeadLetterView: Encodable, Sendable {
    var key: String
    var kind: String
    var destination: String
    var created_at: String
    var attempts: Int
    var last_error: String?
    var dead_at: String

    init(_ d: OutboxDeadLetter) {
        key = d.message.key
        kind = d.message.kind
        destination = d.destination
        created_at = d.message.createdAt.rfc3339
        attempts = d.attempts
        last_error = d.lastError
        dead_at = d.deadAt.rfc3339
    }
}

struct RetryRequest: Decodable, Sendable {
    var destination: String?
}
