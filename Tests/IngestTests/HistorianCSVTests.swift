import FieldwatchCore
import FieldwatchTesting
import Foundation
import Testing
@testable import Ingest

@Suite("Historian CSV reader")
struct HistorianCSVTests {
    func write(_ text: String) throws -> String {
        let path = try makeTemporaryDirectory().appendingPathComponent("export.csv").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func readAll(_ reader: HistorianCSVReader) throws -> [(Timestamp, [Double?])] {
        var rows: [(Timestamp, [Double?])] = []
        var t = Timestamp(milliseconds: 0)
        var values: [Double?] = []
        while reader.next(time: &t, values: &values) { rows.append((t, values)) }
        return rows
    }

    @Test func aEuropeanExportWithDecimalCommasAndLocalTimes() throws {
        let path = try write("\u{FEFF}Zeitstempel;P101 Temp;P101 Flow;Status\r\n01.03.2026 08:00:00;54,5;120;OK\r\n01.03.2026 08:00:10;;121,25;OK\r\n01.03.2026 08:00:20;\"55,0\";N/A;OK\r\n")
        let reader = try HistorianCSVReader(path: path, timeZone: TimeZone(identifier: "Asia/Shanghai")!)
        #expect(reader.columns == ["Zeitstempel", "P101 Temp", "P101 Flow", "Status"] && reader.timeColumn == 0 && reader.delimiter == UInt8(ascii: ";"))
        reader.wanted = [false, true, true, false]
        let rows = try readAll(reader)
        #expect(rows.count == 3)
        #expect(rows[0].0 == Timestamp(rfc3339: "2026-03-01T00:00:00Z"))
        #expect(rows[0].1[1] == 54.5 && rows[0].1[2] == 120)
        #expect(rows[1].1[1] == nil && rows[1].1[2] == 121.25)
        #expect(rows[2].1[1] == 55 && rows[2].1[2] == nil)
        #expect(reader.missingCells == 2, "the empty cell and N/A; the unread Status column is not counted")
    }

    @Test(arguments: [
        ("2026-03-01T08:00:00Z", HistorianCSVReader.TimeFormat.auto, "2026-03-01T08:00:00.000Z"),
        ("2026-03-01 08:00:00.250", .auto, "2026-03-01T07:00:00.250Z"),  // Berlin, winter: UTC+1
        ("2026-07-01 08:00:00", .auto, "2026-07-01T06:00:00.000Z"),      // Berlin, summer: UTC+2
        ("2026-03-01T08:00:00+08:00", .iso, "2026-03-01T00:00:00.000Z"),
        ("2026/03/01 08:00", .auto, "2026-03-01T07:00:00.000Z"),
        ("25.03.2026 08:00:00", .auto, "2026-03-25T07:00:00.000Z"),
        ("03/25/2026 08:00:00", .auto, "2026-03-25T07:00:00.000Z"),
        ("03/04/2026 08:00:00", .mdy, "2026-03-04T07:00:00.000Z"),
        ("1772352000", .auto, "2026-03-01T08:00:00.000Z"),
        ("1772352000500", .auto, "2026-03-01T08:00:00.500Z"),
    ])
    func timeFormats(cell: String, format: HistorianCSVReader.TimeFormat, expected: String) throws {
        let path = try write("time,v\n\(cell),1\n")
        let reader = try HistorianCSVReader(path: path, format: format, timeZone: TimeZone(identifier: "Europe/Berlin")!)
        let rows = try readAll(reader)
        #expect(rows.first?.0.rfc3339 == expected)
    }

    @Test func plainDecimalsParseExactlyAsDoubleDoes() {
        var rng = SplitMix64(seed: 5)
        for _ in 0..<20_000 {
            let places = Int(rng.next() % 7)
            let magnitude = pow(10, Double(Int(rng.next() % 9)) - 2)
            let text = String(format: "%.\(places)f", (rng.uniform() - 0.5) * magnitude)
            #expect(HistorianCSVReader.number(Array(text.utf8)[...], decimalComma: false) == Double(text), "\(text)")
        }
        for text in ["1e3", "-2.5E-3", "12345678901234567890", "0.000000000000000000001234"] {
            #expect(HistorianCSVReader.number(Array(text.utf8)[...], decimalComma: false) == Double(text), "\(text)")
        }
        #expect(HistorianCSVReader.number(Array("1,5".utf8)[...], decimalComma: true) == 1.5)
        #expect(HistorianCSVReader.number(Array("abc".utf8)[...], decimalComma: false) == nil)
    }

    /// Lines cross the 1 MiB read chunks; none is lost or split.
    @Test func aFileLargerThanTheReadBufferStreamsWhole() throws {
        var text = "Time,a,b\n"
        for i in 0..<60_000 { text += "\(1_772_352_000 + i),\(i),\(Double(i) / 4)\n" }
        let reader = try HistorianCSVReader(path: try write(text), timeZone: TimeZone(identifier: "UTC")!)
        let rows = try readAll(reader)
        #expect(rows.count == 60_000 && reader.bytesRead > HistorianCSVReader.chunk)
        #expect(rows.allSatisfy { Int($0.1[1]!) == Int($0.0.milliseconds / 1000) - 1_772_352_000 && $0.1[2]! == $0.1[1]! / 4 })
    }

    @Test func unusableFilesAndRowsSayWhy() throws {
        #expect(throws: HistorianCSVReader.Failure.self) { try HistorianCSVReader(path: "/nonexistent.csv", timeZone: .gmt) }
        let single = try write("justonecolumn\n1\n")
        do {
            _ = try HistorianCSVReader(path: single, timeZone: .gmt)
            Issue.record("accepted")
        } catch {
            #expect(error.description.contains("the header has 1 column"))
        }
        let reader = try HistorianCSVReader(path: try write("time,v\nyesterday,1\n2026-03-01T00:00:00Z,2\n"), format: .iso, timeZone: .gmt)
        let rows = try readAll(reader)
        #expect(rows.count == 1 && reader.skipped == 1 && reader.skipReasons.first?.contains("line 2: no time") == true)
    }
}

@Suite("Historian CSV inputs make fuzz found")
struct HistorianFuzzRegressionTests {
    /// Every `historian-*` input in Tests/FuzzCrashes crashed the reader once; each is now read
    /// to its end. The first: a date whose separator was a '!' made the format guess subtract
    /// below zero.
    @Test func everyCrashIsReadToTheEnd() throws {
        let dir = Fixtures.packageRoot().appendingPathComponent("Tests/FuzzCrashes")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasPrefix("historian-") }
        #expect(!files.isEmpty)
        for file in files {
            let reader = try HistorianCSVReader(path: dir.appendingPathComponent(file).path, timeZone: TimeZone(identifier: "Europe/Berlin")!)
            var t = Timestamp(milliseconds: 0)
            var values: [Double?] = []
            var rows = 0
            while reader.next(time: &t, values: &values) { rows += 1 }
            #expect(rows + reader.skipped >= 1, "\(file)")
        }
    }
}
