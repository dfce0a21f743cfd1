import FieldwatchCore
import Foundation
import Testing
@testable import Detection

/// What a forecaster did over a run, with times in hours since `trendStart`.
struct TrendTrace {
    var events: [(hours: Double, event: DetectorEvent)] = []
    /// The forecast after each refit (each time a bucket closed).
    var refits: [(hours: Double, forecast: TrendForecaster.Forecast?)] = []
    var maxStoredPoints = 0

    var eventNames: [String] { events.map { "\($0.event.transition.rawValue) \($0.event.severity)" } }
}

let trendStart = Timestamp(milliseconds: 1_767_225_600_000)  // 2026-01-01T00:00:00Z

func at(hours: Double) -> Timestamp {
    Timestamp(milliseconds: trendStart.milliseconds + Int64((hours * 3_600_000).rounded()))
}

func hours(_ t: Timestamp) -> Double { Double(t.milliseconds - trendStart.milliseconds) / 3_600_000 }
func hours(_ d: Duration) -> Double { d.secondsDouble / 3600 }

/// Feeds `signal(hours)` every `seconds` from `from` to `to` hours (nil = no sample: a gap).
/// `inspect` sees the forecaster after every sample.
@discardableResult
func drive(
    _ forecaster: inout TrendForecaster, from: Double = 0, to: Double, every seconds: Double,
    signal: (Double) -> Double?, inspect: (Double, TrendForecaster) -> Void = { _, _ in }
) -> TrendTrace {
    var trace = TrendTrace()
    let steps = Int(((to - from) * 3600 / seconds).rounded(.down))
    for k in 0...steps {
        let h = from + Double(k) * seconds / 3600
        guard let value = signal(h) else { continue }
        let newestBefore = forecaster.storedPoints.last
        if let event = forecaster.observe(Sample(timestamp: at(hours: h), value: value)) {
            trace.events.append((h, event))
        }
        let stored = forecaster.storedPoints
        if stored.last != newestBefore { trace.refits.append((h, forecaster.latest)) }
        trace.maxStoredPoints = max(trace.maxStoredPoints, stored.count)
        inspect(h, forecaster)
    }
    return trace
}

/// Ordinary least-squares slope, the estimator Theil–Sen is compared against.
func leastSquaresSlope(_ points: [Sample]) -> Double {
    let t = points.map { Double($0.timestamp.milliseconds) / 3_600_000 }
    let y = points.map(\.value)
    let tMean = t.reduce(0, +) / Double(t.count)
    let yMean = y.reduce(0, +) / Double(y.count)
    let sxy = zip(t, y).map { ($0 - tMean) * ($1 - yMean) }.reduce(0, +)
    let sxx = t.map { ($0 - tMean) * ($0 - tMean) }.reduce(0, +)
    return sxy / sxx
}

@Suite("TrendForecaster")
struct TrendForecasterTests {
    let above100 = TrendForecaster.Configuration(direction: .above, limit: 100)

    // MARK: Fit

    @Test func theilSenOnThreeHandWorkedPoints() throws {
        // Pairwise slopes 1, 1.5, 2 → median 1.5; y − 1.5·t = 0, −0.5, 0 → intercept 0. With
        // three points C = 1.645·√(3·2·11/18) ≈ 3.15 exceeds N = 3: the band is every slope.
        let fit = try #require(TheilSenFit(times: [0, 1, 2], values: [0, 1, 3], z: 1.645))
        #expect(fit.slope == 1.5 && fit.intercept == 0)
        #expect(fit.lowerSlope == 1 && fit.upperSlope == 2)
    }

    @Test func theilSenOnAnExactLineHasNoSpread() throws {
        let times = (0..<20).map { Double($0) * 0.25 - 5 }
        let fit = try #require(TheilSenFit(times: times, values: times.map { 3 - 0.5 * $0 }, z: 1.645))
        #expect(abs(fit.slope + 0.5) < 1e-12 && abs(fit.lowerSlope + 0.5) < 1e-12 && abs(fit.upperSlope + 0.5) < 1e-12)
        #expect(abs(fit.intercept - 3) < 1e-12)
    }

