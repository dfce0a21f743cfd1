import FieldwatchCore

/// What Fieldwatch knows about one kind of equipment: its sensors, their physical ranges and
/// limits. Profiles are data (YAML under `DeviceProfiles/`), separate from device instances.
public struct DeviceProfile: Sendable, Equatable {
    public static let schemaVersion = 1

    public var id: String
    public var version: Int
    public var name: String
    public var manufacturer: String?
    public var model: String?
    public var category: String
    /// How much a failure hurts, 1 (nuisance) to 5 (safety or whole-site outage).
    public var criticality: Int
    public var sensors: [SensorSpec]
    /// The file the profile was read from (for messages).
    public var sourceFile: String

    public init(
        id: String, version: Int, name: String, manufacturer: String? = nil, model: String? = nil, category: String,
        criticality: Int, sensors: [SensorSpec], sourceFile: String
    ) {
        self.id = id
        self.version = version
        self.name = name
        self.manufacturer = manufacturer
        self.model = model
        self.category = category
        self.criticality = criticality
        self.sensors = sensors
        self.sourceFile = sourceFile
    }

    public func sensor(_ key: SensorKey) -> SensorSpec? {
        sensors.first { $0.key == key }
    }
}

/// One sensor of a profile.
public struct SensorSpec: Sendable, Equatable {
    public var key: SensorKey
    public var name: String
    /// SenML / UCUM unit code (`Cel`, `mm/s`, `A`, `bar`).
    public var unit: String
    /// Physically possible values; anything outside is a sensor or wiring fault, not a reading.
    public var validRange: ClosedRange<Double>
    /// Typical value in normal operation (used by the simulator; optional).
    public var nominal: Double?
    public var limits: LimitSpec?

    public init(key: SensorKey, name: String, unit: String, validRange: ClosedRange<Double>, nominal: Double? = nil, limits: LimitSpec? = nil) {
        self.key = key
        self.name = name
        self.unit = unit
        self.validRange = validRange
        self.nominal = nominal
        self.limits = limits
    }
}

/// Warning and critical limits of a sensor, with hysteresis and a minimum duration.
public struct LimitSpec: Sendable, Equatable {
    public var direction: LimitDirection
    public var warning: Double?
    public var critical: Double?
    /// Level the value must return past before the fault clears.
    public var clear: Double
    /// How long a limit must hold before it fires (and the safe side before it clears).
    public var minDuration: Duration
    /// The fault this limit reports (`BEARING_OVERTEMP`).
    public var faultCode: FaultCode

    public init(direction: LimitDirection, warning: Double?, critical: Double?, clear: Double, minDuration: Duration, faultCode: FaultCode) {
        self.direction = direction
        self.warning = warning
        self.critical = critical
        self.clear = clear
        self.minDuration = minDuration
        self.faultCode = faultCode
    }

    /// The limit closest to normal operation (the warning if there is one).
    public var firstLimit: Double { warning ?? critical ?? clear }

    public static let defaultMinDuration: Duration = .seconds(30)
}

/// Unit codes accepted in profiles: the SenML registry (RFC 8428 §12.1, RFC 8798) plus the
/// UCUM codes that equipment data sheets use and SenML lacks (`bar`, `mm/s`, `m3/h`).
public enum SensorUnits {
    public static let all: Set<String> = [
        "m", "kg", "g", "s", "A", "K", "Hz", "rad", "N", "Pa", "J", "W", "C", "V", "F", "Ohm", "S", "T", "H",
        "Cel", "lx", "m2", "m3", "l", "m/s", "m/s2", "m3/s", "l/s", "W/m2", "bit", "bit/s", "pH", "dB", "dBW",
        "count", "/", "%", "%RH", "%EL", "EL", "1/s", "1/min", "ms", "min", "h", "MHz", "kW", "kVA", "kvar",
        "var", "VA", "Ah", "Wh", "kWh", "mV", "mA", "dBm", "ug/m3", "mm/h", "m/h", "ppm", "km/h",
        "bar", "mbar", "kPa", "MPa", "mm/s", "um", "mm", "m3/h", "l/min", "Nm", "kN", "g/m3", "mg/l", "uS/cm", "NTU",
    ]
}
