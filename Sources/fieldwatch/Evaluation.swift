import ArgumentParser
import Detection
import FieldwatchCore
import Foundation
import Ingest
import MQTT
import Profiles
import TimeSeries

/// Reads a `timestamp,value` CSV, turning a parse error into a command-line error.
func readSeries(_ path: String) throws -> TimeValueSeries {
    do { return try TimeValueSeries(path: path) } catch { throw ValidationError(error.description) }
}

/// Streaming anomaly scores for one series: the generic gauge score, and with a profile's
/// sensor the larger of that and its detectors' scores (a raised critical limit 1, a warning
/// 0.75, a forecast, rate, change-point or anomaly score as it is).
func anomalyScores(_ series: TimeValueSeries, profile: DeviceProfile? = nil, sensor: SensorSpec? = nil) -> [Double] {
    var scorer = GaugeAnomalyScorer()
    var engine = DetectionEngine()
    let key = SeriesKey(device: "replay", sensor: sensor?.key ?? "value")
    if let profile, let sensor {
        for detector in profile.effectiveDetectors where detector.sensor == sensor.key {
            engine.register(detector, of: sensor, for: [key])
        }
    }
    let watched = engine.registeredCount > 0
    var scores: [Double] = []
    scores.reserveCapacity(series.values.count)
    for (ts, value) in zip(series.timestamps, series.values) {
        let sample = Sample(timestamp: ts, value: value)
        var score = scorer.score(sample)
        if watched {
            _ = engine.observeAll(sample, for: key)
            score = max(score, engine.score(for: key))
        }
        scores.append(score)
    }
    return scores
}

