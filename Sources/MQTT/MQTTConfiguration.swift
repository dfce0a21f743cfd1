import Foundation

/// How to reach the broker. Defaults suit a gateway: persistent session (clean session off)
/// so QoS 1 telemetry published while the gateway is down is delivered when it returns.
public struct MQTTConfiguration: Sendable, Equatable {
    public var host: String
    public var port: Int
    /// Must stay the same across restarts for the broker to keep the persistent session.
    public var clientID: String
    public var username: String?
    public var password: String?
    /// PEM file of the CA that signed the broker's certificate; enables TLS.
    public var caFile: String?
    /// The gateway's own certificate and private key (PEM), for brokers that require client
    /// certificates (`require_certificate true`); both or neither, with `caFile`.
    public var certFile: String?
    public var keyFile: String?
    public var cleanSession: Bool
    public var keepAlive: Int
    public var reconnectDelayMin: Int
    public var reconnectDelayMax: Int
    /// Messages buffered between libmosquitto's thread and the consumer; overflow is counted.
    public var bufferCapacity: Int
    /// Payload bytes buffered between libmosquitto's thread and the consumer, at most.
    public var bufferBytes: Int = 64 << 20
    /// Larger payloads are dropped before they are copied, and counted.
    public var maxPayloadBytes: Int = 256 << 10
    /// Turns Nagle's algorithm off on the broker connection (`TCP_NODELAY`), the default for
    /// a publisher: telemetry messages are small, and with Nagle on a small packet can wait for
    /// the peer's delayed ACK (40 ms on Linux) before it leaves. A subscriber that mostly sends
    /// acks may keep Nagle (the gateway does: it coalesces its PUBACKs).
    public var tcpNoDelay: Bool

    public init(
        host: String = "127.0.0.1", port: Int = 1883, clientID: String = "fieldwatch-gateway",
        username: String? = nil, password: String? = nil, caFile: String? = nil, cleanSession: Bool = false,
        keepAlive: Int = 30, reconnectDelayMin: Int = 1, reconnectDelayMax: Int = 30, bufferCapacity: Int = 65_536,
        tcpNoDelay: Bool = true
    ) {
        self.host = host
        self.port = port
        self.clientID = clientID
        self.username = username
        self.password = password
        self.caFile = caFile
        self.cleanSession = cleanSession
        self.keepAlive = keepAlive
        self.reconnectDelayMin = reconnectDelayMin
        self.reconnectDelayMax = reconnectDelayMax
        self.bufferCapacity = bufferCapacity
        self.tcpNoDelay = tcpNoDelay
    }

    /// Parses `mqtt://HOST:PORT` (or `mqtts://`, which requires `caFile`). The port defaults to
    /// 1883 (8883 for mqtts). Returns a message saying what is wrong otherwise.
    public static func parseBrokerURL(_ text: String) -> Result<(host: String, port: Int, tls: Bool), BrokerURLError> {
        guard let url = URLComponents(string: text), let scheme = url.scheme?.lowercased(),
              scheme == "mqtt" || scheme == "mqtts", let host = url.host, !host.isEmpty
        else {
            return .failure(BrokerURLError(text: text, reason: "expected mqtt://HOST:PORT, e.g. mqtt://127.0.0.1:1883"))
        }
        let tls = scheme == "mqtts"
        let port = url.port ?? (tls ? 8883 : 1883)
        guard (1...65_535).contains(port) else {
            return .failure(BrokerURLError(text: text, reason: "port \(port) is outside 1...65535"))
        }
        return .success((host, port, tls))
    }

    public struct BrokerURLError: Error, Sendable, CustomStringConvertible {
        public var text: String
        public var reason: String
        public var description: String { "broker URL \"\(text)\": \(reason)" }
    }
}

/// One message as delivered: topic and payload copied out of libmosquitto's buffers.
public struct MQTTMessage: Sendable, Equatable {
    public var topic: String
    public var payload: [UInt8]
    public var qos: Int
    public var retain: Bool
    /// When libmosquitto handed the message over (for latency figures and missing `ts`).
    public var receivedAt: Date

    public init(topic: String, payload: [UInt8], qos: Int = 0, retain: Bool = false, receivedAt: Date = Date()) {
        self.topic = topic
        self.payload = payload
        self.qos = qos
        self.retain = retain
        self.receivedAt = receivedAt
    }
}
