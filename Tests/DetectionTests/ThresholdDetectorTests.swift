import FieldwatchCore
import Testing
@testable import Detection

/// Feeds (seconds, value) pairs and returns the events as compact strings: "raised critical @12".
func run(_ config: ThresholdDetector.Configuration, _ points: [(Double, Double)]) -> [String] {
    var detector = ThresholdDetector(configuration: config)
    return points.compactMap { t, v in
        detector.observe(Sample(timestamp: Timestamp(milliseconds: Int64(t * 1000)), value: v)).map {
            "\($0.transition.rawValue) \($0.severity) @\(Int($0.at.milliseconds / 1000))"
        }
    }
}

let above = ThresholdDetector.Configuration(direction: .above, warning: 80, critical: 95, clear: 75, minDuration: .seconds(10))
let below = ThresholdDetector.Configuration(direction: .below, warning: 3, critical: 2, clear: 3.5, minDuration: .seconds(5))

@Suite("ThresholdDetector")
struct ThresholdDetectorTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var config: ThresholdDetector.Configuration
        var points: [(Double, Double)]
        var expected: [String]
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "below every limit: nothing", config: above,
             points: [(0, 50), (5, 79.9), (10, 80), (20, 60)], expected: []),
        Case(name: "beyond warning shorter than the minimum duration: nothing", config: above,
             points: [(0, 85), (5, 85), (9.999, 85), (10.5, 70)], expected: []),
        Case(name: "beyond warning for exactly the minimum duration: raised once", config: above,
             points: [(0, 85), (5, 85), (10, 85), (15, 85), (20, 85)], expected: ["raised warning @10"]),
        Case(name: "a dip below the limit restarts the duration", config: above,
             points: [(0, 85), (8, 79), (9, 85), (18, 85), (19, 85)], expected: ["raised warning @19"]),
        Case(name: "warning then critical: raised twice, rising", config: above,
             points: [(0, 85), (10, 85), (12, 99), (21, 99), (22, 99), (40, 99)],
             expected: ["raised warning @10", "raised critical @22"]),
        Case(name: "straight to critical: one critical raise, no separate warning", config: above,
             points: [(0, 99), (5, 99), (10, 99), (11, 99)], expected: ["raised critical @10"]),
        Case(name: "hysteresis: between clear and warning does not clear", config: above,
             points: [(0, 85), (10, 85), (11, 77), (30, 77), (60, 76)], expected: ["raised warning @10"]),
        Case(name: "clears after the value stays past the clear level for the duration", config: above,
             points: [(0, 85), (10, 85), (11, 70), (15, 70), (21, 70), (30, 70)],
             expected: ["raised warning @10", "cleared warning @21"]),
        Case(name: "flapping around the limit fires once", config: above,
             points: stride(from: 0.0, to: 60, by: 1).map { ($0, Int($0) % 2 == 0 ? 81 : 79) }, expected: []),
        Case(name: "flapping after a raise does not clear or re-raise", config: above,
             points: [(0, 90), (10, 90)] + stride(from: 11.0, to: 60, by: 1).map { ($0, Int($0) % 2 == 0 ? 90 : 74) },
             expected: ["raised warning @10"]),
        Case(name: "below-direction limits", config: below,
             points: [(0, 6), (1, 2.5), (6, 2.5), (7, 1.5), (12, 1.5), (13, 4), (18, 4)],
             expected: ["raised warning @6", "raised critical @12", "cleared critical @18"]),
        Case(name: "zero minimum duration fires on the first sample",
             config: .init(direction: .above, warning: nil, critical: 10, clear: 9, minDuration: .zero),
             points: [(0, 5), (1, 11), (2, 8.9)], expected: ["raised critical @1", "cleared critical @2"]),
        Case(name: "raise, clear, raise again", config: below,
             points: [(0, 1), (5, 1), (6, 5), (11, 5), (12, 1), (17, 1)],
             expected: ["raised critical @5", "cleared critical @11", "raised critical @17"]),
    ]

    @Test(arguments: cases)
    func events(_ c: Case) {
        #expect(run(c.config, c.points) == c.expected)
    }

    @Test func eventCarriesSinceValueAndLimit() throws {
        var d = ThresholdDetector(configuration: above)
        _ = d.observe(Sample(timestamp: Timestamp(milliseconds: 1_000), value: 96))
        let event = d.observe(Sample(timestamp: Timestamp(milliseconds: 11_000), value: 97))
        let e = try #require(event)
        #expect(e == DetectorEvent(transition: .raised, severity: .critical, at: Timestamp(milliseconds: 11_000),
                                   since: Timestamp(milliseconds: 1_000), value: 97, limit: 95))
        #expect(d.active == .critical)
    }
}

