import FieldwatchCore
import Foundation
import TimeSeries

/// Predicts when a sensor will cross its critical limit, so a ticket can open while there is
/// still time to plan the repair rather than after the threshold detector fires.
///
/// Each sample is smoothed (EWMA), averaged into buckets of `window / points` of sample time,
/// and each closed bucket becomes one point (mean time, mean value) in a ring of `points`
/// entries. When a bucket closes, a Theil–Sen line is fitted to the points of the last
/// `window`; the median of pairwise slopes shrugs off spikes that would drag a least-squares
/// line. Sen's confidence band around the slope says how sure the trend is: a forecast exists
/// only while the whole band points towards the limit (which is the Mann–Kendall trend test at
/// level 1 − `confidence`), so noise without a trend rarely forecasts at all, and then only
/// for as long as the band happens to exclude zero.
///
/// Events, all in sample time:
/// - **raised warning** once the predicted crossing of the central line is within `horizon`
///   (continuously for `minOnDuration`). The central estimate, not the band's earliest bound,
///   decides: the earliest bound widens with noise, and a warning should mean "expected
///   within the horizon", not "possible within it". The band is reported with the forecast.
/// - **raised critical** once it is within `horizon / 4`; severity only rises, once.
/// - **cleared** once no forecast within `1.5 × horizon` has held for `quietPeriod`. The gap
///   between the raise level (1 × horizon) and the clear level (1.5 ×) plus the quiet period
///   keep a forecast hovering around the horizon from flapping.
///
/// Beyond the limit (by the smoothed value) the forecaster is silent: it drops its forecast and
/// neither raises nor clears, because the threshold detector speaks for a crossing that has
/// happened. The quiet period starts only once the value is back on the safe side.
///
/// A step change is not a trend, but a line fitted across a step sees one: while the step sits
/// near the middle of the window, the pairs that straddle it pull the slope towards the limit,
/// and a large step towards a near limit raises a transient forecast, even a critical one.
/// Once the points from before the step age out of the window the line is flat again, so such
/// a forecast is gone within one `window` after the step, and a raise it caused clears
/// `quietPeriod` after that.
///
/// Smoothing correlates neighbouring samples. The trend test assumes the points are
/// independent, which holds when a bucket spans many more samples than the smoothing span (the
/// defaults suit samples every few seconds); for sparse series set `smoothing` to 1.
///
/// Pure: no I/O, no clock. Bounded state: one open bucket and `points` stored points; O(1) per
/// sample except when a bucket closes, where the refit costs O(points² log points).
public struct TrendForecaster: Sendable {
    public static let name = "trend-forecast"
    public static let version = 1

    /// The forecast clears only once no crossing is predicted within this multiple of the horizon.
    public static let clearHorizonFactor = 1.5
    /// A crossing predicted further out than this is treated as none: a line fitted over hours
    /// means nothing decades ahead, and it keeps the arithmetic on durations far from overflow.
    static let longestForecastHours = 10 * 365 * 24.0

    public struct Configuration: Sendable, Equatable {
        public var direction: LimitDirection
        /// The critical limit whose crossing is forecast.
        public var limit: Double
        /// Raise when the predicted crossing is at most this far ahead.
        public var horizon: Duration
        /// How far back the trend is fitted.
        public var window: Duration
        /// Points kept for the fit; each summarises a bucket of `window / points`.
        public var points: Int
        /// With fewer points in the window there is no forecast.
        public var minPoints: Int
        /// Two-sided confidence of the slope band, which is also the trend test's level.
        public var confidence: Double
        /// EWMA span in samples applied before bucketing; 1 turns smoothing off.
        public var smoothing: Double
        /// How long the raise condition must hold before a raise.
        public var minOnDuration: Duration
        /// How long no forecast within 1.5 × horizon must hold before a clear.
        public var quietPeriod: Duration

        public init(
            direction: LimitDirection,
            limit: Double,
            horizon: Duration = .seconds(24 * 3600),
            window: Duration = .seconds(6 * 3600),
            points: Int = 48,
            minPoints: Int = 12,
            confidence: Double = 0.9,
            smoothing: Double = 10,
            minOnDuration: Duration = .zero,
            quietPeriod: Duration = .seconds(30 * 60)
        ) {
            self.direction = direction
            self.limit = limit
            self.horizon = horizon
            self.window = window
            self.points = points
            self.minPoints = minPoints
            self.confidence = confidence
            self.smoothing = smoothing
            self.minOnDuration = minOnDuration
            self.quietPeriod = quietPeriod
        }
    }

