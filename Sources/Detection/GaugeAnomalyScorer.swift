import FieldwatchCore
import Foundation

/// The default anomaly score of a generic gauge, in [0, 1] per sample, streaming: a sample's
/// score depends only on the samples before it. Bounded state (about 70 numbers), O(1) per sample.
///
/// It asks one question five ways: *is this the most surprising thing this sensor has done in
/// a long while?*
///
/// 1. **Spike**: how far the value lies from an adaptive baseline, in standard deviations.
/// 2. **Level shift**: the same for the mean of the last 10 samples, which sees a sustained
///    step or a rise in spike density that single samples hide in their noise.
/// 3. **Volatility**: the same for the mean absolute step of the last 10 samples, which sees a
///    signal that starts to shake or falls silent without changing its level.
/// 4. **Daily season**: the same for the distance from what this hour of the day usually reads,
///    so a normal daily load cycle is not an anomaly and a normal-looking value at the wrong hour is.
/// 5. **Weekly season**: the same for this hour of the week, so a quiet Sunday is normal and a
///    busy one is not.
///
/// Each baseline is robust: a new value is clipped to four standard deviations before it teaches
/// the baseline, so one spike does not make spikes normal. Each feature's surprise is then
/// compared with the largest surprise that feature has shown before (a record that fades over
/// `recordMemory` samples): the ratio `r` is the score's core, reported as `r / (1 + r)`, so
/// **0.5 means "as surprising as the worst seen so far"** in every sensor, whatever its units,
/// noise or spikiness. That calibration is what lets one threshold serve every sensor.
///
/// One event should raise one alarm: within `holdoff` samples of a high score, a score that
/// does not beat it is halved.
public struct GaugeAnomalyScorer: Sendable, Codable {
    public static let name = "record-surprise"
    public static let version = 3

    public struct Configuration: Sendable, Equatable, Codable {
        /// Span (samples) of the adaptive baselines.
        public var baselineSpan: Double = 1000
        /// Samples a baseline must see before it scores.
        public var baselineWarmup = 20
        /// Values are clipped to this many standard deviations before they update a baseline.
        public var clip = 4.0
        /// Samples in the short windows of the level-shift and volatility features.
        public var shortWindow = 10
        /// How fast an hour-of-day slot follows what it sees (per visit).
        public var seasonRate = 0.2
        /// Samples over which a feature's record surprise fades by a factor e.
        public var recordMemory = 20_000.0
        /// Samples before records are trusted enough to score against.
        public var recordWarmup = 100
        /// Samples after a high score during which lower scores are halved.
        public var holdoff = 100

        public init() {}
    }

    /// The mean of the last `capacity` inputs (fewer at the start).
    struct WindowMean: Sendable, Codable {
        private var values: [Double]
        private var next = 0
        private var filled = 0
        private var sum = 0.0

        init(capacity: Int) { values = Array(repeating: 0, count: max(capacity, 1)) }

        mutating func add(_ x: Double) -> Double {
            if filled == values.count { sum -= values[next] } else { filled += 1 }
            values[next] = x
            sum += x
            next = (next + 1) % values.count
            return sum / Double(filled)
        }
    }

    /// The largest surprise seen so far, fading slowly, and the ratio of a new one to it.
    struct Record: Sendable, Codable {
        var largest = 0.0

        mutating func ratio(_ z: Double, fade: Double, scoring: Bool) -> Double {
            let r = scoring && largest > 0 ? z / largest : 0
            largest = max(largest * fade, z)
            return r
        }
    }

    public let configuration: Configuration
    private let fade: Double
    private var seen = 0
    private var previous: Double?
    // The four features: a baseline and a record each.
    private var baselines: [RobustBaseline]
    private var records = [Record](repeating: Record(), count: 5)
    private var levelWindow: WindowMean
    private var stepWindow: WindowMean
    /// What each hour of the day, and of the week (UTC), usually reads; nil until first seen.
    private var hourly = [Double?](repeating: nil, count: 24)
    private var weekly = [Double?](repeating: nil, count: 168)
    // Holdoff: the score to beat, until when.
    private var peak = 0.0
    private var peakUntil = -1

    public init(configuration: Configuration = .init()) {
        self.configuration = configuration
        fade = exp(-1 / configuration.recordMemory)
        baselines = Array(repeating: RobustBaseline(span: configuration.baselineSpan, warmup: configuration.baselineWarmup,
                                              clip: configuration.clip), count: 5)
        levelWindow = WindowMean(capacity: configuration.shortWindow)
        stepWindow = WindowMean(capacity: configuration.shortWindow)
    }

    /// Scores one sample (in timestamp order). A non-finite value scores 0 and teaches nothing.
    public mutating func score(_ sample: Sample) -> Double {
        let x = sample.value
        guard x.isFinite else { return 0 }
        let step = previous.map { abs(x - $0) } ?? 0
        previous = x
        // Epoch hour 0 was a Thursday: hour of the week counted from Monday 00:00.
        let ms = sample.timestamp.milliseconds
        let epochHour = Int(ms >= 0 ? ms / 3_600_000 : (ms - 3_599_999) / 3_600_000)
        let daily = Self.residual(x, &hourly[((epochHour % 24) + 24) % 24], rate: configuration.seasonRate)
        let weekly = Self.residual(x, &weekly[((epochHour + 72) % 168 + 168) % 168], rate: configuration.seasonRate)
        let scoring = seen >= configuration.recordWarmup
        var ratio = 0.0
        func feature(_ i: Int, _ value: Double) {
            let z = baselines[i].surprise(value)
            ratio = max(ratio, records[i].ratio(z, fade: fade, scoring: scoring))
        }
        feature(0, x)
        feature(1, levelWindow.add(x))
        feature(2, stepWindow.add(step))
        feature(3, daily)
        feature(4, weekly)
        seen += 1
        return holdoff(ratio / (1 + ratio))
    }

    /// The distance of `x` from what its season slot usually reads (0 the first time), then
    /// teaches the slot.
    private static func residual(_ x: Double, _ slot: inout Double?, rate: Double) -> Double {
        guard let usual = slot else {
            slot = x
            return 0
        }
        slot = usual + rate * (x - usual)
        return x - usual
    }

    /// Within `holdoff` samples of a score, one that does not beat it is halved; a new best
    /// restarts the period.
    private mutating func holdoff(_ s: Double) -> Double {
        let index = seen
        let inHoldoff = index <= peakUntil
        let reported = inHoldoff && s <= peak ? s / 2 : s
        if !inHoldoff { peak = 0 }
        if s > peak && s > 0 {
            peak = s
            peakUntil = index + configuration.holdoff - 1
        }
        return reported
    }
}
