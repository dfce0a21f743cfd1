import CMosquitto
import Foundation
import Logging
import Synchronization

/// An MQTT client over libmosquitto: connect, automatic reconnect with exponential backoff,
/// subscriptions that are renewed on every (re)connect, publish, and incoming messages as an
/// `AsyncStream` with a bounded buffer whose overflow is counted.
///
/// libmosquitto runs its network loop on its own thread (`mosquitto_loop_start`) and locks
/// internally, so the handle may be used from any thread.
public final class MQTTClient: @unchecked Sendable {
    /// Counters for health views and tests.
    public struct Counters: Sendable, Equatable {
        public var received = 0
        /// Messages dropped because the consumer fell `bufferCapacity` behind.
        public var droppedOverflow = 0
        public var connects = 0
        public var disconnects = 0
        /// Connections the broker refused (bad credentials, client id not allowed).
        public var refused = 0
        /// Messages larger than `maxPayloadBytes`, dropped uncopied.
        public var droppedOversized = 0
    }

    public let configuration: MQTTConfiguration
    /// Every message of every subscription, in arrival order. Finishes after `disconnect()`.
    /// Bounded twice: `bufferCapacity` messages and `bufferBytes` payload bytes waiting for
    /// the consumer; beyond either, messages are dropped and counted (`droppedOverflow`).
    public let messages: Messages
    private let handle: OpaquePointer
    private let box: CallbackBox

    private static let libraryInit: Void = { mosquitto_lib_init() }()

    public init(configuration: MQTTConfiguration, logger: Logger = Logger(label: "fieldwatch.mqtt")) throws(MQTTError) {
        _ = MQTTClient.libraryInit
        self.configuration = configuration
        let (stream, continuation) = AsyncStream.makeStream(
            of: MQTTMessage.self, bufferingPolicy: .bufferingOldest(max(1, configuration.bufferCapacity))
        )
        var logger = logger
        logger[metadataKey: "mqtt.client_id"] = .string(configuration.clientID)
        let box = CallbackBox(continuation: continuation, logger: logger, broker: "\(configuration.host):\(configuration.port)",
                              maxPayloadBytes: configuration.maxPayloadBytes, bufferBytes: configuration.bufferBytes)
        self.box = box
        self.messages = Messages(stream: stream, box: box)
        guard let handle = mosquitto_new(configuration.clientID, configuration.cleanSession, Unmanaged.passUnretained(box).toOpaque()) else {
            throw MQTTError(operation: "mosquitto_new", code: Int32(errno), message: String(cString: strerror(errno)))
        }
        self.handle = handle
        // If one of these throws, `deinit` still runs (self is fully initialised) and
        // destroys the handle: destroying it here too would free it twice.
        try check(mosquitto_reconnect_delay_set(handle, UInt32(configuration.reconnectDelayMin), UInt32(configuration.reconnectDelayMax), true),
                  operation: "reconnect_delay_set")
        if configuration.tcpNoDelay {
            try check(mosquitto_int_option(handle, MOSQ_OPT_TCP_NODELAY, 1), operation: "int_option(TCP_NODELAY)")
        }
        if let username = configuration.username {
            try check(mosquitto_username_pw_set(handle, username, configuration.password), operation: "username_pw_set")
        }
        if let caFile = configuration.caFile {
            try check(mosquitto_tls_set(handle, caFile, nil, configuration.certFile, configuration.keyFile, nil),
                      operation: "tls_set(cafile: \(caFile)\(configuration.certFile.map { ", certfile: \($0), keyfile: \(configuration.keyFile ?? "")" } ?? ""))")
        }
        mosquitto_connect_callback_set(handle) { mosq, obj, rc in
            guard let mosq, let obj else { return }
            Unmanaged<CallbackBox>.fromOpaque(obj).takeUnretainedValue().didConnect(mosq, rc: rc)
        }
        mosquitto_disconnect_callback_set(handle) { _, obj, rc in
            guard let obj else { return }
            Unmanaged<CallbackBox>.fromOpaque(obj).takeUnretainedValue().didDisconnect(rc: rc)
        }
        mosquitto_publish_callback_set(handle) { _, obj, _ in
            guard let obj else { return }
            Unmanaged<CallbackBox>.fromOpaque(obj).takeUnretainedValue().adjustInFlight(-1)
        }
        mosquitto_message_callback_set(handle) { _, obj, message in
            guard let obj, let message else { return }
            Unmanaged<CallbackBox>.fromOpaque(obj).takeUnretainedValue().didReceive(message.pointee)
        }
    }