    /// When the fitted trend reaches the limit, as seen at the newest point.
    public struct Forecast: Sendable, Equatable {
        /// From `fittedAt` to the crossing of the fitted (central) line.
        public var timeToLimit: Duration
        /// The crossing of the band's steeper slope: the soonest plausible. Zero when that
        /// line is already at the limit.
        public var earliest: Duration
        /// The crossing of the band's shallower slope; nil when it does not reach the limit
        /// within any meaningful time.
        public var latest: Duration?
        /// Fitted slope in value units per hour (negative for a falling signal).
        public var slopePerHour: Double
        /// The fitted value at `fittedAt`.
        public var level: Double
        /// Time of the newest point (the mean time of its bucket's samples): the instant the
        /// forecast speaks for.
        public var fittedAt: Timestamp
        /// Time of the oldest point in the fit.
        public var windowStart: Timestamp
        /// Number of points in the fit.
        public var points: Int

        public init(
            timeToLimit: Duration, earliest: Duration, latest: Duration?, slopePerHour: Double,
            level: Double, fittedAt: Timestamp, windowStart: Timestamp, points: Int
        ) {
            self.timeToLimit = timeToLimit
            self.earliest = earliest
            self.latest = latest
            self.slopePerHour = slopePerHour
            self.level = level
            self.fittedAt = fittedAt
            self.windowStart = windowStart
            self.points = points
        }

        /// When the fitted line reaches the limit.
        public var predictedCrossing: Timestamp { fittedAt + timeToLimit }
    }

    public let configuration: Configuration
    /// The current forecast: set when a bucket closes, dropped when the value goes beyond the limit.
    public private(set) var latest: Forecast?
    /// The level currently raised, if any.
    public private(set) var active: Severity?
    /// Urgency of the latest sample in [0, 1]: 0 without a forecast or with the crossing a
    /// horizon or more away, rising linearly to 1 as the predicted crossing arrives.
    public private(set) var score = 0.0

    private let alpha: Double
    private let z: Double
    private let bucketMs: Int64
    private let horizonMs: Int64
    private let minOnMs: Int64
    private let quietMs: Int64

    private var lastTimestamp: Timestamp?
    private var smoothed: Double?
    private var bucket: OpenBucket?
    /// Closed buckets, oldest first; the ring overwrites the oldest once `points` are stored.
    private var ring: RingBuffer
    private var withinHorizonSince: Timestamp?
    private var withinQuarterSince: Timestamp?
    private var quietSince: Timestamp?

    /// The samples of the bucket being filled. Times are summed relative to the bucket's
    /// start so the sum stays exact in a `Double`.
    private struct OpenBucket: Sendable, Codable {
        let index: Int64
        let startMs: Int64
        var count = 0
        var offsetSumMs = 0.0
        var valueSum = 0.0

        var point: Sample {
            let meanOffset = (offsetSumMs / Double(count)).rounded()
            return Sample(timestamp: Timestamp(milliseconds: startMs + Int64(meanOffset)), value: valueSum / Double(count))
        }
    }

    public init(configuration: Configuration) {
        let c = configuration
        if let problem = Self.problem(with: c) { preconditionFailure("trend forecaster: \(problem)") }
        self.configuration = configuration
        alpha = 2 / (c.smoothing + 1)
        z = Self.normalQuantile(0.5 + c.confidence / 2)
        bucketMs = c.window.wholeMilliseconds / Int64(c.points)
        horizonMs = c.horizon.wholeMilliseconds
        minOnMs = c.minOnDuration.wholeMilliseconds
        quietMs = c.quietPeriod.wholeMilliseconds
        ring = RingBuffer(capacity: c.points, lateTolerance: .zero)
    }

