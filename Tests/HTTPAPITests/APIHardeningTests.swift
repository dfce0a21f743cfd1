import FieldwatchCore
import FieldwatchTesting
import Foundation
import GRDB
import Testing
@testable import HTTPAPI
@testable import ServiceDesk
@testable import Storage

@Suite("API hardening: headers, internal errors, what customers see", .serialized)
struct APIHardeningTests {
    @Test func everyResponseCarriesTheSecurityHeaders() async throws {
        let api = try await APIFixture()
        for (path, who) in [("/", nil), ("/app.js", nil), ("/api/v1/tickets", "admin"), ("/api/v1/tickets", nil), ("/api/v1/nothing", "admin")] as [(String, String?)] {
            let r = try await api.call("GET", path, as: who)
            let csp = try #require(r.header("Content-Security-Policy"), "\(path) without a CSP")
            #expect(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe-eval"))
            #expect(!csp.split(separator: ";").first { $0.contains("script-src") }!.contains("unsafe-inline"), "no inline script")
            #expect(r.header("X-Content-Type-Options") == "nosniff" && r.header("X-Frame-Options") == "DENY", "\(path)")
        }
    }

    @Test func anInternalErrorGivesAnIdNotTheDetail() async throws {
        let api = try await APIFixture()
        let ticket = try api.openTicket()
        // The store breaks under the API: a table it reads is gone.
        try api.store.writeSync { tx in try tx.db.execute(sql: "DROP TABLE rating") }
        let r = try await api.call("GET", "/api/v1/tickets/\(ticket.id)", as: "admin")
        #expect(r.status == 500 && r.errorCode == "storage")
        #expect(r.errorMessage.hasPrefix("internal error ") && r.errorMessage.contains("the gateway's log has the detail"))
        #expect(!r.text.contains("rating") && !r.text.contains("SQL") && !r.text.contains(".db"), "no SQL, table or path: \(r.text)")
    }

    @Test func customersSeeTheirTicketWithoutTheDesksInternals() async throws {
        let api = try await APIFixture()
        let t = try api.openTicket()
        let w = api.workflow
        let now = Timestamp.now()
        try w.perform(.acknowledge, ticketID: t.id, actor: "eng.chen", at: now)
        try w.addNote(ticketID: t.id, actor: "sup.liu", action: "ticket.note", detail: ["note": "customer is slow to pay, keep it short"], at: now)
        try w.perform(.contact, ticketID: t.id, actor: "eng.chen", at: now)
        try w.perform(.dispatch, ticketID: t.id, actor: "eng.chen", at: now)
        try w.perform(.arrive, ticketID: t.id, actor: "eng.chen", at: now)
        _ = try w.propose(ticketID: t.id, actor: "eng.chen", diagnosis: "bearing worn", plannedWork: "replace bearing", parts: "BRG-6205",
                          estimatedCost: 1800, at: now)
        _ = try w.decide(ticketID: t.id, approve: true, actor: "sup.liu", note: "margin is thin on this contract", at: now)
        _ = try w.escalate(now: now + .seconds(3 * 86_400))

        let staff = try await api.call("GET", "/api/v1/tickets/\(t.id)", as: "supervisor").object
        #expect(!(staff["escalations"] as! [Any]).isEmpty)
        #expect(staff.description.contains("customer is slow to pay") && staff.description.contains("margin is thin"))

        let reply = try await api.call("GET", "/api/v1/tickets/\(t.id)", as: "customer")
        #expect(reply.status == 200)
        let mine = reply.object
        #expect((mine["escalations"] as! [Any]).isEmpty)
        let solution = try #require((mine["solutions"] as? [[String: Any]])?.first)
        func absent(_ key: String) -> Bool { solution[key] == nil || solution[key] is NSNull }
        #expect(solution["diagnosis"] as? String == "bearing worn" && absent("estimated_cost") && absent("decision_note") && absent("decided_by"))
        let timeline = try #require(mine["timeline"] as? [[String: Any]])
        let actions = timeline.compactMap { $0["action"] as? String }
        #expect(actions.contains("ticket.arrive") && !actions.contains("ticket.note") && !actions.contains { $0.contains("escalat") })
        #expect(!reply.text.contains("slow to pay") && !reply.text.contains("margin is thin") && !reply.text.contains("received_at"))
        #expect(!reply.text.contains("_met"), "SLA verdicts stay with the staff")

        // KPIs: a customer gets their figures, not the per-person ranking.
        let kpis = try await api.call("GET", "/api/v1/kpis", as: "customer").object["kpis"] as? [String: Any]
        #expect((kpis?["engineers"] as? [Any])?.isEmpty == true && (kpis?["tickets"] as? Int) == 1)
        let staffKPIs = try await api.call("GET", "/api/v1/kpis", as: "supervisor").object["kpis"] as? [String: Any]
        #expect((staffKPIs?["engineers"] as? [Any])?.isEmpty == false)
    }