struct Replay: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Score a timestamp,value CSV with the detectors, row by row (streaming).",
        discussion: """
            Writes timestamp,value,anomaly_score with a header, one row per input row, in order; a \
            row's score depends only on the rows up to it. Without --profile the default detector \
            for a generic gauge is used; with --profile and --sensor every detector the profile runs \
            on that sensor counts too (limits, forecast, rate of change, change point, anomaly, \
            flatline): the score is the largest. Prints the rate on stderr.
            """
    )
    @Option(help: "Input CSV (timestamp,value with a header).") var csv: String
    @Option(help: "Output CSV.") var out: String
    @Option(help: "Profile id whose sensor limits to apply.") var profile: String?
    @Option(help: "Sensor key within --profile.") var sensor: String?
    @Option(help: "Directory of device profiles.") var profiles = "./DeviceProfiles"

    func validate() throws {
        if (profile == nil) != (sensor == nil) { throw ValidationError("give --profile and --sensor together, or neither") }
    }

    func run() throws {
        var chosen: (DeviceProfile, SensorSpec)?
        if let profile, let sensor {
            let loaded: [String: DeviceProfile]
            do { loaded = try ProfileLoader.load(paths: [profiles]) } catch {
                throw ValidationError("cannot load profiles:\n\(error)")
            }
            guard let spec = loaded[profile]?.sensor(SensorKey(sensor)) else {
                throw ValidationError("no sensor \(sensor) in profile \(profile) (\(profiles))")
            }
            chosen = (loaded[profile]!, spec)
        }
        let series = try readSeries(csv)
        let clock = ContinuousClock()
        let start = clock.now
        let scores = anomalyScores(series, profile: chosen?.0, sensor: chosen?.1)
        let seconds = (clock.now - start).secondsDouble
        FileHandle.standardError.write(Data("replay: scored \(scores.count) rows in \(String(format: "%.2f", seconds)) s (\(Int(Double(scores.count) / max(seconds, 1e-9))) rows/s)\n".utf8))
        var text = "timestamp,value,anomaly_score\n"
        for i in scores.indices {
            text += "\(series.timeTexts[i]),\(series.valueTexts[i]),\(String(format: "%.6f", scores[i]))\n"
        }
        do { try text.write(toFile: out, atomically: true, encoding: .utf8) } catch {
            throw ValidationError("cannot write \(out): \(error.localizedDescription)")
        }
    }
}

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure detection quality.",
        subcommands: [NAB.self, Sim.self]
    )

    struct NAB: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "nab",
            abstract: "Score the default detectors on Numenta Anomaly Benchmark files, by the NAB rule.",
            discussion: """
                Replays every CSV under --data, scores each against its windows in --labels \
                (combined_windows.json) and prints the normalised score of each profile at its best \
                threshold. --verbose adds a per-file table (standard profile).
                """
        )
        @Option(help: "Directory of NAB data (category/file.csv).") var data: String
        @Option(help: "combined_windows.json.") var labels: String
        @Option(help: "NAB profiles.json (default: the three standard profiles).") var profiles: String?
        @Flag(help: "Print a per-file table.") var verbose = false

        func run() throws {
            let windows = try readWindows()
            let scoringProfiles = try readProfiles()
            let root = URL(fileURLWithPath: data)
            guard let walker = FileManager.default.enumerator(atPath: data) else { throw ValidationError("cannot read --data \(data)") }
            let files = walker.compactMap { $0 as? String }.filter { $0.hasSuffix(".csv") }.sorted()
            guard !files.isEmpty else { throw ValidationError("no .csv files under \(data)") }
            var scored: [(name: String, scores: [Double], windows: [NABScoring.Window])] = []
            var samples = 0
            let clock = ContinuousClock()
            var scoringTime = Duration.zero
            for name in files {
                guard let spans = windows[name] else {
                    FileHandle.standardError.write(Data("skipping \(name): not in \(labels)\n".utf8))
                    continue
                }
                let series = try readSeries(root.appendingPathComponent(name).path)
                let start = clock.now
                let scores = anomalyScores(series)
                scoringTime += clock.now - start
                samples += scores.count
                scored.append((name, scores, NABScoring.windows(spans, timestamps: series.timestamps)))
                FileHandle.standardError.write(Data("scored \(name) (\(scores.count) rows)\n".utf8))
            }
            print("NAB: \(scored.count) files, \(samples) rows, \(scored.reduce(0) { $0 + $1.windows.count }) windows; "
                  + "detector \(GaugeAnomalyScorer.name) v\(GaugeAnomalyScorer.version), "
                  + "\(Int(Double(samples) / max(scoringTime.secondsDouble, 1e-9))) rows/s")
            var rows = [["PROFILE", "THRESHOLD", "SCORE", "TP", "FP", "FN"]]
            var standardThreshold = 1.0
            for profile in scoringProfiles {
                let best = NABScoring.bestThreshold(files: scored.map { ($0.scores, $0.windows) }, profile: profile,
                                                    candidates: NABScoring.defaultThresholds)
                if profile.name == "standard" { standardThreshold = best.threshold }
                rows.append([profile.name, String(format: "%.3f", best.threshold), String(format: "%.1f", best.result.normalised(profile)),
                             "\(best.result.truePositives)", "\(best.result.falsePositives)", "\(best.result.falseNegatives)"])
            }
            for line in table(rows) { print(line) }
            if verbose {
                print("")
                var perFile = [["FILE", "WINDOWS", "TP", "FP", "FN", "RAW (standard)"]]
                for file in scored {
                    let r = NABScoring.score(detections: file.scores.map { $0 >= standardThreshold }, windows: file.windows, profile: .standard)
                    perFile.append([file.name, "\(file.windows.count)", "\(r.truePositives)", "\(r.falsePositives)", "\(r.falseNegatives)",
                                    String(format: "%.3f", r.raw)])
                }
                for line in table(perFile) { print(line) }
            }
        }

        func readWindows() throws -> [String: [(start: Timestamp, end: Timestamp)]] {
            guard let data = FileManager.default.contents(atPath: labels),
                  let json = try? JSONSerialization.jsonObject(with: data) as? [String: [[String]]]
            else { throw ValidationError("--labels \(labels): expected combined_windows.json ({\"file.csv\": [[start, end], ...]})") }
            var result: [String: [(start: Timestamp, end: Timestamp)]] = [:]
            for (file, spans) in json {
                result[file] = try spans.map { span in
                    guard span.count == 2, let a = Timestamp(rfc3339OrUTC: span[0]), let b = Timestamp(rfc3339OrUTC: span[1])
                    else { throw ValidationError("--labels \(labels): \(file): bad window \(span)") }
                    return (a, b)
                }
            }
            return result
        }

        func readProfiles() throws -> [NABScoring.Profile] {
            guard let profiles else { return NABScoring.Profile.all }
            guard let data = FileManager.default.contents(atPath: profiles),
                  let json = try? JSONSerialization.jsonObject(with: data) as? [String: [String: [String: Double]]]
            else { throw ValidationError("--profiles \(profiles): expected NAB profiles.json") }
            return try json.keys.sorted().map { name in
                guard let m = json[name]?["CostMatrix"], let tp = m["tpWeight"], let fp = m["fpWeight"], let fn = m["fnWeight"] else {
                    throw ValidationError("--profiles \(profiles): \(name) lacks CostMatrix tpWeight/fpWeight/fnWeight")
                }
                return NABScoring.Profile(name: name, tp: tp, fp: fp, fn: fn)
            }
        }
    }
}