    /// Why a configuration cannot run (nil when it can): `init` traps on it, a checkpoint that
    /// holds one fails to decode.
    static func problem(with c: Configuration) -> String? {
        if !c.limit.isFinite { return "limit must be a finite number, got \(c.limit)" }
        if c.points < 3 { return "points must be at least 3 to fit a trend, got \(c.points)" }
        if !(3...c.points).contains(c.minPoints) { return "minPoints must be between 3 and points (\(c.points)), got \(c.minPoints)" }
        if c.window.wholeMilliseconds < Int64(c.points) { return "window \(c.window) is shorter than one millisecond per point" }
        if c.horizon <= .zero { return "horizon must be positive, got \(c.horizon)" }
        if !(c.confidence > 0 && c.confidence < 1) { return "confidence must lie strictly between 0 and 1, got \(c.confidence)" }
        if !(c.smoothing >= 1) { return "smoothing is an EWMA span in samples, at least 1 (off), got \(c.smoothing)" }
        return nil
    }

    /// Feeds one sample and returns an event when the state changes. Non-finite values and
    /// samples older than the last one accepted are ignored (and leave `score` as it was).
    public mutating func observe(_ sample: Sample) -> DetectorEvent? {
        let t = sample.timestamp
        guard sample.value.isFinite else { return nil }
        if let last = lastTimestamp, t < last { return nil }
        lastTimestamp = t

        let value = smoothed.map { $0 + alpha * (sample.value - $0) } ?? sample.value
        smoothed = value
        add(value, at: t)

        let beyond = configuration.direction.isBeyond(value, configuration.limit)
        if beyond { latest = nil }
        return evaluate(sample, beyond: beyond)
    }

    /// The stored points, oldest first (for tests and diagnostics).
    var storedPoints: [Sample] { ring.samples }

    // MARK: - Bucketing and fitting

    private mutating func add(_ value: Double, at t: Timestamp) {
        // Floor division, so buckets stay aligned to multiples of their length even before 1970.
        var index = t.milliseconds / bucketMs
        if t.milliseconds % bucketMs < 0 { index -= 1 }
        let offset = t.milliseconds - index * bucketMs
        if let open = bucket, open.index != index {
            // Samples arrive in order, so a new index means the open bucket is complete. Empty
            // buckets in a gap are simply never opened.
            ring.append(open.point)
            bucket = nil
            latest = makeForecast(now: t)
        }
        var open = bucket ?? OpenBucket(index: index, startMs: t.milliseconds - offset)
        open.count += 1
        open.offsetSumMs += Double(offset)
        open.valueSum += value
        bucket = open
    }

    /// Fits the points of the last `window` before `now` (the sample that closed a bucket).
    private func makeForecast(now: Timestamp) -> Forecast? {
        let c = configuration
        guard let newest = ring.latest else { return nil }
        // After a gap the ring still holds points from before it; those older than the window
        // do not count, so a long gap leaves no forecast until `minPoints` new buckets close.
        let points = ring.range(from: now - c.window, to: newest.timestamp)
        guard points.count >= c.minPoints, let first = points.first else { return nil }
        // Hours relative to the newest point, so the intercept is the fitted level there.
        let hours = points.map { Double($0.timestamp.milliseconds - newest.timestamp.milliseconds) / 3_600_000 }
        let values = points.map(\.value)
        guard let fit = TheilSenFit(times: hours, values: values, z: z) else { return nil }

        let towardsLimit: Double = c.direction == .above ? 1 : -1
        let steep = c.direction == .above ? fit.upperSlope : fit.lowerSlope
        let shallow = c.direction == .above ? fit.lowerSlope : fit.upperSlope
        // The whole band must point at the limit: that is the trend test.
        guard shallow * towardsLimit > 0 else { return nil }
        // Already beyond: not a forecast any more.
        guard !c.direction.isBeyond(fit.intercept, c.limit),
              let central = hoursToLimit(from: fit.intercept, slope: fit.slope)
        else { return nil }
        // Each bound gets its own robust intercept. All times are ≤ 0, so a steeper line sits
        // at least as close to the limit at the newest point: earliest ≤ central ≤ latest.
        let soonest = hoursToLimit(from: TheilSenFit.intercept(slope: steep, times: hours, values: values), slope: steep) ?? central
        let last = hoursToLimit(from: TheilSenFit.intercept(slope: shallow, times: hours, values: values), slope: shallow)
        return Forecast(
            timeToLimit: duration(hours: central),
            earliest: duration(hours: soonest),
            latest: last.map { duration(hours: $0) },
            slopePerHour: fit.slope,
            level: fit.intercept,
            fittedAt: newest.timestamp,
            windowStart: first.timestamp,
            points: points.count
        )
    }

