import FieldwatchCore
import Foundation
import Testing
@testable import Detection

/// One event as the engine reported it, comparable across runs.
struct Seen: Equatable, CustomStringConvertible {
    var source: DetectionEngine.Source
    var event: DetectorEvent
    var forecast: LimitForecast?

    init(_ fired: DetectionEngine.Fired) {
        source = fired.source
        event = fired.event
        forecast = fired.forecast
    }

    var description: String { "\(source.rawValue) \(event.transition.rawValue) \(event.severity) @\(event.at.milliseconds) since \(event.since.milliseconds)" }
}

/// A run fed in two halves: before the checkpoint, and after it into a fresh engine.
struct SplitRun {
    var uninterrupted: [Seen] = []
    var resumed: [Seen] = []
    /// The same second half fed to a fresh engine without restoring: what a restart did before checkpoints.
    var fresh: [Seen] = []
    var report = DetectionEngine.RestoreReport()
    /// The forecast of `watch` right after the restore, and in the uninterrupted run at that point.
    var forecastAfterRestore: LimitForecast?
    var forecastUninterrupted: LimitForecast?
    /// The forecast of `watch` after every sample, in each run.
    var forecastsUninterrupted: [LimitForecast?] = []
    var forecastsResumed: [LimitForecast?] = []
}

/// Feeds `samples` to an engine built by `make`, checkpointing after `split` of them and going
/// on in a new engine from `make` restored from that checkpoint.
func splitRun(_ samples: [(SeriesKey, Sample)], at split: Int, watch: SeriesKey? = nil, make: () -> DetectionEngine) throws -> SplitRun {
    var run = SplitRun()
    var whole = make()
    var first = make()
    for (i, (key, sample)) in samples.enumerated() {
        run.uninterrupted += whole.observeAll(sample, for: key).map(Seen.init)
        if let watch {
            run.forecastsUninterrupted.append(whole.forecast(for: watch))
            if i == split - 1 { run.forecastUninterrupted = whole.forecast(for: watch) }
        }
    }
    var before: [Seen] = []
    for (key, sample) in samples[..<split] {
        before += first.observeAll(sample, for: key).map(Seen.init)
        if let watch { run.forecastsResumed.append(first.forecast(for: watch)) }
    }
    let data = try first.checkpoint()
    var second = make()
    run.report = try second.restore(from: data)
    if let watch { run.forecastAfterRestore = second.forecast(for: watch) }
    var after: [Seen] = []
    var fresh = make()
    for (key, sample) in samples[split...] {
        after += second.observeAll(sample, for: key).map(Seen.init)
        if let watch { run.forecastsResumed.append(second.forecast(for: watch)) }
        run.fresh += fresh.observeAll(sample, for: key).map(Seen.init)
    }
    run.resumed = before + after
    run.fresh = before + run.fresh
    return run
}

let pump = SeriesKey(device: "pump-1", sensor: "bearing_temp")
let fan = SeriesKey(device: "fan-1", sensor: "speed")

func sample(_ seconds: Double, _ value: Double) -> Sample {
    Sample(timestamp: Timestamp(milliseconds: Int64((seconds * 1000).rounded())), value: value)
}

@Suite("Detector checkpoints")
struct CheckpointTests {
    let threshold = ThresholdDetector.Configuration(direction: .above, warning: 80, critical: 95, clear: 75, minDuration: .seconds(10))
    let flatline = FlatlineDetector.Configuration(minSamples: 5, minDuration: .seconds(10), tolerance: 0)

    @Test func aDurationTimerStartedBeforeTheCheckpointFiresOnTimeAfterIt() throws {
        // Critical from t = 5 s, checkpoint at t = 9 s (held 4 of 10 s): the raise is due at 15 s.
        let values: [Double] = [60, 60, 60, 60, 60] + Array(repeating: 97, count: 20) + Array(repeating: 70, count: 15)
        let samples = values.enumerated().map { (pump, sample(Double($0), $1)) }
        let run = try splitRun(samples, at: 10) {
            var e = DetectionEngine()
            e.register(pump, threshold: threshold)
            return e
        }
        #expect(run.report == .init(restored: 1, discarded: 0, unknownSeries: 0))
        #expect(run.uninterrupted.map(\.description) == ["threshold raised critical @15000 since 5000", "threshold cleared critical @35000 since 25000"])
        #expect(run.resumed == run.uninterrupted)
        // Without the checkpoint the timer restarts at 10 s and the raise comes 5 s late.
        #expect(run.fresh.first?.event.at == Timestamp(milliseconds: 20_000))
    }

