import FieldwatchCore
import FieldwatchTesting
import Foundation
import MQTT
import Profiles
import Synchronization
import Testing
import TimeSeries
@testable import Ingest

final class AnomalyCollector: Sendable {
    private let items = Mutex<[Anomaly]>([])
    func add(_ a: Anomaly) { items.withLock { $0.append(a) } }
    var all: [Anomaly] { items.withLock { $0 } }
}

struct PipelineFixture {
    let pipeline: IngestPipeline
    let collector = AnomalyCollector()
    let deadLetterPath: String
    static let now = Timestamp(milliseconds: 1_764_240_810_000)  // 2025-11-27T10:53:30Z

    init(deadLetterLimit: Int = 100, profile: String = Fixtures.pumpProfile) throws {
        let profiles = ["test-pump": try ProfileLoader.parse(profile, file: "test-pump.yaml")]
        let inventory = try Inventory.parse(Fixtures.inventory, file: "inventory.yaml", profiles: profiles)
        deadLetterPath = try makeTemporaryDirectory().appendingPathComponent("dead.jsonl").path
        let collector = self.collector
        pipeline = IngestPipeline(
            inventory: inventory, profiles: profiles, store: SeriesStore(configuration: .init(capacity: 64)),
            deadLetters: DeadLetterFile(path: deadLetterPath, limitPerReason: deadLetterLimit),
            now: { PipelineFixture.now }, sink: { collector.add($0) })
    }

    @discardableResult
    func send(_ payload: String, topic: String = "fieldwatch/site-a/pump-1/telemetry", receivedAt: Date? = nil) -> IngestPipeline.Outcome {
        pipeline.handle(MQTTMessage(topic: topic, payload: Array(payload.utf8), receivedAt: receivedAt ?? PipelineFixture.now.date))
    }
}