    /// Hours until a line at `level` (at the newest point) with `slope` per hour reaches the
    /// limit; 0 when it is already there, nil when it never does or only absurdly far ahead.
    private func hoursToLimit(from level: Double, slope: Double) -> Double? {
        let distance = configuration.limit - level
        if configuration.direction.isBeyond(level, configuration.limit) || distance == 0 { return 0 }
        let hours = distance / slope
        guard hours.isFinite, hours > 0, hours <= Self.longestForecastHours else { return nil }
        return hours
    }

    private func duration(hours: Double) -> Duration {
        .milliseconds(Int64((hours * 3_600_000).rounded()))
    }

    // MARK: - Events

    private mutating func evaluate(_ sample: Sample, beyond: Bool) -> DetectorEvent? {
        let t = sample.timestamp
        let limit = configuration.limit
        // The crossing is a fixed instant, so the time left shrinks between refits.
        let remainingMs = latest.map { max(0, $0.predictedCrossing.milliseconds - t.milliseconds) }
        score = remainingMs.map { min(1, max(0, 1 - Double($0) / Double(horizonMs))) } ?? 0

        let withinHorizon = remainingMs.map { $0 <= horizonMs } ?? false
        let withinQuarter = remainingMs.map { $0 <= horizonMs / 4 } ?? false
        withinHorizonSince = withinHorizon ? (withinHorizonSince ?? t) : nil
        withinQuarterSince = withinQuarter ? (withinQuarterSince ?? t) : nil

        if let since = withinQuarterSince, active != .critical, held(since, t, minOnMs) {
            active = .critical
            quietSince = nil
            return DetectorEvent(transition: .raised, severity: .critical, at: t, since: since, value: sample.value, limit: limit)
        }
        if let since = withinHorizonSince, active == nil, held(since, t, minOnMs) {
            active = .warning
            quietSince = nil
            return DetectorEvent(transition: .raised, severity: .warning, at: t, since: since, value: sample.value, limit: limit)
        }
        guard let raised = active else { return nil }
        // Hysteresis: between 1 and 1.5 horizons neither raises nor counts towards the clear.
        let clearMs = Int64(Double(horizonMs) * Self.clearHorizonFactor)
        let quiet = !beyond && (remainingMs.map { $0 > clearMs } ?? true)
        guard quiet else {
            quietSince = nil
            return nil
        }
        let since = quietSince ?? t
        quietSince = since
        guard held(since, t, quietMs) else { return nil }
        active = nil
        quietSince = nil
        return DetectorEvent(transition: .cleared, severity: raised, at: t, since: since, value: sample.value, limit: limit)
    }

    @inline(__always)
    private func held(_ since: Timestamp, _ now: Timestamp, _ minimumMs: Int64) -> Bool {
        now.milliseconds - since.milliseconds >= minimumMs
    }

    // MARK: - Statistics

    /// The standard normal quantile Φ⁻¹(p) for 0 < p < 1, by the rational approximation of
    /// Abramowitz & Stegun 26.2.23 (error below 4.5e-4, ample for a confidence band).
    static func normalQuantile(_ p: Double) -> Double {
        precondition(p > 0 && p < 1, "normal quantile needs 0 < p < 1, got \(p)")
        let tail = min(p, 1 - p)
        let t = (-2 * log(tail)).squareRoot()
        let magnitude = t - (2.515517 + 0.802853 * t + 0.010328 * t * t)
            / (1 + 1.432788 * t + 0.189269 * t * t + 0.001308 * t * t * t)
        return p < 0.5 ? -magnitude : magnitude
    }
}

// MARK: - Checkpoints

extension TrendForecaster.Configuration: Codable {}
extension TrendForecaster.Forecast: Codable {}

