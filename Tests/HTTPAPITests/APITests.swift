import FieldwatchCore
import FieldwatchTesting
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Profiles
import Testing
import TimeSeries
@testable import HTTPAPI
@testable import ServiceDesk
@testable import Storage

/// A real server on a free loopback port, over a real SQLite file, called with URLSession.
final class APIFixture: @unchecked Sendable {
    let store: TicketStore
    let workflow: TicketWorkflow
    let series = SeriesStore()
    let server: APIServer
    let task: Task<Void, Error>
    let port: Int
    var tokens: [String: String] = [:]

    static let acme = "Acme Build"
    static let harbour = "Harbour Tower"

    init() async throws {
        let profile = try ProfileLoader.parse(Fixtures.pumpProfile, file: "test-pump.yaml")
        let inventory = Inventory(
            sites: [Site(id: "site-a", name: "Acme depot", customer: Self.acme, latitude: 22.5, longitude: 113.9, timeZone: "Asia/Shanghai"),
                    Site(id: "site-h", name: "Harbour Tower", customer: Self.harbour, latitude: 22.3, longitude: 114.2, timeZone: "Asia/Shanghai", tier: .vip)],
            devices: [Device(id: "pump-1", site: "site-a", profileID: "test-pump"), Device(id: "pump-h", site: "site-h", profileID: "test-pump")],
            sourceFile: "inventory.yaml")
        store = try TicketStore(path: try makeTemporaryDirectory().appendingPathComponent("api.db").path)
        workflow = TicketWorkflow(store: store, rules: ServiceRules(policy: .default, directory: SiteDirectory(inventory: inventory, profiles: ["test-pump": profile])))
        server = APIServer(configuration: .init(host: "127.0.0.1", port: 0),
                           environment: APIEnvironment(workflow: workflow, inventory: inventory, profiles: ["test-pump": profile], series: series,
                                                       faq: try FAQ.load(file: Fixtures.packageRoot().appendingPathComponent("Assistant/faq.yaml").path)))
        let server = server
        task = Task { try await server.run() }
        let up = await eventually(timeout: .seconds(20)) { server.boundPort != nil }
        guard up, let port = server.boundPort else { throw FixtureError("the API server did not start") }
        self.port = port
        for (role, subject, org) in [("admin", "root", nil), ("supervisor", "sup.liu", nil), ("dispatcher", "dispatch.zhao", nil),
                                     ("engineer", "eng.chen", nil), ("customer", "wang", Self.acme), ("customer", "ho", Self.harbour)] as [(String, String, String?)] {
            let (_, secret) = try store.createToken(name: "\(subject) test", role: APIToken.Role(rawValue: role)!, subject: subject, organisation: org, at: .now())
            tokens[org == Self.harbour ? "customer-h" : role] = secret
        }
    }

    deinit { task.cancel() }

    struct Reply {
        var status: Int
        var json: Any?
        var text: String
        var object: [String: Any] { json as? [String: Any] ?? [:] }
        var array: [[String: Any]] { json as? [[String: Any]] ?? [] }
        var errorCode: String? { (object["error"] as? [String: Any])?["code"] as? String }
        var errorMessage: String { (object["error"] as? [String: Any])?["message"] as? String ?? "" }
        var headers: [String: String] = [:]
        func header(_ name: String) -> String? { headers.first { $0.key.lowercased() == name.lowercased() }?.value }
    }

    func call(_ method: String, _ path: String, as who: String?, body: String? = nil, rawToken: String? = nil) async throws -> Reply {
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!)
        request.httpMethod = method
        if let who { request.setValue("Bearer \(tokens[who]!)", forHTTPHeaderField: "Authorization") }
        if let rawToken { request.setValue(rawToken, forHTTPHeaderField: "Authorization") }
        if let body {
            request.httpBody = Data(body.utf8)
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        let (data, response) = try await URLSession.shared.data(for: request)
        let http = response as! HTTPURLResponse
        var headers: [String: String] = [:]
        for (k, v) in http.allHeaderFields { headers["\(k)"] = "\(v)" }
        return Reply(status: http.statusCode, json: try? JSONSerialization.jsonObject(with: data),
                     text: String(decoding: data, as: UTF8.self), headers: headers)
    }

