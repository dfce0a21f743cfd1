import FieldwatchCore

/// Runs the detectors declared for each series. Value type, owned by one ingest pipeline;
/// bounded state (one detector per registered series), O(1) per sample.
public struct DetectionEngine: Sendable {
    struct SeriesDetectors: Sendable {
        var threshold: ThresholdDetector
        var lastTimestamp: Timestamp?
    }

    private var series: [SeriesKey: SeriesDetectors] = [:]

    public init() {}

    /// Declares the threshold detector of a series (replacing any earlier one).
    public mutating func register(_ key: SeriesKey, threshold: ThresholdDetector.Configuration) {
        series[key] = SeriesDetectors(threshold: ThresholdDetector(configuration: threshold))
    }

    public var registeredCount: Int { series.count }

    /// Feeds one sample to the series' detectors. Detectors see samples in timestamp order
    /// only: a late sample (older than the last one seen) is stored by the ring but not
    /// re-evaluated, because the decisions it would change have already been taken.
    public mutating func observe(_ sample: Sample, for key: SeriesKey) -> DetectorEvent? {
        guard var entry = series[key] else { return nil }
        if let last = entry.lastTimestamp, sample.timestamp < last { return nil }
        entry.lastTimestamp = sample.timestamp
        let event = entry.threshold.observe(sample)
        series[key] = entry
        return event
    }

    /// The level currently raised on a series, if any (for status views and tests).
    public func activeSeverity(for key: SeriesKey) -> Severity? {
        series[key]?.threshold.active
    }
}
