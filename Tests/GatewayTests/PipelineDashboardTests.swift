import FieldwatchCore
import FieldwatchTesting
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing

/// Three sites of two customers (one VIP), six devices of five profiles, and a fault script that
/// the simulator plays into its three hours of history (`--backfill`), so that every kind of
/// ticket the pipeline opens exists seconds after the start: a trend forecast (bearing wear on
/// pump-01), a sensor-health ticket (pump-02's pressure transmitter stuck), a threshold ticket
/// (pump-11's motor jams) and a site-offline ticket (both devices of fs-depot lose their
/// connection; the broker publishes their last wills).
let pipelineFleet = """
    sites:
      - {id: sz-ps3, name: Nanshan pumping station, customer: Shenzhen Water Group, tier: vip, latitude: 22.53, longitude: 113.93, timezone: Asia/Shanghai}
      - {id: gz-tower, name: Tianhe Tower plant room, customer: Tianhe Property Management, latitude: 23.13, longitude: 113.32, timezone: Asia/Shanghai}
      - {id: fs-depot, name: Foshan depot, customer: Tianhe Property Management, latitude: 23.02, longitude: 113.12, timezone: Asia/Shanghai}
    devices:
      - {id: pump-01, site: sz-ps3, profile: centrifugal-pump, name: Raw water pump 1}
      - {id: pump-02, site: sz-ps3, profile: centrifugal-pump, name: Raw water pump 2}
      - {id: chiller-01, site: gz-tower, profile: water-cooled-chiller, name: Chiller 1}
      - {id: pump-11, site: gz-tower, profile: centrifugal-pump, name: Chilled water pump 1}
      - {id: fan-01, site: fs-depot, profile: tunnel-ventilation-fan, name: Exhaust fan}
      - {id: gen-01, site: fs-depot, profile: diesel-standby-generator, name: Standby generator}
    scenarios:
      - {device: pump-01, type: degradation, sensors: [bearing_temp], start: 0s, duration: 27000s}
      - {device: pump-02, type: stuck, sensors: [discharge_pressure], start: 10500s}
      - {device: pump-11, type: sudden_failure, sensors: [motor_current], start: 10700s}
      - {device: fan-01, type: dropout, start: 10790s}
      - {device: gen-01, type: dropout, start: 10790s}
    """

/// A private broker, `fieldwatch serve` and `fieldwatch-sim` on the fleet above, with one API
/// token per role.
final class PipelineRun: @unchecked Sendable {
    let broker: MosquittoBroker
    let dir: URL
    let db: String
    let httpPort: Int
    let serve: pid_t
    var sim: pid_t = 0
    var tokens: [String: String] = [:]
    var base: String { "http://127.0.0.1:\(httpPort)" }
    var log: String { (try? String(contentsOfFile: dir.appendingPathComponent("serve.log").path, encoding: .utf8)) ?? "" }