/// Saves the configuration, the forecast and raise state, the smoothing, the open bucket and
/// the fitted points. The constants derived from the configuration (`alpha`, `z`, the
/// millisecond spans) are recomputed, not trusted from the checkpoint; a configuration that
/// `init` would refuse, or a ring that does not match it, fails to decode instead of trapping.
extension TrendForecaster: CheckpointedDetector {
    enum CodingKeys: String, CodingKey {
        case configuration
        case latest
        case active
        case score
        case lastTimestamp
        case smoothed
        case bucket
        case ring
        case withinHorizonSince
        case withinQuarterSince
        case quietSince
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let configuration = try c.decode(Configuration.self, forKey: .configuration)
        if let problem = Self.problem(with: configuration) {
            throw DecodingError.dataCorruptedError(forKey: .configuration, in: c, debugDescription: problem)
        }
        let ring = try c.decode(RingBuffer.self, forKey: .ring)
        guard ring.capacity == configuration.points, ring.lateToleranceMilliseconds == 0 else {
            throw DecodingError.dataCorruptedError(
                forKey: .ring, in: c,
                debugDescription: "a ring of \(ring.capacity) points (late tolerance \(ring.lateToleranceMilliseconds) ms) does not belong to a forecaster of \(configuration.points) points")
        }
        let bucket = try c.decodeIfPresent(OpenBucket.self, forKey: .bucket)
        if let bucket, bucket.count < 1 {
            throw DecodingError.dataCorruptedError(forKey: .bucket, in: c, debugDescription: "the open bucket has no samples")
        }
        self.init(configuration: configuration)
        self.ring = ring
        self.bucket = bucket
        latest = try c.decodeIfPresent(Forecast.self, forKey: .latest)
        active = try c.decodeIfPresent(Severity.self, forKey: .active)
        score = try c.decode(Double.self, forKey: .score)
        lastTimestamp = try c.decodeIfPresent(Timestamp.self, forKey: .lastTimestamp)
        smoothed = try c.decodeIfPresent(Double.self, forKey: .smoothed)
        withinHorizonSince = try c.decodeIfPresent(Timestamp.self, forKey: .withinHorizonSince)
        withinQuarterSince = try c.decodeIfPresent(Timestamp.self, forKey: .withinQuarterSince)
        quietSince = try c.decodeIfPresent(Timestamp.self, forKey: .quietSince)
    }
}

/// A Theil–Sen line with Sen's confidence band for its slope.
///
/// The slope is the median of the slopes between all pairs of points; the intercept is the
/// median of `y − slope · t`. The band takes, among the N sorted pairwise slopes, those of rank
/// (N − C) / 2 and (N + C) / 2 + 1 with C = z · √(n(n−1)(2n+5)/18), the normal approximation of
/// the Mann–Kendall statistic's spread (Sen 1968; Gilbert 1987, §16.5). Ties are not corrected
/// for, which only widens the band.
struct TheilSenFit: Sendable, Equatable {
    var slope: Double
    var lowerSlope: Double
    var upperSlope: Double
    /// The fitted value at t = 0.
    var intercept: Double

    /// Nil with fewer than two distinct times.
    init?(times: [Double], values: [Double], z: Double) {
        precondition(times.count == values.count, "a fit needs one value per time")
        let n = times.count
        var slopes: [Double] = []
        slopes.reserveCapacity(n * (n - 1) / 2)
        for i in 0..<n {
            for j in (i + 1)..<n where times[j] != times[i] {
                slopes.append((values[j] - values[i]) / (times[j] - times[i]))
            }
        }
        guard !slopes.isEmpty else { return nil }
        slopes.sort()

        let pairs = Double(slopes.count)
        let spread = z * (Double(n * (n - 1) * (2 * n + 5)) / 18).squareRoot()
        // Ranks are 1-based in the method; rounding outwards keeps the band conservative.
        let lowerRank = Int(((pairs - spread) / 2).rounded(.down))
        let upperRank = Int(((pairs + spread) / 2).rounded(.up)) + 1
        slope = Self.median(ofSorted: slopes)
        lowerSlope = slopes[min(max(lowerRank - 1, 0), slopes.count - 1)]
        upperSlope = slopes[min(max(upperRank - 1, 0), slopes.count - 1)]
        intercept = Self.intercept(slope: slope, times: times, values: values)
    }

    /// The robust intercept of a line with the given slope: the median of `y − slope · t`.
    static func intercept(slope: Double, times: [Double], values: [Double]) -> Double {
        Self.median(ofSorted: zip(times, values).map { t, y in y - slope * t }.sorted())
    }

    static func median(ofSorted xs: [Double]) -> Double {
        let mid = xs.count / 2
        return xs.count % 2 == 1 ? xs[mid] : (xs[mid - 1] + xs[mid]) / 2
    }
}