    @Test(arguments: [(0.95, 1.6449), (0.975, 1.9600), (0.5, 0.0), (0.05, -1.6449)])
    func normalQuantile(_ p: Double, _ expected: Double) {
        #expect(abs(TrendForecaster.normalQuantile(p) - expected) < 1e-3)
    }

    // MARK: Forecast accuracy

    @Test func noisyRampForecastsTheKnownCrossing() throws {
        // 50 + 2/h with σ = 5 noise every 10 s: the true line reaches 100 at 25 h.
        var rng = SplitMix64(seed: 1)
        var f = TrendForecaster(configuration: above100)
        let trace = drive(&f, to: 19, every: 10) { h in 50 + 2 * h + 5 * rng.gaussian() }
        // From a full window until 6 h before the crossing (closer in, a small error in the
        // level is a large fraction of the time left).
        let settled = trace.refits.filter { $0.hours >= 8 && $0.hours <= 19 }
        #expect(settled.count > 80)
        var bandHits = 0
        for (h, forecast) in settled {
            let fc = try #require(forecast, "no forecast at \(h) h")
            let truth = 25 - hours(fc.fittedAt)
            #expect(abs(hours(fc.timeToLimit) - truth) <= 0.1 * truth, "central estimate at \(h) h")
            #expect(hours(fc.earliest) <= hours(fc.timeToLimit))
            let latest = try #require(fc.latest)
            #expect(hours(fc.timeToLimit) <= hours(latest))
            if hours(fc.earliest) <= truth && truth <= hours(latest) { bandHits += 1 }
            #expect(abs(fc.slopePerHour - 2) < 0.2)
            #expect(fc.points == 48 && fc.windowStart < fc.fittedAt)
        }
        // A 90 % band: it must hold the truth at most refits, not at all of them.
        #expect(Double(bandHits) >= 0.8 * Double(settled.count), "band held the truth at \(bandHits) of \(settled.count) refits")
        // And at one fixed refit, exactly.
        let noon = try #require(settled.first { $0.hours >= 12 }?.forecast)
        let truth = 25 - hours(noon.fittedAt)
        let noonLatest = try #require(noon.latest)
        #expect(hours(noon.earliest) <= truth && truth <= hours(noonLatest))
    }

    @Test func fallingSignalTowardsALowerLimit() throws {
        // Oil pressure 5 bar falling 0.1 bar/h (σ = 0.1) towards 2 bar: crossing at 30 h.
        var rng = SplitMix64(seed: 2)
        var f = TrendForecaster(configuration: .init(direction: .below, limit: 2))
        let trace = drive(&f, to: 28, every: 10) { h in 5 - 0.1 * h + 0.1 * rng.gaussian() }
        let noon = try #require(trace.refits.first { $0.hours >= 12 }?.forecast)
        #expect(abs(noon.slopePerHour + 0.1) < 0.01)
        #expect(abs(hours(noon.predictedCrossing) - 30) < 0.1 * (30 - 12))
        // Warning when 24 h remain (at 6 h), critical when 6 h remain (at 24 h).
        #expect(trace.eventNames == ["raised warning", "raised critical"])
        #expect(abs(trace.events[0].hours - 6) < 0.5 && abs(trace.events[1].hours - 24) < 0.5)
    }

    // MARK: No trend, no forecast

    struct Quiet: Sendable, CustomTestStringConvertible {
        var name: String
        var direction: LimitDirection
        var limit: Double
        var signal: @Sendable (Double, Double) -> Double  // (hours, unit noise)
        var testDescription: String { name }
    }

    static let quietSignals: [Quiet] = [
        Quiet(name: "constant value", direction: .above, limit: 60) { _, _ in 50 },
        Quiet(name: "falling away from an upper limit", direction: .above, limit: 60) { h, n in 50 - h + 0.5 * n },
        Quiet(name: "rising away from a lower limit", direction: .below, limit: 40) { h, n in 50 + h + 0.5 * n },
        Quiet(name: "fast ramp away from the limit", direction: .above, limit: 60) { h, n in 50 - 20 * h + n },
    ]