    @Test func aRaisedThresholdStaysRaisedAndClearsOnTime() throws {
        // Raised at 10 s, checkpoint while safe for 3 of the 10 s the clear needs.
        let values: [Double] = Array(repeating: 97, count: 12) + Array(repeating: 70, count: 15)
        let samples = values.enumerated().map { (pump, sample(Double($0), $1)) }
        let run = try splitRun(samples, at: 15) {
            var e = DetectionEngine()
            e.register(pump, threshold: threshold)
            return e
        }
        #expect(run.uninterrupted.map(\.description) == ["threshold raised critical @10000 since 0", "threshold cleared critical @22000 since 12000"])
        #expect(run.resumed == run.uninterrupted)
        // A fresh detector knows of no raise, so it never reports the recovery.
        #expect(run.fresh.count == 1)
    }

    @Test func aFlatlineRunContinuesAcrossTheCheckpoint() throws {
        // Stuck at 42 from t = 0, checkpoint at t = 6 s (7 samples, 6 s): raised at 10 s, cleared at 20 s.
        let values: [Double] = Array(repeating: 42, count: 20) + [43, 44]
        let samples = values.enumerated().map { (fan, sample(Double($0), $1)) }
        let run = try splitRun(samples, at: 7) {
            var e = DetectionEngine()
            e.register(fan, flatline: flatline)
            return e
        }
        #expect(run.report == .init(restored: 1, discarded: 0, unknownSeries: 0))
        #expect(run.uninterrupted.map(\.description) == ["flatline raised warning @10000 since 0", "flatline cleared warning @20000 since 0"])
        #expect(run.resumed == run.uninterrupted)
        #expect(run.fresh.first?.event.at == Timestamp(milliseconds: 17_000))
    }

    /// Rate of change, CUSUM, the anomaly score and a multi-sensor rule all carry learnt state
    /// (window means, sums and baselines, records, bucket means) across the checkpoint.
    @Test func behaviourDetectorsAndRulesResumeWhereTheyWere() throws {
        let vibration = SeriesKey(device: "pump-1", sensor: "vibration_rms")
        let noise = { (i: Int) in (sin(Double(i) * 12.9898) + sin(Double(i) * 78.233)) / 2 }
        var samples: [(SeriesKey, Sample)] = []
        for i in 0..<3000 {
            let t = Double(i) * 10
            // Steady with noise, a level step at row 1200, a fast climb from row 2000; vibration rises with it.
            let temp = 50 + noise(i) + (i >= 1200 ? 3 : 0) + (i >= 2000 ? min(Double(i - 2000), 60) * 0.5 : 0)
            samples.append((pump, sample(t, temp)))
            samples.append((vibration, sample(t, 1.5 + noise(i + 3) * 0.02 + (i >= 2000 ? min(Double(i - 2000), 60) * 0.01 : 0))))
        }
        let run = try splitRun(samples, at: 2 * 1500) {
            var e = DetectionEngine()
            e.register(pump, rateOfChange: .init(maxRisePerMinute: 2, maxFallPerMinute: nil))
            e.register(pump, changePoint: .init())
            e.register(pump, anomaly: .init())
            e.register(device: "pump-1", rule: .init(fault: "BEARING_WEAR", sensors: ["vibration_rms", "bearing_temp"], minChange: [0.3, 10],
                                                    window: .seconds(1800), buckets: 6))
            return e
        }
        #expect(run.report == .init(restored: 4, discarded: 0, unknownSeries: 0))
        let sources = Set(run.uninterrupted.map(\.source))
        #expect(sources == [.rateOfChange, .changePoint, .anomaly, .rule], "\(run.uninterrupted)")
        #expect(run.resumed == run.uninterrupted)
        #expect(run.fresh != run.uninterrupted, "a fresh start would have re-learnt and decided differently")
    }

