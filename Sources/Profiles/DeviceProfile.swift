import FieldwatchCore
import Foundation

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
    /// Detectors declared explicitly; sensors not named here get their kind's defaults
    /// (see `effectiveDetectors`).
    public var detectors: [DetectorSpec]
    /// What can go wrong with this equipment and how it is fixed.
    public var faults: [FaultSpec]
    /// Multi-sensor rules: several sensors moving together name a fault none shows alone.
    public var rules: [RuleSpec]
    /// How to tell the machine running from stopped, when the profile says.
    public var operatingState: OperatingStateSpec?
    /// The file the profile was read from (for messages).
    public var sourceFile: String

    public init(
        id: String, version: Int, name: String, manufacturer: String? = nil, model: String? = nil, category: String,
        criticality: Int, sensors: [SensorSpec], detectors: [DetectorSpec] = [], faults: [FaultSpec] = [], rules: [RuleSpec] = [],
        operatingState: OperatingStateSpec? = nil, sourceFile: String
    ) {
        self.rules = rules
        self.operatingState = operatingState
        self.id = id
        self.version = version
        self.name = name
        self.manufacturer = manufacturer
        self.model = model
        self.category = category
        self.criticality = criticality
        self.sensors = sensors
        self.detectors = detectors
        self.faults = faults
        self.sourceFile = sourceFile
    }

    public func sensor(_ key: SensorKey) -> SensorSpec? {
        sensors.first { $0.key == key }
    }

    public func fault(_ code: FaultCode) -> FaultSpec? {
        faults.first { $0.code == code }
    }

    /// The detectors that run: those declared, plus each sensor's per-kind default when no
    /// detector names that sensor: a gauge or counter with limits gets a threshold detector and
    /// a trend forecast of its critical limit, and a gauge with limits and a reporting period
    /// also a flatline detector (an analog reading that repeats exactly is a stuck sensor).
    public var effectiveDetectors: [DetectorSpec] {
        let named = Set(detectors.map(\.sensor))
        let defaults = sensors.filter { !named.contains($0.key) && $0.limits != nil }.flatMap { sensor in
            [DetectorSpec(sensor: sensor.key, type: .threshold), DetectorSpec(sensor: sensor.key, type: .forecast)]
                + (sensor.kind == .gauge && sensor.period != nil ? [DetectorSpec(sensor: sensor.key, type: .flatline)] : [])
        }
        return detectors + defaults
    }
}

/// A detector attached to one sensor. The Detection issue adds types; parameters are
/// numbers keyed by name, validated per type.
public struct DetectorSpec: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable {
        /// Warning/critical limits with hysteresis and minimum duration, from the sensor's `limits`.
        case threshold
        /// Sensor health: the reading has not changed at all for too long (stuck sensor).
        case flatline
        /// A robust trend of the reading predicts when it will cross its critical limit; a
        /// predicted crossing within the horizon opens a predictive ticket before any limit is hit.
        case forecast
        /// The reading moves faster than it should (unit per minute), whatever its level.
        case rateOfChange = "rate_of_change"
        /// A sustained shift of the level within the limits (two-sided CUSUM).
        case changePoint = "change_point"
        /// Unusual behaviour against the sensor's own learnt normal (spikes, level, volatility,
        /// hour-of-day pattern).
        case anomaly

        /// The fault a detector of this type reports when the profile names none.
        public var defaultFault: FaultCode? {
            switch self {
            case .rateOfChange: .rateOfChange
            case .changePoint: .levelShift
            case .anomaly: .anomaly
            case .threshold, .forecast, .flatline: nil
            }
        }

