import Detection
import FieldwatchCore
import Profiles

extension DetectionEngine {
    /// Registers a profile's detector of one sensor for each of `keys` (a sensor's real and
    /// drill series), turning the profile's parameters into the detector's configuration.
    /// Returns which engine source it became and, for behaviour detectors, the fault it
    /// reports; nil when the sensor cannot carry it (a limit detector on a sensor without limits).
    @discardableResult
    public mutating func register(_ detector: DetectorSpec, of spec: SensorSpec, for keys: [SeriesKey]) -> (source: Source, fault: FaultCode?)? {
        let p = detector.parameters
        func seconds(_ name: String, _ fallback: Duration) -> Duration { p[name].map { .milliseconds(Int64($0 * 1000)) } ?? fallback }
        switch detector.type {
        case .threshold:
            guard let limits = spec.limits else { return nil }
            let c = ThresholdDetector.Configuration(direction: limits.direction, warning: limits.warning, critical: limits.critical,
                                                    clear: limits.clear, minDuration: limits.minDuration)
            for key in keys { register(key, threshold: c) }
            return (.threshold, nil)
        case .forecast:
            guard let limits = spec.limits, let limit = limits.critical ?? limits.warning else { return nil }
            var c = TrendForecaster.Configuration(direction: limits.direction, limit: limit)
            c.horizon = seconds("horizon", c.horizon)
            c.window = seconds("window", c.window)
            c.confidence = p["confidence"] ?? c.confidence
            // Each fitted point is already the mean of its bucket (mean time, mean value), which
            // smooths without the lag an exponential average would add to a ramp.
            c.smoothing = 1
            for key in keys { register(key, forecast: c) }
            return (.forecast, nil)
        case .flatline:
            let d = FlatlineDetector.Configuration()
            let c = FlatlineDetector.Configuration(minSamples: p["min_samples"].map { max(2, Int($0)) } ?? d.minSamples,
                                                   minDuration: seconds("min_duration", d.minDuration), tolerance: p["tolerance"] ?? d.tolerance)
            for key in keys { register(key, flatline: c) }
            return (.flatline, nil)
        case .rateOfChange:
            let c = RateOfChangeDetector.Configuration(
                maxRisePerMinute: p["max_rise"], maxFallPerMinute: p["max_fall"], window: seconds("window", .seconds(60)),
                minDuration: seconds("min_duration", .zero), quietPeriod: seconds("quiet", .seconds(300)))
            for key in keys { register(key, rateOfChange: c) }
            return (.rateOfChange, detector.reportedFault)
        case .changePoint:
            let d = ChangePointDetector.Configuration()
            let c = ChangePointDetector.Configuration(drift: p["drift"] ?? d.drift, threshold: p["threshold"] ?? d.threshold,
                                                      baselineSpan: p["span"] ?? d.baselineSpan, warmup: d.warmup, quietPeriod: seconds("quiet", d.quietPeriod))
            for key in keys { register(key, changePoint: c) }
            return (.changePoint, detector.reportedFault)
        case .anomaly:
            let d = AnomalyDetector.Configuration()
            let c = AnomalyDetector.Configuration(threshold: p["threshold"] ?? d.threshold, quietPeriod: seconds("quiet", d.quietPeriod))
            for key in keys { register(key, anomaly: c) }
            return (.anomaly, detector.reportedFault)
        }
    }
}
