import ArgumentParser
import FieldwatchCore
import Foundation
import Ingest
import Logging
import MQTT
import Profiles
import TimeSeries

struct IngestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ingest",
        abstract: "Check how the gateway reads a device's messages, before connecting it.",
        subcommands: [Explain.self]
    )

    struct Explain: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show what a message would become: its format, device, samples, and every reject with its reason.",
            discussion: """
                Runs the gateway's own ingest on the message, against the inventory and profiles, \
                without a broker or database. Formats are recognised as the gateway does: \
                Fieldwatch JSON or SenML on fieldwatch/<site>/<device>/telemetry, SenML on \
                fieldwatch/senml, Sparkplug B on spBv1.0/..., and the inventory's mappings: \
                for anything else.

                Sparkplug data by alias needs the birth that defined the alias: give the NBIRTH \
                and DBIRTH first with --message, in order, e.g.
                  fieldwatch ingest explain --message spBv1.0/sz-ps3/NBIRTH/edge1=nbirth.bin \\
                    --message spBv1.0/sz-ps3/DBIRTH/edge1/pump-01=dbirth.bin \\
                    --topic spBv1.0/sz-ps3/DDATA/edge1/pump-01 --payload ddata.bin
                """
        )
        @Option(help: "The message's MQTT topic.") var topic: String?
        @Option(help: "File holding the payload, exactly as published ('-' reads standard input).") var payload: String?
        @Option(help: ArgumentHelp("Earlier message as TOPIC=FILE, explained first (repeatable; in order).", valueName: "topic=file"))
        var message: [String] = []
        @Option(help: "Inventory of sites, devices and topic mappings.") var inventory = "Simulator/demo-site.yaml"
        @Option(help: "Directory of device profiles.") var profiles = "DeviceProfiles"
        @Flag(help: "Print the result as JSON lines (one per message).") var json = false

        func validate() throws {
            if topic == nil && message.isEmpty { throw ValidationError("give the message: --topic TOPIC --payload FILE (or --message TOPIC=FILE)") }
            if (topic == nil) != (payload == nil) { throw ValidationError("--topic and --payload go together: the topic the device publishes on and a file with the payload") }
            for m in message where !m.contains("=") { throw ValidationError("--message \(m): write TOPIC=FILE") }
        }

        func run() throws {
            let loaded: [String: DeviceProfile]
            let inv: Inventory
            do {
                loaded = try ProfileLoader.load(paths: [profiles])
                inv = try Inventory.load(file: inventory, profiles: loaded)
            } catch {
                for issue in error.issues { print(issue) }
                throw ExitCode(1)
            }
            var inputs: [(String, String)] = message.map { m in
                let i = m.lastIndex(of: "=")!
                return (String(m[..<i]), String(m[m.index(after: i)...]))
            }
            if let topic, let payload { inputs.append((topic, payload)) }
            // Nothing is published: a rebirth the gateway would ask for shows among the notes.
            // The outcome says everything the log would; the log stays quiet.
            let pipeline = IngestPipeline(inventory: inv, profiles: loaded, store: SeriesStore(), deadLetters: DeadLetterFile(path: nil),
                                          logger: Logger(label: "explain") { _ in SwiftLogNoOpLogHandler() }, sink: { _ in })
            for (topic, file) in inputs {
                let bytes: [UInt8]
                if file == "-" {
                    bytes = Array(FileHandle.standardInput.readDataToEndOfFile())
                } else {
                    guard let data = FileManager.default.contents(atPath: file) else {
                        throw ValidationError("cannot read the payload file \(file); check the path")
                    }
                    bytes = Array(data)
                }
                let outcome = pipeline.handle(MQTTMessage(topic: topic, payload: bytes), trace: true)
                print(json ? jsonLine(topic, bytes.count, outcome) : describe(topic, bytes.count, outcome))
            }
        }

        func describe(_ topic: String, _ size: Int, _ o: IngestPipeline.Outcome) -> String {
            var lines = ["\(topic) (\(size) bytes): \(o.format.map { "read as \($0.rawValue)" } ?? "not read")"]
            let samples = o.samples ?? []
            lines.append("  \(samples.count) sample(s) stored, \(o.rejected.count) reject(s)")
            for s in samples {
                lines.append("  sample  \(s.device) \(s.sensor) = \(fmtValue(s.sample.value)) at \(s.sample.timestamp.rfc3339)\(s.drill ? " (drill)" : "")")
            }
            if let t = o.restamped { lines.append("  note    the device's time \(t.rfc3339) is ahead of this machine's clock; readings take the gateway's time") }
            for r in o.rejected { lines.append("  reject  \(r.reason.rawValue): \(r.detail)") }
            for n in o.notes { lines.append("  note    \(n)") }
            for a in o.anomalies { lines.append("  event   \(a.transition.rawValue) \(a.faultCode) on \(a.device): \(a.summary)") }
            return lines.joined(separator: "\n")
        }

        func jsonLine(_ topic: String, _ size: Int, _ o: IngestPipeline.Outcome) -> String {
            struct Line: Encodable {
                struct S: Encodable { var device: String; var sensor: String; var value: Double; var time: String }
                struct R: Encodable { var reason: String; var detail: String }
                var topic: String
                var bytes: Int
                var format: String?
                var samples: [S]
                var rejects: [R]
                var notes: [String]
            }
            let line = Line(topic: topic, bytes: size, format: o.format?.rawValue,
                            samples: (o.samples ?? []).map { .init(device: $0.device.rawValue, sensor: $0.sensor.rawValue, value: $0.sample.value, time: $0.sample.timestamp.rfc3339) },
                            rejects: o.rejected.map { .init(reason: $0.reason.rawValue, detail: $0.detail) }, notes: o.notes)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            return String(decoding: (try? encoder.encode(line)) ?? Data(), as: UTF8.self)
        }

        func fmtValue(_ x: Double) -> String { x == x.rounded() && abs(x) < 1e15 ? String(Int64(x)) : String(x) }
    }
}