        /// Parameters the type accepts, with what each means.
        public var parameters: [String: String] {
            switch self {
            case .threshold: [:]
            case .forecast: [
                "horizon": "seconds ahead a predicted crossing of the critical limit raises a forecast (default 86400)",
                "window": "seconds of history the trend is fitted on (default 21600)",
                "confidence": "coverage of the crossing-time band, between 0.5 and 0.99 (default 0.9)",
            ]
            case .rateOfChange: [
                "max_rise": "largest normal rise, unit per minute (give it, max_fall, or both)",
                "max_fall": "largest normal fall, unit per minute, as a positive number",
                "window": "seconds averaged on each side of a rate (default 60; longer for noisy sensors)",
                "min_duration": "seconds the rate must stay beyond its limit (default 0)",
                "quiet": "seconds within the limits before it clears (default 300)",
            ]
            case .changePoint: [
                "drift": "shift per sample, in standard deviations, that the sums ignore (default 0.5)",
                "threshold": "sum, in standard deviations, that raises (default 12)",
                "span": "samples the baseline learns over (default 2000)",
                "quiet": "seconds the sums must stay low before it clears (default 1800)",
            ]
            case .anomaly: [
                "threshold": "score from 0.5 to 1 that raises; 0.5 is as surprising as the worst seen so far (default 0.75)",
                "quiet": "seconds without a surprise before it clears (default 3600)",
            ]
            case .flatline: [
                "min_samples": "identical samples in a row before it fires (default 30)",
                "min_duration": "seconds the value must stay identical (default 300)",
                "tolerance": "largest change still counted as identical (default 0)",
            ]
            }
        }
    }

    public var sensor: SensorKey
    public var type: Kind
    public var parameters: [String: Double]
    /// The fault it reports, when the type reports its own (rate_of_change, change_point,
    /// anomaly); nil takes the type's default.
    public var fault: FaultCode?

    public init(sensor: SensorKey, type: Kind, parameters: [String: Double] = [:], fault: FaultCode? = nil) {
        self.sensor = sensor
        self.type = type
        self.parameters = parameters
        self.fault = fault
    }

    /// The fault this detector's own events report (limit detectors report the limit's).
    public var reportedFault: FaultCode? { fault ?? type.defaultFault }
}

/// A multi-sensor rule: every listed sensor moves its way by at least `minChange` of its scale
/// within `window` → `fault` (vibration and bearing temperature rising together → bearing wear).
public struct RuleSpec: Sendable, Equatable {
    public enum Movement: String, Sendable, CaseIterable {
        case rising
        case falling
    }

    public var fault: FaultCode
    public var sensors: [SensorKey]
    public var movement: Movement
    /// Share of each sensor's scale (nominal to first limit, else its range) that counts as moving.
    public var minChange: Double
    public var window: Duration
    public var quiet: Duration

    public static let defaultMinChange = 0.1
    public static let defaultWindow: Duration = .seconds(7200)
    public static let defaultQuiet: Duration = .seconds(1800)

    public init(fault: FaultCode, sensors: [SensorKey], movement: Movement = .rising, minChange: Double = defaultMinChange,
                window: Duration = defaultWindow, quiet: Duration = defaultQuiet) {
        self.fault = fault
        self.sensors = sensors
        self.movement = movement
        self.minChange = minChange
        self.window = window
        self.quiet = quiet
    }
}

extension SensorSpec {
    /// The sensor's natural scale for "how much did it move": nominal to its first limit when
    /// both are known, else its physical range.
    public var scale: Double {
        if let nominal, let limits {
            let distance = abs(limits.firstLimit - nominal)
            if distance > 0 { return distance }
        }
        return validRange.upperBound - validRange.lowerBound
    }
}

/// One entry of a profile's fault catalogue: what the fault is and what fixing it takes.
public struct FaultSpec: Sendable, Equatable {
    public var code: FaultCode
    public var name: String
    public var component: String
    /// Grade a ticket for this fault starts at before the service desk's policy applies.
    public var grade: Grade
    public var symptoms: [String]
    public var actions: [String]
    public var skills: [String]
    public var parts: [PartRequirement]
    public var repairTime: Duration?