    @Test func aTrendForecastResumesWithItsFittedPoints() throws {
        // 50 + 2/h with noise every minute towards 100 (crossing at 25 h): a warning once the
        // first points show the trend, critical once the crossing is 6 h (a quarter of the 24 h
        // horizon) away. Checkpoint mid-bucket at 7 h 3 min, between the two.
        var rng = SplitMix64(seed: 7)
        let samples = (0..<(20 * 60)).map { k -> (SeriesKey, Sample) in
            let h = Double(k) / 60
            return (pump, Sample(timestamp: at(hours: h), value: 50 + 2 * h + 0.5 * rng.gaussian()))
        }
        let forecast = TrendForecaster.Configuration(direction: .above, limit: 100)
        let run = try splitRun(samples, at: 7 * 60 + 3, watch: pump) {
            var e = DetectionEngine()
            e.register(pump, threshold: threshold)
            e.register(pump, flatline: flatline)
            e.register(pump, forecast: forecast)
            return e
        }
        #expect(run.report == .init(restored: 3, discarded: 0, unknownSeries: 0))
        let restored = try #require(run.forecastAfterRestore, "no forecast right after the restore")
        #expect(restored == run.forecastUninterrupted)
        let raises = run.uninterrupted.filter { $0.source == .forecast && $0.event.transition == .raised }
        #expect(raises.map(\.event.severity) == [.warning, .critical])
        #expect(raises.last.map { $0.event.at > at(hours: 7.05) } == true, "the critical raise comes after the checkpoint")
        #expect(run.resumed == run.uninterrupted)
        #expect(run.forecastsResumed == run.forecastsUninterrupted)
        // A fresh forecaster needs `minPoints` new buckets before it forecasts again.
        #expect(run.fresh != run.uninterrupted)
    }

    @Test func aChangedConfigurationIsDiscardedAndItsDetectorStartsFresh() throws {
        var before = DetectionEngine()
        before.register(pump, threshold: threshold)
        before.register(pump, flatline: flatline)
        for t in 0..<8 { _ = before.observeAll(sample(Double(t), 97), for: pump) }
        let data = try before.checkpoint()

        var longer = threshold
        longer.minDuration = .seconds(20)
        var after = DetectionEngine()
        after.register(pump, threshold: longer)
        after.register(pump, flatline: flatline)
        #expect(try after.restore(from: data) == .init(restored: 1, discarded: 1, unknownSeries: 0))
        var raisedAt: [Int64] = []
        for t in 8..<40 {
            raisedAt += after.observeAll(sample(Double(t), 97), for: pump).filter { $0.source == .threshold }.map(\.event.at.milliseconds)
        }
        // The new 20 s count from the first sample after the restart, not from t = 0.
        #expect(raisedAt == [28_000])

        // A detector kind the series no longer runs is discarded too.
        var withoutFlatline = DetectionEngine()
        withoutFlatline.register(pump, threshold: threshold)
        #expect(try withoutFlatline.restore(from: data) == .init(restored: 1, discarded: 1, unknownSeries: 0))
    }

    @Test func aSeriesNoLongerRegisteredIsIgnored() throws {
        var before = DetectionEngine()
        before.register(pump, threshold: threshold)
        before.register(fan, flatline: flatline)
        _ = before.observeAll(sample(0, 97), for: pump)
        _ = before.observeAll(sample(0, 42), for: fan)
        var after = DetectionEngine()
        after.register(pump, threshold: threshold)
        #expect(try after.restore(from: try before.checkpoint()) == .init(restored: 1, discarded: 0, unknownSeries: 1))
        #expect(after.registeredCount == 1)
    }

    @Test func seriesThatNeverSawASampleAreLeftOut() throws {
        var engine = DetectionEngine()
        engine.register(pump, threshold: threshold)
        engine.register(fan, flatline: flatline)
        _ = engine.observeAll(sample(0, 50), for: pump)
        let envelope = try JSONDecoder().decode(DetectorCheckpoint.Envelope.self, from: engine.checkpoint())
        #expect(envelope.format == 1)
        #expect(envelope.series.map { "\($0.device)/\($0.sensor)" } == ["pump-1/bearing_temp"])
    }