@Suite("DetectionEngine")
struct DetectionEngineTests {
    @Test func runsTheRegisteredDetectorPerSeriesAndIgnoresOutOfOrderSamples() {
        var engine = DetectionEngine()
        let key = SeriesKey(device: "p1", sensor: "t")
        engine.register(key, threshold: .init(direction: .above, warning: nil, critical: 10, clear: 9, minDuration: .seconds(2)))
        func feed(_ ms: Int64, _ v: Double, _ k: SeriesKey = key) -> DetectorEvent? {
            engine.observe(Sample(timestamp: Timestamp(milliseconds: ms), value: v), for: k)
        }
        #expect(feed(0, 20) == nil)
        #expect(feed(1000, 20) == nil)
        // An older sample does not reach the detector (it could otherwise restart its timer).
        #expect(feed(500, 0) == nil)
        #expect(feed(2000, 20)?.severity == .critical)
        #expect(engine.activeSeverity(for: key) == .critical)
        #expect(feed(0, 100, SeriesKey(device: "p1", sensor: "unregistered")) == nil)
        #expect(engine.registeredCount == 1)
    }
}

@Suite("FlatlineDetector")
struct FlatlineDetectorTests {
    func run(_ config: FlatlineDetector.Configuration, _ points: [(Double, Double)]) -> [String] {
        var detector = FlatlineDetector(configuration: config)
        return points.compactMap { t, v in
            detector.observe(Sample(timestamp: Timestamp(milliseconds: Int64(t * 1000)), value: v)).map {
                "\($0.transition.rawValue) @\(Int($0.at.milliseconds / 1000)) since \(Int($0.since.milliseconds / 1000))"
            }
        }
    }

    let config = FlatlineDetector.Configuration(minSamples: 5, minDuration: .seconds(10), tolerance: 0)

    @Test func noisyReadingsNeverFire() {
        #expect(run(config, (0..<100).map { (Double($0), 50 + Double($0 % 3) * 0.1) }).isEmpty)
    }

    @Test func identicalReadingsFireOnceBothCountAndDurationHold() {
        // 5 samples reached at t=4 but only 4 s: fires when 10 s have passed.
        #expect(run(config, (0...20).map { (Double($0), 42) }) == ["raised @10 since 0"])
    }

    @Test func manySamplesInAShortTimeAreNotEnough() {
        #expect(run(config, (0..<50).map { (Double($0) * 0.1, 42) }).isEmpty)
    }

    @Test func clearsOnTheFirstMove() {
        let points = (0...12).map { (Double($0), 42.0) } + [(13, 42.5), (14, 42.5)]
        #expect(run(config, points) == ["raised @10 since 0", "cleared @13 since 0"])
    }

    @Test func toleranceAbsorbsQuantisationJitter() {
        let jitter = FlatlineDetector.Configuration(minSamples: 5, minDuration: .seconds(10), tolerance: 0.05)
        #expect(run(jitter, (0...12).map { (Double($0), $0 % 2 == 0 ? 42.0 : 42.04) }) == ["raised @10 since 0"])
    }

    @Test func engineRunsBothDetectorsOfASeries() {
        var engine = DetectionEngine()
        let key = SeriesKey(device: "p", sensor: "t")
        engine.register(key, threshold: .init(direction: .above, warning: nil, critical: 10, clear: 9, minDuration: .zero))
        engine.register(key, flatline: .init(minSamples: 3, minDuration: .seconds(2), tolerance: 0))
        var sources: [String] = []
        for t in 0...3 {
            for e in engine.observeAll(Sample(timestamp: Timestamp(milliseconds: Int64(t) * 1000), value: 20), for: key) {
                sources.append("\(e.source.rawValue)@\(t)")
            }
        }
        #expect(sources == ["threshold@0", "flatline@2"])
    }
}
