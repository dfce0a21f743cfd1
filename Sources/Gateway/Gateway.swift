import Detection
import FieldwatchCore
import Foundation
import Ingest
import Logging
import MQTT
import Profiles
import ServiceDesk
import ServiceLifecycle
import Storage
import TimeSeries
import UnixSignals

/// The composition root: loads profiles and inventory, opens the store, and wires
/// MQTT → ingest → ring buffers → detectors → ticket desk → SQLite.
public final class Gateway: Sendable {
    public let configuration: GatewayConfiguration
    public let profiles: [String: DeviceProfile]
    public let inventory: Inventory
    public let store: TicketStore
    public let series: SeriesStore
    public let desk: TicketDesk
    public let pipeline: IngestPipeline
    public let ingest: IngestService
    private let logger: Logger

    /// Validates everything and builds the components; throws `ConfigurationError` listing
    /// every problem (bad key, broken profile, unknown site in the inventory) before anything runs.
    public init(configuration: GatewayConfiguration, logger: Logger = Logger(label: "fieldwatch")) throws {
        try configuration.validate()
        self.configuration = configuration
        self.logger = logger
        do {
            profiles = try ProfileLoader.load(paths: [configuration.profiles])
            inventory = try Inventory.load(file: configuration.inventory, profiles: profiles)
        } catch {
            throw ConfigurationError(problems: error.issues.map(\.description))
        }
        if inventory.devices.isEmpty {
            logger.warning("the inventory lists no devices; every telemetry message will be rejected as unknown_device",
                           metadata: ["file": .string(configuration.inventory)])
        }
        do {
            store = try TicketStore(path: configuration.database)
        } catch {
            throw ConfigurationError(problems: ["database: \(error)"])
        }
        series = SeriesStore(configuration: .init(capacity: configuration.ringCapacity, lateTolerance: configuration.lateTolerance))
        desk = TicketDesk(store: store, logger: logger)
        let desk = self.desk
        pipeline = IngestPipeline(
            inventory: inventory, profiles: profiles, store: series,
            deadLetters: DeadLetterFile(path: configuration.deadLetterFile),
            configuration: .init(maxFutureSkew: configuration.maxFutureSkew, evidenceBefore: configuration.evidenceWindow),
            logger: logger, sink: { desk.submit($0) })
        let client = try MQTTClient(configuration: configuration.mqtt, logger: logger)
        ingest = IngestService(client: client, pipeline: pipeline, statsInterval: configuration.statsInterval, logger: logger)
    }

    /// The services in dependency order: the desk starts first and stops last, so it drains
    /// every anomaly that ingest produced before shutting down.
    public func makeServiceGroup(gracefulShutdownSignals: [UnixSignal] = [.sigterm, .sigint]) -> ServiceGroup {
        ServiceGroup(configuration: .init(
            services: [.init(service: desk), .init(service: ingest)],
            gracefulShutdownSignals: gracefulShutdownSignals,
            logger: logger))
    }

    /// One line for the operator at start-up: what was loaded and where things are.
    public var startupSummary: String {
        let bytes = RingBuffer.bytesPerSeries(capacity: configuration.ringCapacity)
        let sensorCount = inventory.devices.reduce(0) { $0 + (profiles[$1.profileID]?.sensors.count ?? 0) }
        return "fieldwatch: \(profiles.count) profile(s), \(inventory.sites.count) site(s), \(inventory.devices.count) device(s), "
            + "\(sensorCount) series × \(bytes) B = \(sensorCount * bytes / 1024) KiB ring memory; "
            + "broker \(configuration.broker), database \(configuration.database)"
    }

    /// Runs until SIGINT or SIGTERM, then stops gracefully.
    public func run() async throws {
        logger.info("\(startupSummary)")
        try await makeServiceGroup().run()
    }
}