    @Test(arguments: quietSignals)
    func noTrendTowardsTheLimitNeverForecasts(_ q: Quiet) {
        var rng = SplitMix64(seed: 3)
        var f = TrendForecaster(configuration: .init(direction: q.direction, limit: q.limit))
        var maxScore = 0.0
        let trace = drive(&f, to: 24, every: 10, signal: { h in q.signal(h, rng.gaussian()) }, inspect: { _, f in maxScore = max(maxScore, f.score) })
        #expect(trace.refits.count > 150)
        #expect(trace.refits.allSatisfy { $0.forecast == nil })
        #expect(trace.events.isEmpty)
        #expect(maxScore == 0)
    }

    @Test func flatNoiseNeverRaisesOverAWeek() {
        // σ = 5 around 50, limit 58: the raw samples cross the limit now and then (the threshold
        // detector's business), but there is no trend to forecast.
        var rng = SplitMix64(seed: 4)
        var f = TrendForecaster(configuration: .init(direction: .above, limit: 58))
        let trace = drive(&f, to: 7 * 24, every: 10) { _ in 50 + 5 * rng.gaussian() }
        #expect(trace.events.isEmpty)
        // The trend test is two-sided at 90 %: about 5 % of refits see a spurious rising trend.
        // Without the test about half of them would.
        let spurious = trace.refits.filter { $0.forecast != nil }.count
        #expect(Double(spurious) < 0.12 * Double(trace.refits.count), "\(spurious) of \(trace.refits.count) refits forecast a crossing")
        // And those few see slopes of noise: crossings far beyond the horizon.
        #expect(trace.refits.compactMap(\.forecast).allSatisfy { hours($0.timeToLimit) > 24 })
    }

    // MARK: Events

    @Test func severityRisesFromWarningToCriticalOnce() throws {
        // 50 + 1/h reaches 100 at 50 h: warning at 26 h (24 h left), critical at 44 h (6 h left),
        // then the value crosses and the forecaster stays silent (no clear, no new raise).
        var rng = SplitMix64(seed: 5)
        var f = TrendForecaster(configuration: above100)
        var scores: [(Double, Double)] = []
        let trace = drive(&f, to: 60, every: 10, signal: { h in 50 + h + 2 * rng.gaussian() }, inspect: { h, f in scores.append((h, f.score)) })
        #expect(trace.eventNames == ["raised warning", "raised critical"])
        let (warnedAt, warning) = trace.events[0]
        let (escalatedAt, critical) = trace.events[1]
        #expect(abs(warnedAt - 26) < 1 && abs(escalatedAt - 44) < 1)
        #expect(warning.limit == 100 && critical.limit == 100)
        #expect(warning.since <= warning.at && critical.since <= critical.at)
        #expect(abs(warning.value - (50 + warnedAt)) < 10)  // the raw sample value, noise included
        #expect(f.active == .critical && f.latest == nil)
        // Score: 0 before the first forecast, about 1 − left/horizon while one stands.
        #expect(scores.filter { $0.0 < 1 }.allSatisfy { $0.1 == 0 })
        let scoreAt44 = try #require(scores.first { $0.0 >= escalatedAt }?.1)
        #expect(scoreAt44 >= 0.75 && scoreAt44 < 0.8)
        #expect(scores.allSatisfy { (0...1).contains($0.1) })
        #expect(scores.last?.1 == 0)  // beyond the limit: no forecast, no score
    }

