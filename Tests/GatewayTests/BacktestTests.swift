import FieldwatchCore
import FieldwatchTesting
import Foundation
import Testing

/// `fieldwatch backtest` on a historian export made from a simulated day with one labelled
/// fault: the ticket that would have opened is the labelled fault, before the failure.
@Suite("fieldwatch backtest", .serialized)
struct BacktestTests {
    static let inventory = """
        sites:
          - id: sz-ps3
            name: PS3
            customer: Shenzhen Water Group
            latitude: 22.5
            longitude: 113.9
            timezone: Asia/Shanghai
        devices:
          - id: pump-01
            site: sz-ps3
            profile: centrifugal-pump

        """

    @Test func aHistorianExportOpensTheLabelledFaultBeforeTheFailure() async throws {
        let dir = try makeTemporaryDirectory()
        let inventory = dir.appendingPathComponent("one.yaml").path
        try Self.inventory.write(toFile: inventory, atomically: true, encoding: .utf8)
        let out = dir.appendingPathComponent("sim.jsonl").path
        let labels = dir.appendingPathComponent("labels.jsonl").path
        let (simStatus, simText) = try await runTool("fieldwatch-sim", [
            "--inventory", inventory, "--out", out, "--labels", labels, "--start", "2026-03-02T00:00:00Z", "--duration", "86400", "--rate", "0.1",
            "--faults", "1", "--fault-onset", "30000", "--fault-ramp", "20000", "--seed", "4",
        ])
        #expect(simStatus == 0, "\(simText)")
        let label = try #require(try readLines(labels, as: SimLabel.self).first)

        // As a historian in Shenzhen exports it: ';', decimal commas, local DD.MM.YYYY times,
        // tag names of its own, a status column, and a tag the profile does not have.
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "Asia/Shanghai")
        formatter.dateFormat = "dd.MM.yyyy HH:mm:ss"
        let keys = ["bearing_temp", "vibration_rms", "motor_current", "discharge_pressure"]
        var csv = "Zeitstempel;P101 Bearing Temp;P101_vibration_rms;P101_motor_current;P101_discharge_pressure;Status\n"
        var rows = 0
        for line in try readLines(out, as: SimLine.self) {
            guard let json = try JSONSerialization.jsonObject(with: Data(line.payload.utf8)) as? [String: Any],
                  let ts = json["ts"] as? Double, let metrics = json["metrics"] as? [String: Double] else { continue }
            let cells = keys.map { metrics[$0].map { "\($0)".replacingOccurrences(of: ".", with: ",") } ?? "" }
            csv += formatter.string(from: Date(timeIntervalSince1970: ts / 1000)) + ";" + cells.joined(separator: ";") + ";OK\n"
            rows += 1
        }
        let csvPath = dir.appendingPathComponent("export.csv").path
        try csv.write(toFile: csvPath, atomically: true, encoding: .utf8)

        let tickets = dir.appendingPathComponent("tickets.jsonl").path
        let scores = dir.appendingPathComponent("scores.csv").path
        let (status, text) = try await runTool("fieldwatch", [
            "backtest", "--csv", csvPath, "--profile", "centrifugal-pump", "--device", "pump-01", "--inventory", inventory,
            "--out", tickets, "--scores", scores,
        ])
        #expect(status == 0, "\(text)")
        #expect(text.contains("';'-separated, time in column \"Zeitstempel\", local times in Asia/Shanghai"), "\(text)")
        #expect(text.contains("P101 Bearing Temp→bearing_temp") && text.contains("not read: Status"), "\(text)")
        #expect(text.contains("\(rows) rows") && text.contains("\(rows * 4) readings stored, 0 missing cells"), "\(text)")
        let opened = try String(contentsOfFile: tickets, encoding: .utf8).split(separator: "\n")
            .compactMap { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(opened.count == 1, "one fault, one ticket; nothing stale for the tag the export lacks: \(opened)")
        let ticket = try #require(opened.first)
        #expect(ticket["fault_code"] as? String == label.fault_code)
        let openedAt = try #require((ticket["opened_at"] as? String).flatMap(Timestamp.init(rfc3339:)))
        let onset = try #require(Timestamp(rfc3339: label.onset))
        let failure = try #require(label.failure.flatMap(Timestamp.init(rfc3339:)))
        #expect(openedAt > onset && openedAt < failure, "opened \(openedAt.rfc3339), onset \(onset.rfc3339), failure \(failure.rfc3339)")
        #expect((ticket["forecast"] as? [String: Any])?["crossing_at"] != nil, "a forecast ticket says when the limit will be crossed")
        #expect(ticket["evidence_from"] != nil && ticket["evidence_to"] != nil)
        let scoreLines = try String(contentsOfFile: scores, encoding: .utf8).split(separator: "\n")
        #expect(scoreLines.first == "timestamp,score,bearing_temp,vibration_rms,motor_current,discharge_pressure")
        #expect(scoreLines.count == rows + 1)

        // Mistakes are named.
        let (bad, badText) = try await runTool("fieldwatch", ["backtest", "--csv", csvPath, "--profile", "centrifugal-pump", "--out", tickets,
                                                              "--columns", "P101 Temp=bearing_temp"])
        #expect(bad != 0 && badText.contains("--columns: no column \"P101 Temp\" in the CSV"), "\(badText)")
        let (none, noneText) = try await runTool("fieldwatch", ["backtest", "--csv", csvPath, "--profile", "dry-type-transformer", "--out", tickets])
        #expect(none != 0 && noneText.contains("no column of \(csvPath) matches a sensor of profile dry-type-transformer"), "\(noneText)")
    }
}