@Suite("IngestPipeline")
struct IngestPipelineTests {
    @Test func acceptsAValidMessage() throws {
        let f = try PipelineFixture()
        let o = f.send(#"{"ts": 1764240800000, "metrics": {"bearing_temp": 55.5, "flow": 120}}"#)
        #expect(o.accepted == 2 && o.rejected.isEmpty)
        #expect(f.pipeline.store.latest(SeriesKey(device: "pump-1", sensor: "bearing_temp")) == Sample(timestamp: Timestamp(milliseconds: 1_764_240_800_000), value: 55.5))
    }

    @Test func missingTimestampGetsTheReceiveTime() throws {
        let f = try PipelineFixture()
        let received = Date(timeIntervalSince1970: 1_764_240_000.25)
        f.send(#"{"metrics": {"flow": 1}}"#, receivedAt: received)
        #expect(f.pipeline.store.latest(SeriesKey(device: "pump-1", sensor: "flow"))?.timestamp == Timestamp(milliseconds: 1_764_240_000_250))
    }

    struct RejectCase: Sendable, CustomTestStringConvertible {
        var topic = "fieldwatch/site-a/pump-1/telemetry"
        var payload: String
        var reason: RejectReason
        var detail: String
        var accepted = 0
        var testDescription: String { reason.rawValue }
    }

    static let rejects: [RejectCase] = [
        RejectCase(topic: "fieldwatch/site-a/pump-1", payload: "{}", reason: .badTopic,
                   detail: "topic \"fieldwatch/site-a/pump-1\" is not fieldwatch/<site>/<device>/telemetry"),
        RejectCase(payload: "{\"metrics\": ", reason: .malformedJSON,
                   detail: "payload is not valid JSON at byte 12: unexpected end, expected a value"),
        RejectCase(payload: #"{"metrics": 5}"#, reason: .invalidPayload,
                   detail: "\"metrics\" must be an object of sensor: number, found the number 5.0"),
        RejectCase(topic: "fieldwatch/site-a/pump-9/telemetry", payload: #"{"metrics": {"flow": 1}}"#, reason: .unknownDevice,
                   detail: "device \"pump-9\" (site \"site-a\") is not in the inventory; add it to the inventory file or fix the topic"),
        RejectCase(topic: "fieldwatch/site-b/pump-1/telemetry", payload: #"{"metrics": {"flow": 1}}"#, reason: .unknownDevice,
                   detail: "device \"pump-1\" is registered at site \"site-a\", not \"site-b\"; fix the device's topic or the inventory"),
        RejectCase(payload: #"{"ts": "noon", "metrics": {"flow": 1}}"#, reason: .invalidTimestamp,
                   detail: "\"ts\" \"noon\" is not an RFC 3339 date-time such as 2026-11-27T10:53:30Z"),
        RejectCase(payload: #"{"ts": "2025-11-28T10:53:31Z", "metrics": {"flow": 1}}"#, reason: .futureTimestamp,
                   detail: "\"ts\" 2025-11-28T10:53:31.000Z is more than 24 h ahead of the gateway clock; fix the device clock (NTP)"),
        RejectCase(payload: #"{"metrics": {"flow": 1, "rpm": 1450}}"#, reason: .unknownSensor,
                   detail: "sensor \"rpm\" is not in profile test-pump of device pump-1 (known: bearing_temp, discharge_pressure, flow); fix the device or the profile", accepted: 1),
        RejectCase(payload: #"{"metrics": {"flow": "high", "bearing_temp": 50}}"#, reason: .nonNumericValue,
                   detail: "sensor \"flow\" value is the string \"high\", not a number", accepted: 1),
        RejectCase(payload: #"{"metrics": {"flow": NaN, "bearing_temp": 50}}"#, reason: .nonFiniteValue,
                   detail: "sensor \"flow\" value NaN is not a finite number; the device must omit a reading it does not have", accepted: 1),
        RejectCase(payload: #"{"metrics": {"bearing_temp": 900, "flow": 3}}"#, reason: .outOfRange,
                   detail: "sensor \"bearing_temp\" value 900 Cel is outside its physical range -20...150; check the sensor and its wiring", accepted: 1),
        RejectCase(payload: #"{"metrics": {}}"#, reason: .invalidPayload,
                   detail: "\"metrics\" is empty; send at least one \"<sensor>\": <number>"),
    ]

    @Test(arguments: rejects)
    func rejectReason(_ c: RejectCase) throws {
        let f = try PipelineFixture()
        let o = f.send(c.payload, topic: c.topic)
        #expect(o.rejected.map(\.reason) == [c.reason])
        #expect(o.rejected.first?.detail == c.detail)
        #expect(o.accepted == c.accepted)
        #expect(f.pipeline.counters.rejects == [c.reason: 1])
        // The dead-letter line names the reason and carries the payload excerpt.
        let lines = try String(contentsOfFile: f.deadLetterPath, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 1)
        let entry = try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: String]
        #expect(entry?["reason"] == c.reason.rawValue)
        #expect(entry?["topic"] == c.topic)
        #expect(entry?["payload"] == c.payload)
        #expect(entry?["detail"] == c.detail)
    }

    /// The topic index (fast path) and topic parsing (general path) name the same device for
    /// every registered topic, and neither for near misses.
    @Test func topicIndexAgreesWithTopicParsing() throws {
        let f = try PipelineFixture()
        let registered = ["fieldwatch/site-a/pump-1/telemetry", "fieldwatch/site-a/pump-2/telemetry"]
        for topic in registered {
            let (fast, general) = f.pipeline.deviceByBothPaths(topic)
            #expect(fast != nil && fast == general, "\(topic)")
        }
        let nearMisses = [
            "fieldwatch/site-b/pump-1/telemetry", "fieldwatch/site-a/pump-9/telemetry", "fieldwatch/site-a/pump-1/status",
            "fieldwatch/site-a/pump-1/telemetry/", "/fieldwatch/site-a/pump-1/telemetry", "fieldwatch//pump-1/telemetry",
            "Fieldwatch/site-a/pump-1/telemetry", "fieldwatch/site-a/pump-1", "fieldwatch/site-a//pump-1/telemetry", "",
            "fieldwatch/site-a/pump-1/telemetry ", "fieldwatch/site-a/pump-１/telemetry",
        ]
        for topic in nearMisses {
            let (fast, general) = f.pipeline.deviceByBothPaths(topic)
            #expect(fast == nil && general == nil, "\(topic)")
        }
    }

    @Test func tooLateSampleIsRejected() throws {
        let f = try PipelineFixture()
        f.send(#"{"ts": 1764240800000, "metrics": {"flow": 1}}"#)
        let o = f.send(#"{"ts": 1764240700000, "metrics": {"flow": 2}}"#)
        #expect(o.rejected.map(\.reason) == [.tooLate])
    }

    @Test func deadLetterFileIsBoundedPerReasonButEveryRejectIsCounted() throws {
        let f = try PipelineFixture(deadLetterLimit: 3)
        for _ in 0..<10 { f.send("not json") }
        for _ in 0..<5 { f.send(#"{"metrics": {"flow": NaN}}"#) }
        #expect(f.pipeline.counters.rejects == [.malformedJSON: 10, .nonFiniteValue: 5])
        let lines = try String(contentsOfFile: f.deadLetterPath, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 6)
        #expect(lines.filter { $0.contains("\"reason\":\"malformed_json\"") }.count == 3)
    }

    @Test func longPayloadIsExcerpted() throws {
        let f = try PipelineFixture()
        f.send(String(repeating: "x", count: 5000))
        let line = try String(contentsOfFile: f.deadLetterPath, encoding: .utf8)
        #expect(line.contains(String(repeating: "x", count: 512) + "…\""))
        #expect(!line.contains(String(repeating: "x", count: 513)))
    }

    @Test func criticalConditionHeldForTheDurationRaisesAnAnomalyWithEvidence() throws {
        let f = try PipelineFixture()
        let t0: Int64 = 1_764_240_000_000
        for i in 0..<5 { f.send(#"{"ts": \#(t0 + Int64(i) * 1000), "metrics": {"bearing_temp": 60}}"#) }
        // Above critical (95) from t0+5s; min_duration 2 s → fires at t0+7s.
        var raised: [Anomaly] = []
        for i in 5..<10 {
            raised += f.send(#"{"ts": \#(t0 + Int64(i) * 1000), "metrics": {"bearing_temp": 97}}"#).anomalies
        }
        #expect(raised.count == 1)
        let a = try #require(raised.first)
        #expect(a.transition == .raised && a.severity == .critical)
        #expect(a.faultCode == "BEARING_OVERTEMP" && a.device == "pump-1" && a.site == "site-a" && a.sensor == "bearing_temp")
        #expect(a.detectedAt == Timestamp(milliseconds: t0 + 7000) && a.conditionSince == Timestamp(milliseconds: t0 + 5000))
        #expect(a.limit == 95 && a.value == 97 && a.unit == "Cel")
        #expect(a.profileID == "test-pump" && a.profileVersion == 3 && a.detector == "threshold")
        #expect(a.summary == "Bearing overheating: Bearing temperature 97 Cel above critical limit 95 Cel for 2 s")
        #expect(a.evidence.map(\.value) == [60, 60, 60, 60, 60, 97, 97, 97])
        #expect(f.collector.all == [a])
        #expect(f.pipeline.counters.anomaliesRaised == 1)
    }

    /// A bearing warming 3 °C an hour from 60 °C will reach its 95 °C critical limit after
    /// 11 h 40 min: the default forecast raises a predictive anomaly for it hours before any
    /// limit is crossed, with the crossing time, its band and the fitted window as evidence.
    @Test func aRisingTrendRaisesAForecastLongBeforeTheLimit() throws {
        let f = try PipelineFixture()
        let t0: Int64 = 1_764_230_000_000
        let crossing = Timestamp(milliseconds: t0 + Int64(35.0 / 3 * 3_600_000))
        var raised: [Anomaly] = []
        for i in 0..<(3 * 360) {  // three hours, one reading every 10 s
            let hours = Double(i) / 360
            let value = 60 + 3 * hours + (sin(Double(i) * 12.9898) + sin(Double(i) * 78.233)) * 1.5
            raised += f.send(#"{"ts": \#(t0 + Int64(i) * 10_000), "metrics": {"bearing_temp": \#(value)}}"#).anomalies
        }
        #expect(raised.count == 1, "\(raised.map(\.summary))")
        let a = try #require(raised.first)
        let forecast = try #require(a.forecast)
        #expect(a.transition == .raised && a.severity == .warning && a.detector == "trend-forecast")
        #expect(a.faultCode == "BEARING_OVERTEMP", "a forecast reports the fault of the limit it predicts")
        #expect(a.detectedAt < Timestamp(milliseconds: t0 + 3 * 3_600_000) && a.value < 80, "raised before even the warning limit")
        #expect(forecast.limit == 95)
        let error = abs((forecast.crossingAt - crossing).secondsDouble)
        #expect(error < 0.1 * (crossing - a.detectedAt).secondsDouble, "predicted \(forecast.crossingAt.rfc3339), true \(crossing.rfc3339)")
        #expect(forecast.earliest <= forecast.crossingAt && forecast.crossingAt <= (forecast.latest ?? forecast.crossingAt))
        #expect(forecast.earliest <= crossing && crossing <= (forecast.latest ?? crossing),
                "the band holds the true crossing: \(forecast.earliest.rfc3339) \(forecast.crossingAt.rfc3339) \(forecast.latest?.rfc3339 ?? "-") vs \(crossing.rfc3339), fitted \(forecast.fittedAt.rfc3339) level \(forecast.level) slope \(forecast.slopePerHour) points \(forecast.points)")
        #expect(abs(forecast.slopePerHour - 3) < 0.3)
        // The evidence is the fitted window as far as the ring holds it (this fixture's ring keeps 64 samples).
        #expect(a.evidence.count == 64 && a.evidence.allSatisfy { $0.timestamp >= forecast.windowStart && $0.timestamp <= a.detectedAt })
        #expect(a.summary.hasPrefix("Bearing overheating: Bearing temperature rising ") && a.summary.contains("Cel/h towards its critical limit 95 Cel: predicted to reach it in "), "\(a.summary)")
    }

    @Test func aSteadyNoisySensorNeverForecasts() throws {
        let f = try PipelineFixture()
        let t0: Int64 = 1_764_230_000_000
        var anomalies: [Anomaly] = []
        for i in 0..<(12 * 360) {  // twelve hours of noise around 60 °C
            let value = 60 + sin(Double(i) * 12.9898) * 2 + sin(Double(i) * 0.002) * 1.5
            anomalies += f.send(#"{"ts": \#(t0 + Int64(i) * 10_000), "metrics": {"bearing_temp": \#(value)}}"#).anomalies
        }
        #expect(anomalies.isEmpty, "\(anomalies.map(\.summary))")
    }

    /// Behaviour detectors declared in a profile report their own faults: a named one from the
    /// catalogue, or the type's default.
    @Test func behaviourDetectorsRaiseTheirOwnFaults() throws {
        let profile = Fixtures.pumpProfile + """

            detectors:
              - {sensor: bearing_temp, type: threshold}
              - {sensor: bearing_temp, type: rate_of_change, fault: BEARING_OVERTEMP, parameters: {max_rise: 3, window: 60}}
              - {sensor: flow, type: change_point}
            """
        let f = try PipelineFixture(profile: profile)
        let t0: Int64 = 1_764_230_000_000
        var raised: [Anomaly] = []
        for i in 0..<600 {
            // Bearing: steady at 40 °C, then climbing 4.8 °C a minute for 40 rows (to 72 °C, below any limit).
            let temp = 40 + Double(min(max(i - 500, 0), 40)) * 0.8 + sin(Double(i) * 12.9898) * 0.3
            // Flow: 200 m³/h, then 10 % more from row 300, within any limit.
            let flow = (i >= 300 ? 220.0 : 200.0) + sin(Double(i) * 78.233) * 5
            raised += f.send(#"{"ts": \#(t0 + Int64(i) * 10_000), "metrics": {"bearing_temp": \#(temp), "flow": \#(flow)}}"#).anomalies
        }
        let rate = try #require(raised.first { $0.detector == "rate-of-change" })
        #expect(rate.faultCode == "BEARING_OVERTEMP" && rate.value > 3 && rate.value < 6 && rate.limit == 3)
        #expect(rate.summary.hasPrefix("Bearing overheating: Bearing temperature rising "), "\(rate.summary)")
        let shift = try #require(raised.first { $0.detector == "cusum" })
        #expect(shift.faultCode == .levelShift && shift.sensor == "flow" && abs(shift.limit - 200) < 3)
        #expect(shift.detectedAt > Timestamp(milliseconds: t0 + 300 * 10_000) && shift.detectedAt < Timestamp(milliseconds: t0 + 330 * 10_000))
        #expect(raised.map(\.transition) == [.raised, .raised, .cleared], "\(raised.map(\.summary))")
        #expect(raised.last?.detector == "rate-of-change", "the rise stopped: five quiet minutes later it clears")
    }

    @Test func aProfileRuleSeesTwoSensorsRisingTogether() throws {
        let profile = Fixtures.pumpProfile.replacingOccurrences(of: "    range: { min: 0, max: 500 }\n", with: "    range: { min: 0, max: 500 }\n    nominal: 200\n") + """

            rules:
              - {fault: BEARING_OVERTEMP, sensors: [bearing_temp, flow], min_change: 0.1, window: 1h}
            """
        let f = try PipelineFixture(profile: profile)
        let t0: Int64 = 1_764_230_000_000
        var anomalies: [Anomaly] = []
        for i in 0..<(4 * 360) {
            let h = Double(i) / 360
            // From hour 1 to 3 the bearing warms 4 °C an hour (a tenth of its scale, 25 °C to its warning, is 2.5 °C)
            // and the flow climbs 80 m³/h an hour (a tenth of its scale, the 500 m³/h range, is 50).
            let temp = 55 + 4 * min(max(h - 1, 0), 2)
            let flow = 200 + 80 * min(max(h - 1, 0), 2)
            anomalies += f.send(#"{"ts": \#(t0 + Int64(i) * 10_000), "metrics": {"bearing_temp": \#(temp), "flow": \#(flow)}}"#).anomalies
        }
        let rule = try #require(anomalies.first { $0.detector == "multi-sensor-rule" }, "\(anomalies.map(\.summary))")
        #expect(rule.faultCode == "BEARING_OVERTEMP" && rule.transition == .raised)
        #expect(rule.summary.hasPrefix("Bearing overheating: Bearing temperature and Flow rising together over 1 h (+"), "\(rule.summary)")
        let hour = (rule.detectedAt - Timestamp(milliseconds: t0)).secondsDouble / 3600
        #expect(hour > 1.5 && hour < 2.6, "each has covered a tenth of its scale within the hour: \(hour)")
        #expect(anomalies.filter { $0.detector == "multi-sensor-rule" && $0.transition == .raised }.count == 1)
    }

    /// A waveform sensor sends blocks of raw samples; sensors derived from it get the block's
    /// features as readings, with limits and detectors like any gauge.
    @Test func vibrationBlocksBecomeFeatureReadingsWithLimits() throws {
        let waveform = """
              - key: accel
                name: Drive-end accelerometer
                unit: m/s2
                kind: waveform
                range: { min: -500, max: 500 }
              - key: accel_rms
                name: Vibration RMS
                unit: m/s2
                range: { min: 0, max: 500 }
                derived: { from: accel, feature: rms }
              - key: accel_kurtosis
                name: Vibration kurtosis
                unit: /
                range: { min: 0, max: 10000 }
                derived: { from: accel, feature: kurtosis }
                limits: { direction: above, warning: 4, critical: 6, clear: 3.5, min_duration: 0s, fault: BEARING_OVERTEMP }
            faults:

            """
        let f = try PipelineFixture(profile: Fixtures.pumpProfile.replacingOccurrences(of: "faults:\n", with: waveform))
        let t0: Int64 = 1_764_230_000_000
        func block(_ impacts: Bool) -> String {
            var values = (0..<512).map { 2 * sin(2 * .pi * 8 * Double($0) / 512) }
            if impacts { for i in stride(from: 5, to: 512, by: 64) { values[i] += 20 } }
            return "[" + values.map { String(format: "%.4f", $0) }.joined(separator: ",") + "]"
        }
        var anomalies: [Anomaly] = []
        for i in 0..<10 {
            let outcome = f.send(#"{"ts": \#(t0 + Int64(i) * 60_000), "metrics": {"accel": \#(block(i >= 5))}}"#)
            #expect(outcome.accepted == 2 && outcome.rejected.isEmpty, "\(outcome.rejected)")
            anomalies += outcome.anomalies
        }
        let kurtosis = f.pipeline.store.range(SeriesKey(device: "pump-1", sensor: "accel_kurtosis"), from: Timestamp(milliseconds: t0), to: Timestamp(milliseconds: t0 + 600_000))
        #expect(kurtosis.count == 10 && abs(kurtosis[0].value - 1.5) < 0.01, "a clean sine: \(kurtosis.first?.value ?? -1)")
        let rms = f.pipeline.store.range(SeriesKey(device: "pump-1", sensor: "accel_rms"), from: Timestamp(milliseconds: t0), to: Timestamp(milliseconds: t0 + 600_000))
        #expect(abs(rms[0].value - 2 / 2.0.squareRoot()) < 0.01)
        let raised = try #require(anomalies.first { $0.transition == .raised })
        #expect(raised.sensor == "accel_kurtosis" && raised.faultCode == "BEARING_OVERTEMP" && raised.severity == .critical)
        #expect(raised.detectedAt == Timestamp(milliseconds: t0 + 5 * 60_000), "the first impacted block")
        #expect(f.pipeline.store.range(SeriesKey(device: "pump-1", sensor: "accel"), from: Timestamp(milliseconds: t0), to: Timestamp(milliseconds: t0 + 600_000)).isEmpty,
                "raw blocks are not kept in the rings")

        // What a device can get wrong with blocks, each with its reason.
        let cases: [(String, RejectReason, String)] = [
            (#""accel": 0.5"#, .nonNumericValue, "is a waveform: send its raw samples as a list"),
            (#""bearing_temp": [1, 2, 3]"#, .nonNumericValue, "only sensors with kind: waveform take blocks"),
            (#""accel": [1, 2, 3]"#, .invalidPayload, "a block needs at least 8"),
            (#""accel": [1, 2, "x", 4]"#, .nonNumericValue, "a list with something other than a finite number at index 2"),
            (#""accel": [1, 2, 3, 4, 5, 6, 7, 900]"#, .outOfRange, "block sample 7 is 900"),
        ]
        for (metrics, reason, text) in cases {
            let outcome = f.send(#"{"ts": \#(t0 + 700_000), "metrics": {\#(metrics)}}"#)
            #expect(outcome.rejected.map(\.reason) == [reason] && outcome.rejected.first?.detail.contains(text) == true, "\(outcome.rejected)")
        }
    }

    /// Each out-of-range reading is refused; three in a row are a broken sensor and raise
    /// SENSOR_OUT_OF_RANGE (sensor health); three valid readings in a row clear it.
    @Test func aSensorThatKeepsReadingOutOfRangeIsASensorFault() throws {
        let f = try PipelineFixture()
        let t0: Int64 = 1_764_230_000_000
        func send(_ i: Int, _ value: Double) -> IngestPipeline.Outcome {
            f.send(#"{"ts": \#(t0 + Int64(i) * 10_000), "metrics": {"bearing_temp": \#(value)}}"#)
        }
        var anomalies: [Anomaly] = []
        for i in 0..<5 { anomalies += send(i, 60).anomalies }
        // One glitch is only refused.
        let glitch = send(5, 400)
        #expect(glitch.rejected.map(\.reason) == [.outOfRange] && glitch.anomalies.isEmpty)
        anomalies += send(6, 60).anomalies
        // Then the sensor fails open: three readings at the top of the scale.
        for i in 7..<10 {
            let outcome = send(i, 999)
            #expect(outcome.rejected.map(\.reason) == [.outOfRange])
            anomalies += outcome.anomalies
        }
        for i in 10..<14 { anomalies += send(i, 61).anomalies }
        #expect(anomalies.map(\.transition) == [.raised, .cleared], "\(anomalies.map(\.summary))")
        let raised = try #require(anomalies.first)
        #expect(raised.faultCode == .sensorOutOfRange && raised.faultCode.isSensorOrLinkHealth && raised.detector == "range-health")
        #expect(raised.detectedAt == Timestamp(milliseconds: t0 + 90_000) && raised.conditionSince == Timestamp(milliseconds: t0 + 70_000))
        #expect(raised.limit == 150 && raised.summary.contains("outside its physical range -20...150 Cel"), "\(raised.summary)")
        #expect(anomalies[1].detectedAt == Timestamp(milliseconds: t0 + 120_000), "cleared by the third valid reading")
    }

    @Test func routeParsesOnlyTheContractTopic() throws {
        let f = try PipelineFixture()
        #expect(f.pipeline.route("fieldwatch/s/d/telemetry").map { "\($0.0)/\($0.1)" } == "s/d")
        for bad in ["fieldwatch/s/d/status", "other/s/d/telemetry", "fieldwatch//d/telemetry", "fieldwatch/s/d/telemetry/x", ""] {
            #expect(f.pipeline.route(bad) == nil, "\(bad)")
        }
    }
}

@Suite("Drills")
struct DrillTests {
    @Test func decoderReadsTheDrillFlag() throws {
        #expect(try decode(#"{"drill": true, "metrics": {"a": 1}}"#).get().drill)
        #expect(try !decode(#"{"drill": false, "metrics": {"a": 1}}"#).get().drill)
        #expect(try !decode(#"{"metrics": {"a": 1}}"#).get().drill)
        #expect(throws: PayloadError(kind: .invalidPayload, detail: "\"drill\" must be true or false, found the string \"yes\"")) {
            try decode(#"{"drill": "yes", "metrics": {"a": 1}}"#).get()
        }
    }

    @Test func drillTelemetryHasItsOwnSeriesAndRaisesDrillAnomalies() throws {
        let f = try PipelineFixture()
        let t0: Int64 = 1_764_240_000_000
        func real(_ s: Int64, _ v: Double) -> IngestPipeline.Outcome {
            f.send(#"{"ts": \#(t0 + s * 1000), "metrics": {"bearing_temp": \#(v)}}"#)
        }
        func drill(_ s: Int64, _ v: Double) -> IngestPipeline.Outcome {
            f.send(#"{"drill": true, "ts": \#(t0 + s * 1000), "metrics": {"bearing_temp": \#(v)}}"#)
        }
        #expect(real(0, 97).anomalies.isEmpty)
        // Drill readings in between neither reset nor feed the real detector.
        #expect(drill(1, 60).anomalies.isEmpty)
        let fired = real(2, 97).anomalies
        #expect(fired.map(\.drill) == [false])
        #expect(fired.first?.evidence.map(\.value) == [97, 97])
        #expect(drill(3, 99).anomalies.isEmpty)
        let drilled = drill(5, 99).anomalies
        #expect(drilled.map(\.drill) == [true] && drilled.first?.faultCode == "BEARING_OVERTEMP")
        #expect(drilled.first?.evidence.map(\.value) == [60, 99, 99])
    }
}

@Suite("Device status topic")
struct StatusTopicTests {
    @Test func offlineRaisesOnceOnlineClearsAndBadInputIsRejected() throws {
        let f = try PipelineFixture()
        func status(_ payload: String, device: String = "pump-1") -> IngestPipeline.Outcome {
            f.pipeline.handleStatus(MQTTMessage(topic: "fieldwatch/site-a/\(device)/status", payload: Array(payload.utf8)))
        }
        let offline = status(#"{"status":"offline","reason":"connection lost"}"#).anomalies
        #expect(offline.map(\.faultCode) == ["DEVICE_OFFLINE"] && offline.first?.transition == .raised)
        // A retained will delivered again after a reconnect is not a new event.
        #expect(status(#"{"status":"offline"}"#).anomalies.isEmpty)
        #expect(status(#"{"status":"online"}"#).anomalies.map(\.transition) == [.cleared])
        #expect(status(#"{"status":"online"}"#).anomalies.isEmpty)
        #expect(status("down").rejected.map(\.reason) == [.invalidPayload])
        #expect(status(#"{"status":"offline"}"#, device: "pump-9").rejected.map(\.reason) == [.unknownDevice])
    }
}

@Suite("Staleness")
struct StalenessTests {
    @Test func silentSensorsGoStaleByTheGatewayClockAndClearWhenTheyReport() throws {
        let f = try PipelineFixture(profile: Fixtures.pumpProfileWithPeriod)
        let t0 = PipelineFixture.now  // the pipeline's start
        func sweep(_ seconds: Int64) -> [String] {
            f.pipeline.sweepStaleness(now: t0 + .seconds(seconds)).map { "\($0.device)/\($0.sensor) \($0.transition.rawValue)" }.sorted()
        }
        // bearing_temp reports every 10 s, stale after 30 s (three periods); the others have no period.
        #expect(f.pipeline.stalenessSweepInterval == .seconds(7.5))
        #expect(sweep(30).isEmpty)
        #expect(sweep(31) == ["pump-1/bearing_temp raised", "pump-2/bearing_temp raised"])
        #expect(sweep(40).isEmpty)
        // pump-1 reports (arrival time counts, whatever the device clock says) and clears.
        f.send(#"{"ts": "2020-01-01T00:00:00Z", "metrics": {"bearing_temp": 50}}"#, receivedAt: (t0 + .seconds(45)).date)
        #expect(sweep(46) == ["pump-1/bearing_temp cleared"])
        #expect(f.collector.all.filter { $0.faultCode == IngestPipeline.staleSensorFault }.count == 3)
        // An offline device's sensors are covered by its offline ticket, not reported stale.
        f.pipeline.handleStatus(MQTTMessage(topic: "fieldwatch/site-a/pump-1/status", payload: Array(#"{"status":"offline"}"#.utf8)))
        #expect(sweep(200).isEmpty)
    }
}

@Suite("Detector checkpoints through the pipeline")
struct PipelineCheckpointTests {
    @Test func aRestoredPipelineRaisesWhenTheConditionHeldAcrossTheRestart() throws {
        // bearing_temp: critical 95 held for 2 s. Held 1 s, then the gateway restarts.
        let before = try PipelineFixture()
        before.send(#"{"ts": 1764240800000, "metrics": {"bearing_temp": 97}}"#)
        before.send(#"{"ts": 1764240801000, "metrics": {"bearing_temp": 97}}"#)
        let checkpoint = try before.pipeline.detectorCheckpoint()

        let after = try PipelineFixture()
        let report = try after.pipeline.restoreDetectors(from: checkpoint)
        #expect(report.restored >= 1 && report.discarded == 0 && report.unknownSeries == 0)
        let o = after.send(#"{"ts": 1764240802000, "metrics": {"bearing_temp": 97}}"#)
        let raised = try #require(o.anomalies.first)
        #expect(raised.faultCode == "BEARING_OVERTEMP" && raised.transition == .raised && raised.severity == .critical)
        #expect(raised.conditionSince == Timestamp(milliseconds: 1_764_240_800_000))
        #expect(after.collector.all.count == 1)

        // A pipeline of another profile version with other limits discards that detector.
        let changed = try PipelineFixture(profile: Fixtures.pumpProfile.replacingOccurrences(of: "min_duration: 2s", with: "min_duration: 3s"))
        let discarded = try changed.pipeline.restoreDetectors(from: checkpoint)
        #expect(discarded.discarded >= 1)
        #expect(changed.send(#"{"ts": 1764240802000, "metrics": {"bearing_temp": 97}}"#).anomalies.isEmpty)
    }
}
