import FieldwatchTesting
import Foundation
import Testing
@testable import MQTT

func makeClient(_ broker: MosquittoBroker, id: String, clean: Bool = true, buffer: Int = 1024) throws -> MQTTClient {
    try MQTTClient(configuration: MQTTConfiguration(host: "127.0.0.1", port: broker.port, clientID: id, cleanSession: clean,
                                                   reconnectDelayMin: 1, reconnectDelayMax: 2, bufferCapacity: buffer))
}

/// Collects messages from a client's stream in the background.
final class Inbox: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [MQTTMessage] = []
    private var task: Task<Void, Never>?

    init(_ client: MQTTClient) {
        task = Task { [weak self] in
            for await m in client.messages { self?.add(m) }
        }
    }
    func add(_ m: MQTTMessage) { lock.withLock { items.append(m) } }
    var messages: [MQTTMessage] { lock.withLock { items } }
    var payloads: [String] { messages.map { String(decoding: $0.payload, as: UTF8.self) } }
}

@Suite("MQTT client against a real mosquitto")
struct MQTTClientTests {
    @Test func publishAndReceive() async throws {
        let broker = try MosquittoBroker()
        let sub = try makeClient(broker, id: "sub")
        try sub.subscribe("fieldwatch/+/+/telemetry", qos: 1)
        try sub.connect()
        let inbox = Inbox(sub)
        #expect(await sub.waitUntilConnected())
        let pub = try makeClient(broker, id: "pub")
        try pub.connect()
        #expect(await pub.waitUntilConnected())
        // Subscriptions are sent from the connect callback; give the broker a moment to register them.
        #expect(await eventually { inbox.messages.isEmpty && sub.isConnected })
        try await Task.sleep(for: .milliseconds(200))
        for i in 0..<100 { try pub.publish(topic: "fieldwatch/s/d/telemetry", payload: "m\(i)", qos: 1) }
        try pub.publish(topic: "other/topic", payload: "ignored")
        #expect(await eventually { inbox.messages.count == 100 })
        #expect(inbox.payloads == (0..<100).map { "m\($0)" })
        #expect(inbox.messages[0].topic == "fieldwatch/s/d/telemetry" && inbox.messages[0].qos == 1)
        pub.disconnect()
        sub.disconnect()
    }

    @Test func persistentSessionDeliversWhatWasPublishedWhileAway() async throws {
        let broker = try MosquittoBroker()
        do {
            let first = try makeClient(broker, id: "gateway", clean: false)
            try first.subscribe("fieldwatch/+/+/telemetry", qos: 1)
            try first.connect()
            #expect(await first.waitUntilConnected())
            try await Task.sleep(for: .milliseconds(200))
            first.disconnect()
        }
        let pub = try makeClient(broker, id: "pub")
        try pub.connect()
        #expect(await pub.waitUntilConnected())
        for i in 0..<50 { try pub.publish(topic: "fieldwatch/s/d/telemetry", payload: "away\(i)", qos: 1) }
        #expect(await pub.waitUntilPublished())
        let again = try makeClient(broker, id: "gateway", clean: false)
        try again.subscribe("fieldwatch/+/+/telemetry", qos: 1)
        let inbox = Inbox(again)
        try again.connect()
        #expect(await eventually { inbox.messages.count == 50 })
        #expect(inbox.payloads == (0..<50).map { "away\($0)" })
        again.disconnect()
    }

    @Test func reconnectsAndResubscribesAfterABrokerRestart() async throws {
        let broker = try MosquittoBroker()
        let sub = try makeClient(broker, id: "sub-restart")
        try sub.subscribe("t/#", qos: 1)
        let inbox = Inbox(sub)
        try sub.connect()
        #expect(await sub.waitUntilConnected())
        try broker.restart()
        #expect(await eventually { sub.counters.disconnects >= 1 })
        #expect(await eventually(timeout: .seconds(30)) { sub.counters.connects >= 2 && sub.isConnected })
        try await Task.sleep(for: .milliseconds(200))
        let pub = try makeClient(broker, id: "pub-restart")
        try pub.connect()
        #expect(await pub.waitUntilConnected())
        try pub.publish(topic: "t/x", payload: "after restart")
        #expect(await eventually { inbox.payloads == ["after restart"] })
        sub.disconnect()
        pub.disconnect()
    }

    @Test func startsBeforeTheBrokerAndConnectsWhenItAppears() async throws {
        let broker = try MosquittoBroker()
        broker.stop()
        let client = try makeClient(broker, id: "early")
        try client.connect()
        #expect(!client.isConnected)
        try broker.start()
        #expect(await eventually(timeout: .seconds(30)) { client.isConnected })
        client.disconnect()
    }

    @Test func overflowOfTheBoundedBufferIsCounted() async throws {
        let broker = try MosquittoBroker()
        let sub = try makeClient(broker, id: "slow", buffer: 10)
        try sub.subscribe("t", qos: 0)
        try sub.connect()  // nobody consumes `messages`
        #expect(await sub.waitUntilConnected())
        try await Task.sleep(for: .milliseconds(200))
        let pub = try makeClient(broker, id: "fast")
        try pub.connect()
        #expect(await pub.waitUntilConnected())
        for i in 0..<100 { try pub.publish(topic: "t", payload: "\(i)", qos: 0) }
        #expect(await eventually { sub.counters.received == 100 })
        #expect(sub.counters.droppedOverflow == 90)
        sub.disconnect()
        pub.disconnect()
    }

    @Test func errorsCarryLibmosquittoText() throws {
        let broker = try MosquittoBroker()
        let client = try makeClient(broker, id: "errors")
        #expect {
            try client.publish(topic: "bad/#/topic", payload: "x")
        } throws: { error in
            let e = error as? MQTTError
            return e?.description == "MQTT publish bad/#/topic failed: Invalid function arguments provided. (libmosquitto code 3)"
        }
    }

    @Test(arguments: [
        ("mqtt://127.0.0.1:1883", "127.0.0.1", 1883, false),
        ("mqtt://broker.local", "broker.local", 1883, false),
        ("mqtts://broker.local", "broker.local", 8883, true),
    ])
    func brokerURLs(_ text: String, _ host: String, _ port: Int, _ tls: Bool) throws {
        let url = try MQTTConfiguration.parseBrokerURL(text).get()
        #expect(url.host == host && url.port == port && url.tls == tls)
    }

    @Test(arguments: ["127.0.0.1:1883", "http://x:1", "mqtt://:1883", "mqtt://h:70000"])
    func badBrokerURLs(_ text: String) {
        #expect(throws: MQTTConfiguration.BrokerURLError.self) { try MQTTConfiguration.parseBrokerURL(text).get() }
    }
}