    @Test func notificationsSetAsideAreListedAndResentBySupervisors() async throws {
        let api = try await APIFixture()
        _ = try api.openTicket()
        try api.store.registerDestination("webhook:https://erp.example.com/hook", since: Timestamp(milliseconds: 0))
        let message = try #require(try api.store.outbox().first)
        try api.store.recordDelivery(messageID: message.id, destination: "webhook:https://erp.example.com/hook", at: .now(),
                                     error: "HTTP 422: unknown site", nextAttempt: .now(), dead: true)
        #expect(try await api.call("GET", "/api/v1/notifications/dead", as: "engineer").status == 403)
        let dead = try await api.call("GET", "/api/v1/notifications/dead", as: "supervisor")
        #expect(dead.status == 200 && dead.array.count == 1)
        #expect(dead.array.first?["destination"] as? String == "webhook:https://erp.example.com/hook" && dead.array.first?["last_error"] as? String == "HTTP 422: unknown site")
        let retry = try await api.call("POST", "/api/v1/notifications/retry", as: "supervisor", body: "{}")
        #expect(retry.status == 200 && retry.object["requeued"] as? Int == 1)
        #expect(try await api.call("GET", "/api/v1/notifications/dead", as: "supervisor").array.isEmpty)
    }

    @Test func aTelemetryWindowIsBounded() async throws {
        let api = try await APIFixture()
        let r = try await api.call("GET", "/api/v1/devices/pump-1/telemetry?sensor=bearing_temp&from=2026-01-01T00:00:00Z&to=2026-03-01T00:00:00Z", as: "admin")
        #expect(r.status == 422 && r.errorMessage.contains("longer than 31 days"), "\(r.text)")
        #expect(try await api.call("GET", "/api/v1/devices/pump-1/telemetry?sensor=bearing_temp&from=2026-01-01T00:00:00Z&to=2026-01-31T00:00:00Z",
                                   as: "admin").status == 200)
    }

    @Test func bodiesAtTheLimitAndHostileJSONGetClearErrors() async throws {
        let api = try await APIFixture()
        func body(padTo size: Int) -> String {
            let head = #"{"device": "pump-1", "channel": "phone", "description": ""#, tail = #""}"#
            return head + String(repeating: "x", count: size - head.utf8.count - tail.utf8.count) + tail
        }
        let atLimit = try await api.call("POST", "/api/v1/tickets", as: "dispatcher", body: body(padTo: 64 * 1024))
        #expect(atLimit.status != 413 && atLimit.status < 500, "64 KiB exactly is within the limit: \(atLimit.status)")
        let over = try await api.call("POST", "/api/v1/tickets", as: "dispatcher", body: body(padTo: 64 * 1024 + 1))
        #expect(over.status == 413 && over.errorCode == "body_too_large")
        let deep = String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
        let nested = try await api.call("POST", "/api/v1/tickets", as: "dispatcher", body: #"{"device": \#(deep)}"#)
        #expect(nested.status == 400, "\(nested.status) \(nested.text.prefix(300))")
        let notUTF8 = try await api.call("POST", "/api/v1/tickets", as: "dispatcher", body: "{\"device\": \"\u{FFFD}\u{0}\"}")
        #expect([400, 404, 422].contains(notUTF8.status))
        #expect(try await api.call("GET", "/healthz", as: nil).status == 200, "still serving")
    }

    @Test func pastCasesAreForTheServiceTeamNotCustomers() async throws {
        let api = try await APIFixture()
        let t = try api.openTicket()
        let staff = try await api.call("GET", "/api/v1/tickets/\(t.id)/cases", as: "engineer")
        #expect(staff.status == 200 && staff.object["ticket"] as? Int == Int(t.id) && (staff.object["cases"] as? [Any]) != nil, "\(staff.text)")
        #expect(try await api.call("GET", "/api/v1/tickets/\(t.id)/cases", as: "customer").status == 403)
        let search = try await api.call("GET", "/api/v1/cases?q=%E8%B7%B3%E9%97%B8", as: "dispatcher")  // 跳闸
        #expect(search.status == 200 && search.object["query"] as? String == "跳闸", "\(search.text)")
        #expect(try await api.call("GET", "/api/v1/cases", as: "dispatcher").status == 422)
        #expect(try await api.call("GET", "/api/v1/cases?q=bearing", as: "customer").status == 403)
    }
}