    public init(
        code: FaultCode, name: String, component: String, grade: Grade, symptoms: [String] = [], actions: [String] = [],
        skills: [String] = [], parts: [PartRequirement] = [], repairTime: Duration? = nil
    ) {
        self.code = code
        self.name = name
        self.component = component
        self.grade = grade
        self.symptoms = symptoms
        self.actions = actions
        self.skills = skills
        self.parts = parts
        self.repairTime = repairTime
    }
}

/// A spare part a repair needs.
public struct PartRequirement: Sendable, Equatable {
    /// Part number: upper-case letters, digits and `-` `.` `/` `_` (`SKF-6309-2Z`).
    public var part: String
    public var quantity: Int

    public init(part: String, quantity: Int) {
        self.part = part
        self.quantity = quantity
    }

    public static func isValidPartNumber(_ s: String) -> Bool {
        guard let first = s.unicodeScalars.first, s.count <= 40 else { return false }
        let allowed = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-./_".unicodeScalars)
        return CharacterSet.uppercaseLetters.union(.decimalDigits).contains(first) && first.isASCII
            && s.unicodeScalars.allSatisfy { allowed.contains($0) }
    }
}

/// Trades a repair may need; dispatch matches them against engineers' skills.
public enum Skills {
    public static let all: [String] = [
        "mechanical", "electrical", "instrumentation", "controls", "hvac", "refrigeration", "plumbing",
        "elevator", "high_voltage", "diesel", "welding", "civil",
    ]
}

/// Whether a sensor reports a level or a running total.
public enum SensorKind: String, Sendable, Equatable, CaseIterable {
    /// A level that goes up and down (temperature, pressure).
    case gauge
    /// A running total that only increases (operating hours, door cycles, energy).
    case counter
    /// Blocks of raw samples (a vibration waveform, a list of numbers per message). It has no
    /// limits and no detectors of its own: sensors `derived` from it carry its features.
    case waveform
}

/// A sensor whose readings are a feature of another sensor's blocks (`derived: {from: accel, feature: kurtosis}`).
public struct DerivedFeature: Sendable, Equatable {
    public var from: SensorKey
    public var feature: BlockFeature
    public init(from: SensorKey, feature: BlockFeature) {
        self.from = from
        self.feature = feature
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
    public var kind: SensorKind
    /// How often the device is expected to report this sensor.
    public var period: Duration?
    /// No reading for this long means the sensor is stale (default: three periods).
    public var staleAfter: Duration?
    public var limits: LimitSpec?
    /// Set for a sensor computed from a waveform sensor's blocks.
    public var derived: DerivedFeature?

    public init(
        key: SensorKey, name: String, unit: String, validRange: ClosedRange<Double>, nominal: Double? = nil,
        kind: SensorKind = .gauge, period: Duration? = nil, staleAfter: Duration? = nil, limits: LimitSpec? = nil,
        derived: DerivedFeature? = nil
    ) {
        self.derived = derived
        self.key = key
        self.name = name
        self.unit = unit
        self.validRange = validRange
        self.nominal = nominal
        self.kind = kind
        self.period = period
        self.staleAfter = staleAfter ?? period.map { $0 * 3 }
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

/// Running or stopped, told by one sensor: `operating_state: {running_when: {sensor: motor_current,
/// above: 5}, settle: 2m}`. A stopped machine's readings are kept but judged only against
/// limits above (an overheating stopped machine is still a fault); its falling pressure is no
/// fault and teaches no baseline. For `settle` after each start the same holds: start-up
/// transients are not anomalies.
public struct OperatingStateSpec: Sendable, Equatable {
    public var sensor: SensorKey
    /// Running when the sensor is above this (or, with `below`, below it).
    public var threshold: Double
    public var runningAbove: Bool
    public var settle: Duration

    public init(sensor: SensorKey, threshold: Double, runningAbove: Bool = true, settle: Duration = .seconds(60)) {
        self.sensor = sensor
        self.threshold = threshold
        self.runningAbove = runningAbove
        self.settle = settle
    }

    public func isRunning(_ value: Double) -> Bool { runningAbove ? value > threshold : value < threshold }
}