    init() async throws {
        broker = try MosquittoBroker()
        dir = try makeTemporaryDirectory(prefix: "pipeline")
        db = dir.appendingPathComponent("fw.db").path
        httpPort = try freeLoopbackPort()
        let fleet = dir.appendingPathComponent("fleet.yaml").path
        try pipelineFleet.write(toFile: fleet, atomically: true, encoding: .utf8)
        serve = try spawn(Fixtures.packageRoot().appendingPathComponent(".build/debug/fieldwatch").path, [
            "serve", "--broker", broker.url, "--db", db, "--inventory", fleet, "--profiles", "DeviceProfiles",
            "--client-id", "pipeline-dashboard", "--log-level", "notice",
        ], logPath: dir.appendingPathComponent("serve.log").path, environment: [
            "FIELDWATCH_DEAD_LETTER_FILE": "off", "FIELDWATCH_HTTP": "127.0.0.1:\(httpPort)", "FIELDWATCH_HISTORY_KIB": "64",
        ])
        do {
            let listening = await eventually(timeout: .seconds(30)) { self.log.contains("HTTP API on") }
            try #require(listening, "the gateway did not start: \(log)")
            // The simulator keeps publishing live after its history, so no sensor goes stale while the pages load.
            let simLog = dir.appendingPathComponent("sim.log").path
            sim = try spawn(Fixtures.packageRoot().appendingPathComponent(".build/debug/fieldwatch-sim").path, [
                "--broker", broker.url, "--inventory", fleet, "--rate", "1", "--backfill", "10800", "--faults", "0", "--seed", "7",
            ], logPath: simLog)
            let live = await eventually(timeout: .seconds(60)) { ((try? String(contentsOfFile: simLog, encoding: .utf8)) ?? "").contains("now live") }
            try #require(live, "the simulator did not publish its history: \((try? String(contentsOfFile: simLog, encoding: .utf8)) ?? "")")
            for (role, subject, organisation) in [("admin", "ops.admin", nil), ("supervisor", "sup.liu", nil), ("dispatcher", "dispatch.zhao", nil),
                                                  ("engineer", "eng.chen", nil), ("customer-vip", "wang", "Shenzhen Water Group"),
                                                  ("customer", "li", "Tianhe Property Management")] as [(String, String, String?)] {
                let (s, out) = try await runTool("fieldwatch", ["tokens", "create", "--db", db, "--name", role, "--role", role.hasPrefix("customer") ? "customer" : role,
                                                                "--subject", subject, "--json"] + (organisation.map { ["--organisation", $0] } ?? []))
                try #require(s == 0, "\(out)")
                tokens[role] = try #require((try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any])?["secret"] as? String)
            }
            let (imported, importText) = try await runTool("fieldwatch", ["engineers", "import", "ServicePolicy/demo-team.yaml", "--db", db])
            try #require(imported == 0, "\(importText)")
            let (partsImported, partsText) = try await runTool("fieldwatch", ["parts", "import", "ServicePolicy/demo-parts.yaml", "--db", db])
            try #require(partsImported == 0, "\(partsText)")
        } catch {
            stop()
            throw error
        }
    }

    func stop() {
        for pid in [sim, serve] where pid > 0 {
            kill(pid, SIGKILL)
            waitpid(pid, nil, 0)
        }
    }

    /// An API call as `role`; returns the status and the parsed JSON (or nil).
    func call(_ method: String, _ path: String, as role: String, body: String? = nil) async throws -> (status: Int, json: Any?, text: String) {
        var request = URLRequest(url: URL(string: base + path)!)
        request.httpMethod = method
        request.setValue("Bearer \(tokens[role]!)", forHTTPHeaderField: "Authorization")
        if let body {
            request.httpBody = Data(body.utf8)
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        let (data, response) = try await URLSession.shared.data(for: request)
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, try? JSONSerialization.jsonObject(with: data), String(decoding: data, as: UTF8.self))
    }

    func tickets(as role: String = "admin") async throws -> [[String: Any]] {
        try await call("GET", "/api/v1/tickets?status=all", as: role).json as? [[String: Any]] ?? []
    }

    /// Waits until the pipeline has opened the four tickets of the fault script.
    func waitForTheScriptsTickets() async throws -> [String: Int] {
        var byFault: [String: Int] = [:]
        for _ in 0..<150 {
            byFault = [:]
            for t in try await tickets() where t["status"] as? String != "cancelled" {
                if let fault = t["fault_code"] as? String, let id = t["id"] as? Int { byFault[fault] = id }
            }
            if ["BEARING_OVERTEMP", "SENSOR_STUCK", "MOTOR_OVERLOAD", "SITE_OFFLINE"].allSatisfy({ byFault[$0] != nil }) { return byFault }
            try await Task.sleep(for: .milliseconds(200))
        }
        Issue.record("the pipeline opened only \(byFault); log:\n\(log)")
        return byFault
    }
}

@Suite("Dashboard on data the real pipeline made", .serialized)
struct PipelineDashboardTests {
    static let shots = Fixtures.packageRoot().appendingPathComponent(".build/browser-screenshots")