    @Test func aSampleOlderThanTheCheckpointStaysLateAfterIt() throws {
        var before = DetectionEngine()
        before.register(pump, threshold: threshold)
        _ = before.observeAll(sample(100, 50), for: pump)
        var after = DetectionEngine()
        after.register(pump, threshold: threshold)
        _ = try after.restore(from: try before.checkpoint())
        // Would start the timer at 90 s and raise at 100 s if it reached the detector.
        #expect(after.observeAll(sample(90, 97), for: pump).isEmpty)
        #expect(after.observeAll(sample(101, 97), for: pump).isEmpty)
    }

    @Test func aDetectorSavedByAnotherVersionIsDiscardedUnread() throws {
        var before = DetectionEngine()
        before.register(pump, threshold: threshold)
        before.register(pump, flatline: flatline)
        _ = before.observeAll(sample(0, 97), for: pump)
        var json = try #require(try JSONSerialization.jsonObject(with: before.checkpoint()) as? [String: Any])
        var series = try #require(json["series"] as? [[String: Any]])
        // A future threshold detector whose state means something else.
        series[0]["threshold"] = ["version": ThresholdDetector.version + 1, "state": ["something": "else"]]
        json["series"] = series
        var after = DetectionEngine()
        after.register(pump, threshold: threshold)
        after.register(pump, flatline: flatline)
        #expect(try after.restore(from: JSONSerialization.data(withJSONObject: json)) == .init(restored: 1, discarded: 1, unknownSeries: 0))
    }

    @Test func nonFiniteStateSurvivesTheRoundTrip() throws {
        var before = DetectionEngine()
        before.register(fan, flatline: flatline)
        _ = before.observeAll(sample(0, .infinity), for: fan)
        var after = DetectionEngine()
        after.register(fan, flatline: flatline)
        #expect(try after.restore(from: try before.checkpoint()).restored == 1)
    }

    struct Garbage: Sendable, CustomTestStringConvertible {
        var name: String
        var bytes: String
        var says: String
        var testDescription: String { name }
    }

    static let garbage: [Garbage] = [
        Garbage(name: "not JSON", bytes: "\u{1}\u{2}SQLite format 3", says: "its 17 bytes are not valid JSON"),
        Garbage(name: "empty", bytes: "", says: "its 0 bytes are not valid JSON"),
        Garbage(name: "JSON but not an object", bytes: "[1, 2]", says: "it is not a JSON object"),
        Garbage(name: "JSON without a format", bytes: #"{"series": []}"#, says: #"it has no "format" field, so it is not a Fieldwatch detector checkpoint"#),
        Garbage(name: "a format from the future", bytes: #"{"format": 2, "series": []}"#,
                says: "it is in format 2, and this version of Fieldwatch reads format 1 only"),
        Garbage(name: "truncated", bytes: #"{"format": 1, "series": [{"device": "pump-1", "sensor": "bearing_temp", "threshold": {"ver"#,
                says: "its 90 bytes are not valid JSON"),
        Garbage(name: "a damaged detector after a good one",
                bytes: #"{"format": 1, "series": [{"device": "pump-1", "sensor": "bearing_temp", "lastTimestamp": 5000, "threshold": {"version": 1, "state": {"configuration": {"direction": "above", "warning": 80, "critical": 95, "clear": 75, "minDuration": [0, 10000000000000000000]}, "beyondCriticalSince": 0}}}, {"device": "fan-1", "sensor": "speed", "flatline": {"version": 1, "state": {"configuration": {"minSamples": "five"}}}}]}"#,
                says: "it is damaged: at series[1].flatline.state.configuration.minSamples:"),
    ]

    @Test(arguments: garbage)
    func garbageThrowsAClearErrorAndRestoresNothing(_ g: Garbage) {
        var engine = DetectionEngine()
        engine.register(pump, threshold: threshold)
        engine.register(fan, flatline: flatline)
        #expect {
            _ = try engine.restore(from: Data(g.bytes.utf8))
        } throws: { error in
            let text = "\(error)"
            return error is CheckpointError && text.contains(g.says) && text.hasSuffix("nothing was restored, every detector starts from fresh state")
        }
        // Nothing of a checkpoint that fails is applied, not even the good series before the bad one.
        for t in 5...15 { _ = engine.observeAll(sample(Double(t), 97), for: pump) }
        #expect(engine.activeSeverity(for: pump) == .critical)
        var fresh = DetectionEngine()
        fresh.register(pump, threshold: threshold)
        var events: [Int64] = []
        for t in 5...15 { events += fresh.observeAll(sample(Double(t), 97), for: pump).map(\.event.at.milliseconds) }
        #expect(events == [15_000])
    }

