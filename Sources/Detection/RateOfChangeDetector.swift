import FieldwatchCore

/// A reading that moves too fast, whatever its level: a bearing heating 5 °C a minute is in
/// trouble long before it reaches its limit, and a pressure falling 1 bar a minute is a burst.
///
/// The rate is measured between the means of consecutive windows of sample time (mean value
/// over mean time), so noise averages out and state stays O(1): two running sums. It is
/// evaluated once per window. It raises once the rate has been beyond a limit for
/// `minDuration`, and clears after it has stayed within the limits for `quietPeriod`. Pure: no
/// I/O, no clock.
public struct RateOfChangeDetector: Sendable, Codable {
    public static let name = "rate-of-change"
    public static let version = 1

    public struct Configuration: Sendable, Equatable, Codable {
        /// Largest normal rise, in the sensor's unit per minute (nil: rises are not watched).
        public var maxRisePerMinute: Double?
        /// Largest normal fall, in the sensor's unit per minute, as a positive number.
        public var maxFallPerMinute: Double?
        public var window: Duration
        public var minDuration: Duration
        public var quietPeriod: Duration

        public init(maxRisePerMinute: Double?, maxFallPerMinute: Double?, window: Duration = .seconds(60),
                    minDuration: Duration = .zero, quietPeriod: Duration = .seconds(300)) {
            self.maxRisePerMinute = maxRisePerMinute
            self.maxFallPerMinute = maxFallPerMinute
            self.window = window
            self.minDuration = minDuration
            self.quietPeriod = quietPeriod
        }
    }

    /// Running sums of one window; times relative to its start keep them exact.
    struct WindowMean: Sendable, Codable {
        var start: Timestamp
        var count = 0
        var offsetSum = 0.0
        var valueSum = 0.0

        init(first sample: Sample) {
            start = sample.timestamp
            add(sample)
        }

        mutating func add(_ sample: Sample) {
            count += 1
            offsetSum += Double(sample.timestamp.milliseconds - start.milliseconds)
            valueSum += sample.value
        }

        /// Mean time in epoch milliseconds.
        var meanTime: Double { Double(start.milliseconds) + offsetSum / Double(count) }
        var meanValue: Double { valueSum / Double(count) }
    }

    public let configuration: Configuration
    public private(set) var active = false
    /// The last measured rate, unit per minute.
    public private(set) var rate: Double?
    /// How far the last rate went towards its limit: 0 at rest, 1 at the limit and beyond.
    public private(set) var score = 0.0
    private var current: WindowMean?
    private var previous: WindowMean?
    private var beyondSince: Timestamp?
    private var withinSince: Timestamp?
    private var lastTimestamp: Timestamp?

    public init(configuration: Configuration) {
        self.configuration = configuration
    }

    public mutating func observe(_ sample: Sample) -> DetectorEvent? {
        guard sample.value.isFinite else { return nil }
        let t = sample.timestamp
        if let last = lastTimestamp, t < last { return nil }
        lastTimestamp = t
        guard let window = current else {
            current = WindowMean(first: sample)
            return nil
        }
        guard t - window.start >= configuration.window else {
            current?.add(sample)
            return nil
        }
        // The window is complete: this sample opens the next one.
        let before = previous
        previous = window
        current = WindowMean(first: sample)
        guard let before else { return nil }
        let minutes = (window.meanTime - before.meanTime) / 60_000
        return minutes > 0 ? judge((window.meanValue - before.meanValue) / minutes, at: t) : nil
    }

    private mutating func judge(_ perMinute: Double, at t: Timestamp) -> DetectorEvent? {
        rate = perMinute
        let limit = perMinute >= 0 ? configuration.maxRisePerMinute : configuration.maxFallPerMinute.map { -$0 }
        let beyond = limit.map { abs(perMinute) > abs($0) } ?? false
        score = limit.map { min(1, abs(perMinute) / max(abs($0), .leastNonzeroMagnitude)) } ?? 0
        if beyond {
            withinSince = nil
            let since = beyondSince ?? t
            beyondSince = since
            if !active && t - since >= configuration.minDuration, let limit {
                active = true
                return DetectorEvent(transition: .raised, severity: .warning, at: t, since: since, value: perMinute, limit: limit)
            }
            return nil
        }
        beyondSince = nil
        guard active else { return nil }
        let since = withinSince ?? t
        withinSince = since
        guard t - since >= configuration.quietPeriod else { return nil }
        active = false
        withinSince = nil
        return DetectorEvent(transition: .cleared, severity: .warning, at: t, since: since, value: perMinute,
                             limit: perMinute >= 0 ? (configuration.maxRisePerMinute ?? 0) : -(configuration.maxFallPerMinute ?? 0))
    }
}
