import FieldwatchCore
import FieldwatchTesting
import Foundation
import Synchronization
import Testing
@testable import ServiceDesk
@testable import Storage

final class ManualClock: Sendable {
    private let value: Mutex<Timestamp>
    init(_ start: Timestamp) { value = Mutex(start) }
    var now: Timestamp { value.withLock { $0 } }
    func advance(seconds: Int64) { value.withLock { $0 = $0.adding(milliseconds: seconds * 1000) } }
    var closure: @Sendable () -> Timestamp { { self.now } }
}

@Suite("Notification outbox", .serialized)
struct OutboxTests {
    @Test func webhookDeliveryRetriesAFailureInOrderWithTheSameIdempotencyKey() async throws {
        let listener = try await HTTPRecorder(failFirst: 1)
        let path = try makeTemporaryDirectory().appendingPathComponent("outbox.db").path
        let w = try makeWorkflow(path)
        let start = local("2026-11-24 09:00", shanghai)
        let clock = ManualClock(start)
        let delivery = OutboxDelivery(store: w.store, transports: [WebhookTransport(url: listener.url)], now: clock.closure)
        try delivery.register()
        let t = try open(w, detection(severity: .critical, at: start))
        try w.perform(.acknowledge, ticketID: t.id, actor: "li.wei", at: start.adding(milliseconds: 60_000))
        #expect(try w.store.outbox().map(\.kind) == ["ticket.opened", "ticket.assigned"])

        // First round: the listener answers 503; nothing after the failed message is sent.
        #expect(await delivery.deliverDue() == 0)
        #expect(listener.requests().map(\.status) == [503])
        // Before the 1 s backoff has passed, nothing is retried.
        #expect(await delivery.deliverDue() == 0)
        #expect(listener.requests().count == 1)
        clock.advance(seconds: 1)
        #expect(await delivery.deliverDue() == 2)
        let requests = listener.requests()
        #expect(requests.map(\.status) == [503, 200, 200])
        #expect(requests[0].key == requests[1].key, "a retry carries the same idempotency key")
        #expect(requests.map(\.event) == ["ticket.opened", "ticket.opened", "ticket.assigned"])
        #expect(requests[2].body.contains("\"owner\":\"li.wei\"") && requests[2].path == "/hooks/fieldwatch")
        #expect(await delivery.deliverDue() == 0, "delivered messages are not sent again")

        // The record survives a restart: a new delivery service on the reopened file sends nothing twice.
        let reopened = OutboxDelivery(store: try TicketStore(path: path), transports: [WebhookTransport(url: listener.url)], now: clock.closure)
        try reopened.register()
        #expect(await reopened.deliverDue() == 0)
        let states = try w.store.deliveries()
        #expect(states.count == 2 && states.allSatisfy { $0.deliveredAt != nil } && states.first?.attempts == 2)
    }

    @Test func everyRequestIsSignedAndPythonsHMACAgrees() async throws {
        let secret = "s3cret-key-for-tests-0123456789"
        let listener = try await HTTPRecorder(failFirst: 0, secret: secret)
        let w = try makeWorkflow()
        let start = local("2026-11-24 09:00", shanghai)
        let delivery = OutboxDelivery(store: w.store, transports: [WebhookTransport(url: listener.url, secret: secret)], now: { start })
        try delivery.register()
        _ = try open(w, detection(severity: .critical, at: start))
        #expect(await delivery.deliverDue() == 1)
        let r = try #require(listener.requests().first)
        #expect(r.signature?.hasPrefix("t=") == true && r.signature?.contains(",v1=") == true)
        #expect(r.signatureOK == true, "the receiver's own HMAC-SHA256 over \"<t>.<body>\" matches")
        // A body changed on the way no longer matches.
        let t = Int64(r.signature!.split(separator: ",")[0].dropFirst(2))!
        #expect(WebhookTransport.signature(secret: secret, timestamp: t, body: r.body) == r.signature)
        #expect(WebhookTransport.signature(secret: secret, timestamp: t, body: r.body + " ") != r.signature)
        #expect(WebhookTransport.signature(secret: "another-secret-0123456789", timestamp: t, body: r.body) != r.signature)
    }

    @Test func aMessageAWebhookAlwaysRefusesIsSetAsideAndTheQueueMovesOn() async throws {
        let listener = try await HTTPRecorder(failFirst: 3)
        let w = try makeWorkflow()
        let start = local("2026-11-24 09:00", shanghai)
        let clock = ManualClock(start)
        let delivery = OutboxDelivery(store: w.store, transports: [WebhookTransport(url: listener.url)], maxAttempts: 3, now: clock.closure)
        try delivery.register()
        let t = try open(w, detection(severity: .critical, at: start))
        try w.perform(.acknowledge, ticketID: t.id, actor: "li.wei", at: start)
        // Three refusals of the first message (1 s, then 2 s apart): then it is set aside, and the second goes.
        #expect(await delivery.deliverDue() == 0)
        clock.advance(seconds: 1)
        #expect(await delivery.deliverDue() == 0)
        clock.advance(seconds: 2)
        #expect(await delivery.deliverDue() == 1, "the first is set aside at its third failure, the second is delivered")
        #expect(listener.requests().map(\.event) == ["ticket.opened", "ticket.opened", "ticket.opened", "ticket.assigned"])
        let dead = try w.store.outboxDeadLetters()
        #expect(dead.map(\.message.kind) == ["ticket.opened"] && dead.first?.attempts == 3 && dead.first?.lastError?.contains("503") == true)
        #expect(try w.store.outboxBacklog() == 0, "a message set aside is not backlog")
        // Once the receiver is fixed, a retry sends it again, and the audit says who asked.
        #expect(try w.store.retryDeadLetters(actor: "sup.liu", at: clock.now) == 1)
        #expect(await delivery.deliverDue() == 1)
        #expect(try w.store.outboxDeadLetters().isEmpty && listener.requests().last?.event == "ticket.opened")
        #expect(try w.store.auditRecords().contains { $0.action == "outbox.retried" && $0.actor == "sup.liu" })
    }

    @Test func anUnreachableWebhookBacksOffExponentially() {
        #expect((0...3).map(OutboxDelivery.backoff(attempts:)) == [1_000, 2_000, 4_000, 8_000])
        #expect(OutboxDelivery.backoff(attempts: 30) == 300_000)
    }
}
