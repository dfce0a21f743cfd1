import Foundation
import SwiftProtobuf

/// The Sparkplug B payload (generated from Protos/sparkplug_b.proto).
public typealias SparkplugPayload = Org_Eclipse_Tahu_Protobuf_Payload
public typealias SparkplugMetric = Org_Eclipse_Tahu_Protobuf_Payload.Metric

/// Eclipse Sparkplug B 3.0: topics, data types, and the values of metrics as gauges read them.
public enum Sparkplug {
    public static let namespace = "spBv1.0"
    /// The metric an NBIRTH carries to pair it with its NDEATH.
    public static let birthDeathSequence = "bdSeq"
    /// The node-control metric a host writes (in an NCMD) to ask an edge node to send its births again.
    public static let rebirthMetric = "Node Control/Rebirth"

    public enum MessageType: String, Sendable, CaseIterable {
        case nodeBirth = "NBIRTH", nodeDeath = "NDEATH", deviceBirth = "DBIRTH", deviceDeath = "DDEATH"
        case nodeData = "NDATA", deviceData = "DDATA", nodeCommand = "NCMD", deviceCommand = "DCMD"

        /// Whether a device id follows the edge node id in the topic.
        public var isDeviceMessage: Bool { [.deviceBirth, .deviceDeath, .deviceData, .deviceCommand].contains(self) }
    }

    /// `spBv1.0/<group>/<type>/<edge node>[/<device>]`.
    public struct Topic: Sendable, Equatable {
        public var group: String
        public var type: MessageType
        public var edgeNode: String
        public var device: String?

        public init(group: String, type: MessageType, edgeNode: String, device: String? = nil) {
            self.group = group
            self.type = type
            self.edgeNode = edgeNode
            self.device = device
        }

        public var text: String { "\(namespace)/\(group)/\(type.rawValue)/\(edgeNode)" + (device.map { "/\($0)" } ?? "") }

        /// The topic's parts, or what is wrong with it. `STATE` (host application) topics are
        /// not data and parse to nil without an error.
        public static func parse(_ topic: String) -> Result<Topic, FormatError>? {
            let parts = topic.split(separator: "/", omittingEmptySubsequences: false)
            guard parts.first == Substring(namespace) else { return nil }
            if parts.count >= 2 && parts[1] == "STATE" { return nil }
            let shape = "\(namespace)/<group>/<NBIRTH|NDATA|NDEATH>/<edge node> or \(namespace)/<group>/<DBIRTH|DDATA|DDEATH>/<edge node>/<device>"
            guard parts.count >= 4, let type = MessageType(rawValue: String(parts[2])) else {
                return .failure(FormatError(.invalid, "topic \"\(topic.prefix(120))\" is not a Sparkplug B topic \(shape)"))
            }
            guard parts.count == (type.isDeviceMessage ? 5 : 4), !parts.contains(where: \.isEmpty) else {
                return .failure(FormatError(.invalid, "topic \"\(topic.prefix(120))\": a \(type.rawValue) topic is \(type.isDeviceMessage ? "\(namespace)/<group>/\(type.rawValue)/<edge node>/<device>" : "\(namespace)/<group>/\(type.rawValue)/<edge node>")"))
            }
            return .success(Topic(group: String(parts[1]), type: type, edgeNode: String(parts[3]), device: type.isDeviceMessage ? String(parts[4]) : nil))
        }
    }

    /// Sparkplug B data types (specification §6.4.16).
    public enum DataType: UInt32, Sendable, CaseIterable {
        case unknown = 0
        case int8, int16, int32, int64, uint8, uint16, uint32, uint64, float, double, boolean, string, dateTime, text, uuid
        case dataSet, bytes, file, template, propertySet, propertySetList
        case int8Array, int16Array, int32Array, int64Array, uint8Array, uint16Array, uint32Array, uint64Array
        case floatArray, doubleArray, booleanArray, stringArray, dateTimeArray
    }

    /// A metric's value, as a gauge can take it.
    public enum Value: Sendable, Equatable {
        case number(Double)
        /// A numeric array: a block of raw samples (a waveform).
        case block([Double])
        case bool(Bool)
        case text(String)
        /// `is_null`: the edge node has no value for the metric now.
        case null
        /// A value no gauge reads (DataSet, Template, DateTime, bytes, …), described.
        case unsupported(String)
    }

    /// The value of `metric`; `declared` is its data type from the birth certificate, used
    /// when a data message leaves the type out (it may).
    public static func value(of metric: SparkplugMetric, declared: DataType? = nil) -> Value {
        if metric.hasIsNull && metric.isNull { return .null }
        let type = metric.hasDatatype ? DataType(rawValue: metric.datatype) : declared
        guard let field = metric.value else {
            return .unsupported(type.map { "a \($0) value (DataSet, Template and PropertySet values are not gauge readings)" } ?? "a metric with no value")
        }
        switch (field, type) {
        case let (.intValue(v), .int8?): return .number(Double(Int8(truncatingIfNeeded: v)))
        case let (.intValue(v), .int16?): return .number(Double(Int16(truncatingIfNeeded: v)))
        case let (.intValue(v), .int32?): return .number(Double(Int32(bitPattern: v)))
        case let (.intValue(v), _): return .number(Double(v))
        case let (.longValue(v), .int64?), let (.longValue(v), .int32?), let (.longValue(v), .int16?), let (.longValue(v), .int8?):
            return .number(Double(Int64(bitPattern: v)))
        case (.longValue, .dateTime?): return .unsupported("a DateTime")
        case let (.longValue(v), _): return .number(Double(v))
        case let (.floatValue(v), _): return v.isFinite ? .number(Double(v)) : .unsupported("\(v), not a finite number")
        case let (.doubleValue(v), _): return v.isFinite ? .number(v) : .unsupported("\(v), not a finite number")
        case let (.booleanValue(b), _): return .bool(b)
        case let (.stringValue(s), _): return .text(s)
        case let (.bytesValue(data), type?):
            if let block = numericArray([UInt8](data), type) { return block }
            return .unsupported("a \(type) value")
        case (.bytesValue, nil): return .unsupported("bytes of an undeclared type")
        }
    }

