import FieldwatchCore
import Foundation

/// The default anomaly score of a generic gauge, in [0, 1] per sample, streaming: a sample's
/// score depends only on the samples before it.
///
/// Two exponentially weighted baselines, a fast one (recent level) and a slow one (what normal
/// has looked like), each measure how many standard deviations the new value lies away; the
/// score is the larger, scaled so that `zFull` deviations score 1. Outliers are clipped before they update a baseline, so one spike does
/// not teach the detector that spikes are normal. After a high score, further high scores are
/// damped for `holdoff` samples: one event should raise one alarm. Bounded state, O(1) per sample.
public struct GaugeAnomalyScorer: Sendable {
    public static let name = "gauge-surprise"
    public static let version = 1

    public struct Configuration: Sendable, Equatable {
        public var fastSpan: Double = 60
        public var slowSpan: Double = 600
        public var warmup = 50
        public var holdoff = 150
        /// z-score that maps to an anomaly score of 1 (the score is z / zFull, capped).
        public var zFull = 12.0
        public var highScore = 0.5

        public init() {}
    }

    struct Baseline: Sendable {
        let alpha: Double
        var mean = 0.0
        var variance = 0.0
        var count = 0

        init(span: Double) { alpha = 2 / (span + 1) }

        /// Distance from the baseline in standard deviations.
        func surprise(_ x: Double, floor: Double) -> Double {
            guard count > 1 else { return 0 }
            return abs(x - mean) / max(variance.squareRoot(), floor)
        }

        mutating func update(_ x: Double, floor: Double) {
            count += 1
            if count == 1 {
                mean = x
                return
            }
            // Until the baseline has seen its span, average over what it has seen (a plain
            // running mean and variance), so an early estimate is not biased towards zero spread.
            let a = max(alpha, 1 / Double(count))
            let sd = max(variance.squareRoot(), floor)
            // Clip outliers once the spread is known, so one spike does not teach that spikes are normal.
            let clipped = count > 10 ? min(max(x, mean - 4 * sd), mean + 4 * sd) : x
            let delta = clipped - mean
            mean += a * delta
            variance = (1 - a) * (variance + a * delta * delta)
        }
    }

    public let configuration: Configuration
    private var fast: Baseline
    private var slow: Baseline
    private var seen = 0
    private var quietUntil = 0
    /// Smallest spread considered, relative to the typical magnitude (avoids dividing by zero
    /// on flat signals, where any change is then a surprise).
    private var magnitude = 0.0

    public init(configuration: Configuration = .init()) {
        self.configuration = configuration
        fast = Baseline(span: configuration.fastSpan)
        slow = Baseline(span: configuration.slowSpan)
    }

    public mutating func score(_ x: Double) -> Double {
        guard x.isFinite else { return 0 }
        seen += 1
        magnitude += (abs(x) - magnitude) / Double(min(seen, 1000))
        let floor = max(magnitude * 1e-3, 1e-9)
        var s = min(1, max(fast.surprise(x, floor: floor), slow.surprise(x, floor: floor)) / configuration.zFull)
        fast.update(x, floor: floor)
        slow.update(x, floor: floor)
        if seen <= configuration.warmup { return 0 }
        if s >= configuration.highScore {
            if seen < quietUntil {
                s = min(s, 0.5)
            } else {
                quietUntil = seen + configuration.holdoff
            }
        }
        return s
    }
}
