import FieldwatchCore

/// An exponentially weighted mean and variance that starts as a plain running mean (so an
/// early estimate is not biased towards zero spread) and clips outliers once it is warm, so
/// one spike does not teach it that spikes are normal. Shared by the anomaly score's features
/// and the change-point detector.
struct RobustBaseline: Sendable, Codable {
    let alpha: Double
    let warmup: Int
    let clip: Double
    private(set) var mean = 0.0
    private var variance = 0.0
    private var count = 0
    /// Typical magnitude of the input, which sets the smallest spread considered (a flat
    /// signal would otherwise divide by zero, and any change would be infinitely surprising).
    private var magnitude = 0.0

    init(span: Double, warmup: Int, clip: Double) {
        alpha = 2 / (span + 1)
        self.warmup = warmup
        self.clip = clip
    }

    /// Signed distance of `x` from the baseline in standard deviations (nil while warming
    /// up), then learns `x` (clipped).
    mutating func deviation(_ x: Double) -> Double? {
        magnitude += (abs(x) - magnitude) / Double(min(count + 1, 1000))
        let sd = max(variance.squareRoot(), max(magnitude * 1e-3, 1e-9))
        let warm = count > warmup
        let z = warm ? (x - mean) / sd : nil
        learn(warm ? min(max(x, mean - clip * sd), mean + clip * sd) : x)
        return z
    }

    /// Unsigned distance in standard deviations (0 while warming up), then learns `x`.
    mutating func surprise(_ x: Double) -> Double { abs(deviation(x) ?? 0) }

    private mutating func learn(_ x: Double) {
        count += 1
        if count == 1 {
            mean = x
            return
        }
        let a = max(alpha, 1 / Double(count))
        let delta = x - mean
        mean += a * delta
        variance = (1 - a) * (variance + a * delta * delta)
    }
}
