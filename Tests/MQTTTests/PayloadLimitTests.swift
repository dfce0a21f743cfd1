import FieldwatchTesting
import Foundation
import Testing
@testable import MQTT

@Suite("Bounded payloads and buffer, against a real mosquitto")
struct PayloadLimitTests {
    static func client(_ broker: MosquittoBroker, id: String, maxPayload: Int = 256 << 10, bufferBytes: Int = 64 << 20) throws -> MQTTClient {
        var c = MQTTConfiguration(host: "127.0.0.1", port: broker.port, clientID: id, cleanSession: true, reconnectDelayMin: 1, reconnectDelayMax: 2,
                                  bufferCapacity: 1024)
        c.maxPayloadBytes = maxPayload
        c.bufferBytes = bufferBytes
        return try MQTTClient(configuration: c)
    }

    static func connected(_ broker: MosquittoBroker, _ sub: MQTTClient) async throws -> MQTTClient {
        try sub.subscribe("fieldwatch/+/+/telemetry", qos: 1)
        try sub.connect()
        #expect(await sub.waitUntilConnected())
        try await Task.sleep(for: .milliseconds(200))
        let pub = try Self.client(broker, id: "pub-\(UUID().uuidString.prefix(6))")
        try pub.connect()
        #expect(await pub.waitUntilConnected())
        return pub
    }

    @Test func aTenMegabytePayloadIsDroppedUncopiedAndTheRestFlows() async throws {
        let broker = try MosquittoBroker()
        let sub = try Self.client(broker, id: "gw")
        let inbox = Inbox(sub)
        let pub = try await Self.connected(broker, sub)
        try pub.publish(topic: "fieldwatch/s/d/telemetry", payload: "a", qos: 1)
        try pub.publish(topic: "fieldwatch/s/d/telemetry", payload: String(repeating: "x", count: 10 << 20), qos: 1)
        try pub.publish(topic: "fieldwatch/s/d/telemetry", payload: "b", qos: 1)
        #expect(await pub.waitUntilPublished())
        #expect(await eventually { inbox.messages.count == 2 && sub.counters.droppedOversized == 1 })
        #expect(inbox.payloads == ["a", "b"])
        #expect(sub.counters.received == 3 && sub.bufferedBytes == 0)
        pub.disconnect()
        sub.disconnect()
    }

    @Test func bytesWaitingForIngestAreBounded() async throws {
        let broker = try MosquittoBroker()
        // Nobody reads: 1 KiB holds three 300-byte messages, the rest are counted as overflow.
        let sub = try Self.client(broker, id: "gw", bufferBytes: 1024)
        let pub = try await Self.connected(broker, sub)
        for i in 0..<10 { try pub.publish(topic: "fieldwatch/s/d/telemetry", payload: String(repeating: "\(i)", count: 300), qos: 1) }
        #expect(await pub.waitUntilPublished())
        #expect(await eventually { sub.counters.received == 10 })
        #expect(sub.counters.droppedOverflow == 7 && sub.bufferedBytes == 900)
        // Reading frees the budget.
        var iterator = sub.messages.makeAsyncIterator()
        for _ in 0..<3 { _ = await iterator.next() }
        #expect(sub.bufferedBytes == 0)
        try pub.publish(topic: "fieldwatch/s/d/telemetry", payload: "after", qos: 1)
        #expect(await eventually { sub.counters.received == 11 })
        #expect(await iterator.next().map { String(decoding: $0.payload, as: UTF8.self) } == "after")
        pub.disconnect()
        sub.disconnect()
    }
}
