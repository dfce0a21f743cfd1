import FieldwatchCore
import Foundation
import Testing
@testable import Detection

/// One reading every 10 s from a fixed start.
private func at(_ i: Int) -> Timestamp { Timestamp(milliseconds: 1_772_409_600_000 + Int64(i) * 10_000) }
/// Repeatable noise in [-1, 1].
private func noise(_ i: Int) -> Double { (sin(Double(i) * 12.9898) + sin(Double(i) * 78.233)) / 2 }

private func run<D>(_ detector: inout D, _ values: [Double], from start: Int = 0,
                    _ observe: (inout D, Sample) -> DetectorEvent?) -> [(index: Int, event: DetectorEvent)] {
    var events: [(Int, DetectorEvent)] = []
    for (k, v) in values.enumerated() {
        if let e = observe(&detector, Sample(timestamp: at(start + k), value: v)) { events.append((start + k, e)) }
    }
    return events
}

@Suite("Rate of change")
struct RateOfChangeDetectorTests {
    static let config = RateOfChangeDetector.Configuration(maxRisePerMinute: 2, maxFallPerMinute: 1, window: .seconds(60),
                                                           quietPeriod: .seconds(300))

    @Test func aFastRiseRaisesOnceAndClearsAfterTheQuietPeriod() {
        var d = RateOfChangeDetector(configuration: Self.config)
        // 30 min steady, 5 min rising 4 units/min, then steady at the new level for 30 min.
        var values = (0..<180).map { 50 + noise($0) * 0.5 }
        values += (0..<30).map { 50 + Double($0 + 1) * 4.0 / 6 + noise($0) * 0.5 }
        values += (0..<180).map { 70 + noise($0) * 0.5 }
        let events = run(&d, values) { $0.observe($1) }
        #expect(events.map(\.event.transition) == [.raised, .cleared], "\(events)")
        let raise = events[0]
        #expect(raise.index > 180 && raise.index <= 180 + 18, "within about two windows of the start of the rise")
        #expect(raise.event.value > 2 && raise.event.limit == 2)
        #expect(events[1].index >= 210 + 30, "clears only after five quiet minutes")
    }

    @Test func noiseAndSlowDriftNeverRaise() {
        // Noisy sensors need longer windows: 5 min of ±3 noise averages to ±0.1 per minute.
        var d = RateOfChangeDetector(configuration: .init(maxRisePerMinute: 2, maxFallPerMinute: 1, window: .seconds(300)))
        // A drift of 0.5 units/min (a quarter of the limit) under noise of ±3.
        let values = (0..<2000).map { 50 + Double($0) * 0.5 / 6 + noise($0) * 3 }
        #expect(run(&d, values) { $0.observe($1) }.isEmpty)
        #expect(d.score > 0.1 && d.score < 0.5, "the score shows the drift against the limit: \(d.score)")
    }

    @Test func aFallIsJudgedAgainstItsOwnLimit() {
        var d = RateOfChangeDetector(configuration: Self.config)
        var values = (0..<60).map { _ in 6.0 }
        values += (0..<30).map { 6 - Double($0 + 1) * 1.5 / 6 }  // falling 1.5/min: beyond the 1/min fall limit
        let events = run(&d, values) { $0.observe($1) }
        #expect(events.count == 1 && events[0].event.value < -1 && events[0].event.limit == -1)
    }

    @Test func aSensorWithoutAFallLimitIgnoresFalls() {
        var d = RateOfChangeDetector(configuration: .init(maxRisePerMinute: 2, maxFallPerMinute: nil))
        let values = (0..<60).map { 100 - Double($0) * 10 }
        #expect(run(&d, values) { $0.observe($1) }.isEmpty)
    }
}

@Suite("CUSUM change point")
struct ChangePointDetectorTests {
    @Test func aSmallSustainedShiftIsFoundThoughNoSampleStandsOut() {
        var d = ChangePointDetector()
        // Noise of ±1 (sd ≈ 0.5); then the level rises by 1 (about two standard deviations).
        var values = (0..<1000).map { 48 + noise($0) }
        values += (1000..<1300).map { 49 + noise($0) }
        let events = run(&d, values) { $0.observe($1) }
        #expect(events.count == 1, "\(events)")
        let e = events[0]
        #expect(e.event.transition == .raised && e.index > 1000 && e.index < 1060, "found within a minute or ten: row \(e.index)")
        #expect(e.event.since >= at(995) && e.event.since <= e.event.at, "dated from when the sum began to grow")
        #expect(abs(e.event.limit - 48) < 0.2, "the level it shifted from")
        #expect(values.prefix(1000).allSatisfy { abs($0 - 48) <= 1 }, "no single sample left the noise band")
    }

