import FieldwatchCore
import FieldwatchTesting
import Foundation
import MQTT
import PayloadFormats
import Profiles
import Synchronization
import Testing
import TimeSeries
@testable import Ingest

final class CommandCollector: Sendable {
    private let items = Mutex<[(String, [UInt8])]>([])
    func add(_ topic: String, _ payload: [UInt8]) { items.withLock { $0.append((topic, payload)) } }
    var topics: [String] { items.withLock { $0.map(\.0) } }
    var payloads: [[UInt8]] { items.withLock { $0.map(\.1) } }
}

/// The fixture site with a Sparkplug group of its own, an external id, and a custom mapping.
struct FormatFixture {

    let pipeline: IngestPipeline
    let anomalies = AnomalyCollector()
    let commands = CommandCollector()
    static let now = PipelineFixture.now

    init(deadLetters: String? = nil) throws {
        let profiles = ["test-pump": try ProfileLoader.parse(Fixtures.pumpProfile, file: "test-pump.yaml")]
        let inventory = try Inventory.parse(Fixtures.formatsInventory, file: "inventory.yaml", profiles: profiles)
        let (anomalies, commands) = (self.anomalies, self.commands)
        pipeline = IngestPipeline(inventory: inventory, profiles: profiles, store: SeriesStore(configuration: .init(capacity: 64)),
                                  deadLetters: DeadLetterFile(path: deadLetters), now: { FormatFixture.now },
                                  commands: { commands.add($0, $1) }, sink: { anomalies.add($0) })
    }

    @discardableResult
    func send(_ topic: String, _ payload: [UInt8]) -> IngestPipeline.Outcome {
        pipeline.handle(MQTTMessage(topic: topic, payload: payload, receivedAt: Self.now.date), trace: true)
    }

    func latest(_ device: String, _ sensor: String) -> Sample? {
        pipeline.store.latest(SeriesKey(device: DeviceID(device), sensor: SensorKey(sensor)))
    }
}

@Suite("Ingest: SenML")
struct SenMLIngestTests {
    let ms = FormatFixture.now.milliseconds