    deinit {
        // Never `mosquitto_loop_stop(force: true)`: it cancels the loop thread with
        // pthread_cancel, possibly inside one of our callbacks (seen as heap corruption).
        // Disconnecting wakes the loop, which then ends on its own.
        box.markClosing()
        mosquitto_disconnect(handle)
        mosquitto_loop_stop(handle, false)
        box.continuation.finish()
        mosquitto_destroy(handle)
    }

    /// Starts connecting and the network loop. A broker that is not reachable yet is not an
    /// error: the loop keeps retrying with backoff and logs each attempt; a configuration that
    /// can never work (bad host name, bad TLS file) throws.
    public func connect() throws(MQTTError) {
        let rc = mosquitto_connect_async(handle, configuration.host, Int32(configuration.port), Int32(configuration.keepAlive))
        let unreachable = rc == mosqCode(MOSQ_ERR_ERRNO)
        if !unreachable {
            try check(rc, operation: "connect to \(configuration.host):\(configuration.port)")
        }
        try check(mosquitto_loop_start(handle), operation: "loop_start")
        if unreachable {
            box.logger.warning("MQTT broker not reachable yet (\(describe(rc))); retrying with backoff",
                               metadata: ["mqtt.broker": .string(box.broker)])
            retryInitialConnect()
        }
    }

    /// libmosquitto's loop reconnects a connection that was lost, but not one that never
    /// came up (measured with 2.0.11): until the first connect succeeds, retry it here with
    /// the configured backoff. The thread holds the client until it connects or is closed.
    private func retryInitialConnect() {
        let thread = Thread { [self] in
            var delay = Double(max(1, configuration.reconnectDelayMin))
            while !box.isClosing {
                Thread.sleep(forTimeInterval: delay)
                if box.isClosing { return }
                let rc = mosquitto_reconnect_async(handle)
                if rc == mosqCode(MOSQ_ERR_SUCCESS) { return }
                box.logger.info("MQTT broker still not reachable (\(describe(rc))); next attempt in \(Int(min(delay * 2, Double(configuration.reconnectDelayMax)))) s",
                                metadata: ["mqtt.broker": .string(box.broker)])
                delay = min(delay * 2, Double(max(configuration.reconnectDelayMin, configuration.reconnectDelayMax)))
            }
        }
        thread.name = "mqtt initial connect"
        thread.start()
    }

    /// Subscribes now if connected, and again after every reconnect.
    public func subscribe(_ topic: String, qos: Int = 1) throws(MQTTError) {
        box.addSubscription(topic, qos: Int32(qos))
        if box.isConnected {
            try check(mosquitto_subscribe(handle, nil, topic, Int32(qos)), operation: "subscribe \(topic)")
        }
    }

    /// Queues a message for sending (QoS 1 and 2 are retried by libmosquitto until acknowledged).
    public func publish(topic: String, payload: [UInt8], qos: Int = 1, retain: Bool = false) throws(MQTTError) {
        // Counted before the call: libmosquitto may report the publish done before it returns.
        box.adjustInFlight(+1)
        let rc = payload.withUnsafeBytes { buffer in
            mosquitto_publish(handle, nil, topic, Int32(buffer.count), buffer.baseAddress, Int32(qos), retain)
        }
        if rc != mosqCode(MOSQ_ERR_SUCCESS) { box.adjustInFlight(-1) }
        try check(rc, operation: "publish \(topic)")
    }

