import FieldwatchCore
import FieldwatchTesting
import Foundation
import MQTT
import Testing
@testable import Ingest

/// The hostile inputs the reliability issue names, each through the whole ingest path: a
/// clear, counted reject, never a crash, and memory that does not grow with what an attacker sends.
@Suite("Hostile input through the ingest path")
struct HostileInputTests {
    @Test func tenThousandDeepNestingAndInvalidUTF8AreRejectsNotCrashes() throws {
        let f = try PipelineFixture()
        let deep = String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
        let o = f.send(#"{"ts": 1764240800000, "metrics": {"flow": "# + deep + "}}")
        #expect(o.accepted == 0 && !o.rejected.isEmpty)
        // Bytes that are not UTF-8, in a key, in a value and around the document.
        for bytes in [[0xFF, 0xFE, 0x7B, 0x7D], Array(#"{"metrics": {"fl"#.utf8) + [0xC3, 0x28] + Array(#"ow": 1}}"#.utf8),
                      Array(#"{"metrics": {"flow": ""#.utf8) + [0xED, 0xA0, 0x80] + Array(#""}}"#.utf8)] {
            let r = f.pipeline.handle(MQTTMessage(topic: "fieldwatch/site-a/pump-1/telemetry", payload: bytes))
            #expect(r.accepted == 0 && r.rejected.count >= 1)
        }
    }

    @Test func topicsWithWildcardsDotsOrNULAreRejected() throws {
        let f = try PipelineFixture()
        let body = #"{"ts": 1764240800000, "metrics": {"flow": 1}}"#
        for topic in ["fieldwatch/+/pump-1/telemetry", "fieldwatch/site-a/#/telemetry", "fieldwatch/../pump-1/telemetry",
                      "fieldwatch/site-a/pump-1\u{0}/telemetry", "fieldwatch/site-a/pump-1/telemetry/../../x", "", "/"] {
            let o = f.send(body, topic: topic)
            #expect(o.accepted == 0 && o.rejected.first.map { [.badTopic, .unknownDevice].contains($0.reason) } == true, "\(topic.debugDescription): \(o.rejected)")
        }
    }

    @Test func timestampsAtTheEdgesOfTheRepresentableRangeAreRejectsNotTraps() throws {
        let f = try PipelineFixture()
        for ts in ["9223372036854775807", "-9223372036854775808", "9223372036854775808", "1e300", "-1", "0", "1.5",
                   "\"9999-12-31T23:59:59Z\"", "\"0001-01-01T00:00:00Z\"", "\"2026-02-30T00:00:00Z\"", "\"+275760-09-13T00:00:00Z\""] {
            let o = f.send(#"{"ts": \#(ts), "metrics": {"flow": 1}}"#)
            #expect(o.accepted == 0 && o.rejected.first.map { [.invalidTimestamp, .futureTimestamp].contains($0.reason) } == true, "\(ts): \(o.rejected)")
        }
    }

    @Test func aHundredThousandUnknownDevicesKeepMemoryBounded() throws {
        let f = try PipelineFixture(deadLetterLimit: 100)
        for i in 0..<100_000 {
            f.send(#"{"ts": 1764240800000, "metrics": {"flow": 1}}"#, topic: "fieldwatch/site-a/intruder-\(i)/telemetry")
        }
        let c = f.pipeline.counters
        #expect(c.rejects[.unknownDevice] == 100_000 && c.samplesAccepted == 0)
        // Nothing is kept per unknown device: the dead-letter file holds the first 100 only.
        let lines = try String(contentsOfFile: f.deadLetterPath, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 100)
    }
}
