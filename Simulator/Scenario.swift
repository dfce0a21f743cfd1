import FieldwatchCore
import Foundation
import Profiles
import Yams

/// One thing that happens to one device during a simulation: a machine fault, a sensor fault or
/// a misbehaving connection. Every scenario becomes one ground-truth label line.
struct Scenario: Equatable {
    enum Kind: String, CaseIterable {
        /// Affected sensors drift from nominal past their critical limit over `duration` (bearing wear).
        case degradation
        /// Affected sensors jump past their critical limit at `start`.
        case suddenFailure = "sudden_failure"
        /// Single-sample excursions past the critical limit, every `every` samples.
        case spikes
        /// The sensor repeats the value it had at `start` (zero variance).
        case stuck
        /// The sensor's reading drifts by `magnitude` units per hour.
        case drift
        /// The device stops publishing; `offline`/`online` on its status topic.
        case dropout
        /// Pipe network leak: flow rises and pressure falls gradually.
        case leak
        /// Pipe network burst: flow jumps and pressure collapses at once.
        case burst
        /// Payload timestamps are off by `magnitude` seconds.
        case clockSkew = "clock_skew"
        /// Every message is published twice.
        case duplicates
        /// Messages of consecutive ticks arrive swapped.
        case outOfOrder = "out_of_order"
        /// Every `every`-th message is malformed (robustness tests).
        case malformed

        /// Machine faults cross a limit and are labelled with the profile's fault code.
        var isMachineFault: Bool { [.degradation, .suddenFailure, .spikes, .leak, .burst].contains(self) }

        var labelCode: String? {
            switch self {
            case .stuck: "SENSOR_STUCK"
            case .drift: "SENSOR_DRIFT"
            case .dropout: "DEVICE_OFFLINE"
            case .clockSkew: "CLOCK_SKEW"
            case .duplicates: "DUPLICATE_MESSAGES"
            case .outOfOrder: "OUT_OF_ORDER"
            case .malformed: "MALFORMED_PAYLOAD"
            default: nil
            }
        }
    }

    var kind: Kind
    var deviceIndex: Int
    var site: SiteID
    var device: DeviceID
    var profileID: String
    /// Indices into the device's sensors.
    var sensors: [Int]
    var sensorKeys: [String]
    /// Seconds after the simulation start.
    var start: Double
    /// Seconds; 0 means until the end of the run.
    var duration: Double
    var magnitude: Double
    var every: Int
    var faultCode: String
    /// Per affected sensor: the value the fault drives it to (past critical), and that limit.
    var targets: [Double] = []
    var criticals: [Double] = []
    /// Seconds after start when the first affected sensor crosses its critical limit.
    var failure: Double?

    /// For a degradation or leak, `duration` is the ramp and the fault then stays; for every
    /// other kind it is how long the condition lasts (0: to the end of the run).
    var persists: Bool { kind == .degradation || kind == .leak }

    func isActive(at t: Double) -> Bool { t >= start && (persists || duration == 0 || t < start + duration) }

    func labelLine(start date: Date, seed: UInt64, drill: Bool = false) -> String {
        func time(_ offset: Double) -> String { "\"\(Timestamp(date.addingTimeInterval(offset)).rfc3339)\"" }
        let sensorsJSON = sensorKeys.map { "\"\($0)\"" }.joined(separator: ",")
        return "{\"site\":\"\(site)\",\"device\":\"\(device)\",\"sensors\":[\(sensorsJSON)],\"scenario\":\"\(kind.rawValue)\","
            + "\"fault_code\":\"\(faultCode)\",\"profile\":\"\(profileID)\",\"onset\":\(time(start)),"
            + "\"failure\":\(failure.map(time) ?? "null"),\"end\":\(persists || duration == 0 ? "null" : time(start + duration)),"
            + "\"critical\":\(criticals.first.map { "\($0)" } ?? "null"),\"seed\":\(seed)\(drill ? ",\"drill\":true" : "")}\n"
    }
}

/// Reads `scenarios:` from a fleet file (the inventory format) or a scenario file, with
/// `file:line:column` errors.
enum ScenarioFile {
    struct Entry {
        var device: String
        var kind: Scenario.Kind
        var sensors: [String]?
        var start: Double
        var duration: Double?
        var magnitude: Double?
        var every: Int?
        var node: Node
        /// Position in the file's list, for messages.
        var index: Int
    }

    static func read(_ path: String) throws(ProfileError) -> (entries: [Entry], context: YAMLContext) {
        let context = YAMLContext(file: path)
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw ProfileError(issues: [ProfileIssue(file: path, line: 1, column: 1, path: "", message: "cannot read the file (\(error.localizedDescription))")])
        }
        var entries: [Entry] = []
        if let root = context.compose(text), case let .mapping(m) = root, let list = m["scenarios"] {
            guard case let .sequence(seq) = list else {
                context.report(list, "scenarios", "expected a list of scenarios (lines starting with '- ')")
                throw ProfileError(issues: context.issues)
            }
            for (i, node) in seq.enumerated() {
                guard var r = MappingReader(node, path: "scenarios[\(i)]", context: context, what: "a scenario") else { continue }
                let device = r.string("device", "the id of a device in the inventory")
                let kind = r.enumeration("type", Scenario.Kind.self)
                let sensors = r.stringList("sensors", "sensor keys the scenario affects")
                let start = r.duration("start", "when it begins, after the simulation start")
                let duration = r.duration("duration", "how long it lasts (or ramps)")
                let magnitude = r.number("magnitude", required: false, "drift per hour, or clock skew in seconds")
                let every = r.integer("every", required: false, "how many samples between spikes or malformed messages")
                r.finish()
                if let every, every < 1 { context.report(r.value("every"), "scenarios[\(i)].every", "\(every) must be 1 or more") }
                guard let device, let kind else { continue }
                entries.append(Entry(device: device, kind: kind, sensors: sensors, start: start?.secondsDouble ?? 0,
                                     duration: duration?.secondsDouble, magnitude: magnitude, every: every, node: node, index: i))
            }
        }
        // Problems found so far stay in `context`; `Fleet.add` reports them with its own.
        return (entries, context)
    }
}
