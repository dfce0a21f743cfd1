/// One reading of one sensor: 16 bytes, stored by value in the ring buffer.
public struct Sample: Hashable, Sendable, Codable {
    public var timestamp: Timestamp
    public var value: Double

    public init(timestamp: Timestamp, value: Double) {
        self.timestamp = timestamp
        self.value = value
    }

    enum CodingKeys: String, CodingKey {
        case timestamp = "ts"
        case value = "v"
    }
}

/// Which side of a limit is bad.
public enum LimitDirection: String, Sendable, Codable, CaseIterable {
    /// Values above the limit are bad (temperature, vibration, current).
    case above
    /// Values below the limit are bad (suction pressure, oil level).
    case below

    /// Whether `value` is beyond `limit` on the bad side.
    @inlinable
    public func isBeyond(_ value: Double, _ limit: Double) -> Bool {
        self == .above ? value > limit : value < limit
    }
}

/// How bad a detection is, before customer tier and equipment criticality are considered.
public enum Severity: Int, Sendable, Codable, Comparable, CaseIterable, CustomStringConvertible {
    case warning = 1
    case critical = 2

    public static func < (lhs: Severity, rhs: Severity) -> Bool { lhs.rawValue < rhs.rawValue }
    public var description: String { self == .warning ? "warning" : "critical" }
}

/// A feature computed over a block of raw samples (a vibration waveform), reported as a
/// sensor of its own.
public enum BlockFeature: String, Sendable, Codable, CaseIterable {
    /// Root mean square about the block's mean: the signal's energy (overall vibration level).
    case rms
    /// Largest distance from the mean.
    case peak
    /// Peak / RMS: impacts (a damaged bearing race) raise it before they raise the RMS.
    case crestFactor = "crest_factor"
    /// Fourth standardised moment (3 for Gaussian noise, 1.5 for a pure sine): impulsiveness.
    case kurtosis
}
