import FieldwatchCore
import FieldwatchTesting
import Foundation
import MQTT
import Profiles
import Testing
import TimeSeries
@testable import Ingest

@Suite("Operating states")
struct OperatingStateTests {
    static let profile = Fixtures.pumpProfile + """

        operating_state:
          running_when: {sensor: flow, above: 10}
          settle: 30s
        """

    func fixture(_ profile: String) throws -> (IngestPipeline, AnomalyCollector) {
        let profiles = ["test-pump": try ProfileLoader.parse(profile, file: "test-pump.yaml")]
        let inventory = try Inventory.parse(Fixtures.inventory, file: "inventory.yaml", profiles: profiles)
        let collector = AnomalyCollector()
        let pipeline = IngestPipeline(inventory: inventory, profiles: profiles, store: SeriesStore(configuration: .init(capacity: 64)),
                                      deadLetters: DeadLetterFile(path: nil), now: { PipelineFixture.now }, sink: { collector.add($0) })
        return (pipeline, collector)
    }

    func send(_ pipeline: IngestPipeline, at second: Int, _ metrics: String) {
        let ts = PipelineFixture.now.milliseconds - 3_600_000 + Int64(second) * 1000
        pipeline.handle(MQTTMessage(topic: "fieldwatch/site-a/pump-1/telemetry", payload: Array(#"{"ts": \#(ts), "metrics": {\#(metrics)}}"#.utf8)))
    }

    /// A day in the life: running, stopped (pressure falls; the bearing overheats), started
    /// again (pressure still low after the settle time).
    func run(_ pipeline: IngestPipeline) {
        for s in 0..<10 { send(pipeline, at: s, #""flow": 100, "discharge_pressure": 5, "bearing_temp": 60"#) }
        for s in 10..<20 { send(pipeline, at: s, #""flow": 0, "discharge_pressure": 0.5, "bearing_temp": 60"#) }
        for s in 20..<30 { send(pipeline, at: s, #""flow": 0, "discharge_pressure": 0.5, "bearing_temp": 99"#) }
        for s in 30..<40 { send(pipeline, at: s, #""flow": 0, "discharge_pressure": 0.5, "bearing_temp": 60"#) }
        // Started: the pressure builds slowly, within the 30 s settle time, then stays low.
        for s in 40..<100 { send(pipeline, at: s, #""flow": 100, "discharge_pressure": 1, "bearing_temp": 60"#) }
    }

    @Test func aStoppedMachineTripsNoLowLimitButStillOverheatsAndAStartSettlesFirst() throws {
        let (pipeline, collector) = try fixture(Self.profile)
        run(pipeline)
        let raised = collector.all.filter { $0.transition == .raised }
        #expect(raised.map(\.faultCode.rawValue) == ["BEARING_OVERTEMP", "DISCHARGE_PRESSURE_LOW"], "\(raised.map { "\($0.faultCode) at \($0.detectedAt.rfc3339)" })")
        // The low pressure is judged from the end of the settle time: 40 s start + 30 s.
        let low = try #require(raised.last)
        #expect(low.detectedAt.milliseconds == PipelineFixture.now.milliseconds - 3_600_000 + 70_000, "\(low.detectedAt.rfc3339)")
    }

    /// The same day without `operating_state`: the stop itself raises the pressure fault.
    @Test func withoutAnOperatingStateTheStopIsAFault() throws {
        let (pipeline, collector) = try fixture(Fixtures.pumpProfile)
        run(pipeline)
        let first = try #require(collector.all.first { $0.faultCode.rawValue == "DISCHARGE_PRESSURE_LOW" && $0.transition == .raised })
        #expect(first.detectedAt.milliseconds == PipelineFixture.now.milliseconds - 3_600_000 + 10_000)
    }

    @Test func profileMistakesAreNamed() {
        for (yaml, problem) in [
            ("operating_state:\n  running_when: {sensor: speed, above: 1}", "unknown sensor \"speed\""),
            ("operating_state:\n  running_when: {sensor: flow}", "give one of above: or below:"),
            ("operating_state:\n  settle: 1m", "running_when: missing"),
        ] {
            do {
                _ = try ProfileLoader.parse(Fixtures.pumpProfile + "\n" + yaml, file: "p.yaml")
                Issue.record("accepted: \(yaml)")
            } catch {
                #expect(error.issues.contains { $0.description.contains(problem) }, "\(error.issues)")
            }
        }
    }
}
