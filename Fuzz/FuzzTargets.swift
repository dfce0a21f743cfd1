// libFuzzer targets (`make fuzz`). Built with `-sanitize=fuzzer,address -DFUZZING`, this file
// has no `main`: libFuzzer's drives `LLVMFuzzerTestOneInput`, which feeds the input to the
// parser named by FIELDWATCH_FUZZ_TARGET. In an ordinary build it is a small tool that says
// how to run it. Every crash the fuzzer finds becomes a regression test (Tests/*/Fuzz*).
import FieldwatchCore
import FieldwatchTesting
import Foundation
import Ingest
import Logging
import MQTT
import PayloadFormats
import Profiles
import ServiceDesk
import TimeSeries

enum FuzzTarget: String, CaseIterable {
    /// The telemetry JSON decoder on raw bytes.
    case telemetry
    /// The whole ingest path: topic router, every format's decoder (Fieldwatch JSON, SenML,
    /// Sparkplug B, mapped JSON), range checks, rings, detectors. The first line of the input
    /// is the topic, the rest the payload.
    case pipeline
    /// The Sparkplug B payload decoder and its metric values, on raw bytes.
    case sparkplug
    /// SenML: the JSON and the CBOR reader on the same raw bytes.
    case senml
    /// The historian CSV reader (`fieldwatch backtest`) on a file of the raw bytes.
    case historian
    /// Device profiles, inventories, service policies, field-team files: YAML text.
    case profile, inventory, policy, team

    static let profiles: [String: DeviceProfile] = ["test-pump": try! ProfileLoader.parse(Fixtures.pumpProfile, file: "test-pump.yaml")]
    static let ingest: IngestPipeline = {
        let inventory = try! Inventory.parse(Fixtures.formatsInventory, file: "inventory.yaml", profiles: profiles)
        return IngestPipeline(inventory: inventory, profiles: profiles, store: SeriesStore(configuration: .init(capacity: 64)),
                              deadLetters: DeadLetterFile(path: nil), logger: Logger(label: "fuzz") { _ in SwiftLogNoOpLogHandler() }, sink: { _ in })
    }()

    func run(_ bytes: [UInt8]) {
        let text = String(decoding: bytes, as: UTF8.self)
        switch self {
        case .telemetry: _ = TelemetryDecoder.decode(bytes)
        case .pipeline:
            let split = bytes.firstIndex(of: 0x0A) ?? bytes.endIndex
            let topic = String(decoding: bytes[..<split], as: UTF8.self)
            let payload = split < bytes.endIndex ? Array(bytes[(split + 1)...]) : []
            _ = Self.ingest.handle(MQTTMessage(topic: topic, payload: payload))
        case .sparkplug:
            if case let .success(payload) = Sparkplug.decode(bytes) {
                for metric in payload.metrics { _ = Sparkplug.value(of: metric, declared: Sparkplug.DataType(rawValue: UInt32(bytes.count % 35))) }
            }
        case .senml:
            _ = SenML.decode(json: bytes)
            _ = SenML.decode(cbor: bytes)
        case .historian:
            let path = NSTemporaryDirectory() + "fieldwatch-fuzz-\(getpid()).csv"
            _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
            if let reader = try? HistorianCSVReader(path: path, timeZone: TimeZone(identifier: "Europe/Berlin")!) {
                var t = Timestamp(milliseconds: 0)
                var values: [Double?] = []
                while reader.next(time: &t, values: &values) {}
            }
        case .profile: _ = try? ProfileLoader.parse(text, file: "fuzz.yaml")
        case .inventory: _ = try? Inventory.parse(text, file: "fuzz.yaml", profiles: Self.profiles)
        case .policy: _ = try? ServicePolicy.parse(text, file: "fuzz.yaml")
        case .team: _ = try? FieldTeamFile.parse(text, file: "fuzz.yaml")
        }
    }
}

#if FUZZING
let selected: FuzzTarget = {
    guard let name = ProcessInfo.processInfo.environment["FIELDWATCH_FUZZ_TARGET"], let t = FuzzTarget(rawValue: name) else {
        fatalError("set FIELDWATCH_FUZZ_TARGET to one of \(FuzzTarget.allCases.map(\.rawValue).joined(separator: ", "))")
    }
    return t
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    selected.run(data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? [])
    return 0
}

/// SwiftPM links an executable's entry point as `<module>_main` (`--defsym main=…`), which
/// hides libFuzzer's own `main`: this one hands over to libFuzzer's driver, found at run time
/// (the fuzz build links with --export-dynamic).
@_cdecl("fieldwatch_fuzz_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    typealias Callback = @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
    typealias Driver = @convention(c) (UnsafeMutablePointer<CInt>, UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>, Callback) -> CInt
    guard let symbol = dlsym(nil, "LLVMFuzzerRunDriver") else {
        fatalError("libFuzzer's LLVMFuzzerRunDriver is not linked in: build with `make fuzz`")
    }
    var argc = argc
    var argv = argv
    return unsafeBitCast(symbol, to: Driver.self)(&argc, &argv, fuzzOneInput)
}
#else
@main
struct FuzzHelp {
    static func main() {
        // Without the fuzzer: run the given files through a target once (reproduces a crash).
        let args = CommandLine.arguments.dropFirst()
        guard let name = args.first, let target = FuzzTarget(rawValue: name) else {
            print("usage: fieldwatch-fuzz TARGET FILE...  (targets: \(FuzzTarget.allCases.map(\.rawValue).joined(separator: ", ")))")
            print("`make fuzz` builds this with libFuzzer and runs every target for FUZZ_SECONDS each.")
            return
        }
        for file in args.dropFirst() {
            target.run(Array((try? Data(contentsOf: URL(fileURLWithPath: file))) ?? Data()))
            print("\(file): ok")
        }
    }
}
#endif
