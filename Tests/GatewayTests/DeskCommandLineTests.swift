import FieldwatchCore
import FieldwatchTesting
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import GRDB
import MQTT
import Synchronization
import Testing

/// The service desk from the command line, against a running gateway: the simulator makes a
/// fault, the gateway opens the ticket, a person works it with `fieldwatch tickets …`, the
/// gateway publishes each step to MQTT from its outbox, and `audit verify` catches tampering.
@Suite("Service desk from the command line", .serialized)
struct DeskCommandLineTests {
    func json(_ text: String) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]) ?? [:]
    }

    @Test func workATicketAgainstARunningGatewayAndCatchTampering() async throws {
        let broker = try MosquittoBroker()
        let dir = try makeTemporaryDirectory()
        let db = dir.appendingPathComponent("fw.db").path
        let logPath = dir.appendingPathComponent("serve.log").path
        let httpPort = try freeLoopbackPort()
        let events = Mutex<[String]>([])
        let listener = try MQTTClient(configuration: MQTTConfiguration(host: "127.0.0.1", port: broker.port, clientID: "events-listener"))
        try listener.subscribe("fieldwatch/events/#")
        try listener.connect()
        let inbox = Task { for await m in listener.messages { events.withLock { $0.append(String(decoding: m.payload, as: UTF8.self)) } } }
        defer { inbox.cancel() }
        let serve = try spawnServe(broker: broker, db: db, logPath: logPath, clientID: "desk-cli-test",
                                   environment: ["FIELDWATCH_ESCALATION_INTERVAL": "1s", "FIELDWATCH_HTTP": "127.0.0.1:\(httpPort)"])
        var stopped = false
        defer { if !stopped { kill(serve, SIGKILL); waitpid(serve, nil, 0) } }
        _ = try await simulateOneFault(broker: broker)
        let opened = await eventually(timeout: .seconds(30)) {
            FileManager.default.fileExists(atPath: db) && (try? runToolBlocking("fieldwatch", ["tickets", "show", "1", "--db", db]))?.0 == 0
        }
        try #require(opened, "the gateway opened no ticket; log: \((try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "")")
        let device = try #require(json(try await runTool("fieldwatch", ["tickets", "show", "1", "--db", db, "--json"]).1)["ticket"] as? [String: Any])["device"] as! String

        // A step that is not possible says which are.
        let (badStatus, badText) = try await runTool("fieldwatch", ["tickets", "arrive", "1", "--db", db, "--by", "eng.chen"])
        #expect(badStatus == 1 && badText.contains("Possible now: acknowledge, cancel"), "\(badText)")
        let (ackStatus, ackText) = try await runTool("fieldwatch", ["tickets", "ack", "#1", "--db", db, "--by", "li.wei"])
        #expect(ackStatus == 0 && ackText.contains("acknowledged by li.wei"), "\(ackText)")
        let (contactStatus, contactText) = try await runTool("fieldwatch", ["tickets", "contact", "1", "--db", db, "--by", "li.wei", "--reason", "called the station"])
        #expect(contactStatus == 0 && contactText.contains("first contact: met"), "\(contactText)")
        // A costly repair waits for a supervisor other than the engineer who proposed it.
        let (proposeStatus, proposeText) = try await runTool("fieldwatch", [
            "tickets", "propose", "1", "--db", db, "--by", "eng.chen", "--diagnosis", "bearing worn", "--work", "replace bearing",
            "--parts", "SKF 6308 x1", "--cost", "9000",
        ])
        #expect(proposeStatus == 0 && proposeText.contains("waits for a supervisor"), "\(proposeText)")
        let (selfStatus, selfText) = try await runTool("fieldwatch", ["tickets", "approve", "1", "--db", db, "--by", "eng.chen"])
        #expect(selfStatus == 1 && selfText.contains("cannot approve"), "\(selfText)")
        #expect(try await runTool("fieldwatch", ["tickets", "approve", "1", "--db", db, "--by", "sup.liu"]).0 == 0)
        // The customer calls about the same pump: linked, not duplicated.
        let (reportStatus, reportText) = try await runTool("fieldwatch", [
            "tickets", "report", "--db", db, "--device", device, "--channel", "phone", "--reporter", "Mr Wang",
            "--description", "the pump is loud", "--inventory", "Simulator/demo-site.yaml",
        ])
        #expect(reportStatus == 0 && reportText.contains("linked to open ticket #1"), "\(reportText)")
        let shown = json(try await runTool("fieldwatch", ["tickets", "show", "1", "--db", db, "--json"]).1)
        #expect((shown["ticket"] as? [String: Any])?["owner"] as? String == "li.wei")
        #expect((shown["clocks"] as? [[String: Any]])?.count == 3)
        #expect(try await runTool("fieldwatch", ["tickets", "list", "--db", db, "--json"]).1.components(separatedBy: "\"id\"").count == 2)

        // The same ticket over the gateway's HTTP API, with a token made on the command line.
        let created = json(try await runTool("fieldwatch", ["tokens", "create", "--db", db, "--name", "test", "--role", "dispatcher", "--subject", "zhao", "--json"]).1)
        let secret = try #require(created["secret"] as? String)
        #expect(!(try await runTool("fieldwatch", ["tokens", "list", "--db", db]).1.contains(secret)), "a secret is shown once, never listed")
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(httpPort)/api/v1/tickets")!)
        request.setValue("Bearer \(secret)", forHTTPHeaderField: "Authorization")
        let (data, response) = try await URLSession.shared.data(for: request)
        #expect((response as? HTTPURLResponse)?.statusCode == 200)
        let listed = (try? JSONSerialization.jsonObject(with: data)) as? [[String: Any]] ?? []
        #expect(listed.count == 1 && listed.first?["owner"] as? String == "li.wei", "\(String(decoding: data, as: UTF8.self))")

        // The running gateway delivers each step from its outbox to MQTT.
        let published = await eventually(timeout: .seconds(20)) {
            let seen = events.withLock { $0 }
            return ["ticket.opened", "ticket.acknowledge", "ticket.contact"].allSatisfy { e in seen.contains { $0.contains("\"event\":\"\(e)\"") } }
        }
        #expect(published, "events seen: \(events.withLock { $0 })")

        kill(serve, SIGTERM)
        var status: Int32 = -1
        waitpid(serve, &status, 0)
        stopped = true
        #expect(status == 0)

        let (verifyStatus, verifyText) = try await runTool("fieldwatch", ["audit", "verify", "--db", db])
        #expect(verifyStatus == 0 && verifyText.contains("chain intact"), "\(verifyText)")
        let head = try await runTool("fieldwatch", ["audit", "head", "--db", db]).1.split(separator: " ")[1].trimmingCharacters(in: .whitespacesAndNewlines)
        // Someone edits who acknowledged the ticket, straight in the SQLite file.
        let queue = try DatabaseQueue(path: db)
        try await queue.write { db in
            try db.execute(sql: "DROP TRIGGER audit_record_no_update")
            try db.execute(sql: "UPDATE audit_record SET actor = 'someone.else' WHERE action = 'ticket.acknowledge'")
        }
        let (brokenStatus, brokenText) = try await runTool("fieldwatch", ["audit", "verify", "--db", db, "--head", head])
        #expect(brokenStatus == 1 && brokenText.contains("BROKEN") && brokenText.contains("ticket.acknowledge"), "\(brokenText)")
    }

    @Test func aBrokenPolicyStopsStartUpNamingFileAndLine() async throws {
        let dir = try makeTemporaryDirectory()
        let policy = dir.appendingPathComponent("policy.yaml").path
        try "schema: 1\nescalation:\n  warn_at: 1.5\n".write(toFile: policy, atomically: true, encoding: .utf8)
        let (status, text) = try await runTool("fieldwatch", ["policy", "validate", policy])
        #expect(status == 1 && text.contains("policy.yaml:3:") && text.contains("escalation.warn_at"), "\(text)")
        let (serveStatus, serveText) = try await runTool("fieldwatch", [
            "serve", "--policy", policy, "--db", dir.appendingPathComponent("fw.db").path, "--inventory", "Simulator/demo-site.yaml",
        ])
        #expect(serveStatus == 2 && serveText.contains("policy.yaml:3:"), "\(serveText)")
        let (okStatus, okText) = try await runTool("fieldwatch", ["policy", "validate", "ServicePolicy/example.yaml"])
        #expect(okStatus == 0 && okText.hasPrefix("ok:"), "\(okText)")
    }
}
