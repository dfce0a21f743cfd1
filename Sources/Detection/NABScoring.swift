import FieldwatchCore
import Foundation

/// The Numenta Anomaly Benchmark's scoring rule (NAB v1.1), implemented from its description
/// in ../shared/datasets/nab-dev/README.md: early detections inside a labelled window earn up
/// to A_tp, a missed window costs A_fn, and a false alarm costs up to A_fp depending on how far
/// it is from the window before it.
public enum NABScoring {
    /// An application profile: the weights of true positives, false positives and misses.
    public struct Profile: Sendable, Equatable {
        public var name: String
        public var tp: Double
        public var fp: Double
        public var fn: Double

        public init(name: String, tp: Double, fp: Double, fn: Double) {
            self.name = name
            self.tp = tp
            self.fp = fp
            self.fn = fn
        }

        public static let standard = Profile(name: "standard", tp: 1, fp: 0.11, fn: 1)
        public static let rewardLowFP = Profile(name: "reward_low_FP_rate", tp: 1, fp: 0.22, fn: 1)
        public static let rewardLowFN = Profile(name: "reward_low_FN_rate", tp: 1, fp: 0.11, fn: 2)
        public static let all = [standard, rewardLowFP, rewardLowFN]
    }

    /// One labelled anomaly window as row indices, first and last inclusive.
    public struct Window: Sendable, Equatable {
        public var first: Int
        public var last: Int
        public init(first: Int, last: Int) {
            self.first = first
            self.last = last
        }
        public var width: Int { last - first + 1 }
    }

    /// The result of scoring one file (or, summed, a corpus).
    public struct Result: Sendable, Equatable {
        public var raw = 0.0
        public var truePositives = 0
        public var falsePositives = 0
        public var falseNegatives = 0
        public var windows = 0
        public init() {}

        public static func + (a: Result, b: Result) -> Result {
            var r = a
            r.raw += b.raw
            r.truePositives += b.truePositives
            r.falsePositives += b.falsePositives
            r.falseNegatives += b.falseNegatives
            r.windows += b.windows
            return r
        }

        /// 100 · (raw − null) / (perfect − null); 0 when there are no windows.
        public func normalised(_ profile: Profile) -> Double {
            let null = -profile.fn * Double(windows)
            let perfect = profile.tp * Double(windows)
            return perfect == null ? 0 : 100 * (raw - null) / (perfect - null)
        }
    }

    /// σ(y) = 2 / (1 + e^(5y)) − 1, and −1 for y > 3.
    public static func sigmoid(_ y: Double) -> Double {
        y > 3 ? -1 : 2 / (1 + exp(5 * y)) - 1
    }

    /// The probationary period: the first 15 % of the rows, at most 750.
    public static func probation(rows: Int) -> Int { min(Int((0.15 * Double(rows)).rounded(.down)), 750) }

    /// Rows whose timestamps fall inside each `[start, end]` window.
    public static func windows(_ spans: [(start: Timestamp, end: Timestamp)], timestamps: [Timestamp]) -> [Window] {
        spans.compactMap { span in
            guard let first = timestamps.firstIndex(where: { $0 >= span.start }),
                  let last = timestamps.lastIndex(where: { $0 <= span.end }), first <= last
            else { return nil }
            return Window(first: first, last: last)
        }
    }

    /// Scores one file's detections (one flag per row) against its windows.
    public static func score(detections: [Bool], windows: [Window], profile: Profile) -> Result {
        var result = Result()
        result.windows = windows.count
        let start = probation(rows: detections.count)
        let sorted = windows.sorted { $0.first < $1.first }
        let scale = sigmoid(-1)
        var windowIndex = 0  // the first window not yet ended before the current row
        var detectedInWindow = Set<Int>()
        for (i, detected) in detections.enumerated() where detected && i >= start {
            while windowIndex < sorted.count && sorted[windowIndex].last < i { windowIndex += 1 }
            if windowIndex < sorted.count && sorted[windowIndex].first <= i {
                // Inside a window: only its first detection counts.
                let w = sorted[windowIndex]
                guard detectedInWindow.insert(windowIndex).inserted else { continue }
                let y = -Double(w.last - i + 1) / Double(w.width)
                result.raw += profile.tp * sigmoid(y) / scale
                result.truePositives += 1
            } else {
                // Outside: the cost depends on the distance to the window before, if any.
                result.falsePositives += 1
                guard windowIndex > 0 else {
                    result.raw -= profile.fp
                    continue
                }
                let previous = sorted[windowIndex - 1]
                let y = Double(i - previous.last) / Double(max(previous.width - 1, 1))
                result.raw += profile.fp * sigmoid(y)
            }
        }
        let missed = sorted.count - detectedInWindow.count
        result.falseNegatives = missed
        result.raw -= profile.fn * Double(missed)
        return result
    }

    /// The threshold (from `candidates`) that maximises the normalised corpus score.
    public static func bestThreshold(
        files: [(scores: [Double], windows: [Window])], profile: Profile, candidates: [Double]
    ) -> (threshold: Double, result: Result) {
        var best: (threshold: Double, result: Result)?
        for threshold in candidates {
            let total = files.reduce(Result()) { acc, file in
                acc + score(detections: file.scores.map { $0 >= threshold }, windows: file.windows, profile: profile)
            }
            if best == nil || total.normalised(profile) > best!.result.normalised(profile) { best = (threshold, total) }
        }
        return best ?? (1, Result())
    }

    /// A threshold grid: 0.01 steps, finer (0.001) above 0.9 where good detectors separate.
    public static let defaultThresholds: [Double] =
        stride(from: 0.0, through: 0.9, by: 0.01).map { $0 } + stride(from: 0.901, through: 1.0, by: 0.001).map { $0 }
}