    @Test func aForecasterWithAnImpossibleConfigurationFailsToDecodeInsteadOfTrapping() throws {
        var engine = DetectionEngine()
        engine.register(pump, forecast: .init(direction: .above, limit: 100))
        _ = engine.observeAll(sample(0, 50), for: pump)
        let text = String(decoding: try engine.checkpoint(), as: UTF8.self)
        let broken = text.replacingOccurrences(of: #""points":48"#, with: #""points":2"#)
        #expect(broken != text)
        var after = DetectionEngine()
        after.register(pump, forecast: .init(direction: .above, limit: 100))
        #expect {
            _ = try after.restore(from: Data(broken.utf8))
        } throws: { error in
            "\(error)".contains("at series[0].forecast.state.configuration: points must be at least 3 to fit a trend, got 2")
        }
    }

    /// The size and encoding time of a realistic checkpoint, printed (never asserted: timing
    /// depends on the machine and the build).
    @Test func checkpointOfAThousandFullSeries() throws {
        // One series driven for 7 h so its forecaster holds a full ring of 48 points, then its
        // saved state copied to 1,000 series.
        var one = DetectionEngine()
        let forecast = TrendForecaster.Configuration(direction: .above, limit: 100)
        one.register(pump, threshold: threshold)
        one.register(pump, flatline: flatline)
        one.register(pump, forecast: forecast)
        var rng = SplitMix64(seed: 3)
        for k in 0..<(7 * 360) {
            let h = Double(k) / 360
            _ = one.observeAll(Sample(timestamp: at(hours: h), value: 50 + 2 * h + rng.gaussian()), for: pump)
        }
        var envelope = try JSONDecoder().decode(DetectorCheckpoint.Envelope.self, from: one.checkpoint())
        let template = try #require(envelope.series.first)
        #expect(template.forecast?.detector?.storedPoints.count == 48)
        let keys = (0..<1000).map { SeriesKey(device: DeviceID("pump-\($0 / 5)"), sensor: SensorKey("sensor-\($0 % 5)")) }
        envelope.series = keys.map { key in
            var s = template
            s.device = key.device
            s.sensor = key.sensor
            return s
        }
        var engine = DetectionEngine()
        for key in keys {
            engine.register(key, threshold: threshold)
            engine.register(key, flatline: flatline)
            engine.register(key, forecast: forecast)
        }
        let clock = ContinuousClock()
        var restoreReport = DetectionEngine.RestoreReport()
        let restoreTime = try clock.measure { restoreReport = try engine.restore(from: JSONEncoder().encode(envelope)) }
        #expect(restoreReport.restored == 3000)

        var data = Data()
        let encodeTime = try clock.measure { data = try engine.checkpoint() }
        // What ingest pays for a checkpoint: the first sample after the copy copies the
        // engine's table of series (the copy shares it until then). Both samples stay in the
        // open bucket, so neither refits.
        var copy: DetectionEngine? = engine
        let writeAfterCopy = clock.measure { _ = engine.observeAll(Sample(timestamp: at(hours: 6.998), value: 60), for: keys[0]) }
        copy = nil
        let writeAlone = clock.measure { _ = engine.observeAll(Sample(timestamp: at(hours: 6.998), value: 60), for: keys[1]) }
        #expect(data.count > 1000 * 48 * 20)
        #expect(copy == nil)
        print("checkpoint of 1,000 series (threshold, flatline, forecaster with 48 points each): \(data.count) bytes, encoded in \(encodeTime), restored in \(restoreTime); first sample after the copy \(writeAfterCopy), next \(writeAlone)")
    }
}
