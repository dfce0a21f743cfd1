import FieldwatchCore
import Crypto
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Logging
import ServiceLifecycle
import Storage
import Synchronization

/// Somewhere outbox messages go: a webhook, the MQTT broker.
public protocol NotificationTransport: Sendable {
    /// Stable name; delivery progress is stored under it.
    var name: String { get }
    /// Delivers one message or throws; a throw is retried later with backoff.
    func deliver(_ message: OutboxMessage) async throws
    /// Whether a message this destination refused `maxAttempts` times is set aside (a receiver
    /// that rejects one message), or retried for ever (the broker: down for all or for none).
    var setsAsideFailures: Bool { get }
}

extension NotificationTransport {
    public var setsAsideFailures: Bool { true }
}

/// HTTP POST of the message's JSON payload. Headers: `Idempotency-Key` (the message key, the
/// same on every retry), `X-Fieldwatch-Event` (its kind) and, with a secret,
/// `X-Fieldwatch-Signature: t=<unix seconds>,v1=<hex>`: HMAC-SHA256 under the secret of
/// `"<t>.<body>"`, as Stripe signs its webhooks, so a receiver can check that the message comes
/// from this gateway, unchanged, and recently (reject an old `t` to stop replays). Any 2xx
/// status counts as delivered.
public struct WebhookTransport: NotificationTransport {
    public let url: URL
    public let timeout: Duration
    let secret: String?
    public var name: String { "webhook:\(url.absoluteString)" }

    public init(url: URL, secret: String? = nil, timeout: Duration = .seconds(10)) {
        self.url = url
        self.secret = secret
        self.timeout = timeout
    }

    public static func signature(secret: String, timestamp: Int64, body: String) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Array("\(timestamp).\(body)".utf8), using: SymmetricKey(data: Array(secret.utf8)))
        return "t=\(timestamp),v1=" + mac.map { String(format: "%02x", $0) }.joined()
    }

    public func deliver(_ message: OutboxMessage) async throws {
        var request = URLRequest(url: url, timeoutInterval: timeout.secondsDouble)
        request.httpMethod = "POST"
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.setValue(message.key, forHTTPHeaderField: "Idempotency-Key")
        request.setValue(message.kind, forHTTPHeaderField: "X-Fieldwatch-Event")
        if let secret {
            request.setValue(Self.signature(secret: secret, timestamp: Int64(Date().timeIntervalSince1970), body: message.payload),
                             forHTTPHeaderField: "X-Fieldwatch-Signature")
        }
        request.httpBody = Data(message.payload.utf8)
        let (body, response) = try await URLSession.shared.data(for: request)
        guard let http = response as? HTTPURLResponse else { throw ServiceDeskError(.storage, "\(url): not an HTTP response") }
        guard (200..<300).contains(http.statusCode) else {
            let text = String(decoding: body.prefix(200), as: UTF8.self)
            throw ServiceDeskError(.storage, "\(url) answered HTTP \(http.statusCode)\(text.isEmpty ? "" : ": \(text)")")
        }
    }
}

/// Delivers the outbox to every destination, in order, at least once: a message is marked
/// delivered only after the destination accepted it, and a failure is retried with
/// exponential backoff (1 s doubling to 5 min). A destination that fails waits for its
/// backoff before anything after the failed message is tried, so order is kept. A message a
/// destination refused `maxAttempts` times (about 40 minutes of tries with the default 12) is
/// set aside for that destination (a dead letter: logged, on `/metrics` and the dashboard,
/// `fieldwatch outbox retry` puts it back) and the queue moves on: one message a receiver
/// always rejects cannot block everything after it.
public final class OutboxDelivery: Service, Sendable {
    public let store: TicketStore
    public let transports: [any NotificationTransport]
    public let interval: Duration
    public let maxAttempts: Int
    private let logger: Logger
    private let now: @Sendable () -> Timestamp

    public init(store: TicketStore, transports: [any NotificationTransport], interval: Duration = .seconds(1), maxAttempts: Int = 12,
                logger: Logger = Logger(label: "fieldwatch.outbox"), now: @escaping @Sendable () -> Timestamp = { Timestamp.now() }) {
        self.store = store
        self.transports = transports
        self.interval = interval
        self.maxAttempts = max(1, maxAttempts)
        self.logger = logger
        self.now = now
    }

    public static func backoff(attempts: Int) -> Int64 {
        min(1_000 << min(attempts, 20), 300_000)
    }

    /// Registers the destinations (a new one gets messages from now on, not the history).
    public func register() throws(StorageError) {
        for t in transports { try store.registerDestination(t.name, since: now()) }
    }

