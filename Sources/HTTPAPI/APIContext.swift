import Foundation
import Hummingbird
import ServiceDesk
import Storage

/// Per-request state: who is calling (set by `AuthMiddleware`).
public struct APIRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public var token: APIToken?

    public init(source: Source) {
        coreContext = .init(source: source)
        token = nil
    }

    /// Request bodies are small JSON documents; anything larger is refused with 413.
    public var maxUploadSize: Int { 64 * 1024 }

    public var responseEncoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // One key style on the wire, also for the stored records nested in ticket details.
        encoder.keyEncodingStrategy = .convertToSnakeCase
        // One time format on the wire: RFC 3339, also for any stored record nested in a view.
        encoder.userInfo[.timestampsAsRFC3339] = true
        return encoder
    }

    /// The caller, or 401.
    func caller() throws -> APIToken {
        guard let token else { throw APIError(.unauthorized, "unauthenticated", "send `Authorization: Bearer <token>`; create a token with `fieldwatch tokens create`") }
        return token
    }
}

/// Every error leaves the API as `{"error": {"status", "code", "message"}}`, saying what was
/// wrong and what to do.
public struct APIError: HTTPResponseError, CustomStringConvertible {
    public var status: HTTPResponse.Status
    public var code: String
    public var message: String

    public init(_ status: HTTPResponse.Status, _ code: String, _ message: String) {
        self.status = status
        self.code = code
        self.message = message
    }

    public var description: String { "\(status.code) \(code): \(message)" }

    struct Body: Encodable {
        struct Inner: Encodable {
            var status: Int
            var code: String
            var message: String
        }
        var error: Inner
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = try encoder.encode(Body(error: .init(status: status.code, code: code, message: message)))
        var headers: HTTPFields = [.contentType: "application/json; charset=utf-8"]
        if status == .unauthorized { headers[.wwwAuthenticate] = "Bearer realm=\"fieldwatch\"" }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    init(_ error: ServiceDeskError) {
        switch error.kind {
        case .notFound: self.init(.notFound, "not_found", error.message)
        case .conflict: self.init(.conflict, "conflict", error.message)
        case .invalid: self.init(.unprocessableContent, "invalid", error.message)
        case .storage: self.init(.internalServerError, "storage", error.message)
        }
    }
}

/// Turns whatever a handler or Hummingbird throws into an `APIError`, so every failure has
/// the same JSON shape, including unknown routes and oversized bodies.
struct ErrorMiddleware: RouterMiddleware {
    typealias Context = APIRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            throw error
        } catch let error as ServiceDeskError {
            throw APIError(error)
        } catch let error as any HTTPResponseError {
            // Hummingbird's own errors, and NIO's (an oversized body) that it maps to a status.
            switch error.status {
            case .notFound:
                throw APIError(.notFound, "no_route", "no route \(request.method) \(request.uri.path); the API is described at /openapi.json")
            case .contentTooLarge:
                throw APIError(.contentTooLarge, "body_too_large", "request bodies are limited to \(context.maxUploadSize / 1024) KiB of JSON")
            case .methodNotAllowed:
                throw APIError(.methodNotAllowed, "method_not_allowed", "\(request.method) is not allowed on \(request.uri.path); see /openapi.json")
            default:
                throw APIError(error.status, error.status.code < 500 ? "bad_request" : "internal", (error as? HTTPError)?.body ?? error.status.reasonPhrase)
            }
        } catch {
            // The detail (SQL, file paths) stays in the log; the client gets an id to quote.
            let id = String(UUID().uuidString.prefix(8)).lowercased()
            context.logger.error("internal error \(id) on \(request.method) \(request.uri.path): \(error)")
            throw APIError(.internalServerError, error is StorageError ? "storage" : "internal",
                           "internal error \(id); the gateway's log has the detail under this id")
        }
    }
}

/// Headers on every response: the dashboard runs only its own script (no inline script, no
/// other host), cannot be framed (clickjacking), and responses are never content-sniffed.
struct SecurityHeadersMiddleware: RouterMiddleware {
    typealias Context = APIRequestContext
    static let contentSecurityPolicy = [
        "default-src 'self'", "script-src 'self'", "style-src 'self' 'unsafe-inline'", "img-src 'self' data:", "connect-src 'self'",
        "object-src 'none'", "base-uri 'none'", "form-action 'self'", "frame-ancestors 'none'",
    ].joined(separator: "; ")

    static let frameOptions = HTTPFields.Element.Name("X-Frame-Options")!
    static let referrerPolicy = HTTPFields.Element.Name("Referrer-Policy")!

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response: Response
        do {
            response = try await next(request, context)
        } catch let error as any HTTPResponseError {
            response = try error.response(from: request, context: context)
        }
        response.headers[.contentSecurityPolicy] = Self.contentSecurityPolicy
        response.headers[.xContentTypeOptions] = "nosniff"
        response.headers[Self.frameOptions] = "DENY"
        response.headers[Self.referrerPolicy] = "no-referrer"
        return response
    }
}

/// Resolves `Authorization: Bearer <token>` to a token. Everything under /api/ needs one;
/// the rest (the dashboard's files, /healthz, /openapi.json, /metrics) holds no ticket data
/// and is open. A wrong or revoked token is always 401, never silently anonymous.
struct AuthMiddleware: RouterMiddleware {
    typealias Context = APIRequestContext
    let store: TicketStore

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        if let header = request.headers[.authorization] {
            let parts = header.split(separator: " ", maxSplits: 1)
            guard parts.count == 2, parts[0].lowercased() == "bearer" else {
                throw APIError(.unauthorized, "unauthenticated", "the Authorization header must be `Bearer <token>`")
            }
            guard let token = try store.token(secret: String(parts[1]).trimmingCharacters(in: .whitespaces)) else {
                throw APIError(.unauthorized, "unauthenticated", "the token is unknown or revoked; ask an administrator for a new one (`fieldwatch tokens create`)")
            }
            context.token = token
        } else if request.uri.path.hasPrefix("/api/") {
            throw APIError(.unauthorized, "unauthenticated", "send `Authorization: Bearer <token>`; create a token with `fieldwatch tokens create`")
        }
        return try await next(request, context)
    }
}
