import FieldwatchCore

/// Condition-monitoring features of one block of raw samples (a vibration waveform): RMS,
/// peak, crest factor and kurtosis, all about the block's mean so a DC offset of the sensor
/// does not count. One pass for the mean, one for the moments; no allocation.
public struct BlockFeatures: Sendable, Equatable {
    public var count: Int
    public var rms: Double
    public var peak: Double
    /// Peak / RMS; 0 for a block without variation.
    public var crestFactor: Double
    /// m4 / m2² (Pearson, not excess); 0 for a block without variation.
    public var kurtosis: Double

    /// Fewest samples a block needs for its moments to mean anything.
    public static let minimumCount = 8

    /// The features of `values`, or nil when there are fewer than `minimumCount` or any is not finite.
    public init?(_ values: [Double]) {
        guard values.count >= Self.minimumCount else { return nil }
        var sum = 0.0
        for v in values {
            guard v.isFinite else { return nil }
            sum += v
        }
        let n = Double(values.count)
        let mean = sum / n
        var m2 = 0.0
        var m4 = 0.0
        var peak = 0.0
        for v in values {
            let d = v - mean
            let d2 = d * d
            m2 += d2
            m4 += d2 * d2
            peak = max(peak, abs(d))
        }
        m2 /= n
        m4 /= n
        count = values.count
        rms = m2.squareRoot()
        self.peak = peak
        crestFactor = rms > 0 ? peak / rms : 0
        kurtosis = m2 > 0 ? m4 / (m2 * m2) : 0
    }

    public func value(_ feature: BlockFeature) -> Double {
        switch feature {
        case .rms: rms
        case .peak: peak
        case .crestFactor: crestFactor
        case .kurtosis: kurtosis
        }
    }
}