    /// One round over every destination; returns how many messages were delivered.
    @discardableResult
    public func deliverDue() async -> Int {
        var delivered = 0
        for transport in transports {
            let due: [(OutboxMessage, attempts: Int, nextAttemptAt: Timestamp)]
            do {
                due = try store.undelivered(to: transport.name)
            } catch {
                logger.error("cannot read the outbox: \(error)")
                return delivered
            }
            for (message, attempts, next) in due {
                // The oldest undelivered message waits out its backoff; later ones wait behind it.
                if next > now() { break }
                do {
                    try await transport.deliver(message)
                    try store.recordDelivery(messageID: message.id, destination: transport.name, at: now(), error: nil, nextAttempt: now())
                    delivered += 1
                } catch {
                    if transport.setsAsideFailures && attempts + 1 >= maxAttempts {
                        logger.error("""
                            notification \(message.key) (\(message.kind)) to \(transport.name) set aside after \(attempts + 1) failed attempts: \(error); \
                            the next ones go on. `fieldwatch outbox retry` sends it again once the receiver is fixed
                            """)
                        do {
                            try store.recordDelivery(messageID: message.id, destination: transport.name, at: now(), error: "\(error)",
                                                     nextAttempt: now(), dead: true)
                            continue
                        } catch {
                            break
                        }
                    }
                    let wait = Self.backoff(attempts: attempts)
                    logger.warning("notification \(message.key) to \(transport.name) failed (attempt \(attempts + 1) of \(maxAttempts)), retrying in \(wait / 1000) s: \(error)")
                    try? store.recordDelivery(messageID: message.id, destination: transport.name, at: now(), error: "\(error)",
                                              nextAttempt: now().adding(milliseconds: wait))
                    break
                }
            }
        }
        return delivered
    }

    public func run() async throws {
        if transports.isEmpty {
            // Nothing to deliver to, but a service that returns early stops the whole group:
            // stay until the gateway shuts down. The outbox still fills, for a destination added later.
            try? await gracefulShutdown()
            return
        }
        try register()
        logger.info("delivering notifications to \(transports.map(\.name).joined(separator: ", "))")
        // Undelivered messages stay in the outbox, so stopping mid-round loses nothing.
        try? await cancelWhenGracefulShutdown { [self] in
            while !Task.isCancelled {
                await deliverDue()
                try await Task.sleep(for: interval)
            }
        }
    }
}

/// Runs the escalation scan on a fixed interval. Time comes from `now`, so the ladder can
/// be tested on a manual clock; after a restart the first scan fires, once, whatever fell
/// due while the gateway was down.
public final class EscalationService: Service, Sendable {
    public let workflow: TicketWorkflow
    /// Dispatch, for `dispatch.auto` in the policy; nil: no automatic dispatch.
    public let field: FieldOperations?
    public let interval: Duration
    private let logger: Logger
    private let now: @Sendable () -> Timestamp
    /// Certificates change with a team import, and stock forecasts with tickets and lead times
    /// in days, not by the second: both are checked hourly, not every scan.
    private let certificatesCheckedAt = Mutex<Timestamp?>(nil)
    static let certificateCheckInterval: Duration = .seconds(3600)

    public init(workflow: TicketWorkflow, field: FieldOperations? = nil, interval: Duration = .seconds(15),
                logger: Logger = Logger(label: "fieldwatch.escalation"), now: @escaping @Sendable () -> Timestamp = { Timestamp.now() }) {
        self.workflow = workflow
        self.field = field
        self.interval = interval
        self.logger = logger
        self.now = now
    }

    public func scan() {
        do {
            for e in try workflow.escalate(now: now()) {
                let what = e.level == .reoffer ? "not acknowledged; offered again" : "\(e.clock) \(e.level.rawValue) (deadline \(e.deadline.rfc3339))"
                logger.notice("ticket #\(e.ticketID) \(what)", metadata: ["ticket.id": .stringConvertible(e.ticketID)])
            }
        } catch {
            logger.error("escalation scan failed, next try in \(interval): \(error)")
        }
        do {
            for (ticket, engineer) in try field?.autoDispatch(now: now()) ?? [] {
                logger.notice("ticket #\(ticket) sent to \(engineer) (dispatch.auto)", metadata: ["ticket.id": .stringConvertible(ticket)])
            }
        } catch {
            logger.error("automatic dispatch failed, next try in \(interval): \(error)")
        }
        let time = now()
        let due = certificatesCheckedAt.withLock { last -> Bool in
            guard last.map({ time - $0 >= Self.certificateCheckInterval }) ?? true else { return false }
            last = time
            return true
        }
        guard due else { return }
        do {
            for notice in try workflow.noticeExpiringCertificates(now: time) { logger.notice("supervisor told: \(notice)") }
            if let field {
                for notice in try workflow.noticeLowStock(profiles: field.profiles, now: time) { logger.notice("parts running low: \(notice)") }
            }
        } catch {
            certificatesCheckedAt.withLock { $0 = nil }
            logger.error("certificate or stock check failed, next try in \(interval): \(error)")
        }
    }

    public func run() async throws {
        try? await cancelWhenGracefulShutdown { [self] in
            while !Task.isCancelled {
                scan()
                try await Task.sleep(for: interval)
            }
        }
    }
}
