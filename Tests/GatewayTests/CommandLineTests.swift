import FieldwatchCore
import FieldwatchTesting
import Foundation
import MQTT
import Testing

/// Runs a built executable of this package and returns (exit status, stdout + stderr). The
/// wait happens on a Dispatch thread: a test blocking a Swift concurrency thread for the
/// seconds a simulator run takes would starve the in-process servers of other tests.
func runTool(_ name: String, _ arguments: [String], environment: [String: String] = [:]) async throws -> (Int32, String) {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async {
            continuation.resume(with: Result { try runToolBlocking(name, arguments, environment: environment) })
        }
    }
}

/// Starts `fieldwatch serve` on the demo site against `broker` (stop it with SIGTERM or SIGKILL).
func spawnServe(broker: MosquittoBroker, db: String, logPath: String, clientID: String, environment: [String: String] = [:]) throws -> pid_t {
    try spawn(Fixtures.packageRoot().appendingPathComponent(".build/debug/fieldwatch").path, [
        "serve", "--broker", broker.url, "--db", db, "--inventory", "Simulator/demo-site.yaml", "--profiles", "DeviceProfiles",
        "--client-id", clientID, "--log-level", "notice",
    ], logPath: logPath, environment: ["FIELDWATCH_DEAD_LETTER_FILE": "off", "FIELDWATCH_HTTP": "127.0.0.1:0"].merging(environment) { $1 })
}

/// One degradation fault from the simulator that the shipped pump profile turns into a ticket:
/// a limit held for 10 s, from a fault starting at 1 s and past critical by 3 s.
func simulateOneFault(broker: MosquittoBroker) async throws -> String {
    let (status, text) = try await runTool("fieldwatch-sim", [
        "--broker", broker.url, "--inventory", "Simulator/demo-site.yaml", "--seed", "3", "--rate", "20",
        "--duration", "16", "--fault-onset", "1", "--fault-ramp", "2", "--faults", "1",
    ])
    #expect(status == 0, "\(text)")
    return text
}

/// `runTool` for the synchronous conditions of `eventually` (short commands only).
func runToolBlocking(_ name: String, _ arguments: [String], environment: [String: String] = [:]) throws -> (Int32, String) {
    let bin = Fixtures.packageRoot().appendingPathComponent(".build/debug/\(name)")
    guard FileManager.default.isExecutableFile(atPath: bin.path) else {
        throw FixtureError("\(bin.path) is missing; run `swift build` (make test does) before the tests")
    }
    let process = Process()
    process.executableURL = bin
    process.arguments = arguments
    process.currentDirectoryURL = Fixtures.packageRoot()
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    let output = Pipe()
    process.standardOutput = output
    process.standardError = output
    try process.run()
    let data = output.fileHandleForReading.readAllRetryingInterrupts()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}