extension Eval {
    struct Sim: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "sim",
            abstract: "Score detection against the simulator's ground truth.",
            discussion: """
                Feeds a simulator run written with `fieldwatch-sim --out FILE --labels FILE` through the \
                gateway's ingest pipeline (every detector of the profiles) and compares the faults it \
                raises with the labels: per scenario, recall, precision, median lead time (failure time \
                minus first detection) and false detections per device-day on devices without faults.
                """
        )
        @Option(help: "Ground-truth label file (fieldwatch-sim --labels).") var labels: String
        @Option(help: "Message file of the same run (fieldwatch-sim --out).") var messages: String
        @Option(help: "Inventory the run used.") var inventory: String
        @Option(help: "Directory of device profiles.") var profiles = "./DeviceProfiles"
        @Flag(help: "List the detections that match no label.") var verbose = false

        struct Label: Decodable {
            var device: String
            var scenario: String
            var fault_code: String
            var onset: String
            var failure: String?
            var end: String?
            /// A normal event (a stop, a set-point change): no fault; false detections during it
            /// (and the hour after) are reported against it.
            var normal: Bool?
        }

        struct Line: Decodable {
            var topic: String
            var payload: String
        }

        func run() throws {
            let report = try evaluate()
            for line in report { print(line) }
        }

        func evaluate() throws -> [String] {
            let loaded: [String: DeviceProfile]
            let inv: Inventory
            do {
                loaded = try ProfileLoader.load(paths: [profiles])
                inv = try Inventory.load(file: inventory, profiles: loaded)
            } catch {
                throw ValidationError("\(error)")
            }
            let decoder = JSONDecoder()
            func lines<T: Decodable>(_ path: String, _ type: T.Type) throws -> [T] {
                guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw ValidationError("cannot read \(path)") }
                return try text.split(separator: "\n").enumerated().map { n, line in
                    do { return try decoder.decode(T.self, from: Data(line.utf8)) } catch {
                        throw ValidationError("\(path):\(n + 1): not a \(T.self) line: \(error)")
                    }
                }
            }
            let allLabels = try lines(labels, Label.self)
            let truth = allLabels.filter { $0.normal != true }
            let normalEvents = allLabels.filter { $0.normal == true }
            let stream = try lines(messages, Line.self)
            let raised = RaisedCollector()
            let pipeline = IngestPipeline(inventory: inv, profiles: loaded, store: SeriesStore(), deadLetters: DeadLetterFile(path: nil),
                                          now: { Timestamp(milliseconds: Int64.max / 4) }, sink: { raised.add($0) })
            var first: Timestamp?
            var last: Timestamp?
            for line in stream {
                let message = MQTTMessage(topic: line.topic, payload: Array(line.payload.utf8))
                if line.topic.hasSuffix("/status") {
                    pipeline.handleStatus(message)
                } else {
                    pipeline.handle(message)
                    if let json = try? JSONSerialization.jsonObject(with: Data(line.payload.utf8)) as? [String: Any], let ts = json["ts"] as? Int64 {
                        let t = Timestamp(milliseconds: ts)
                        first = min(first ?? t, t)
                        last = max(last ?? t, t)
                    }
                }
            }
            // First raise per (device, fault code): what a ticket would be opened for.
            var firstRaise: [String: Timestamp] = [:]
            for a in raised.all where a.transition == .raised {
                let key = "\(a.device)/\(a.faultCode)"
                firstRaise[key] = min(firstRaise[key] ?? a.detectedAt, a.detectedAt)
            }
            var matched = Set<String>()
            var rows = [["SCENARIO", "LABELS", "DETECTED", "RECALL", "MEDIAN LEAD", "LEAD / SPAN"]]
            for scenario in Set(truth.map(\.scenario)).sorted() {
                let group = truth.filter { $0.scenario == scenario }
                var detected = 0
                var leads: [Double] = []
                var shares: [Double] = []
                for label in group {
                    // The label's own fault, or for a machine fault any machine fault of the
                    // device (a bearing-wear rule or a forecast of the other sensor notices the
                    // same degradation); sensor-health and link faults only match themselves.
                    let labelFault = FaultCode(label.fault_code)
                    let keys = firstRaise.keys.filter { key in
                        guard key.hasPrefix("\(label.device)/") else { return false }
                        let fault = FaultCode(String(key.dropFirst(label.device.count + 1)))
                        return fault == labelFault || (!labelFault.isSensorOrLinkHealth && !fault.isSensorOrLinkHealth)
                    }
                    guard let onset = Timestamp(rfc3339: label.onset) else { continue }
                    let hits = keys.filter { firstRaise[$0]! >= onset }
                    guard let at = hits.map({ firstRaise[$0]! }).min() else { continue }
                    detected += 1
                    matched.formUnion(hits)
                    if let failure = label.failure.flatMap({ Timestamp(rfc3339: $0) }) {
                        let lead = (failure - at).secondsDouble
                        leads.append(lead)
                        let span = (failure - onset).secondsDouble
                        if span > 0 { shares.append(lead / span) }
                    }
                }
                func median(_ xs: [Double]) -> Double? {
                    guard !xs.isEmpty else { return nil }
                    let s = xs.sorted()
                    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
                }
                rows.append([scenario, "\(group.count)", "\(detected)", String(format: "%.0f %%", 100 * Double(detected) / Double(group.count)),
                             median(leads).map { String(format: "%.0f s", $0) } ?? "-", median(shares).map { String(format: "%.0f %%", 100 * $0) } ?? "-"])
            }
            let labelledDevices = Set(truth.map(\.device))
            let healthy = inv.devices.filter { !labelledDevices.contains($0.id.rawValue) }
            let falseOnHealthy = firstRaise.keys.filter { key in healthy.contains { key.hasPrefix("\($0.id)/") } }.count
            let unmatched = firstRaise.keys.filter { !matched.contains($0) }.count
            let days = max(((last ?? .init(milliseconds: 0)) - (first ?? .init(milliseconds: 0))).secondsDouble / 86_400, 1e-9)
            var report = table(rows)
            report.append("")
            report.append("detections: \(firstRaise.count) (device, fault) pairs raised, \(matched.count) matching a label, \(unmatched) not; "
                          + String(format: "precision %.0f %%", firstRaise.isEmpty ? 100 : 100 * Double(firstRaise.count - unmatched) / Double(firstRaise.count)))
            if verbose {
                for key in firstRaise.keys.filter({ !matched.contains($0) }).sorted() {
                    let first = raised.all.first { "\($0.device)/\($0.faultCode)" == key && $0.transition == .raised }
                    report.append("  unmatched: \(key) at \(firstRaise[key]!.rfc3339) by \(first?.detector ?? "?"): \(first?.summary ?? "")")
                }
            }
            if !normalEvents.isEmpty {
                // Each raise of a (device, fault) that matched no fault label, by the normal event
                // it happened in (or the hour after it: a start follows a stop).
                var byKind: [String: (events: Int, raises: Int, faults: Set<String>)] = [:]
                for event in normalEvents { byKind[event.scenario, default: (0, 0, [])].events += 1 }
                var outside = 0
                for a in raised.all where a.transition == .raised && !matched.contains("\(a.device)/\(a.faultCode)") {
                    let during = normalEvents.first { e in
                        guard e.device == a.device.rawValue, let onset = Timestamp(rfc3339: e.onset) else { return false }
                        let end = e.end.flatMap(Timestamp.init(rfc3339:)) ?? onset
                        return a.detectedAt >= onset && a.detectedAt <= end + .seconds(3600)
                    }
                    if let during {
                        byKind[during.scenario]!.raises += 1
                        byKind[during.scenario]!.faults.insert(a.faultCode.rawValue)
                    } else {
                        outside += 1
                    }
                }
                var normalRows = [["NORMAL EVENT", "EVENTS", "FALSE RAISES", "FAULTS RAISED"]]
                for (kind, v) in byKind.sorted(by: { $0.key < $1.key }) {
                    normalRows.append([kind, "\(v.events)", "\(v.raises)", v.faults.sorted().joined(separator: ",").isEmpty ? "-" : v.faults.sorted().joined(separator: ",")])
                }
                normalRows.append(["(outside normal events)", "-", "\(outside)", "-"])
                report.append("")
                report += table(normalRows)
            }
            report.append("healthy devices: \(healthy.count), \(falseOnHealthy) false detection(s) over \(String(format: "%.2f", days)) simulated day(s): "
                          + String(format: "%.4f per device-day", healthy.isEmpty ? 0 : Double(falseOnHealthy) / (Double(healthy.count) * days)))
            return report
        }
    }
}

final class RaisedCollector: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [Anomaly] = []
    func add(_ a: Anomaly) { lock.withLock { items.append(a) } }
    var all: [Anomaly] { lock.withLock { items } }
}