    /// A predictive ticket on `device`, opened through the desk.
    func openTicket(_ device: DeviceID = "pump-1", site: SiteID = "site-a", forecastHours: Double? = nil) throws -> Ticket {
        let at = Timestamp.now() - .seconds(60)
        var a = Anomaly(site: site, device: device, sensor: "bearing_temp", faultCode: "BEARING_OVERTEMP", transition: .raised, severity: .critical,
                        detectedAt: at, conditionSince: at, value: 97, limit: 95, unit: "Cel", detector: "threshold", detectorVersion: 1,
                        profileID: "test-pump", profileVersion: 3, summary: "Bearing 97 Cel above critical 95", evidence: [])
        if let hours = forecastHours {
            let ahead = Duration.seconds(Int64(hours * 3600))
            a.severity = .warning
            a.value = 70
            a.detector = "trend-forecast"
            a.summary = "Bearing rising 1.5 Cel/h towards its critical limit 95 Cel"
            a.forecast = LimitForecast(limit: 95, crossingAt: at + ahead, earliest: at + ahead * 0.8, latest: at + ahead * 1.25, slopePerHour: 25 / hours,
                                       level: 70, fittedAt: at, windowStart: at - .seconds(6 * 3600), points: 48)
        }
        guard case let .opened(t) = try store.writeSync({ tx in try TicketDesk.apply(a, in: tx, recordedAt: at, rules: workflow.rules) }) else {
            throw FixtureError("no ticket opened")
        }
        return t
    }
}

@Suite("HTTP API", .serialized)
struct APITests {
    @Test func withoutAValidTokenOnlyHealthAndTheDocumentAnswer() async throws {
        let api = try await APIFixture()
        #expect(try await api.call("GET", "/healthz", as: nil).status == 200)
        #expect(try await api.call("GET", "/openapi.json", as: nil).status == 200)
        let none = try await api.call("GET", "/api/v1/tickets", as: nil)
        #expect(none.status == 401 && none.errorCode == "unauthenticated" && none.errorMessage.contains("fieldwatch tokens create"))
        let wrong = try await api.call("GET", "/api/v1/tickets", as: nil, rawToken: "Bearer fw_0000")
        #expect(wrong.status == 401 && wrong.errorMessage.contains("unknown or revoked"))
        let basic = try await api.call("GET", "/api/v1/tickets", as: nil, rawToken: "Basic abc")
        #expect(basic.status == 401)
        // A revoked token stops working at once.
        let id = try #require(try api.store.tokens().first { $0.role == .dispatcher }).id
        #expect(try await api.call("GET", "/api/v1/tickets", as: "dispatcher").status == 200)
        #expect(try api.store.revokeToken(id: id, at: .now()))
        #expect(try await api.call("GET", "/api/v1/tickets", as: "dispatcher").status == 401)
    }