@Suite("Command line", .serialized)
struct CommandLineTests {
    @Test func helpExplainsTheCommands() async throws {
        let (status, text) = try await runTool("fieldwatch", ["--help"])
        #expect(status == 0)
        for word in ["serve", "tickets", "profiles", "predictive fault tickets"] { #expect(text.contains(word), "\(word)") }
        let (_, serve) = try await runTool("fieldwatch", ["serve", "--help"])
        for word in ["--broker", "--db", "--profiles", "--inventory", "FIELDWATCH_BROKER", "ring_capacity", "checkpoint_interval", "SIGTERM"] {
            #expect(serve.contains(word), "\(word)")
        }
    }

    @Test func profilesValidateExitStatus() async throws {
        let (ok, okText) = try await runTool("fieldwatch", ["profiles", "validate", "DeviceProfiles", "--inventory", "Simulator/demo-site.yaml"])
        #expect(ok == 0)
        #expect(okText.contains("ok: 8 profile(s): centrifugal-pump, diesel-standby-generator, dry-type-transformer"))
        let dir = try makeTemporaryDirectory()
        let bad = dir.appendingPathComponent("bad.yaml")
        try Fixtures.pumpProfile.replacingOccurrences(of: "unit: Cel", with: "unit: cel")
            .replacingOccurrences(of: "warning: 80", with: "warning: 99")
            .write(to: bad, atomically: true, encoding: .utf8)
        let (status, text) = try await runTool("fieldwatch", ["profiles", "validate", bad.path])
        #expect(status == 1)
        #expect(text.contains("\(bad.path):10:11: sensors[0].unit: unknown unit \"cel\" (did you mean \"Cel\"?)"))
        #expect(text.contains("\(bad.path):15:16: sensors[0].limits.warning: warning (99) is not below critical (95)"))
        #expect(text.contains("2 error(s)"))
    }

    @Test func profilesShowSummarisesAProfile() async throws {
        let (status, text) = try await runTool("fieldwatch", ["profiles", "show", "screw-air-compressor"])
        #expect(status == 0)
        for line in [
            "screw-air-compressor v2: Screw air compressor (compressor, criticality 3/5)",
            "discharge_temp     Cel   gauge    -20..150    85       10s     30s    above: warning 105, critical 115, clear 100, hold 30s -> DISCHARGE_OVERTEMP",
            "run_hours          h     counter  0..1000000  -        10m     30m    -",
            "  discharge_temp: threshold",
            "  discharge_temp: forecast (confidence 0.9, horizon 86400, window 21600)",
            "  delivery_pressure: threshold (default for a gauge with limits)",
            "  delivery_pressure: forecast (default for a gauge with limits)",
            "  OIL_FILTER_CLOGGED  minor  Oil filter clogged (oil filter)",
            "      needs:    skills mechanical; parts OIL-FILTER-1613-6105 x1; repair ~1h",
        ] {
            #expect(text.contains(line), "missing: \(line)\n\(text)")
        }
        let (missing, message) = try await runTool("fieldwatch", ["profiles", "show", "pump"])
        #expect(missing != 0)
        #expect(message.contains("no profile \"pump\" in ./DeviceProfiles; known: centrifugal-pump, diesel-standby-generator"))
    }

    @Test func serveRefusesABadConfigurationNamingTheProblem() async throws {
        let (status, text) = try await runTool("fieldwatch", ["serve", "--broker", "localhost:1883", "--inventory", "Simulator/demo-site.yaml"])
        #expect(status == 2)
        #expect(text.contains("broker: broker URL \"localhost:1883\": expected mqtt://HOST:PORT"))
    }

    /// The issue's "done when": fieldwatch-sim against fieldwatch serve on a broker started by
    /// hand opens a ticket that `fieldwatch tickets list --json` shows.
    @Test func simulatorAgainstServeOpensATicketShownByTicketsList() async throws {
        let broker = try MosquittoBroker()
        let dir = try makeTemporaryDirectory()
        let db = dir.appendingPathComponent("fw.db").path
        let logPath = dir.appendingPathComponent("serve.log").path
        let serve = try spawnServe(broker: broker, db: db, logPath: logPath, clientID: "cli-test")
        var stopped = false
        defer { if !stopped { kill(serve, SIGKILL); waitpid(serve, nil, 0) } }
        let simText = try await simulateOneFault(broker: broker)
        #expect(simText.contains("ground truth: degradation on sz-ps3/"))
        var listed: [[String: Any]] = []
        _ = await eventually(timeout: .seconds(30)) {
            guard FileManager.default.fileExists(atPath: db), let (status, json) = try? runToolBlocking("fieldwatch", ["tickets", "list", "--db", db, "--json"]),
                  status == 0, let array = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [[String: Any]]
            else { return false }
            listed = array
            return !array.isEmpty
        }
        #expect(listed.count == 1)
        #expect(listed.first?["source"] as? String == "predictive")
        #expect((listed.first?["fault_code"] as? String).map { simText.contains($0) } == true)
        // SIGTERM stops it gracefully (exit status 0).
        kill(serve, SIGTERM)
        var status: Int32 = -1
        waitpid(serve, &status, 0)
        stopped = true
        #expect(status == 0)
        let output = try String(contentsOfFile: logPath, encoding: .utf8)
        #expect(output.contains("ticket #1 opened"), "\(output)")
    }

    /// A committed ticket survives `kill -9` of the gateway, and the restarted gateway adds to
    /// it instead of opening a duplicate.
    @Test func committedTicketsSurviveKill9() async throws {
        let broker = try MosquittoBroker()
        let dir = try makeTemporaryDirectory()
        let (profiles, inventory) = try Fixtures.writeSite(in: dir)
        let db = dir.appendingPathComponent("fw.db").path
        let binary = Fixtures.packageRoot().appendingPathComponent(".build/debug/fieldwatch").path
        let arguments = ["serve", "--broker", broker.url, "--db", db, "--inventory", inventory, "--profiles", profiles, "--client-id", "kill9"]
        let publisher = try MQTTClient(configuration: MQTTConfiguration(host: "127.0.0.1", port: broker.port, clientID: "pub", cleanSession: true))
        try publisher.connect()
        #expect(await publisher.waitUntilConnected())
        func publish(_ values: [Double], start: Int64) async throws {
            for (i, v) in values.enumerated() {
                try publisher.publish(topic: "fieldwatch/site-a/pump-1/telemetry",
                                      payload: #"{"ts": \#(start + Int64(i) * 1000), "metrics": {"bearing_temp": \#(v)}}"#)
            }
            #expect(await publisher.waitUntilPublished())
        }
        func ticketsJSON() -> [[String: Any]] {
            guard FileManager.default.fileExists(atPath: db), let (status, json) = try? runToolBlocking("fieldwatch", ["tickets", "list", "--db", db, "--json"]),
                  status == 0 else { return [] }
            return (try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [[String: Any]]) ?? []
        }
        let t0 = Timestamp.now().milliseconds - 60_000

        var pid = try spawn(binary, arguments, logPath: dir.appendingPathComponent("serve1.log").path, environment: ["FIELDWATCH_HTTP": "127.0.0.1:0"])
        #expect(await eventually { (try? String(contentsOfFile: dir.appendingPathComponent("serve1.log").path, encoding: .utf8))?.contains("MQTT connected") == true })
        try await Task.sleep(for: .milliseconds(300))
        try await publish([99, 99, 99, 99], start: t0)
        #expect(await eventually { ticketsJSON().count == 1 })
        kill(pid, SIGKILL)
        waitpid(pid, nil, 0)

        let afterKill = ticketsJSON()
        #expect(afterKill.count == 1 && afterKill.first?["occurrences"] as? Int == 1)
        let (status, show) = try await runTool("fieldwatch", ["tickets", "show", "1", "--db", db])
        #expect(status == 0 && show.contains("ticket.opened") && show.contains("evidence 3 samples"), "\(show)")

        pid = try spawn(binary, arguments, logPath: dir.appendingPathComponent("serve2.log").path, environment: ["FIELDWATCH_HTTP": "127.0.0.1:0"])
        defer { kill(pid, SIGKILL); waitpid(pid, nil, 0) }
        #expect(await eventually { (try? String(contentsOfFile: dir.appendingPathComponent("serve2.log").path, encoding: .utf8))?.contains("MQTT connected") == true })
        try await Task.sleep(for: .milliseconds(300))
        try await publish([99, 99, 99, 99], start: t0 + 10_000)
        #expect(await eventually { ticketsJSON().first?["occurrences"] as? Int == 2 })
        #expect(ticketsJSON().count == 1)
        publisher.disconnect()
    }
}

@Suite("Replay and NAB evaluation commands", .serialized)
struct EvaluationCommandTests {
    func writeCSV(_ dir: URL, _ name: String, values: [Double]) throws -> String {
        let path = dir.appendingPathComponent(name).path
        var text = "timestamp,value\n"
        for (i, v) in values.enumerated() {
            let t = Timestamp(milliseconds: 1_400_000_000_000 + Int64(i) * 300_000).rfc3339
            text += "\(t.prefix(10)) \(t.dropFirst(11).prefix(8)),\(v)\n"
        }
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func replayWritesOneScoredRowPerInputRowAndIsStreaming() async throws {
        let dir = try makeTemporaryDirectory()
        let values = (0..<300).map { i in i == 250 ? 80.0 : 20 + Double(i % 7) * 0.3 }
        let full = try writeCSV(dir, "full.csv", values: values)
        let prefix = try writeCSV(dir, "prefix.csv", values: Array(values.prefix(260)))
        for (input, output) in [(full, "full.out"), (prefix, "prefix.out")] {
            let (status, text) = try await runTool("fieldwatch", ["replay", "--csv", input, "--out", dir.appendingPathComponent(output).path])
            #expect(status == 0, "\(text)")
        }
        let fullRows = try String(contentsOfFile: dir.appendingPathComponent("full.out").path, encoding: .utf8).split(separator: "\n")
        let prefixRows = try String(contentsOfFile: dir.appendingPathComponent("prefix.out").path, encoding: .utf8).split(separator: "\n")
        #expect(fullRows.first == "timestamp,value,anomaly_score" && fullRows.count == 301)
        #expect(Array(fullRows.prefix(261)) == prefixRows, "a row's score depends only on the rows up to it")
        #expect(fullRows[1].hasPrefix("2014-05-13 16:53:20,20.0,"))
        let spike = try #require(Double(fullRows[251].split(separator: ",")[2]))
        #expect(spike > 0.9, "a spike 60 times the noise is far beyond any record: \(spike)")
    }

    /// With --profile and --sensor the sensor's limits count: a bearing steady at 100 °C is
    /// unremarkable to the generic score but past the pump's critical limit (95 °C, held 10 s).
    @Test func replayWithAProfileScoresTheSensorsLimits() async throws {
        let dir = try makeTemporaryDirectory()
        let hot = try writeCSV(dir, "hot.csv", values: [Double](repeating: 100, count: 100))
        func scores(_ extra: [String]) async throws -> [Double] {
            let out = dir.appendingPathComponent("hot-\(extra.count).out").path
            let (status, text) = try await runTool("fieldwatch", ["replay", "--csv", hot, "--out", out] + extra)
            #expect(status == 0, "\(text)")
            return try String(contentsOfFile: out, encoding: .utf8).split(separator: "\n").dropFirst()
                .map { Double($0.split(separator: ",")[2])! }
        }
        #expect(try await scores([]).allSatisfy { $0 == 0 })
        let limited = try await scores(["--profile", "centrifugal-pump", "--sensor", "bearing_temp"])
        #expect(limited[0] == 0 && limited[1...].allSatisfy { $0 == 1 }, "\(limited.prefix(3))")
        let (status, text) = try await runTool("fieldwatch", ["replay", "--csv", hot, "--out", "/dev/null", "--profile", "centrifugal-pump"])
        #expect(status != 0 && text.contains("give --profile and --sensor together"))
    }

    @Test func evalNabScoresAHandMadeCorpus() async throws {
        let dir = try makeTemporaryDirectory()
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("data/cat"), withIntermediateDirectories: true)
        // 1,000 quiet rows, a jump at row 600 inside the labelled window rows 590...650.
        let values = (0..<1000).map { i in (i >= 600 ? 50.0 : 10.0) + Double(i % 5) * 0.2 }
        _ = try writeCSV(dir.appendingPathComponent("data/cat"), "jump.csv", values: values)
        func stamp(_ row: Int) -> String {
            let t = Timestamp(milliseconds: 1_400_000_000_000 + Int64(row) * 300_000).rfc3339
            return "\(t.prefix(10)) \(t.dropFirst(11).prefix(8)).000000"
        }
        let labels = dir.appendingPathComponent("windows.json").path
        try #"{"cat/jump.csv": [["\#(stamp(590))", "\#(stamp(650))"]]}"#.write(toFile: labels, atomically: true, encoding: .utf8)
        let (status, text) = try await runTool("fieldwatch", ["eval", "nab", "--data", dir.appendingPathComponent("data").path, "--labels", labels, "--verbose"])
        #expect(status == 0, "\(text)")
        #expect(text.contains("NAB: 1 files, 1000 rows, 1 windows"))
        // Detected at row 600 of the 61-row window 590...650: y = -(650-600+1)/61, so the
        // standard score is 100 · (1 + σ(y)/σ(-1)) / 2.
        let y = -51.0 / 61.0
        let sigma = { (y: Double) in 2 / (1 + exp(5 * y)) - 1 }
        let expected = 100 * (1 + sigma(y) / sigma(-1)) / 2
        let standard = try #require(text.split(separator: "\n").first { $0.hasPrefix("standard") })
        let score = try #require(Double(standard.split(separator: " ", omittingEmptySubsequences: true)[2]))
        #expect(abs(score - expected) < 0.06, "\(standard) vs \(expected)")
        #expect(text.contains("cat/jump.csv"))
    }
}

@Suite("eval sim", .serialized)
struct EvalSimTests {
    @Test func scoresDetectionsAgainstTheSimulatorsLabels() async throws {
        let dir = try makeTemporaryDirectory()
        let out = dir.appendingPathComponent("run.jsonl").path
        let labels = dir.appendingPathComponent("labels.jsonl").path
        let (simStatus, simText) = try await runTool("fieldwatch-sim", [
            "--out", out, "--labels", labels, "--start", "2026-03-02T00:00:00Z", "--duration", "3600", "--rate", "0.2",
            "--faults", "2", "--fault-onset", "600", "--fault-ramp", "1200", "--seed", "5",
        ])
        #expect(simStatus == 0, "\(simText)")
        let (status, text) = try await runTool("fieldwatch", ["eval", "sim", "--labels", labels, "--messages", out, "--inventory", "Simulator/demo-site.yaml"])
        #expect(status == 0, "\(text)")
        let row = try #require(text.split(separator: "\n").first { $0.hasPrefix("degradation") })
        let cells = row.split(separator: " ", omittingEmptySubsequences: true)
        #expect(cells[1] == "2" && cells[2] == "2" && cells[3] == "100", "\(row)")
        // Detected on the warning limit, before the critical crossing: a positive lead.
        #expect(Double(cells[5]).map { $0 > 0 } == true, "\(row)")
        #expect(text.contains("precision 100 %"))
        #expect(text.contains(", 0 false detection(s) over 0.04 simulated day(s)"), "\(text)")
    }
}
