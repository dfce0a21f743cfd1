import FieldwatchCore
import Foundation
import Hummingbird
import Logging
import ServiceLifecycle
import Synchronization

/// The HTTP API as a service: `run()` serves until graceful shutdown.
public final class APIServer: Service, Sendable {
    public struct Configuration: Sendable, Equatable {
        public var host: String
        /// 0 picks a free port (tests); see `boundPort`.
        public var port: Int
        /// Folder of the dashboard's static files; nil: the copy built into the package's resources.
        public var dashboard: String?
        public init(host: String = "127.0.0.1", port: Int = 8080, dashboard: String? = nil) {
            self.host = host
            self.port = port
            self.dashboard = dashboard
        }
    }

    public let configuration: Configuration
    let environment: APIEnvironment
    let logger: Logger
    private let bound = BoundPort()

    public init(configuration: Configuration, environment: APIEnvironment, logger: Logger = Logger(label: "fieldwatch.http")) {
        self.configuration = configuration
        self.environment = environment
        self.logger = logger
    }

    /// The port the server listens on, once it does.
    public var boundPort: Int? { bound.value.withLock { $0 } }

    func makeRouter() -> Router<APIRequestContext> {
        let router = Router(context: APIRequestContext.self)
        router.add(middleware: SecurityHeadersMiddleware())
        router.add(middleware: ErrorMiddleware())
        // The dashboard's files need no token: they hold no data, and fetch everything through the API.
        router.add(middleware: FileMiddleware(Self.dashboardFolder(configuration.dashboard), cacheControl: .init([(MediaType(type: .any), [.noCache])]),
                                              searchForIndexHtml: true, logger: logger))
        router.add(middleware: AuthMiddleware(store: environment.store))
        let environment = environment
        for route in APIRoutes.all {
            router.on(RouterPath(route.routerPath), method: route.method) { request, context in
                try await route.handler(request, context, environment)
            }
        }
        return router
    }

    /// Where the dashboard's index.html, app.js and app.css are.
    public static func dashboardFolder(_ configured: String?) -> String {
        configured ?? Bundle.module.resourceURL!.appendingPathComponent("Dashboard").path
    }

    public func run() async throws {
        let app = Application(
            router: makeRouter(),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "fieldwatch"),
            onServerRunning: { [bound, logger, configuration] channel in
                let port = channel.localAddress?.port ?? configuration.port
                bound.value.withLock { $0 = port }
                logger.notice("HTTP API on http://\(configuration.host):\(port) (OpenAPI at /openapi.json)")
            },
            logger: logger)
        do {
            try await app.run()
        } catch {
            throw APIError(.internalServerError, "listen", """
                the HTTP API cannot listen on \(configuration.host):\(configuration.port) (\(error)); set `http:` (FIELDWATCH_HTTP) \
                to a free HOST:PORT, or to off
                """)
        }
    }
}

final class BoundPort: Sendable {
    let value = Mutex<Int?>(nil)
}