    @Test func aTicketWorkedThroughTheAPI() async throws {
        let api = try await APIFixture()
        // The customer reports; staff take it from there.
        let report = try await api.call("POST", "/api/v1/tickets", as: "customer",
                                        body: #"{"device": "pump-1", "channel": "online", "description": "pump is loud", "stopped": true}"#)
        #expect(report.status == 201, "\(report.text)")
        let ticket = try #require(report.object["ticket"] as? [String: Any])
        let id = try #require(ticket["id"] as? Int)
        #expect(ticket["grade"] as? String == "urgent" && ticket["source"] as? String == "customer_report" && (report.object["clocks"] as? [Any])?.count == 3)
        let early = try await api.call("POST", "/api/v1/tickets/\(id)/actions/arrive", as: "engineer", body: "{}")
        #expect(early.status == 409 && early.errorMessage.contains("Possible now: acknowledge, cancel"), "\(early.text)")
        let ack = try await api.call("POST", "/api/v1/tickets/\(id)/actions/acknowledge", as: "engineer", body: "{}")
        #expect(ack.status == 200 && (ack.object["ticket"] as? [String: Any])?["owner"] as? String == "eng.chen", "\(ack.text)")
        for step in ["contact", "dispatch"] {
            let who = step == "dispatch" ? "dispatcher" : "engineer"
            #expect(try await api.call("POST", "/api/v1/tickets/\(id)/actions/\(step)", as: who, body: #"{"reason": "by API"}"#).status == 200)
        }
        #expect(try await api.call("POST", "/api/v1/tickets/\(id)/actions/arrive", as: "engineer", body: "{}").status == 200)
        let proposal = try await api.call("POST", "/api/v1/tickets/\(id)/solutions", as: "engineer",
                                          body: #"{"diagnosis": "bearing worn", "work": "replace bearing", "parts": "6308 x1", "cost": 800}"#)
        #expect(proposal.status == 201 && proposal.object["status"] as? String == "proposed", "\(proposal.text)")
        #expect(try await api.call("POST", "/api/v1/tickets/\(id)/actions/resolve", as: "engineer", body: "{}").status == 409)
        #expect(try await api.call("POST", "/api/v1/tickets/\(id)/solutions/decision", as: "supervisor", body: #"{"approve": true}"#).status == 200)
        #expect(try await api.call("POST", "/api/v1/tickets/\(id)/actions/resolve", as: "engineer", body: #"{"reason": "replaced"}"#).status == 200)
        #expect(try await api.call("POST", "/api/v1/tickets/\(id)/actions/confirm", as: "customer", body: "{}").status == 200)
        let rating = try await api.call("POST", "/api/v1/tickets/\(id)/rating", as: "customer", body: #"{"score": 5, "comment": "quick and clean"}"#)
        #expect(rating.status == 201 && rating.object["complaint"] == nil, "\(rating.text)")
        let detail = try await api.call("GET", "/api/v1/tickets/\(id)", as: "customer")
        #expect(detail.status == 200)
        let timeline = (detail.object["timeline"] as? [[String: Any]])?.compactMap { $0["action"] as? String }
        #expect(timeline == ["ticket.opened", "ticket.acknowledge", "ticket.contact", "ticket.dispatch", "ticket.arrive", "solution.proposed",
                             "solution.approved", "ticket.resolve", "ticket.confirm", "ticket.rated"])
        #expect((detail.object["timeline"] as? [[String: Any]])?.last?["actor"] as? String == "customer:wang")
        let verify = try await api.call("GET", "/api/v1/audit/verify", as: "supervisor")
        #expect(verify.status == 200 && verify.object["problem"] == nil && (verify.object["records"] as? Int ?? 0) >= 9, "\(verify.text)")
    }

    @Test func badRequestsGetTheRightStatusAndSayWhatToDo() async throws {
        let api = try await APIFixture()
        let t = try api.openTicket()
        let badJSON = try await api.call("POST", "/api/v1/tickets", as: "dispatcher", body: "{not json")
        #expect(badJSON.status == 400 && badJSON.errorCode == "bad_json")
        let missing = try await api.call("POST", "/api/v1/tickets", as: "dispatcher", body: #"{"device": "pump-1"}"#)
        #expect(missing.status == 400 && missing.errorMessage.contains("channel"), "\(missing.text)")
        let badChannel = try await api.call("POST", "/api/v1/tickets", as: "dispatcher", body: #"{"device": "pump-1", "channel": "fax", "description": "x"}"#)
        #expect(badChannel.status == 422 && badChannel.errorMessage.contains("phone, online or email"))
        let unknownDevice = try await api.call("POST", "/api/v1/tickets", as: "dispatcher", body: #"{"device": "pump-9", "channel": "phone", "description": "x"}"#)
        #expect(unknownDevice.status == 404 && unknownDevice.errorMessage.contains("did you mean"), "\(unknownDevice.text)")
        let big = String(repeating: "x", count: 100_000)
        let tooBig = try await api.call("POST", "/api/v1/tickets", as: "dispatcher", body: #"{"device": "pump-1", "channel": "phone", "description": "\#(big)"}"#)
        #expect(tooBig.status == 413, "\(tooBig.status) \(tooBig.text.prefix(400))")
        #expect(tooBig.errorCode == "body_too_large")
        #expect(try await api.call("GET", "/api/v1/tickets?grade=severe", as: "admin").status == 422)
        #expect(try await api.call("GET", "/api/v1/tickets?limit=0", as: "admin").status == 422)
        #expect(try await api.call("GET", "/api/v1/tickets/abc", as: "admin").status == 400)
        #expect(try await api.call("GET", "/api/v1/tickets/9999", as: "admin").status == 404)
        let noAction = try await api.call("POST", "/api/v1/tickets/\(t.id)/actions/teleport", as: "admin", body: "{}")
        #expect(noAction.status == 404 && noAction.errorMessage.contains("acknowledge"))
        let noRoute = try await api.call("GET", "/api/v2/everything", as: "admin")
        #expect(noRoute.status == 404 && noRoute.errorCode == "no_route" && noRoute.errorMessage.contains("/openapi.json"), "\(noRoute.text)")
        let pause = try await api.call("POST", "/api/v1/tickets/\(t.id)/actions/pause", as: "admin", body: #"{"pause_reason": "lunch"}"#)
        #expect(pause.status == 422 && pause.errorMessage.contains("waiting_for_customer"))
        let lower = try await api.call("POST", "/api/v1/tickets/\(t.id)/grade", as: "supervisor", body: #"{"grade": "minor"}"#)
        #expect(lower.status == 422 && lower.errorMessage.contains("needs a reason"))
    }

    /// Every operation a role may never do answers 403, through the real route.
    @Test func everyRoleIsDeniedWhatItMayNotDo() async throws {
        let api = try await APIFixture()
        let t = try api.openTicket()
        let requests: [(Access.Operation, String, String, String?)] = [
            (.report, "POST", "/api/v1/tickets", #"{"device": "pump-1", "channel": "phone", "description": "x"}"#),
            (.propose, "POST", "/api/v1/tickets/\(t.id)/solutions", #"{"diagnosis": "d", "work": "w", "cost": 1}"#),
            (.decide, "POST", "/api/v1/tickets/\(t.id)/solutions/decision", #"{"approve": true}"#),
            (.regrade, "POST", "/api/v1/tickets/\(t.id)/grade", #"{"grade": "general", "reason": "r"}"#),
            (.verifyAudit, "GET", "/api/v1/audit/verify", nil),
            (.rate, "POST", "/api/v1/tickets/\(t.id)/rating", #"{"score": 5}"#),
        ] + TicketAction.allCases.map { (.step($0), "POST", "/api/v1/tickets/\(t.id)/actions/\($0.rawValue)", "{}") }
        var denied = 0
        for (operation, method, path, body) in requests {
            for role in APIToken.Role.allCases where !Access.roles(for: operation).contains(role) {
                let reply = try await api.call(method, path, as: role.rawValue, body: body)
                #expect(reply.status == 403 && reply.errorCode == "forbidden", "\(role) \(operation): \(reply.status) \(reply.text)")
                #expect(reply.errorMessage.contains("roles that may"))
                denied += 1
            }
        }
        #expect(denied >= 25)
        #expect(try api.store.ticket(id: t.id)?.status == .new, "no denied request changed anything")
    }

    @Test func customersAndEngineersSeeOnlyTheirScope() async throws {
        let api = try await APIFixture()
        let acme = try api.openTicket("pump-1", site: "site-a")
        let harbour = try api.openTicket("pump-h", site: "site-h")
        // Customers: their organisation's sites, devices and tickets; the rest does not exist for them.
        #expect(try await api.call("GET", "/api/v1/sites", as: "customer").array.map { $0["id"] as? String } == ["site-a"])
        #expect(try await api.call("GET", "/api/v1/devices", as: "customer-h").array.map { $0["id"] as? String } == ["pump-h"])
        #expect(try await api.call("GET", "/api/v1/tickets", as: "customer").array.map { $0["id"] as? Int } == [Int(acme.id)])
        #expect(try await api.call("GET", "/api/v1/tickets/\(harbour.id)", as: "customer").status == 404)
        #expect(try await api.call("POST", "/api/v1/tickets/\(harbour.id)/actions/reopen", as: "customer", body: #"{"reason": "x"}"#).status == 404)
        #expect(try await api.call("POST", "/api/v1/tickets", as: "customer",
                                   body: #"{"device": "pump-h", "channel": "phone", "description": "x"}"#).status == 404)
        #expect(try await api.call("GET", "/api/v1/devices/pump-h/telemetry?sensor=flow", as: "customer").status == 404)
        // Engineers: new unowned tickets (to take) and their own, not a colleague's.
        #expect(try await api.call("GET", "/api/v1/tickets", as: "engineer").array.count == 2)
        try api.workflow.perform(.acknowledge, ticketID: harbour.id, actor: "eng.other", at: .now())
        #expect(try await api.call("GET", "/api/v1/tickets", as: "engineer").array.map { $0["id"] as? Int } == [Int(acme.id)])
        #expect(try await api.call("GET", "/api/v1/tickets/\(harbour.id)", as: "engineer").status == 404)
        #expect(try await api.call("GET", "/api/v1/tickets?status=all", as: "dispatcher").array.count == 2)
    }

    @Test func theAssistantAnswersFromOwnTicketsAndTheFAQAndHandsOver() async throws {
        let api = try await APIFixture()
        let acme = try api.openTicket("pump-1", site: "site-a")
        _ = try api.openTicket("pump-h", site: "site-h")
        let status = try await api.call("POST", "/api/v1/assistant", as: "customer", body: #"{"question": "where is my ticket?"}"#)
        #expect(status.status == 200 && status.object["intent"] as? String == "ticket_status", "\(status.text)")
        #expect((status.object["sources"] as? [[String: Any]])?.map { $0["id"] as? String } == ["\(acme.id)"], "only the customer's own ticket")
        let faq = try await api.call("POST", "/api/v1/assistant", as: "customer", body: #"{"question": "how do I reset the pump alarm"}"#)
        #expect(faq.object["intent"] as? String == "faq" && (faq.object["sources"] as? [[String: Any]])?.first?["id"] as? String == "pump-alarm-reset")
        let unsure = try await api.call("POST", "/api/v1/assistant", as: "customer", body: #"{"question": "can you quote a new chiller for floor 9"}"#)
        #expect(unsure.object["handover"] as? String == "updated" && unsure.object["handover_ticket"] as? Int == Int(acme.id), "\(unsure.text)")
        #expect(try await api.call("POST", "/api/v1/assistant", as: "customer", body: #"{"question": "x", "device": "pump-h"}"#).status == 404)
        #expect(try await api.call("POST", "/api/v1/assistant", as: "customer", body: #"{"question": "  "}"#).status == 422)
    }

    @Test func telemetryComesFromTheRingBuffers() async throws {
        let api = try await APIFixture()
        let now = Timestamp.now()
        for i in 0..<10 { _ = api.series.append(Sample(timestamp: now - .seconds(Int64(100 - i)), value: 60 + Double(i)), to: SeriesKey(device: "pump-1", sensor: "bearing_temp")) }
        let reply = try await api.call("GET", "/api/v1/devices/pump-1/telemetry?sensor=bearing_temp", as: "engineer")
        #expect(reply.status == 200, "\(reply.text)")
        #expect(reply.object["count"] as? Int == 10 && reply.object["max"] as? Double == 69 && reply.object["critical"] as? Double == 95)
        // Rolled up in 5 s buckets: 10 samples 1 s apart fill two or three buckets, with min/max/mean each.
        let from = (now - .seconds(100)).rfc3339
        let rolled = try await api.call("GET", "/api/v1/devices/pump-1/telemetry?sensor=bearing_temp&step=5s&from=\(from)", as: "engineer")
        let buckets = try #require(rolled.object["rollup"] as? [[String: Any]], "\(rolled.text)")
        #expect(buckets.map { $0["count"] as? Int ?? 0 }.reduce(0, +) == 10 && buckets.count == 2)
        #expect(buckets.first?["min"] as? Double == 60 && buckets.first?["max"] as? Double == 64)
        #expect(try await api.call("GET", "/api/v1/devices/pump-1/telemetry?sensor=bearing_temp&step=0s", as: "engineer").status == 422)
        let devices = try await api.call("GET", "/api/v1/devices?site=site-a", as: "dispatcher").array
        #expect(devices.count == 1 && devices[0]["status"] as? String == "ok")
        let unknown = try await api.call("GET", "/api/v1/devices/pump-1/telemetry?sensor=rpm", as: "engineer")
        #expect(unknown.status == 404 && unknown.errorMessage.contains("bearing_temp"))
        #expect(try await api.call("GET", "/api/v1/devices/pump-1/telemetry?sensor=flow&from=yesterday", as: "engineer").status == 422)
    }

    /// The document describes every route and every described route exists.
    @Test func theOpenAPIDocumentMatchesTheRoutes() async throws {
        let api = try await APIFixture()
        let doc = try await api.call("GET", "/openapi.json", as: nil).object
        #expect(doc["openapi"] as? String == "3.1.0")
        let paths = try #require(doc["paths"] as? [String: [String: Any]])
        let documented = Set(paths.flatMap { path, ops in ops.keys.map { "\($0.uppercased()) \(path)" } })
        let routed = Set(APIRoutes.all.map { "\($0.method.rawValue) \($0.path)" })
        #expect(documented == routed)
        // Each documented operation reaches a handler (never the router's "no route").
        let t = try api.openTicket()
        for entry in documented.sorted() {
            let parts = entry.split(separator: " ")
            let path = String(parts[1]).replacingOccurrences(of: "{id}", with: parts[1].contains("devices") ? "pump-1" : "\(t.id)")
                .replacingOccurrences(of: "{action}", with: "contact")
            let reply = try await api.call(String(parts[0]), path, as: "admin", body: parts[0] == "POST" ? "{}" : nil)
            #expect(reply.errorCode != "no_route", "\(entry) → \(reply.status) \(reply.text)")
        }
    }
}