    @Test func clearsOnlyAfterTheForecastStaysFarForTheQuietPeriod() throws {
        // 2/h from 50 (19 h to 100: warning), then 1/h (about 30 h left: between one and 1.5
        // horizons, which must neither clear nor re-raise), then flat: the forecast goes away
        // and the warning clears once that has held for the 30-minute quiet period.
        var rng = SplitMix64(seed: 6)
        func signal(_ h: Double) -> Double {
            let level = h < 6 ? 50 + 2 * h : h < 14 ? 62 + (h - 6) : 70
            return level + 0.5 * rng.gaussian()
        }
        var f = TrendForecaster(configuration: above100)
        var inHysteresisBand = 0.0  // hours with 24 h < time left ≤ 36 h
        var farSince: Double?       // when the forecast last became absent or beyond 36 h
        let trace = drive(&f, to: 26, every: 10, signal: signal, inspect: { h, f in
            let left = f.latest.map { hours($0.predictedCrossing) - h }
            if let left, left > 24, left <= 36 { inHysteresisBand += 10.0 / 3600 }
            if left.map({ $0 > 36 }) ?? true { farSince = farSince ?? h } else { farSince = nil }
        })
        #expect(trace.eventNames == ["raised warning", "cleared warning"])
        #expect(inHysteresisBand > 2, "the scenario should spend hours in the hysteresis band, spent \(inHysteresisBand) h")
        let (clearedAt, clear) = try #require(trace.events.last)
        #expect(hours(clear.since) >= 14)
        let quiet = hours(clear.at) - hours(clear.since)
        #expect(quiet >= 0.5 && quiet < 0.5 + 10.0 / 3600)
        // The condition held without a break from `since` to the clear, and still holds.
        #expect(abs((farSince ?? -1) - hours(clear.since)) < 1e-9)
        #expect(clearedAt == hours(clear.at) && f.active == nil)
    }

    @Test func stepChangeIsForgottenOncePreStepPointsAgeOut() throws {
        // A level shift from 50 to 80 at 8 h, limit 100. While the step sits near the middle of
        // the window the line across it looks like a steep trend: this raises (documented
        // behaviour, pinned here). Once the pre-step points age out the slope is that of the
        // noise again, and the raise clears.
        var rng = SplitMix64(seed: 7)
        var f = TrendForecaster(configuration: above100)
        let trace = drive(&f, to: 24, every: 10) { h in (h < 8 ? 50 : 80) + rng.gaussian() }
        let duringStep = trace.refits.filter { $0.hours > 8 && $0.hours < 14 }.compactMap(\.forecast)
        #expect(duringStep.contains { $0.slopePerHour > 5 })
        #expect(trace.eventNames == ["raised warning", "raised critical", "cleared critical"])
        #expect(trace.events[2].hours <= 8 + 6 + 0.5)
        // One window (plus the bucket being filled) after the step, the step is forgotten.
        let afterWindow = trace.refits.filter { $0.hours >= 8 + 6 + 0.125 }
        #expect(afterWindow.count > 70)
        #expect(afterWindow.allSatisfy { ($0.forecast?.slopePerHour ?? 0) < 0.1 })
        #expect(f.active == nil)
    }

    // MARK: Robustness

    @Test func spikesBarelyMoveTheTheilSenSlopeButDragLeastSquares() throws {
        // One sample per bucket and no smoothing, so each sample is one point; 10 % of them are
        // +30 spikes. True slope 1/h.
        var rng = SplitMix64(seed: 8)
        var f = TrendForecaster(configuration: .init(direction: .above, limit: 1000, smoothing: 1))
        var theilSenErrors: [Double] = []
        var leastSquaresErrors: [Double] = []
        var spikes = 0
        let samples = drive(&f, to: 48, every: 450, signal: { h in
            let spike = rng.uniform() < 0.1
            if spike { spikes += 1 }
            return 50 + h + 0.3 * rng.gaussian() + (spike ? 30 : 0)
        }, inspect: { h, f in
            guard h >= 6, let forecast = f.latest, forecast.fittedAt == f.storedPoints.last?.timestamp else { return }
            let window = f.storedPoints.filter { $0.timestamp >= forecast.windowStart }
            theilSenErrors.append(abs(forecast.slopePerHour - 1))
            leastSquaresErrors.append(abs(leastSquaresSlope(window) - 1))
        })
        #expect(samples.refits.count > 300)
        #expect(abs(Double(spikes) / Double(samples.refits.count) - 0.1) < 0.03)
        #expect(theilSenErrors.count > 300)
        let worstTheilSen = try #require(theilSenErrors.max())
        let meanLeastSquares = leastSquaresErrors.reduce(0, +) / Double(leastSquaresErrors.count)
        #expect(worstTheilSen < 0.15, "Theil–Sen slope off by up to \(worstTheilSen)/h")
        #expect(meanLeastSquares > 0.3, "least squares off by \(meanLeastSquares)/h on average")
    }