    @Test func itClearsOnceTheNewLevelIsTheBaseline() {
        var d = ChangePointDetector(configuration: .init(quietPeriod: .seconds(600)))
        var values = (0..<500).map { 10 + noise($0) }
        values += (500..<8000).map { 12 + noise($0) }
        let events = run(&d, values) { $0.observe($1) }
        #expect(events.map(\.event.transition) == [.raised, .cleared], "\(events.map { ($0.index, $0.event.transition) })")
    }

    @Test func stationaryNoiseStaysQuietForDays() {
        var d = ChangePointDetector()
        let values = (0..<50_000).map { 20 + noise($0) * 2 }
        #expect(run(&d, values) { $0.observe($1) }.isEmpty)
        #expect(d.score < 1)
    }
}

@Suite("Anomaly detector")
struct AnomalyDetectorTests {
    @Test func aSurpriseRaisesOnceAndClearsAfterAQuietHour() {
        var d = AnomalyDetector()
        var values = (0..<1000).map { 30 + noise($0) }
        values += [60]  // thirty times the noise
        values += (1001..<1500).map { 30 + noise($0) }
        let events = run(&d, values) { $0.observe($1) }
        #expect(events.map(\.event.transition) == [.raised, .cleared])
        #expect(events[0].index == 1000 && events[0].event.limit >= 0.75)
        #expect(events[1].index >= 1000 + 360, "an hour of quiet at one reading every 10 s")
    }

    @Test func normalNoiseNeverRaises() {
        var d = AnomalyDetector()
        let values = (0..<20_000).map { 30 + noise($0) + sin(Double($0) / 8640 * 2 * .pi) * 5 }
        #expect(run(&d, values) { $0.observe($1) }.isEmpty)
    }
}

@Suite("Multi-sensor rule")
struct MultiSensorRuleTests {
    static let config = MultiSensorRule.Configuration(fault: "BEARING_WEAR", sensors: ["vibration_rms", "bearing_temp"], minChange: [0.12, 2.5],
                                                      window: .seconds(7200), buckets: 12, quietPeriod: .seconds(1800))

    /// Feeds both sensors every 10 s for `hours`, from `start` (in rows).
    static func feed(_ rule: inout MultiSensorRule, hours: Double, from start: Int = 0,
                     vibration: (Double) -> Double, temperature: (Double) -> Double) -> [(hour: Double, event: DetectorEvent)] {
        var events: [(Double, DetectorEvent)] = []
        for i in start..<(start + Int(hours * 360)) {
            let h = Double(i) / 360
            if let e = rule.observe(sensor: 0, Sample(timestamp: at(i), value: vibration(h) + noise(i) * 0.05)) { events.append((h, e)) }
            if let e = rule.observe(sensor: 1, Sample(timestamp: at(i), value: temperature(h) + noise(i + 7) * 0.5)) { events.append((h, e)) }
        }
        return events
    }

    @Test func bothRisingTogetherRaisesOnceAndStillnessClears() {
        var rule = MultiSensorRule(configuration: Self.config)
        // 3 h steady, then both rise for 3 h (vibration +0.1 mm/s per hour, temperature +2 °C per hour), then steady.
        let events = Self.feed(&rule, hours: 12, vibration: { h in 1.6 + 0.1 * min(max(h - 3, 0), 3) },
                               temperature: { h in 55 + 2 * min(max(h - 3, 0), 3) })
        #expect(events.map(\.event.transition) == [.raised, .cleared], "\(events.map { ($0.hour, $0.event.transition) })")
        #expect(events[0].hour > 4 && events[0].hour < 5.5, "both have covered their share within the window: \(events[0].hour) h")
        #expect(events[1].hour > 6.5, "clears only once the rise has stopped for the quiet period")
        #expect(rule.changes.allSatisfy { $0 != nil })
    }

    @Test func oneSensorAloneNeverRaises() {
        var rule = MultiSensorRule(configuration: Self.config)
        // Temperature climbs (a hot day), vibration stays put.
        let hot = Self.feed(&rule, hours: 12, vibration: { _ in 1.6 }, temperature: { h in 55 + 2 * min(h, 8) })
        #expect(hot.isEmpty)
        var other = MultiSensorRule(configuration: Self.config)
        let shaky = Self.feed(&other, hours: 12, vibration: { h in 1.6 + 0.1 * min(h, 8) }, temperature: { _ in 55 })
        #expect(shaky.isEmpty)
    }