    /// Every page, for every role, on a broker → gateway → simulator run: each renders its
    /// content with no console message, no uncaught exception, no error shown and no value the
    /// page failed to compute.
    @Test func everyPageForEveryRoleRendersThePipelinesTickets() async throws {
        let run = try await PipelineRun()
        defer { run.stop() }
        let byFault = try await run.waitForTheScriptsTickets()
        let forecast = try #require(byFault["BEARING_OVERTEMP"]), stuck = try #require(byFault["SENSOR_STUCK"])
        let threshold = try #require(byFault["MOTOR_OVERLOAD"]), offline = try #require(byFault["SITE_OFFLINE"])

        // A customer's own report, worked to a fix and rated badly: a customer-report ticket and a complaint.
        let report = try await run.call("POST", "/api/v1/tickets", as: "customer",
                                        body: #"{"device": "chiller-01", "channel": "phone", "description": "the chiller trips every afternoon"}"#)
        #expect(report.status == 201, "\(report.text)")
        let reported = try #require(((report.json as? [String: Any])?["ticket"] as? [String: Any])?["id"] as? Int)
        // Worked the way the field works: a check-in at the site is the arrival, the visit's finish the fix.
        for (ticket, steps) in [(reported, ["acknowledge", "contact", "dispatch"]), (threshold, ["acknowledge", "contact", "dispatch"])] {
            for step in steps {
                let r = try await run.call("POST", "/api/v1/tickets/\(ticket)/actions/\(step)", as: step == "dispatch" ? "dispatcher" : "engineer", body: #"{"reason": "test"}"#)
                #expect(r.status == 200, "#\(ticket) \(step): \(r.text)")
            }
        }
        let checkIn = try await run.call("POST", "/api/v1/tickets/\(reported)/visits", as: "engineer", body: #"{"latitude": 23.1301, "longitude": 113.3205}"#)
        let visit = try #require((checkIn.json as? [String: Any])?["id"] as? Int, "\(checkIn.text)")
        #expect(checkIn.status == 201 && (checkIn.json as? [String: Any])?["check_in"] as? String == "at_site", "\(checkIn.text)")
        #expect(try await run.call("POST", "/api/v1/tickets/\(threshold)/visits", as: "engineer", body: #"{"latitude": 23.13, "longitude": 113.32}"#).status == 201)
        #expect(try await run.call("POST", "/api/v1/tickets/\(reported)/solutions", as: "engineer",
                                   body: #"{"diagnosis": "condenser fouled", "work": "clean the condenser tubes", "cost": 300}"#).status == 201)
        _ = try await run.call("POST", "/api/v1/tickets/\(reported)/solutions/decision", as: "supervisor", body: #"{"approve": true}"#)
        let resolved = try await run.call("POST", "/api/v1/visits/\(visit)/finish", as: "engineer",
                                          body: #"{"outcome": "fixed", "work": "cleaned the condenser tubes", "labour_hours": 2.5, "parts": "FILTER-CW-200:1"}"#)
        #expect(resolved.status == 200, "\(resolved.text)")
        let rated = try await run.call("POST", "/api/v1/tickets/\(reported)/rating", as: "customer", body: #"{"score": 1, "comment": "it tripped again"}"#)
        let complaint = try #require(((rated.json as? [String: Any])?["complaint"] as? [String: Any])?["id"] as? Int, "\(rated.text)")

        // Dispatch: the forecast ticket (a mechanical fault) goes to the nearest mechanic on the team.
        let suggestion = try #require(try await run.call("GET", "/api/v1/tickets/\(forecast)/dispatch", as: "dispatcher").json as? [String: Any])
        let best = try #require((suggestion["candidates"] as? [[String: Any]])?.first, "\(suggestion)")
        #expect(best["engineer"] as? String == "eng.chen", "\(suggestion)")
        #expect(try await run.call("POST", "/api/v1/tickets/\(forecast)/assign", as: "dispatcher", body: #"{"engineer": "eng.chen"}"#).status == 200)

        // The forecast ticket as the pipeline wrote it: predicted well before any limit is crossed.
        let detail = try #require(try await run.call("GET", "/api/v1/tickets/\(forecast)", as: "admin").json as? [String: Any])
        let ticket = try #require(detail["ticket"] as? [String: Any])
        #expect(ticket["detector"] as? String == "trend-forecast" && ticket["forecast"] is [String: Any], "\(ticket)")
        #expect((ticket["last_value"] as? Double ?? 99) < 80, "the forecast came before the warning limit: \(ticket)")

        let staff = ["admin", "supervisor", "dispatcher", "engineer"]
        let allTickets = [forecast, stuck, threshold, offline, reported, complaint]
        let devices = ["pump-01", "pump-02", "chiller-01", "pump-11", "fan-01", "gen-01"]
        var pages: [(role: String, path: String, mustShow: [String])] = []
        for role in staff + ["customer-vip", "customer"] {
            pages += [(role, "#/board", ["id=\"tiles\"", "data-ticket="]), (role, "#/sites", ["data-site=", "<polyline"]),
                      (role, "#/report", ["id=\"report-form\""]), (role, "#/ask", ["id=\"ask-form\""]), (role, "#/month", ["id=\"kpis\"", "id=\"top-faults\""])]
        }
        for role in staff {
            for id in allTickets { pages.append((role, "#/ticket/\(id)", ["id=\"clocks\"", "id=\"timeline\"", "ticket.opened"])) }
            for device in devices { pages.append((role, "#/device/\(device)", ["class=\"sensor-chart\"", "class=\"series\""])) }
        }
        pages.append(("admin", "#/month", ["id=\"costs\"", "<td>water-cooled-chiller</td><td>0.00</td><td>0.00</td><td>450.00</td><td>2.5</td>"]))
        for role in ["admin", "supervisor", "dispatcher"] {
            pages.append((role, "#/dispatch", ["class=\"card dispatch-card\"", "class=\"candidate\"", "<svg class=\"plan\"", "data-engineer=\"eng.zhou\""]))
        }
        for role in ["dispatcher", "supervisor"] {
            pages.append((role, "#/parts", ["id=\"parts-table\"", "data-part=\"SKF-6309-2Z\"", "wh-shenzhen"]))
        }
        pages.append(("engineer", "#/jobs", ["class=\"card job\" data-ticket=\"\(forecast)\"", "href=\"geo:", "id=\"send-position\""]))
        // Customers see their own organisation's tickets and equipment.
        pages += [("customer-vip", "#/ticket/\(forecast)", ["id=\"forecast\"", "class=\"forecast-trend\""]), ("customer-vip", "#/ticket/\(stuck)", ["id=\"evidence\""]),
                  ("customer-vip", "#/device/pump-01", ["class=\"forecast-trend\""]),
                  ("customer", "#/ticket/\(reported)", ["id=\"rating-form\"", "id=\"ratings\""]), ("customer", "#/ticket/\(complaint)", ["id=\"timeline\""]),
                  ("customer", "#/ticket/\(offline)", ["id=\"timeline\""]), ("customer", "#/device/chiller-01", ["class=\"sensor-chart\""])]
        // What only the pipeline's own records show.
        let special: [String: [String]] = [
            "#/ticket/\(forecast)": ["id=\"forecast\"", "Predicted to reach 95 Cel in ", "class=\"forecast-trend\"", "class=\"forecast-band\"", "class=\"detection\""],
            "#/ticket/\(stuck)": ["SENSOR_STUCK", "id=\"evidence\"", "class=\"series\""],
            "#/ticket/\(threshold)": ["MOTOR_OVERLOAD", "data-sensor=\"motor_current\"", "class=\"limit critical\"", "id=\"visits\"", "id=\"finish-form\""],
            "#/ticket/\(reported)": ["id=\"visits\"", "at the site", "cleaned the condenser tubes"],
            "#/month": ["First-time fix rate</td><td>100.0 % (1 of 1 tickets with a visit)"],
            "#/ticket/\(complaint)": ["id=\"complaint-of\"", "href=\"#/ticket/\(reported)\""], "#/device/pump-01": ["class=\"forecast-trend\""],
        ]
        for page in pages {
            let url = "\(run.base)/\(page.path)?token=\(run.tokens[page.role]!)"
            let loaded = try await Chromium.load(url, windowSize: "1280,900", budget: .seconds(4))
            #expect(loaded.problems.isEmpty, "\(page.role) \(page.path): \(loaded.problems)")
            for marker in page.mustShow + (staff.contains(page.role) ? special[page.path] ?? [] : []) {
                #expect(loaded.dom.contains(marker), "\(page.role) \(page.path) lacks \(marker): \(loaded.dom.prefix(1500))")
            }
        }
        // Detection markers sit only on the sensor that fired.
        let device = try await Chromium.load("\(run.base)/#/device/pump-11?token=\(run.tokens["admin"]!)", windowSize: "1280,900")
        for chart in device.dom.components(separatedBy: "<figure class=\"sensor-chart\"").dropFirst() {
            #expect(chart.contains("class=\"detection\"") == chart.hasPrefix(" data-sensor=\"motor_current\""), "\(chart.prefix(200))")
        }
        // A customer does not see the other organisation's tickets.
        let board = try await Chromium.load("\(run.base)/#/board?token=\(run.tokens["customer-vip"]!)")
        #expect(board.dom.contains("data-ticket=\"\(forecast)\"") && !board.dom.contains("data-ticket=\"\(threshold)\""))
        // The sign-in page, and the check itself: a page that does fail is caught.
        let signIn = try await Chromium.load(run.base + "/")
        #expect(signIn.dom.contains("id=\"signin\"") && signIn.problems.isEmpty, "\(signIn.problems)")
        let missing = try await Chromium.load("\(run.base)/#/ticket/999999?token=\(run.tokens["admin"]!)")
        #expect(missing.problems.contains { $0.contains("no ticket #999999") }, "\(missing.problems)")

        try FileManager.default.createDirectory(at: Self.shots, withIntermediateDirectories: true)
        for (name, path, size, role) in [("pipeline-forecast-ticket", "#/ticket/\(forecast)", "1280,1500", "dispatcher"),
                                         ("pipeline-forecast-ticket-phone", "#/ticket/\(forecast)", "412,915", "dispatcher"),
                                         ("pipeline-device", "#/device/pump-01", "1280,1500", "dispatcher"), ("pipeline-board", "#/board", "1280,900", "dispatcher"),
                                         ("pipeline-dispatch", "#/dispatch", "1280,1400", "dispatcher"), ("pipeline-jobs-phone", "#/jobs", "412,915", "engineer")] {
            let file = Self.shots.appendingPathComponent("\(name).png").path
            try? FileManager.default.removeItem(atPath: file)
            let shot = try await Chromium.load("\(run.base)/\(path)?token=\(run.tokens[role]!)", screenshot: file, windowSize: size)
            #expect(shot.problems.isEmpty, "\(name): \(shot.problems)")
            #expect(((try? FileManager.default.attributesOfItem(atPath: file)[.size] as? Int) ?? 0) > 10_000, "\(file)")
        }
    }

    /// Every response of every documented GET route, on a real run: each time is an RFC 3339
    /// string with an offset, declared `format: date-time` in /openapi.json, and no number
    /// anywhere looks like epoch milliseconds.
    @Test func everyTimeInEveryDocumentedResponseIsRFC3339() async throws {
        let run = try await PipelineRun()
        defer { run.stop() }
        let byFault = try await run.waitForTheScriptsTickets()
        let report = try await run.call("POST", "/api/v1/tickets", as: "customer", body: #"{"device": "chiller-01", "channel": "online", "description": "noisy"}"#)
        let reported = try #require(((report.json as? [String: Any])?["ticket"] as? [String: Any])?["id"] as? Int, "\(report.text)")
        for (step, role, body) in [("acknowledge", "engineer", "{}"), ("contact", "engineer", "{}"), ("pause", "engineer", #"{"pause_reason": "waiting_for_customer", "evidence": "no answer at 10:02"}"#),
                                   ("resume", "engineer", "{}")] {
            #expect(try await run.call("POST", "/api/v1/tickets/\(reported)/actions/\(step)", as: role, body: body).status == 200, "\(step)")
        }
        #expect(try await run.call("POST", "/api/v1/tickets/\(reported)/solutions", as: "engineer",
                                   body: #"{"diagnosis": "fan bearing", "work": "replace", "cost": 50000}"#).status == 201)

        let doc = try #require(try await run.call("GET", "/openapi.json", as: "admin").json as? [String: Any])
        let schemas = try #require((doc["components"] as? [String: Any])?["schemas"] as? [String: Any])
        let paths = try #require(doc["paths"] as? [String: [String: Any]])
        let ids = Array(byFault.values) + [reported]
        var checked = 0
        for (path, operations) in paths.sorted(by: { $0.key < $1.key }) {
            guard let get = operations["get"] as? [String: Any], path != "/openapi.json",
                  let schema = ((((get["responses"] as? [String: Any])?["200"] as? [String: Any])?["content"] as? [String: Any])?["application/json"] as? [String: Any])?["schema"]
            else { continue }
            var urls: [String] = []
            if path.contains("{id}/telemetry") {
                urls = ["pump-01", "fan-01"].flatMap { d in ["/api/v1/devices/\(d)/telemetry?sensor=\(d == "pump-01" ? "bearing_temp" : "vibration_rms")",
                                                             "/api/v1/devices/\(d)/telemetry?sensor=\(d == "pump-01" ? "bearing_temp" : "vibration_rms")&step=1m"] }
            } else if path.contains("{id}") {
                urls = ids.map { path.replacingOccurrences(of: "{id}", with: "\($0)") }
            } else if path == "/api/v1/cases" {
                urls = ["/api/v1/cases?q=bearing", "/api/v1/cases?q=%E8%BD%B4%E6%89%BF"]  // and 轴承
            } else {
                urls = [path, path + (path.hasSuffix("tickets") ? "?status=all" : "")]
            }
            for url in urls {
                let reply = try await run.call("GET", url, as: "admin")
                #expect(reply.status == 200, "\(url): \(reply.text.prefix(300))")
                guard let json = reply.json else { continue }
                for problem in Self.timeProblems(json, schema: schema, schemas: schemas, at: url) { Issue.record("\(problem)") }
                checked += 1
            }
        }
        #expect(checked >= 20, "only \(checked) responses were walked")
    }

    static let rfc3339 = #"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$"#
    /// Keys that name a time in this API.
    static func looksLikeTime(_ key: String) -> Bool {
        key.hasSuffix("_at") || ["ts", "at", "from", "to", "deadline", "earliest", "latest", "last_seen", "next_deadline", "window_start",
                                 "condition_since", "due_at"].contains(key)
    }

    /// Walks a response beside its documented schema and lists every time that is not RFC 3339,
    /// not declared date-time, or any number in the range of epoch milliseconds.
    static func timeProblems(_ value: Any, schema: Any, schemas: [String: Any], at path: String, key: String? = nil) -> [String] {
        var schema = (schema as? [String: Any]) ?? [:]
        if let ref = schema["$ref"] as? String { schema = schemas[String(ref.split(separator: "/").last!)] as? [String: Any] ?? [:] }
        if let options = schema["oneOf"] as? [Any] {
            schema = options.compactMap { $0 as? [String: Any] }.first { $0["type"] as? String != "null" }.map {
                ($0["$ref"] as? String).flatMap { schemas[String($0.split(separator: "/").last!)] as? [String: Any] } ?? $0
            } ?? [:]
        }
        var problems: [String] = []
        switch value {
        case let object as [String: Any]:
            let properties = schema["properties"] as? [String: Any] ?? [:]
            let additional = schema["additionalProperties"]
            for (k, v) in object {
                problems += timeProblems(v, schema: properties[k] ?? additional ?? [:], schemas: schemas, at: "\(path).\(k)", key: k)
            }
        case let array as [Any]:
            for (i, v) in array.enumerated() { problems += timeProblems(v, schema: schema["items"] ?? [:], schemas: schemas, at: "\(path)[\(i)]", key: key) }
        case let number as NSNumber:
            if abs(number.doubleValue) >= 1e11 && abs(number.doubleValue) < 1e14 { problems.append("\(path) = \(number): an epoch number where a time is meant") }
        case let text as String:
            let declared = schema["format"] as? String == "date-time"
            if declared && text.range(of: rfc3339, options: .regularExpression) == nil { problems.append("\(path) = \"\(text)\" is declared date-time but is not RFC 3339 with an offset") }
            if let key, looksLikeTime(key), !declared, schema["additionalProperties"] == nil, path.components(separatedBy: ".detail.").count == 1 {
                problems.append("\(path) (\"\(text)\") is a time the schema does not declare as date-time")
            }
        default:
            break
        }
        if let key, looksLikeTime(key), !(value is String), !(value is NSNull), !(value is [Any]), !(value is [String: Any]) {
            problems.append("\(path) = \(value): a time that is not a string")
        }
        return problems
    }
}