    /// Sparkplug arrays are packed little-endian in `bytes_value`.
    static func numericArray(_ bytes: [UInt8], _ type: DataType) -> Value? {
        let width: Int
        switch type {
        case .int8Array, .uint8Array: width = 1
        case .int16Array, .uint16Array: width = 2
        case .int32Array, .uint32Array, .floatArray: width = 4
        case .int64Array, .uint64Array, .doubleArray: width = 8
        default: return nil
        }
        guard bytes.count % width == 0 else { return .unsupported("a \(type) of \(bytes.count) bytes, not a whole number of \(width)-byte elements") }
        var values: [Double] = []
        values.reserveCapacity(bytes.count / width)
        var i = 0
        while i < bytes.count {
            var raw: UInt64 = 0
            for k in 0..<width { raw |= UInt64(bytes[i + k]) << (8 * UInt64(k)) }
            i += width
            let v: Double
            switch type {
            case .int8Array: v = Double(Int8(truncatingIfNeeded: raw))
            case .int16Array: v = Double(Int16(truncatingIfNeeded: raw))
            case .int32Array: v = Double(Int32(truncatingIfNeeded: raw))
            case .int64Array: v = Double(Int64(bitPattern: raw))
            case .floatArray: v = Double(Float(bitPattern: UInt32(truncatingIfNeeded: raw)))
            case .doubleArray: v = Double(bitPattern: raw)
            default: v = Double(raw)
            }
            guard v.isFinite else { return .unsupported("a \(type) with a non-finite element at index \(values.count)") }
            values.append(v)
        }
        return .block(values)
    }

    // MARK: Writing (host commands, the simulator, the tests)

    /// The NCMD payload that asks an edge node for its births again (specification §6.4.x,
    /// "Node Control/Rebirth" = true).
    public static func rebirthCommand(atMilliseconds ms: UInt64) -> [UInt8] {
        var payload = SparkplugPayload()
        payload.timestamp = ms
        var metric = SparkplugMetric()
        metric.name = rebirthMetric
        metric.timestamp = ms
        metric.datatype = DataType.boolean.rawValue
        metric.booleanValue = true
        payload.metrics = [metric]
        return (try? payload.serializedBytes()) ?? []
    }

    /// A double metric, by name and/or alias.
    public static func metric(name: String?, alias: UInt64?, value: Double, at ms: UInt64? = nil) -> SparkplugMetric {
        var metric = SparkplugMetric()
        if let name { metric.name = name }
        if let alias { metric.alias = alias }
        if let ms { metric.timestamp = ms }
        metric.datatype = DataType.double.rawValue
        metric.doubleValue = value
        return metric
    }

    /// A waveform block as a FloatArray metric.
    public static func blockMetric(name: String?, alias: UInt64?, values: [Double]) -> SparkplugMetric {
        var metric = SparkplugMetric()
        if let name { metric.name = name }
        if let alias { metric.alias = alias }
        metric.datatype = DataType.floatArray.rawValue
        var bytes: [UInt8] = []
        bytes.reserveCapacity(values.count * 4)
        for v in values {
            let bits = Float(v).bitPattern
            for k in 0..<4 { bytes.append(UInt8(truncatingIfNeeded: bits >> (8 * UInt32(k)))) }
        }
        metric.bytesValue = Data(bytes)
        return metric
    }

    public static func payload(at ms: UInt64, seq: UInt64?, _ metrics: [SparkplugMetric]) -> [UInt8] {
        var payload = SparkplugPayload()
        payload.timestamp = ms
        if let seq { payload.seq = seq }
        payload.metrics = metrics
        return (try? payload.serializedBytes()) ?? []
    }

    /// The bdSeq metric of an NBIRTH or NDEATH.
    public static func birthDeathMetric(_ bdSeq: UInt64) -> SparkplugMetric {
        var metric = SparkplugMetric()
        metric.name = birthDeathSequence
        metric.datatype = DataType.int64.rawValue
        metric.longValue = bdSeq
        return metric
    }

    /// Decodes a payload, or says why not.
    public static func decode(_ bytes: [UInt8]) -> Result<SparkplugPayload, FormatError> {
        do {
            return .success(try SparkplugPayload(serializedBytes: bytes))
        } catch {
            return .failure(FormatError(.malformed, "not a valid Sparkplug B (protobuf) payload: \(error)"))
        }
    }
}
