/// Identifiers are small string wrappers so a device id can never be passed where a site id is
/// expected. They are the vocabulary every module shares.

/// What every identifier is: a string with a type of its own, encoded as the bare string.
public protocol StringIdentifier: Hashable, Sendable, Codable, Comparable, ExpressibleByStringLiteral, CustomStringConvertible {
    var rawValue: String { get }
    init(_ rawValue: String)
}

extension StringIdentifier {
    public init(stringLiteral value: String) { self.init(value) }
    public init(from decoder: any Decoder) throws { self.init(try decoder.singleValueContainer().decode(String.self)) }
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
    public var description: String { rawValue }
    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// A site: one engineering works (a pumping station, a plant room, a tunnel section).
public struct SiteID: StringIdentifier {
    public let rawValue: String
    public init(_ rawValue: String) { self.rawValue = rawValue }
}

/// One piece of connected equipment (a pump, a chiller, an elevator).
public struct DeviceID: StringIdentifier {
    public let rawValue: String
    public init(_ rawValue: String) { self.rawValue = rawValue }
}

/// A sensor of a device, as named in its device profile (`bearing_temp`, `vibration_rms`).
public struct SensorKey: StringIdentifier {
    public let rawValue: String
    public init(_ rawValue: String) { self.rawValue = rawValue }
}

/// A fault in a profile's fault catalogue (`BEARING_OVERTEMP`). One open ticket exists per
/// (device, fault code).
public struct FaultCode: StringIdentifier {
    public let rawValue: String
    public init(_ rawValue: String) { self.rawValue = rawValue }
}

/// The time series of one sensor of one device.
public struct SeriesKey: Hashable, Sendable, CustomStringConvertible {
    public let device: DeviceID
    public let sensor: SensorKey
    /// The two names hashed once, at creation. Every sample looks its series up in several
    /// tables (ring, detectors, arrival times), and hashing two strings each time was the top
    /// symbol of the per-sample profile; the keys the pipeline uses are made once, at start-up.
    private let nameHash: Int

    public init(device: DeviceID, sensor: SensorKey) {
        self.device = device
        self.sensor = sensor
        var hasher = Hasher()
        hasher.combine(device)
        hasher.combine(sensor)
        nameHash = hasher.finalize()
    }

    public func hash(into hasher: inout Hasher) { hasher.combine(nameHash) }

    public static func == (a: Self, b: Self) -> Bool {
        a.nameHash == b.nameHash && a.device == b.device && a.sensor == b.sensor
    }

    public var description: String { "\(device)/\(sensor)" }
}

extension FaultCode {
    /// A sensor with a reporting period sent nothing within its `stale_after`.
    public static let sensorStale = FaultCode("SENSOR_STALE")
    /// The device said it is offline, or its MQTT last will did.
    public static let deviceOffline = FaultCode("DEVICE_OFFLINE")
    /// A sensor's value has not moved for longer than physics allows.
    public static let sensorStuck = FaultCode("SENSOR_STUCK")
    /// A sensor that keeps reading outside its physical range: broken, saturated or miswired.
    public static let sensorOutOfRange = FaultCode("SENSOR_OUT_OF_RANGE")
    /// Every device of a site is out of contact at once: the site's network or power, not the devices.
    public static let siteOffline = FaultCode("SITE_OFFLINE")
    /// A customer reported a fault without naming one from the catalogue.
    public static let customerReported = FaultCode("CUSTOMER_REPORTED")
    /// A reading moving faster than its profile allows (rate_of_change detector).
    public static let rateOfChange = FaultCode("RATE_OF_CHANGE")
    /// A sustained level shift within the limits (change_point detector).
    public static let levelShift = FaultCode("LEVEL_SHIFT")
    /// Unusual behaviour against the sensor's learnt normal (anomaly detector).
    public static let anomaly = FaultCode("ANOMALY")

    /// No contact with a device; a site-offline ticket absorbs these.
    public var isLossOfContact: Bool { self == .sensorStale || self == .deviceOffline }
    /// About the measurement or the link rather than the machine: never grouped with machine faults.
    public var isSensorOrLinkHealth: Bool { isLossOfContact || self == .sensorStuck || self == .sensorOutOfRange || self == .siteOffline }
}