    @Test func fallingRulesWatchFalls() {
        var config = Self.config
        config.movement = .falling
        var rule = MultiSensorRule(configuration: config)
        let events = Self.feed(&rule, hours: 8, vibration: { h in 2 - 0.1 * min(max(h - 2, 0), 3) }, temperature: { h in 60 - 2 * min(max(h - 2, 0), 3) })
        #expect(events.first?.event.transition == .raised)
        var rising = MultiSensorRule(configuration: Self.config)
        #expect(Self.feed(&rising, hours: 8, vibration: { h in 2 - 0.1 * min(max(h - 2, 0), 3) }, temperature: { h in 60 - 2 * min(max(h - 2, 0), 3) }).isEmpty)
    }
}

@Suite("Engine score")
struct EngineScoreTests {
    @Test func theSeriesScoreIsTheLargestOfItsDetectorsScores() {
        let key = SeriesKey(device: "pump-1", sensor: "bearing_temp")
        var engine = DetectionEngine()
        engine.register(key, threshold: .init(direction: .above, warning: 80, critical: 95, clear: 75, minDuration: .seconds(10)))
        engine.register(key, rateOfChange: .init(maxRisePerMinute: 2, maxFallPerMinute: nil))
        #expect(engine.score(for: key) == 0 && engine.score(for: SeriesKey(device: "x", sensor: "y")) == 0)
        // Rising 1 unit a minute: half the rate limit, below any level limit.
        for i in 0..<30 { _ = engine.observeAll(Sample(timestamp: at(i * 6), value: 50 + Double(i)), for: key) }
        #expect(abs(engine.score(for: key) - 0.5) < 0.05, "the rate detector's score: \(engine.score(for: key))")
        // Past the warning limit for longer than its duration: 0.75, then critical: 1.
        for i in 30..<33 { _ = engine.observeAll(Sample(timestamp: at(i * 6), value: 85), for: key) }
        #expect(engine.score(for: key) == 0.75)
        for i in 33..<36 { _ = engine.observeAll(Sample(timestamp: at(i * 6), value: 99), for: key) }
        #expect(engine.score(for: key) == 1)
    }
}

@Suite("Block features")
struct BlockFeatureTests {
    @Test func aPureSineHasItsTextbookValues() throws {
        // 1,024 samples, 16 whole periods, amplitude 2, offset 5 (the offset must not count).
        let sine = (0..<1024).map { 5 + 2 * sin(2 * .pi * 16 * Double($0) / 1024) }
        let f = try #require(BlockFeatures(sine))
        #expect(abs(f.rms - 2 / 2.0.squareRoot()) < 1e-9)
        #expect(abs(f.peak - 2) < 1e-3)
        #expect(abs(f.crestFactor - 2.0.squareRoot()) < 1e-3)
        #expect(abs(f.kurtosis - 1.5) < 1e-9, "a sine's kurtosis is 3/2")
    }

    @Test func impactsRaiseCrestFactorAndKurtosisMoreThanRMS() throws {
        let sine = (0..<1024).map { sin(2 * .pi * 16 * Double($0) / 1024) }
        var impacted = sine
        for i in stride(from: 10, to: 1024, by: 128) { impacted[i] += 6 }  // 8 impacts, like a spalled race
        let healthy = try #require(BlockFeatures(sine))
        let damaged = try #require(BlockFeatures(impacted))
        #expect(damaged.kurtosis > 4 * healthy.kurtosis && damaged.crestFactor > 2 * healthy.crestFactor)
        #expect(damaged.rms < 1.6 * healthy.rms, "the overall level barely moves: \(damaged.rms / healthy.rms)")
    }

    @Test func handWorkedBlock() throws {
        // Mean 0; deviations 1, -1 (×3) and 3, -3 (×1): m2 = (6·1 + 2·9) / 8 = 3, m4 = (6·1 + 2·81) / 8 = 21.
        let f = try #require(BlockFeatures([1, -1, 1, -1, 1, -1, 3, -3]))
        #expect(f.rms == 3.0.squareRoot() && f.peak == 3 && f.kurtosis == 21.0 / 9)
        #expect(BlockFeatures([1, 2, 3]) == nil && BlockFeatures([1, 2, 3, 4, 5, 6, 7, .nan]) == nil)
        #expect(BlockFeatures(Array(repeating: 4, count: 16)).map { $0.kurtosis == 0 && $0.crestFactor == 0 && $0.rms == 0 } == true)
    }
}