    @Test func aSenMLPackOnATelemetryTopicIsReadWithItsUnitsChecked() throws {
        let f = try FormatFixture()
        let pack = #"[{"bn":"site-a/pump-1/","bt":\#(Double(ms - 2000) / 1000),"n":"bearing_temp","u":"Cel","v":61.5},{"n":"flow","u":"m3/h","v":120,"t":1},{"n":"discharge_pressure","u":"Pa","v":450000}]"#
        let o = f.send("fieldwatch/site-a/pump-1/telemetry", Array(pack.utf8))
        #expect(o.format == .senmlJSON)
        #expect(o.accepted == 2)
        #expect(f.latest("pump-1", "bearing_temp") == Sample(timestamp: Timestamp(milliseconds: ms - 2000), value: 61.5))
        #expect(f.latest("pump-1", "flow") == Sample(timestamp: Timestamp(milliseconds: ms - 1000), value: 120))
        #expect(o.rejected.map(\.reason) == [.unitMismatch])
        #expect(o.rejected.first?.detail.contains("arrives in \"Pa\" but profile test-pump measures it in \"bar\"") == true, "\(o.rejected)")
        #expect(f.pipeline.counters.messagesByFormat[.senmlJSON] == 1)
        // Synonyms are only true ones: °C is Cel, but SenML's C is the coulomb.
        let units = f.send("fieldwatch/site-a/pump-1/telemetry", Array(#"[{"n":"bearing_temp","u":"°C","v":60},{"n":"bearing_temp","u":"C","v":61,"t":1}]"#.utf8))
        #expect(units.accepted == 1 && units.rejected.map(\.reason) == [.unitMismatch], "\(units.rejected)")
    }

    @Test func theSenMLTopicFindsEachDeviceByItsBaseNameOrExternalID() throws {
        let f = try FormatFixture()
        let cbor = SenML.cbor(baseName: "site-a/pump-1/", baseTime: Double(ms) / 1000, [.init(name: "flow", unit: "m3/h", value: 10)])
        let o = f.send("fieldwatch/senml", cbor)
        #expect(o.format == .senmlCBOR && o.accepted == 1, "\(o.rejected)")
        #expect(f.latest("pump-1", "flow")?.value == 10)
        // Relative times (below 2^28 s) count from the moment the pack arrived.
        let external = f.send("fieldwatch/senml", Array(#"[{"bn":"P-102:","n":"flow","v":7,"t":-3},{"bn":"nobody/","n":"flow","v":1}]"#.utf8))
        #expect(external.accepted == 1)
        #expect(f.latest("pump-2", "flow") == Sample(timestamp: Timestamp(milliseconds: ms - 3000), value: 7))
        #expect(external.rejected.map(\.reason) == [.unknownDevice])
        #expect(external.rejected.first?.detail.contains("SenML name \"nobody/flow\" names no device") == true)
    }

    @Test func brokenPacksAreRejectedWithTheirReason() throws {
        let f = try FormatFixture()
        #expect(f.send("fieldwatch/senml", [0x9F, 0x01]).rejected.map(\.reason) == [.malformedPayload])
        #expect(f.send("fieldwatch/senml", Array("[1".utf8)).rejected.map(\.reason) == [.malformedJSON])
        let mixed = f.send("fieldwatch/site-a/pump-1/telemetry", Array(#"[{"n":"flow","v":1},{"n":"flow","vs":"high"},{"n":"bearing_temp","v":1,"t":-1e20}]"#.utf8))
        #expect(mixed.accepted == 1)
        #expect(mixed.rejected.map(\.reason) == [.nonNumericValue, .invalidTimestamp], "\(mixed.rejected)")
    }
}

@Suite("Ingest: Sparkplug B")
struct SparkplugIngestTests {
    let ms = UInt64(FormatFixture.now.milliseconds)

    @discardableResult
    func birth(_ f: FormatFixture, bdSeq: UInt64 = 0) -> [IngestPipeline.Outcome] {
        [f.send("spBv1.0/PlantA/NBIRTH/edge1", Sparkplug.payload(at: ms, seq: 0, [Sparkplug.birthDeathMetric(bdSeq)])),
         f.send("spBv1.0/PlantA/DBIRTH/edge1/pump-1", Sparkplug.payload(at: ms, seq: 1, [
            Sparkplug.metric(name: "bearing_temp", alias: 10, value: 55), Sparkplug.metric(name: "Pump/flow", alias: 11, value: 100),
         ])),
         f.send("spBv1.0/PlantA/DBIRTH/edge1/P-102", Sparkplug.payload(at: ms, seq: 2, [Sparkplug.metric(name: "flow", alias: 20, value: 5)]))]
    }

    @Test func birthsDefineAliasesAndDataByAliasIsStored() throws {
        let f = try FormatFixture()
        let births = birth(f)
        #expect(births[1].accepted == 2 && births[2].accepted == 1, "\(births.map(\.rejected))")
        #expect(f.latest("pump-1", "flow")?.value == 100, "a folder path's last component names the sensor")
        let data = f.send("spBv1.0/PlantA/DDATA/edge1/pump-1", Sparkplug.payload(at: ms + 1000, seq: 3, [
            Sparkplug.metric(name: nil, alias: 10, value: 57.5), Sparkplug.metric(name: nil, alias: 11, value: 101, at: ms + 500),
        ]))
        #expect(data.format == .sparkplug && data.accepted == 2 && data.rejected.isEmpty, "\(data.rejected)")
        #expect(f.latest("pump-1", "bearing_temp") == Sample(timestamp: Timestamp(milliseconds: Int64(ms) + 1000), value: 57.5))
        #expect(f.latest("pump-1", "flow") == Sample(timestamp: Timestamp(milliseconds: Int64(ms) + 500), value: 101))
        #expect(f.commands.topics.isEmpty, "nothing was lost: no rebirth")
    }

    @Test func aSequenceGapAsksForARebirthOnceAndTheDataStillCounts() throws {
        let f = try FormatFixture()
        birth(f)
        let gap = f.send("spBv1.0/PlantA/DDATA/edge1/pump-1", Sparkplug.payload(at: ms + 1000, seq: 7, [Sparkplug.metric(name: nil, alias: 10, value: 58)]))
        #expect(gap.accepted == 1)
        #expect(f.commands.topics == ["spBv1.0/PlantA/NCMD/edge1"])
        let command = try Sparkplug.decode(f.commands.payloads[0]).get()
        #expect(command.metrics.map(\.name) == [Sparkplug.rebirthMetric] && command.metrics[0].booleanValue)
        // Another gap within the rebirth interval does not ask again.
        f.send("spBv1.0/PlantA/DDATA/edge1/pump-1", Sparkplug.payload(at: ms + 2000, seq: 20, [Sparkplug.metric(name: nil, alias: 10, value: 58)]))
        #expect(f.commands.topics.count == 1)
        #expect(f.pipeline.counters.sparkplugSequenceGaps == 2 && f.pipeline.counters.sparkplugRebirthRequests == 1)
    }

    @Test func dataBeforeBirthAndUnknownAliasesAskForARebirth() throws {
        let f = try FormatFixture()
        let early = f.send("spBv1.0/PlantA/DDATA/edge1/pump-1", Sparkplug.payload(at: ms, seq: 5, [Sparkplug.metric(name: nil, alias: 10, value: 1)]))
        #expect(early.rejected.map(\.reason) == [.unknownSensor])
        #expect(early.rejected[0].detail.contains("alias 10 of pump-1 is in no birth certificate"))
        #expect(f.commands.topics == ["spBv1.0/PlantA/NCMD/edge1"])
        #expect(early.notes.contains { $0.contains("DDATA before the edge node's NBIRTH") })
    }

    @Test func deathsTakeDevicesOfflineAndOnlyTheMatchingBirthsDeathCounts() throws {
        let f = try FormatFixture()
        birth(f, bdSeq: 4)
        f.send("spBv1.0/PlantA/DDEATH/edge1/P-102", Sparkplug.payload(at: ms, seq: 3, []))
        #expect(f.anomalies.all.map { "\($0.device) \($0.faultCode) \($0.transition)" } == ["pump-2 DEVICE_OFFLINE raised"])
        f.send("spBv1.0/PlantA/DBIRTH/edge1/P-102", Sparkplug.payload(at: ms, seq: 4, [Sparkplug.metric(name: "flow", alias: 20, value: 5)]))
        #expect(f.anomalies.all.last.map { "\($0.device) \($0.transition)" } == "pump-2 cleared")
        // An NDEATH from an earlier session (another bdSeq) must not take this one's devices offline.
        let stale = f.send("spBv1.0/PlantA/NDEATH/edge1", Sparkplug.payload(at: ms, seq: nil, [Sparkplug.birthDeathMetric(3)]))
        #expect(stale.anomalies.isEmpty && stale.notes.contains { $0.contains("earlier session") })
        let death = f.send("spBv1.0/PlantA/NDEATH/edge1", Sparkplug.payload(at: ms, seq: nil, [Sparkplug.birthDeathMetric(4)]))
        #expect(Set(death.anomalies.map { "\($0.device) \($0.transition)" }) == ["pump-1 raised", "pump-2 raised"])
    }

    @Test func aBinaryRejectIsDeadLetteredInBase64SoItCanBeReplayed() throws {
        let path = try makeTemporaryDirectory().appendingPathComponent("dead.jsonl").path
        let f = try FormatFixture(deadLetters: path)
        f.send("spBv1.0/PlantA/DDATA/edge1/pump-1", [0x0A, 0xFF])
        f.send("fieldwatch/site-a/pump-1/telemetry", Array(#"{"metrics": {"flow": "x"}}"#.utf8))
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
            .compactMap { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(lines.count == 2)
        #expect(lines[0]["payload_base64"] as? String == "Cv8=" && lines[0]["payload"] == nil, "\(lines[0])")
        #expect(lines[1]["payload"] as? String == #"{"metrics": {"flow": "x"}}"# && lines[1]["payload_base64"] == nil)
    }

    @Test func unknownGroupsDevicesGarbageAndStringsAreRejectedPrecisely() throws {
        let f = try FormatFixture()
        #expect(f.send("spBv1.0/Other/NBIRTH/e", Sparkplug.payload(at: ms, seq: 0, [])).rejected.first?.detail.contains("Sparkplug group \"Other\" is no site") == true)
        #expect(f.send("spBv1.0/PlantA/DDATA/edge1/pump-1", [0x0A, 0xFF]).rejected.map(\.reason) == [.malformedPayload])
        #expect(f.send("spBv1.0/PlantA/DDATA/edge1", []).rejected.map(\.reason) == [.badTopic])
        birth(f)
        let unknown = f.send("spBv1.0/PlantA/DDATA/edge1/pump-9", Sparkplug.payload(at: ms, seq: 3, [Sparkplug.metric(name: "flow", alias: nil, value: 1)]))
        #expect(unknown.rejected.map(\.reason) == [.unknownDevice])
        var text = SparkplugMetric()
        text.name = "flow"
        text.stringValue = "high"
        let string = f.send("spBv1.0/PlantA/DDATA/edge1/pump-1", Sparkplug.payload(at: ms, seq: 4, [text]))
        #expect(string.rejected.map(\.reason) == [.nonNumericValue])
        // The host's own commands (echoed by the broker) are not telemetry.
        #expect(f.send("spBv1.0/PlantA/NCMD/edge1", Sparkplug.rebirthCommand(atMilliseconds: ms)).rejected.isEmpty)
    }
}

@Suite("Ingest: topic mappings")
struct MappedIngestTests {
    @Test func aGatewaysOwnJSONIsReadThroughItsMapping() throws {
        let f = try FormatFixture()
        // 2025-11-27 18:53:20 in Shanghai is 10:53:20Z.
        let o = f.send("plant1/pumps/P-102/data", Array(#"{"time": "2025-11-27 18:53:20.500", "temp": 61.2, "readings": {"flow_ls": 10}}"#.utf8))
        #expect(o.format == .mapped && o.accepted == 2, "\(o.rejected)")
        #expect(f.latest("pump-2", "bearing_temp") == Sample(timestamp: Timestamp(rfc3339: "2025-11-27T10:53:20.500Z")!, value: 61.2))
        #expect(f.latest("pump-2", "flow")?.value == 36)
        let byField = f.send("gw/all", Array(#"{"meta": {"id": "pump-1"}, "ts": 1764240800, "p": 3.5}"#.utf8))
        #expect(byField.accepted == 1)
        #expect(f.latest("pump-1", "discharge_pressure") == Sample(timestamp: Timestamp(milliseconds: 1_764_240_800_000), value: 3.5))
    }

    @Test func whatDoesNotFitTheMappingIsRejectedWithTheMappingNamed() throws {
        let f = try FormatFixture()
        let unknown = f.send("plant1/pumps/P-999/data", Array(#"{"temp": 1}"#.utf8))
        #expect(unknown.rejected.map(\.reason) == [.unknownDevice])
        #expect(unknown.rejected[0].detail.contains("mapping inventory.yaml:"), "\(unknown.rejected)")
        #expect(f.send("plant1/pumps/P-102/data", Array(#"{"other": 1}"#.utf8)).rejected.first?.detail.contains("none of the fields") == true)
        #expect(f.send("plant1/pumps/P-102/data", Array(#"{"time": "yesterday", "temp": 1}"#.utf8)).rejected.map(\.reason) == [.invalidTimestamp])
        #expect(f.send("plant1/pumps/P-102/data", Array("{".utf8)).rejected.map(\.reason) == [.malformedJSON])
        #expect(f.send("gw/all", Array(#"{"p": 1}"#.utf8)).rejected.first?.detail.contains("names the device by \"meta.id\"") == true)
        #expect(f.pipeline.formatSubscriptions.suffix(2) == ["plant1/pumps/+/data", "gw/all"])
    }
}

@Suite("Inventory: topic mappings are validated")
struct MappingValidationTests {
    func issues(_ mapping: String) -> [String] {
        let profiles = ["test-pump": try! ProfileLoader.parse(Fixtures.pumpProfile, file: "test-pump.yaml")]
        do {
            _ = try Inventory.parse(Fixtures.inventory + "\nmappings:\n" + mapping, file: "inv.yaml", profiles: profiles)
            return []
        } catch {
            return error.issues.map(\.description)
        }
    }

    @Test(arguments: [
        ("  - topic: a/{device}/#/x\n    metrics: {flow: f}", "inv.yaml:16:12: mappings[0].topic: \"a/{device}/#/x\": # may only be the last segment"),
        ("  - topic: a/b\n    metrics: {flow: f}", "nothing names the device"),
        ("  - topic: a/{device}\n    metrics: {speed: s}", "sensor \"speed\" is in no profile of the devices this mapping can name"),
        ("  - topic: a/{device}\n    metrics: {flow: \"a..b\"}", "payload path \"a..b\": an empty key before '.'"),
        ("  - topic: a/{device}\n    site: nowhere\n    metrics: {flow: f}", "unknown site \"nowhere\""),
        ("  - topic: a/{device}\n    time: {path: t, format: unix}\n    metrics: {flow: f}", "\"unix\" is not allowed"),
        ("  - topic: spBv1.0/{device}\n    metrics: {flow: f}", "Sparkplug B, which the gateway reads without a mapping"),
        ("  - topic: a/{device}\n    metrics: {flow: f}\n  - topic: a/{device}\n    metrics: {flow: g}", "is mapped twice"),
    ])
    func mistakesAreReportedWithFileAndLine(mapping: String, problem: String) {
        let found = issues(mapping)
        #expect(found.contains { $0.contains(problem) }, "\(found)")
        #expect(found.count == 1, "one mistake, one message: \(found)")
    }
}
