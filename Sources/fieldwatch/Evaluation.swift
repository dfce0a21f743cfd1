import ArgumentParser
import Detection
import FieldwatchCore
import Foundation
import Profiles

/// Rows of a `timestamp,value` CSV, as written (so `replay` can copy them exactly).
struct CSVSeries {
    var timestamps: [Timestamp] = []
    var timeTexts: [String] = []
    var valueTexts: [String] = []
    var values: [Double] = []

    /// Parses a CSV with a header; times `YYYY-MM-DD HH:MM:SS` (UTC) or RFC 3339.
    init(path: String) throws {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw ValidationError("cannot read \(path): \(error.localizedDescription)")
        }
        for (n, line) in text.split(whereSeparator: \.isNewline).enumerated() where n > 0 {
            let fields = line.split(separator: ",", omittingEmptySubsequences: false)
            guard fields.count >= 2 else { throw ValidationError("\(path):\(n + 1): expected timestamp,value") }
            let stamp = fields[0].trimmingCharacters(in: .whitespaces)
            guard let ts = Timestamp(rfc3339: stamp) ?? Timestamp(rfc3339: stamp + "Z") else {
                throw ValidationError("\(path):\(n + 1): \"\(stamp)\" is not a time; use YYYY-MM-DD HH:MM:SS (UTC)")
            }
            let valueText = fields[1].trimmingCharacters(in: .whitespaces)
            guard let value = Double(valueText) else { throw ValidationError("\(path):\(n + 1): \"\(valueText)\" is not a number") }
            timestamps.append(ts)
            timeTexts.append(stamp)
            valueTexts.append(valueText)
            values.append(value)
        }
    }
}

/// Streaming anomaly scores for one series: the generic gauge score, raised to 0.75 / 1 while a
/// profile's warning / critical limit holds.
func anomalyScores(_ series: CSVSeries, limits: LimitSpec?) -> [Double] {
    var scorer = GaugeAnomalyScorer()
    var threshold = limits.map {
        ThresholdDetector(configuration: .init(direction: $0.direction, warning: $0.warning, critical: $0.critical,
                                               clear: $0.clear, minDuration: $0.minDuration))
    }
    var scores: [Double] = []
    scores.reserveCapacity(series.values.count)
    for (ts, value) in zip(series.timestamps, series.values) {
        var score = scorer.score(value)
        if threshold != nil {
            _ = threshold!.observe(Sample(timestamp: ts, value: value))
            switch threshold!.active {
            case .critical?: score = max(score, 1)
            case .warning?: score = max(score, 0.75)
            case nil: break
            }
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
            for a generic gauge is used; with --profile and --sensor the sensor's limits count too.
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
        var limits: LimitSpec?
        if let profile, let sensor {
            let loaded: [String: DeviceProfile]
            do { loaded = try ProfileLoader.load(paths: [profiles]) } catch {
                throw ValidationError("cannot load profiles:\n\(error)")
            }
            guard let spec = loaded[profile]?.sensor(SensorKey(sensor)) else {
                throw ValidationError("no sensor \(sensor) in profile \(profile) (\(profiles))")
            }
            limits = spec.limits
        }
        let series = try CSVSeries(path: csv)
        let scores = anomalyScores(series, limits: limits)
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
        subcommands: [NAB.self]
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
                let series = try CSVSeries(path: root.appendingPathComponent(name).path)
                let start = clock.now
                let scores = anomalyScores(series, limits: nil)
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
                    guard span.count == 2, let a = Timestamp(rfc3339: span[0] + "Z") ?? Timestamp(rfc3339: span[0]),
                          let b = Timestamp(rfc3339: span[1] + "Z") ?? Timestamp(rfc3339: span[1])
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
