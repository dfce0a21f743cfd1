import ArgumentParser
import FieldwatchCore
import Foundation
import Ingest
import Logging
import Profiles
import ServiceDesk
import Storage
import Synchronization
import TimeSeries

/// `fieldwatch backtest`: how a site evaluates Fieldwatch before buying. A historian export runs
/// through the profile's whole pipeline (range checks, detectors, rules, forecasts, the desk's
/// grouping and grading) in the data's own time, and the tickets that would have opened come out.
struct Backtest: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a historian export (CSV) through a profile's full pipeline and list the tickets that would have opened.",
        discussion: """
            The CSV has a header, a time column and one column per tag, separated by ',' or ';' \
            (';' files may use a decimal comma), as historians and spreadsheets export them. Times \
            are ISO 8601 (with or without an offset), DD.MM.YYYY HH:MM[:SS], MM/DD/YYYY (with \
            --time-format mdy) or epoch seconds/milliseconds; times without an offset are read in \
            --timezone (default: the device's site, else UTC). Columns are matched to the \
            profile's sensors by key or name (P101_bearing_temp matches bearing_temp), or as \
            --columns says. Empty and non-numeric cells are missing readings, counted.

            The rows run through the same ingest checks, ring buffers, detectors, multi-sensor \
            rules and forecasts as live telemetry, and through the service desk (grouping, \
            grading, forecast deadlines) on a scratch database, in simulated time. --out gets \
            one JSON line per ticket: when it opened, fault, grade, title, forecast, detections \
            and the evidence span. --scores writes each row's detector score (0 to 1). Reading \
            streams: memory stays bounded whatever the file's length.
            """
    )

    @Option(help: "Historian export: a header, a time column, one column per tag.") var csv: String
    @Option(help: "Profile of the equipment (an id in --profiles).") var profile: String
    @Option(help: "Device of --inventory the data comes from (its site's time zone and customer).") var device: String?
    @Option(help: "Column to sensor mapping, e.g. \"P101 Temp=bearing_temp,P101 Flow=flow\" (default: by key or name).") var columns: String?
    @Option(help: "Tickets that would have opened, as JSON lines.") var out: String
    @Option(help: "Per-row detector scores as CSV (timestamp, score, one column per sensor).") var scores: String?
    @Option(help: "Directory of device profiles.") var profiles = "DeviceProfiles"
    @Option(help: "Inventory naming --device.") var inventory = "Simulator/demo-site.yaml"
    @Option(help: "Service policy for grading (default: the built-in one).") var policy: String?
    @Option(help: "Column holding the time (default: the one named time, timestamp, date …, else the first).") var timeColumn: String?
    @Option(help: "auto, iso, dmy, mdy, epoch_s or epoch_ms.") var timeFormat: HistorianCSVReader.TimeFormat = .auto
    @Option(help: "IANA zone of times without an offset (default: the device's site, else UTC).") var timezone: String?
    @Option(help: "Column separator: ',', ';' or 'tab' (default: from the header).") var delimiter: String?

    func validate() throws {
        if let delimiter, ![",", ";", "tab"].contains(delimiter) { throw ValidationError("--delimiter: use ',', ';' or tab") }
        if let timezone, TimeZone(identifier: timezone) == nil { throw ValidationError("--timezone \(timezone) is not an IANA zone such as Asia/Shanghai") }
    }

    func run() async throws {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .error
            return handler
        }
        let loaded: [String: DeviceProfile]
        do { loaded = try ProfileLoader.load(paths: [profiles]) } catch {
            for issue in error.issues { print(issue) }
            throw ExitCode(1)
        }
        guard let chosen = loaded[profile] else {
            throw ValidationError("no profile \"\(profile)\" in \(profiles); known: \(loaded.keys.sorted().joined(separator: ", "))")
        }
        // The device: from the inventory, or a stand-in at a site of its own.
        var inv: Inventory
        var deviceID = DeviceID("backtest")
        if let device {
            do { inv = try Inventory.load(file: inventory, profiles: loaded) } catch {
                for issue in error.issues { print(issue) }
                throw ExitCode(1)
            }
            guard let d = inv.device(DeviceID(device)) else { throw ValidationError("no device \"\(device)\" in \(inventory)") }
            guard d.profileID == profile else { throw ValidationError("device \(device) has profile \(d.profileID) in \(inventory), not \(profile)") }
            deviceID = d.id
            inv.devices = [d]
            inv.mappings = []
        } else {
            let site = Site(id: "backtest", name: "Backtest", customer: "Backtest", latitude: 0, longitude: 0, timeZone: timezone ?? "UTC")
            inv = Inventory(sites: [site], devices: [Device(id: deviceID, site: site.id, profileID: profile, name: "Backtest device")], sourceFile: "(backtest)")
        }
        let zoneName = timezone ?? inv.sites.first { $0.id == inv.devices[0].site }?.timeZone ?? "UTC"
        let zone = TimeZone(identifier: zoneName) ?? TimeZone(identifier: "UTC")!

        let reader: HistorianCSVReader
        do {
            reader = try HistorianCSVReader(path: csv, delimiter: delimiter.map { $0 == "tab" ? 0x09 : $0.utf8.first! }, timeColumnName: timeColumn,
                                            format: timeFormat, timeZone: zone)
        } catch {
            throw ValidationError(error.description)
        }
        let binding = try bindColumns(reader.columns, timeColumn: reader.timeColumn, profile: chosen)
        let mapped = binding.enumerated().compactMap { i, s in s.map { "\(reader.columns[i])→\($0)" } }
        let unmapped = reader.columns.indices.filter { $0 != reader.timeColumn && binding[$0] == nil }.map { reader.columns[$0] }
        say("backtest: \(csv) (\(reader.delimiter == 0x3B ? "';'" : reader.delimiter == 0x09 ? "tab" : "','")-separated, time in column \"\(reader.columns[reader.timeColumn])\", local times in \(zone.identifier))")
        say("  columns: \(mapped.joined(separator: ", "))\(unmapped.isEmpty ? "" : "; not read: \(unmapped.joined(separator: ", "))")")

        reader.wanted = binding.map { $0 != nil }
        var time = Timestamp(milliseconds: 0)
        var values: [Double?] = []
        // The first row's time starts the simulated clock (staleness counts from it).
        let first = reader.next(time: &time, values: &values)
        // Simulated time: the desk and the pipeline read the current row's time.
        let clock = Atomic<Int64>(time.milliseconds)
        let now: @Sendable () -> Timestamp = { Timestamp(milliseconds: clock.load(ordering: .relaxed)) }
        let scratch = try makeScratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let store = try TicketStore(path: scratch + "/backtest.db")
        let servicePolicy: ServicePolicy
        if let policy {
            do { servicePolicy = try ServicePolicy.load(file: policy) } catch {
                for issue in error.issues { print(issue) }
                throw ExitCode(1)
            }
        } else {
            servicePolicy = .default
        }
        let rules = ServiceRules(policy: servicePolicy, directory: SiteDirectory(inventory: inv, profiles: loaded))
        let desk = TicketDesk(store: store, rules: rules, logger: Logger(label: "backtest.desk") { _ in SwiftLogNoOpLogHandler() }, now: now)
        let pipeline = IngestPipeline(inventory: inv, profiles: loaded, store: SeriesStore(), deadLetters: DeadLetterFile(path: nil),
                                      logger: Logger(label: "backtest") { _ in SwiftLogNoOpLogHandler() }, now: now, sink: { desk.submit($0) })
        guard let row = pipeline.bind(device: deviceID, columns: binding) else { throw ValidationError("device \(deviceID) has no profile loaded") }

        var scoreFile: BufferedWriter?
        let scoreColumns = binding.compactMap { $0 }
        if let scores {
            guard let w = BufferedWriter(path: scores) else { throw ValidationError("cannot create --scores \(scores)") }
            w.write("timestamp,score" + scoreColumns.map { ",\($0)" }.joined() + "\n")
            scoreFile = w
        }
        let sweepInterval = pipeline.stalenessSweepInterval
        var nextSweep: Timestamp?
        var last: Timestamp?
        let exported = Set(binding.compactMap { $0 }.map(SensorKey.init))
        var outOfOrder = 0
        let wall = ContinuousClock()
        let started = wall.now
        var lastProgress = started
        var rows = 0
        var more = first
        while more {
            if let l = last, time < l { outOfOrder += 1 }
            last = max(last ?? time, time)
            clock.store(time.milliseconds, ordering: .relaxed)
            let outcome = pipeline.ingest(row: row, at: time, values: values)
            var events = !outcome.anomalies.isEmpty
            if let interval = sweepInterval {
                if nextSweep == nil { nextSweep = time + interval }
                if let due = nextSweep, time >= due {
                    events = !pipeline.sweepStaleness(now: time, only: exported).isEmpty || events
                    nextSweep = time + interval
                }
            }
            if events { _ = await desk.drain() }
            if let w = scoreFile {
                var line = time.rfc3339
                var best = 0.0
                var parts = ""
                for key in scoreColumns {
                    let s = pipeline.detectorScore(device: deviceID, sensor: key)
                    best = max(best, s)
                    parts += "," + String(format: "%.4f", s)
                }
                line += "," + String(format: "%.4f", best) + parts + "\n"
                w.write(line)
            }
            rows += 1
            if rows % 65_536 == 0, wall.now - lastProgress >= .seconds(5) {
                lastProgress = wall.now
                let seconds = (wall.now - started).secondsDouble
                FileHandle.standardError.write(Data("backtest: \(rows) rows (\(Int(Double(rows) / seconds)) rows/s), data time \(time.rfc3339), \(reader.bytesRead / 1_048_576) MiB read\n".utf8))
            }
            more = reader.next(time: &time, values: &values)
        }
        _ = await desk.drain()
        scoreFile?.close()
        let seconds = (wall.now - started).secondsDouble

        let tickets = try store.tickets().sorted { ($0.openedAt, $0.id) < ($1.openedAt, $1.id) }
        guard let output = BufferedWriter(path: out) else { throw ValidationError("cannot create --out \(out)") }
        for ticket in tickets {
            let detections = try store.detections(ticketID: ticket.id)
            output.write(try ticketLine(ticket, detections, profile: chosen) + "\n")
        }
        output.close()

        let c = pipeline.counters
        let rejects = c.rejects.sorted { $0.key < $1.key }.map { "\($0.key.rawValue) \($0.value)" }.joined(separator: ", ")
        let span = reader.rows > 0 ? "\(rows) rows" : "no rows"
        say("  \(span) in \(String(format: "%.2f", seconds)) s (\(Int(Double(rows) / max(seconds, 1e-9))) rows/s, \(Int(Double(c.samplesAccepted) / max(seconds, 1e-9))) readings/s); "
            + "\(c.samplesAccepted) readings stored, \(reader.missingCells) missing cells, \(reader.skipped) rows skipped\(outOfOrder > 0 ? ", \(outOfOrder) rows out of time order" : "")")
        for reason in reader.skipReasons { say("    skipped: \(reason)") }
        if !rejects.isEmpty { say("  refused readings: \(rejects)") }
        let grades = Dictionary(grouping: tickets, by: \.grade).map { "\($0.value.count) \($0.key.rawValue)" }.sorted().joined(separator: ", ")
        say("  \(tickets.count) ticket(s) would have opened\(tickets.isEmpty ? "" : " (\(grades))") → \(out)")
        for t in tickets.prefix(20) {
            say("    \(t.openedAt.rfc3339)  \(t.grade.rawValue.padding(toLength: 7, withPad: " ", startingAt: 0))  \(t.faultCode)  \(t.title)")
        }
        if tickets.count > 20 { say("    … \(tickets.count - 20) more in \(out)") }
    }

    /// Each column's sensor: as --columns says, else the sensor whose key or name the column is
    /// or ends with.
    func bindColumns(_ names: [String], timeColumn: Int, profile: DeviceProfile) throws -> [String?] {
        var explicit: [String: String] = [:]
        for pair in (columns ?? "").split(separator: ",") where !pair.isEmpty {
            let parts = pair.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2 else { throw ValidationError("--columns: \"\(pair)\" is not COLUMN=SENSOR") }
            guard names.contains(parts[0]) else { throw ValidationError("--columns: no column \"\(parts[0])\" in the CSV (columns: \(names.joined(separator: ", ")))") }
            guard profile.sensor(SensorKey(parts[1])) != nil else {
                throw ValidationError("--columns: profile \(profile.id) has no sensor \"\(parts[1])\" (sensors: \(profile.sensors.map(\.key.rawValue).joined(separator: ", ")))")
            }
            explicit[parts[0]] = parts[1]
        }
        let keys = profile.sensors.filter { $0.derived == nil }
        let binding: [String?] = names.enumerated().map { i, name in
            if i == timeColumn { return nil }
            if let e = explicit[name] { return e }
            if !explicit.isEmpty { return nil }
            let lower = name.lowercased()
            let normalized = lower.replacingOccurrences(of: " ", with: "_").replacingOccurrences(of: "-", with: "_")
            return keys.first { $0.key.rawValue == normalized || $0.name.lowercased() == lower }?.key.rawValue
                ?? keys.sorted { $0.key.rawValue.count > $1.key.rawValue.count }.first { normalized.hasSuffix("_" + $0.key.rawValue) || normalized.hasSuffix($0.key.rawValue) }?.key.rawValue
        }
        guard binding.contains(where: { $0 != nil }) else {
            throw ValidationError("""
                no column of \(csv) matches a sensor of profile \(profile.id); give --columns "COLUMN=SENSOR,…" \
                (columns: \(names.joined(separator: ", ")); sensors: \(keys.map(\.key.rawValue).joined(separator: ", ")))
                """)
        }
        return binding
    }

    func ticketLine(_ t: Ticket, _ detections: [DetectionRecord], profile: DeviceProfile) throws -> String {
        struct Line: Encodable {
            struct Forecast: Encodable {
                var crossing_at: String
                var earliest: String
                var latest: String?
                var limit: Double
                var slope_per_hour: Double
            }
            var opened_at: String
            var fault_code: String
            var fault: String?
            var grade: String
            var title: String
            var device: String
            var sensor: String?
            var status: String
            var detections: Int
            var first_detected: String?
            var evidence_from: String?
            var evidence_to: String?
            var forecast: Forecast?
        }
        let evidence = detections.flatMap(\.evidence).map(\.timestamp)
        let forecast = t.forecast ?? detections.compactMap(\.forecast).first
        let line = Line(
            opened_at: t.openedAt.rfc3339, fault_code: t.faultCode.rawValue, fault: profile.fault(t.faultCode)?.name, grade: t.grade.rawValue,
            title: t.title, device: t.device.rawValue, sensor: t.sensor?.rawValue, status: t.status.rawValue, detections: detections.count,
            first_detected: detections.map(\.detectedAt).min()?.rfc3339, evidence_from: evidence.min()?.rfc3339, evidence_to: evidence.max()?.rfc3339,
            forecast: forecast.map { .init(crossing_at: $0.crossingAt.rfc3339, earliest: $0.earliest.rfc3339, latest: $0.latest?.rfc3339, limit: $0.limit,
                                           slope_per_hour: $0.slopePerHour) })
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(line), as: UTF8.self)
    }

    func makeScratchDirectory() throws -> String {
        let path = NSTemporaryDirectory() + "fieldwatch-backtest-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    func say(_ line: String) { print(line) }
}

/// A file written through a 1 MiB buffer.
final class BufferedWriter {
    let handle: FileHandle
    var buffer: [UInt8] = []

    init?(path: String) {
        guard FileManager.default.createFile(atPath: path, contents: nil), let handle = FileHandle(forWritingAtPath: path) else { return nil }
        self.handle = handle
        buffer.reserveCapacity(1 << 20)
    }

    func write(_ text: String) {
        buffer.append(contentsOf: text.utf8)
        if buffer.count >= 1 << 20 { flush() }
    }

    func flush() {
        handle.write(Data(buffer))
        buffer.removeAll(keepingCapacity: true)
    }

    func close() {
        flush()
        try? handle.close()
    }
}

extension HistorianCSVReader.TimeFormat: ExpressibleByArgument {}
