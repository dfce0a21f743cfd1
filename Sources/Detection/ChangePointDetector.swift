import FieldwatchCore
import Foundation

/// A sustained shift of a reading's level that stays inside its limits: a motor drawing 15 %
/// more current since Tuesday, a discharge pressure a little lower every day. Single samples
/// are unremarkable; their sum is not.
///
/// Two-sided CUSUM (Page 1954) on the reading standardised against a robust, slowly learning
/// baseline: each sample adds `z − drift` to the upper sum and `−z − drift` to the lower one,
/// floored at zero, so noise cancels out and a shift of more than `drift` standard deviations
/// accumulates. It raises when a sum passes `threshold`. The baseline keeps learning (values
/// clipped to four standard deviations), so once the new level has become normal the sums
/// fall; it clears after both sums have stayed below half the threshold for `quietPeriod`.
/// Bounded state, O(1) per sample. Pure: no I/O, no clock.
public struct ChangePointDetector: Sendable, Codable {
    public static let name = "cusum"
    public static let version = 1

    public struct Configuration: Sendable, Equatable, Codable {
        /// Shift (in standard deviations) the sums tolerate per sample: half the smallest shift worth seeing.
        public var drift: Double
        /// Sum (in standard deviations) that raises.
        public var threshold: Double
        /// Samples the baseline learns over.
        public var baselineSpan: Double
        /// Samples before the baseline is trusted.
        public var warmup: Int
        public var quietPeriod: Duration

        public init(drift: Double = 0.5, threshold: Double = 12, baselineSpan: Double = 2000, warmup: Int = 100,
                    quietPeriod: Duration = .seconds(1800)) {
            self.drift = drift
            self.threshold = threshold
            self.baselineSpan = baselineSpan
            self.warmup = warmup
            self.quietPeriod = quietPeriod
        }
    }

    public let configuration: Configuration
    public private(set) var active = false
    /// How far the larger sum is towards the threshold, in [0, 1].
    public private(set) var score = 0.0
    /// The baseline's level: what the shift is measured from.
    public var mean: Double { baseline.mean }
    private var baseline: RobustBaseline
    private var upper = 0.0
    private var lower = 0.0
    /// When each sum last left zero: the shift's start.
    private var upperSince: Timestamp?
    private var lowerSince: Timestamp?
    private var quietSince: Timestamp?
    private var lastTimestamp: Timestamp?

    public init(configuration: Configuration = .init()) {
        self.configuration = configuration
        baseline = RobustBaseline(span: configuration.baselineSpan, warmup: configuration.warmup, clip: 4)
    }

    public mutating func observe(_ sample: Sample) -> DetectorEvent? {
        let x = sample.value
        let t = sample.timestamp
        guard x.isFinite else { return nil }
        if let last = lastTimestamp, t < last { return nil }
        lastTimestamp = t
        // The level before this sample is what a shift is measured from.
        let level = baseline.mean
        var event: DetectorEvent?
        if let z = baseline.deviation(x) {
            // Capped at twice the threshold, so the way back after the baseline has
            // re-learnt is bounded however long the shift lasted.
            upper = min(max(0, upper + z - configuration.drift), 2 * configuration.threshold)
            lower = min(max(0, lower - z - configuration.drift), 2 * configuration.threshold)
            upperSince = upper > 0 ? (upperSince ?? t) : nil
            lowerSince = lower > 0 ? (lowerSince ?? t) : nil
            let larger = max(upper, lower)
            score = min(1, larger / configuration.threshold)
            if !active && larger > configuration.threshold {
                active = true
                quietSince = nil
                // The event's limit is the level the reading shifted away from.
                event = DetectorEvent(transition: .raised, severity: .warning, at: t, since: (upper >= lower ? upperSince : lowerSince) ?? t,
                                      value: x, limit: level)
            } else if active {
                if larger < configuration.threshold / 2 {
                    let since = quietSince ?? t
                    quietSince = since
                    if t - since >= configuration.quietPeriod {
                        active = false
                        quietSince = nil
                        event = DetectorEvent(transition: .cleared, severity: .warning, at: t, since: since, value: x, limit: level)
                    }
                } else {
                    quietSince = nil
                }
            }
        }
        return event
    }
}
