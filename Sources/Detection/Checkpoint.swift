import FieldwatchCore
import Foundation

/// A detector whose state can be saved in a checkpoint and put back after a restart.
///
/// A saved detector replaces a fresh one only when it was saved by the same `version` of the
/// detector and runs the same `configuration`: state learned under other limits or another
/// algorithm would mislead, so that detector starts fresh and re-learns.
public protocol CheckpointedDetector: Codable, Sendable {
    associatedtype Configuration: Equatable
    /// The detector's version (as recorded with its detections); bump it when the meaning of
    /// the saved state changes, and older checkpoints of it are discarded rather than misread.
    static var version: Int { get }
    var configuration: Configuration { get }
}

/// Why a checkpoint could not be restored. Nothing is restored then: every detector keeps
/// its fresh state.
public struct CheckpointError: Error, Sendable, CustomStringConvertible {
    /// What is wrong with the checkpoint.
    public var problem: String

    public init(_ problem: String) { self.problem = problem }

    public var description: String {
        "cannot restore the detector checkpoint: \(problem); nothing was restored, every detector starts from fresh state"
    }
}

/// The checkpoint format: `{"format": 1, "series": [{"device", "sensor", "lastTimestamp",
/// "threshold": {"version", "state"}, "flatline": …, "forecast": …}]}`.
enum DetectorCheckpoint {
    /// The format this version writes and reads.
    static let format = 1

    struct Envelope: Codable {
        var format: Int
        var series: [SavedSeries]
        /// Multi-sensor rules by device (absent in checkpoints written before rules existed).
        var rules: [SavedRules]?
    }

    /// One device's multi-sensor rules, in declaration order.
    struct SavedRules: Codable {
        var device: DeviceID
        var rules: [SavedDetector<MultiSensorRule>]
    }

    /// One series' detectors. Adding a detector kind to `DetectionEngine.SeriesDetectors`: a
    /// field here, a line in `init`, an `adopt` line in `DetectionEngine.restore(from:)`.
    struct SavedSeries: Codable {
        var device: DeviceID
        var sensor: SensorKey
        var lastTimestamp: Timestamp?
        var threshold: SavedDetector<ThresholdDetector>?
        var flatline: SavedDetector<FlatlineDetector>?
        var forecast: SavedDetector<TrendForecaster>?
        var rateOfChange: SavedDetector<RateOfChangeDetector>?
        var changePoint: SavedDetector<ChangePointDetector>?
        var anomaly: SavedDetector<AnomalyDetector>?

        init(_ key: SeriesKey, _ detectors: DetectionEngine.SeriesDetectors) {
            rateOfChange = detectors.rateOfChange.map(SavedDetector.init)
            changePoint = detectors.changePoint.map(SavedDetector.init)
            anomaly = detectors.anomaly.map(SavedDetector.init)
            device = key.device
            sensor = key.sensor
            lastTimestamp = detectors.lastTimestamp
            threshold = detectors.threshold.map(SavedDetector.init)
            flatline = detectors.flatline.map(SavedDetector.init)
            forecast = detectors.forecast.map(SavedDetector.init)
        }
    }

    /// A detector with the version that saved it. The state of another version is not decoded
    /// at all (its fields may mean something else): it is discarded on restore.
    struct SavedDetector<D: CheckpointedDetector>: Codable {
        var version: Int
        var detector: D?

        enum CodingKeys: String, CodingKey {
            case version
            case state
        }

        init(_ detector: D) {
            version = D.version
            self.detector = detector
        }

        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            version = try c.decode(Int.self, forKey: .version)
            detector = version == D.version ? try c.decode(D.self, forKey: .state) : nil
        }

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(version, forKey: .version)
            try c.encodeIfPresent(detector, forKey: .state)
        }
    }

    /// Just the format, read first so a checkpoint of another format is named as such rather
    /// than reported as damaged.
    private struct Header: Decodable {
        var format: Int?
    }

    // Non-finite numbers are legal detector state (a sample's value is not checked here), and
    // JSON has no literal for them.
    private static let nonFiniteStrings = (positiveInfinity: "+Infinity", negativeInfinity: "-Infinity", nan: "NaN")

    static var encoder: JSONEncoder {
        let encoder = JSONEncoder()
        let s = nonFiniteStrings
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: s.positiveInfinity, negativeInfinity: s.negativeInfinity, nan: s.nan)
        return encoder
    }

    static var decoder: JSONDecoder {
        let decoder = JSONDecoder()
        let s = nonFiniteStrings
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: s.positiveInfinity, negativeInfinity: s.negativeInfinity, nan: s.nan)
        return decoder
    }

    static func decode(_ data: Data) throws(CheckpointError) -> Envelope {
        let decoder = self.decoder
        let header: Header
        do {
            header = try decoder.decode(Header.self, from: data)
        } catch DecodingError.dataCorrupted(let context) where context.codingPath.isEmpty {
            let detail = context.underlyingError.map { ": \($0)" } ?? ""
            throw CheckpointError("its \(data.count) bytes are not valid JSON (truncated or overwritten?)\(detail)")
        } catch {
            throw CheckpointError("it is not a JSON object (\(describe(error)))")
        }
        guard let format = header.format else {
            throw CheckpointError("it has no \"format\" field, so it is not a Fieldwatch detector checkpoint")
        }
        guard format == Self.format else {
            throw CheckpointError("it is in format \(format), and this version of Fieldwatch reads format \(Self.format) only")
        }
        do {
            return try decoder.decode(Envelope.self, from: data)
        } catch {
            throw CheckpointError("it is damaged: \(describe(error))")
        }
    }

    /// "at series[3].forecast.state.ring: 60 samples do not fit a ring of 48".
    static func describe(_ error: any Error) -> String {
        guard let error = error as? DecodingError else { return "\(error)" }
        let context: DecodingError.Context
        let what: String
        switch error {
        case let .typeMismatch(_, c), let .valueNotFound(_, c), let .dataCorrupted(c):
            context = c
            // Foundation's sentences end in a full stop; ours go on after this text.
            what = c.debugDescription.hasSuffix(".") ? String(c.debugDescription.dropLast()) : c.debugDescription
        case let .keyNotFound(key, c):
            context = c
            what = "\"\(key.stringValue)\" is missing"
        @unknown default:
            return "\(error)"
        }
        let path = context.codingPath.reduce(into: "") { path, key in
            if let index = key.intValue { path += "[\(index)]" } else { path += (path.isEmpty ? "" : ".") + key.stringValue }
        }
        return path.isEmpty ? what : "at \(path): \(what)"
    }
}

extension RateOfChangeDetector: CheckpointedDetector {}
extension ChangePointDetector: CheckpointedDetector {}
extension AnomalyDetector: CheckpointedDetector {}
extension MultiSensorRule: CheckpointedDetector {}