    public func publish(topic: String, payload: String, qos: Int = 1, retain: Bool = false) throws(MQTTError) {
        try publish(topic: topic, payload: Array(payload.utf8), qos: qos, retain: retain)
    }

    /// Sets the message the broker publishes if this client vanishes without disconnecting.
    /// Must be called before `connect()`.
    public func setWill(topic: String, payload: String, qos: Int = 1, retain: Bool = true) throws(MQTTError) {
        try setWill(topic: topic, payload: Array(payload.utf8), qos: qos, retain: retain)
    }

    /// `setWill` with a binary payload (a Sparkplug B NDEATH).
    public func setWill(topic: String, payload bytes: [UInt8], qos: Int = 1, retain: Bool = true) throws(MQTTError) {
        let rc = bytes.withUnsafeBytes { mosquitto_will_set(handle, topic, Int32($0.count), $0.baseAddress, Int32(qos), retain) }
        try check(rc, operation: "will_set \(topic)")
    }

    /// Disconnects cleanly, stops the network loop and finishes `messages` (buffered messages
    /// are still delivered to the consumer).
    public func disconnect() {
        box.markClosing()
        mosquitto_disconnect(handle)
        mosquitto_loop_stop(handle, false)
        box.continuation.finish()
    }

    /// Drops the connection without an MQTT DISCONNECT, as a device losing power or network
    /// would: the broker then publishes this client's will. The client stays down (closed).
    public func dropConnection() {
        box.markClosing()
        let fd = mosquitto_socket(handle)
        if fd >= 0 { _ = shutdown(fd, Int32(SHUT_RDWR)) }
        mosquitto_disconnect(handle)
        mosquitto_loop_stop(handle, false)
        box.continuation.finish()
    }

    public var isConnected: Bool { box.isConnected }
    public var counters: Counters { box.counters }
    /// Payload bytes received and not yet taken from `messages`.
    public var bufferedBytes: Int { box.bufferedBytes }

    /// Waits until the client is connected (and its subscriptions sent), or the timeout passes.
    public func waitUntilConnected(timeout: Duration = .seconds(10)) async -> Bool {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while !box.isConnected {
            if clock.now >= deadline { return false }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return true
    }

    /// Waits until every queued outgoing message has been handed to the broker (QoS 1: acknowledged).
    public func waitUntilPublished(timeout: Duration = .seconds(30)) async -> Bool {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while box.hasInFlight {
            if clock.now >= deadline { return false }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return true
    }
}

extension MQTTClient {
    /// The incoming messages; taking one out frees its bytes in the buffer's byte budget.
    public struct Messages: AsyncSequence, Sendable {
        public typealias Element = MQTTMessage
        let stream: AsyncStream<MQTTMessage>
        let box: CallbackBox

        public struct AsyncIterator: AsyncIteratorProtocol {
            var base: AsyncStream<MQTTMessage>.AsyncIterator
            let box: CallbackBox
            public mutating func next() async -> MQTTMessage? {
                guard let message = await base.next() else { return nil }
                box.release(message.payload.count)
                return message
            }
        }

        public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(base: stream.makeAsyncIterator(), box: box) }
    }
}

/// What the C callbacks reach through `obj`: only `let`s and a lock, so it is `Sendable`.
final class CallbackBox: Sendable {
    struct State {
        var connected = false
        var closing = false
        var subscriptions: [String: Int32] = [:]
        var counters = MQTTClient.Counters()
        var inFlight = 0
        /// Payload bytes yielded and not yet taken by the consumer.
        var bufferedBytes = 0
    }

    let continuation: AsyncStream<MQTTMessage>.Continuation
    let logger: Logger
    let broker: String
    let maxPayloadBytes: Int
    let bufferBytes: Int
    private let state = Mutex(State())

    init(continuation: AsyncStream<MQTTMessage>.Continuation, logger: Logger, broker: String, maxPayloadBytes: Int = .max, bufferBytes: Int = .max) {
        self.continuation = continuation
        self.logger = logger
        self.broker = broker
        self.maxPayloadBytes = maxPayloadBytes
        self.bufferBytes = bufferBytes
    }

