import FieldwatchCore

/// Unusual behaviour of a sensor that breaks no limit: the adaptive baseline's score
/// (`GaugeAnomalyScorer`: spikes, level shifts, volatility and the hour-of-day pattern, each
/// against its own record) turned into events.
///
/// It raises when a sample's score reaches `threshold` (0.75: three times as surprising as the
/// worst seen so far), and clears once no sample has scored 0.5 or more for `quietPeriod`, so
/// a restless hour is one event, not twenty. Pure: no I/O, no clock.
public struct AnomalyDetector: Sendable, Codable {
    public static let name = GaugeAnomalyScorer.name
    public static let version = GaugeAnomalyScorer.version

    public struct Configuration: Sendable, Equatable, Codable {
        public var threshold: Double
        public var quietPeriod: Duration
        public init(threshold: Double = 0.75, quietPeriod: Duration = .seconds(3600)) {
            self.threshold = threshold
            self.quietPeriod = quietPeriod
        }
    }

    public let configuration: Configuration
    public private(set) var active = false
    /// The last sample's score.
    public private(set) var score = 0.0
    private var scorer = GaugeAnomalyScorer()
    private var lastHigh: Timestamp?
    private var lastTimestamp: Timestamp?

    public init(configuration: Configuration = .init()) {
        self.configuration = configuration
    }

    public mutating func observe(_ sample: Sample) -> DetectorEvent? {
        guard sample.value.isFinite else { return nil }
        let t = sample.timestamp
        if let last = lastTimestamp, t < last { return nil }
        lastTimestamp = t
        score = scorer.score(sample)
        if score >= 0.5 { lastHigh = t }
        if !active && score >= configuration.threshold {
            active = true
            return DetectorEvent(transition: .raised, severity: .warning, at: t, since: t, value: sample.value, limit: score)
        }
        if active, let quietFrom = lastHigh, t - quietFrom >= configuration.quietPeriod {
            active = false
            return DetectorEvent(transition: .cleared, severity: .warning, at: t, since: quietFrom, value: sample.value, limit: score)
        }
        return nil
    }
}