/// Issue 18's operating states on the simulator's nightly stops: the shipped pump profile says
/// how to tell running from stopped; without that, every night is a string of false faults.
@Suite("Operating states on simulated nightly stops", .serialized)
struct OperatingStateSimulationTests {
    @Test func nightlyStopsRaiseNothingWithTheOperatingStateAndFalseFaultsWithout() async throws {
        let dir = try makeTemporaryDirectory()
        let out = dir.appendingPathComponent("run.jsonl").path
        let labels = dir.appendingPathComponent("labels.jsonl").path
        let (simStatus, simText) = try await runTool("fieldwatch-sim", [
            "--inventory", "Simulator/demo-site.yaml", "--out", out, "--labels", labels, "--start", "2026-03-02T00:00:00Z",
            "--duration", "172800", "--rate", "0.1", "--faults", "0", "--seed", "11", "--stops", "22:00-06:00", "--normal-events", "1",
        ])
        #expect(simStatus == 0, "\(simText)")
        // The same profiles without operating_state.
        let stripped = dir.appendingPathComponent("profiles")
        try FileManager.default.createDirectory(at: stripped, withIntermediateDirectories: true)
        let shipped = Fixtures.packageRoot().appendingPathComponent("DeviceProfiles")
        var declared = 0
        for file in try FileManager.default.contentsOfDirectory(atPath: shipped.path) where file.hasSuffix(".yaml") {
            let text = try String(contentsOf: shipped.appendingPathComponent(file), encoding: .utf8)
            var kept: [Substring] = []
            var skipping = false
            for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
                if line.hasPrefix("operating_state:") { skipping = true; declared += 1; continue }
                if skipping && line.hasPrefix("  ") { continue }
                skipping = false
                kept.append(line)
            }
            try kept.joined(separator: "\n").write(to: stripped.appendingPathComponent(file), atomically: true, encoding: .utf8)
        }
        #expect(declared >= 3)
        func falseDetections(_ profiles: String) async throws -> Int {
            let (status, text) = try await runTool("fieldwatch", ["eval", "sim", "--labels", labels, "--messages", out,
                                                                  "--inventory", "Simulator/demo-site.yaml", "--profiles", profiles])
            #expect(status == 0, "\(text)")
            let line = try #require(text.split(separator: "\n").first { $0.hasPrefix("healthy devices: 3,") }, "\(text)")
            // The stops are labelled normal events (3 pumps × 2 nights; the run starts at 08:00
            // in Shenzhen, after the night before ended): eval sim says what each caused.
            let stops = try #require(text.split(separator: "\n").first { $0.hasPrefix("stop ") }, "\(text)")
            let cells = stops.split(separator: " ", omittingEmptySubsequences: true)
            #expect(cells[1] == "6", "\(stops)")
            #expect((Int(cells[2]) ?? -1) == 0 || !profiles.hasPrefix("DeviceProfiles"), "\(stops)")
            // With the shipped profiles no normal event (stop, set-point change, maintenance) raises anything.
            let rows = text.split(separator: "\n").drop { !$0.hasPrefix("NORMAL EVENT") }.dropFirst().prefix { !$0.hasPrefix("healthy") }
            #expect(rows.count >= 3, "stop, outside, and at least one one-off kind: \(rows)")
            if profiles.hasPrefix("DeviceProfiles") {
                for row in rows {
                    let c = row.split(separator: "  ", omittingEmptySubsequences: true).map { $0.trimmingCharacters(in: .whitespaces) }
                    #expect(c.count >= 3 && c[2] == "0", "\(row)")
                }
            }
            return Int(line.split(separator: " ")[3]) ?? -1
        }
        #expect(try await falseDetections("DeviceProfiles") == 0)
        #expect(try await falseDetections(stripped.path) >= 3, "a stopped pump has no discharge pressure: without operating states that is a fault")
    }
}