    func release(_ bytes: Int) {
        state.withLock { $0.bufferedBytes -= bytes }
    }

    var bufferedBytes: Int { state.withLock { $0.bufferedBytes } }

    var isConnected: Bool { state.withLock { $0.connected } }
    var isClosing: Bool { state.withLock { $0.closing } }
    var counters: MQTTClient.Counters { state.withLock { $0.counters } }
    var hasInFlight: Bool { state.withLock { $0.inFlight > 0 } }

    func addSubscription(_ topic: String, qos: Int32) {
        state.withLock { $0.subscriptions[topic] = qos }
    }

    func adjustInFlight(_ delta: Int) {
        state.withLock { $0.inFlight += delta }
    }

    func markClosing() {
        state.withLock { $0.closing = true }
    }

    func didConnect(_ mosq: OpaquePointer, rc: Int32) {
        guard rc == 0 else {
            state.withLock { $0.counters.refused += 1 }
            let reason = String(cString: mosquitto_connack_string(rc))
            logger.error("MQTT broker refused the connection: \(reason); check the credentials and client id",
                         metadata: ["mqtt.broker": .string(broker)])
            return
        }
        let subscriptions = state.withLock { state -> [String: Int32] in
            state.connected = true
            state.counters.connects += 1
            return state.subscriptions
        }
        logger.info("MQTT connected", metadata: ["mqtt.broker": .string(broker)])
        for (topic, qos) in subscriptions {
            let rc = mosquitto_subscribe(mosq, nil, topic, qos)
            if rc != mosqCode(MOSQ_ERR_SUCCESS) {
                logger.error("MQTT subscribe failed: \(describe(rc))", metadata: ["mqtt.topic": .string(topic)])
            }
        }
    }

    func didDisconnect(rc: Int32) {
        let closing = state.withLock { state -> Bool in
            state.connected = false
            state.counters.disconnects += 1
            return state.closing
        }
        if closing {
            logger.info("MQTT disconnected", metadata: ["mqtt.broker": .string(broker)])
        } else {
            logger.warning("MQTT connection lost (\(describe(rc))); reconnecting with backoff",
                           metadata: ["mqtt.broker": .string(broker)])
        }
    }

    func didReceive(_ message: mosquitto_message) {
        // libmosquitto frees the message after this callback: copy topic and payload now.
        let count = Int(message.payloadlen)
        // An oversized payload is dropped before it is copied; one publisher must not be able
        // to exhaust the gateway's memory.
        if count > maxPayloadBytes {
            let topic = message.topic.map { String(String(cString: $0).prefix(200)) } ?? ""
            let n = state.withLock { state -> Int in
                state.counters.received += 1
                state.counters.droppedOversized += 1
                return state.counters.droppedOversized
            }
            if n <= 5 || n.isMultiple(of: 1000) {
                logger.warning("MQTT message of \(count) bytes on \(topic) dropped: larger than max_payload_bytes (\(maxPayloadBytes)); \(n) dropped so far",
                               metadata: ["mqtt.topic": .string(topic)])
            }
            return
        }
        let admitted = state.withLock { state -> Bool in
            state.counters.received += 1
            guard state.bufferedBytes + count <= bufferBytes else {
                state.counters.droppedOverflow += 1
                return false
            }
            state.bufferedBytes += count
            return true
        }
        guard admitted else { return }
        let topic = message.topic.map { String(cString: $0) } ?? ""
        let payload: [UInt8] = count > 0 && message.payload != nil
            ? Array(UnsafeRawBufferPointer(start: message.payload, count: count))
            : []
        let result = continuation.yield(MQTTMessage(topic: topic, payload: payload, qos: Int(message.qos), retain: message.retain))
        if case .dropped = result {
            state.withLock { state in
                state.counters.droppedOverflow += 1
                state.bufferedBytes -= count
            }
        }
    }
}