    @Test func storedPointsNeverExceedTheConfiguredCount() {
        var f = TrendForecaster(configuration: .init(direction: .above, limit: 100, window: .seconds(3600), points: 8, minPoints: 4))
        var overflow = false
        let trace = drive(&f, to: 72, every: 30, signal: { h in 50 + 0.1 * h }, inspect: { _, f in
            overflow = overflow || f.storedPoints.count > 8 || (f.latest?.points ?? 0) > 8
        })
        #expect(!overflow)
        #expect(trace.maxStoredPoints == 8)
        #expect(trace.refits.count > 500)
    }

    @Test func nonFiniteAndOutOfOrderSamplesAreIgnored() {
        func ramp(_ h: Double) -> Double { 50 + 2 * h + sin(h * 40) }
        var clean = TrendForecaster(configuration: above100)
        var noisy = TrendForecaster(configuration: above100)
        var cleanEvents: [DetectorEvent] = []
        var noisyEvents: [DetectorEvent] = []
        for k in 0...(40 * 360) {
            let h = Double(k) / 360
            let sample = Sample(timestamp: at(hours: h), value: ramp(h))
            if let e = clean.observe(sample) { cleanEvents.append(e) }
            if let e = noisy.observe(sample) { noisyEvents.append(e) }
            guard k % 7 == 3 else { continue }
            let junk = [
                Sample(timestamp: at(hours: h), value: .nan),
                Sample(timestamp: at(hours: h + 0.001), value: .infinity),
                Sample(timestamp: at(hours: h), value: -.infinity),
                Sample(timestamp: at(hours: h - 0.5), value: 1e9),  // late: older than the last one
            ]
            for s in junk { if let e = noisy.observe(s) { noisyEvents.append(e) } }
        }
        #expect(cleanEvents.count == 2)
        #expect(noisyEvents == cleanEvents)
        #expect(noisy.latest == clean.latest && noisy.score == clean.score)
        #expect(noisy.storedPoints == clean.storedPoints)
    }

    @Test func gapsSkipBucketsAndALongGapForgetsTheOldTrend() throws {
        // A 1-hour gap inside the window: the fit goes on with fewer points. A 12-hour gap
        // (longer than the window): the old points no longer count, so there is no forecast
        // until `minPoints` new buckets have closed.
        var rng = SplitMix64(seed: 9)
        var f = TrendForecaster(configuration: .init(direction: .above, limit: 200))
        let trace = drive(&f, to: 30, every: 10) { h in
            if (7..<8).contains(h) || (12..<24).contains(h) { return nil }
            return 50 + 2 * h + rng.gaussian()
        }
        let afterShortGap = try #require(trace.refits.first { $0.hours >= 8 }?.forecast)
        #expect(afterShortGap.points < 48 && afterShortGap.points >= 38)
        #expect(abs(hours(afterShortGap.predictedCrossing) - 75) < 3)
        let afterLongGap = trace.refits.filter { $0.hours >= 24 }
        // 12 buckets of 7.5 min: the first forecast appears once 12 new points exist.
        #expect(afterLongGap.filter { $0.hours < 24 + 1.4 }.allSatisfy { $0.forecast == nil })
        let resumed = try #require(afterLongGap.first { $0.forecast != nil }?.forecast)
        #expect(resumed.windowStart >= at(hours: 24))
        #expect(abs(hours(resumed.predictedCrossing) - 75) < 7.5)
    }
}
