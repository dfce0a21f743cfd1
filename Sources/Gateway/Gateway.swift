import Detection
import FieldwatchCore
import Foundation
import HTTPAPI
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
    public let workflow: TicketWorkflow
    public let escalation: EscalationService
    public let outbox: OutboxDelivery
    /// nil when `http` is off.
    public let api: APIServer?
    public let policy: ServicePolicy
    public let pipeline: IngestPipeline
    public let ingest: IngestService
    /// Saves the detectors' state every `checkpoint_interval` and on shutdown.
    public let checkpoints: DetectorCheckpointService
    /// What start-up restored from the saved detector state; nil when there was none or it
    /// could not be read (the detectors then start fresh).
    public let detectorRestore: DetectionEngine.RestoreReport?
    /// Saves the rings and compressed history with each detector checkpoint.
    public let seriesCheckpoints: SeriesCheckpoints
    /// What start-up restored of the saved rings and history; nil when there was none or it
    /// could not be read (the rings then start empty).
    public let seriesRestore: SeriesStore.RestoreReport?
    private let logger: Logger

    /// Validates everything and builds the components; throws `ConfigurationError` listing
    /// every problem (bad key, broken profile, unknown site in the inventory) before anything runs.
    /// `onCommit` hears every batch of anomalies the desk commits and when its transaction
    /// ended; `make bench` times telemetry → committed ticket with it.
    public init(configuration: GatewayConfiguration, logger: Logger = Logger(label: "fieldwatch"),
                onCommit: @escaping @Sendable ([Anomaly], Timestamp) -> Void = { _, _ in }) throws {
        try configuration.validate()
        self.configuration = configuration
        self.logger = logger
        for warning in configuration.warnings { logger.warning("\(warning)") }
        let policyText: String
        let faq: FAQ
        do {
            profiles = try ProfileLoader.load(paths: [configuration.profiles])
            inventory = try Inventory.load(file: configuration.inventory, profiles: profiles)
            if let file = configuration.policy {
                policyText = try ProfileLoader.readText(file)
                policy = try ServicePolicy.parse(policyText, file: file)
            } else {
                policyText = ServicePolicy.defaultYAML
                policy = .default
            }
            if configuration.faqExplicit || FileManager.default.fileExists(atPath: configuration.faq) {
                faq = try FAQ.load(file: configuration.faq)
            } else {
                faq = .empty
                logger.warning("no FAQ at \(configuration.faq): the assistant answers from tickets only and hands other questions to a person")
            }
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
        do {
            // The policy in force is kept in the database (and its changes audited), so the
            // command-line tools grade and time tickets exactly as the gateway does.
            _ = try store.writeSync { [policy] tx in
                if try tx.savePolicy(text: policyText, source: policy.source, at: Timestamp.now()) {
                    try tx.appendAudit(at: Timestamp.now(), actor: "system", action: "policy.loaded", ticketID: nil,
                                       detail: ["source": policy.source, "sha256": AuditChain.hash(policyText)])
                }
            }
        } catch {
            throw ConfigurationError(problems: ["database: \(error)"])
        }
        let rules = ServiceRules(policy: policy, directory: SiteDirectory(inventory: inventory, profiles: profiles))
        series = SeriesStore(configuration: .init(capacity: configuration.ringCapacity, lateTolerance: configuration.lateTolerance,
                                                  historyBytes: configuration.historyKiB * 1024))
        desk = TicketDesk(store: store, rules: rules, logger: logger, onCommit: onCommit)
        workflow = TicketWorkflow(store: store, rules: rules)
        let field = FieldOperations(workflow: workflow, team: SQLiteFieldTeamStore(store), inventory: inventory, profiles: profiles)
        escalation = EscalationService(workflow: workflow, field: field, interval: configuration.escalationInterval, logger: logger)
        let desk = self.desk
        let client = try MQTTClient(configuration: configuration.mqtt, logger: logger)
        pipeline = IngestPipeline(
            inventory: inventory, profiles: profiles, store: series,
            deadLetters: DeadLetterFile(path: configuration.deadLetterFile, onFailure: { [logger] in logger.error("dead-letter file: \($0)") }),
            configuration: .init(maxFutureSkew: configuration.maxFutureSkew, evidenceBefore: configuration.evidenceWindow),
            logger: logger,
            commands: { [client, logger] topic, payload in
                do { try client.publish(topic: topic, payload: payload, qos: 0) } catch {
                    logger.warning("could not publish the command on \(topic): \(error)")
                }
            },
            sink: { desk.submit($0) })
        // Before any message flows: ingest starts only when the service group runs.
        detectorRestore = Self.restoreDetectors(into: pipeline, from: store, logger: logger)
        seriesCheckpoints = SeriesCheckpoints(series: series, store: store, logger: logger)
        seriesRestore = seriesCheckpoints.restore(keeping: pipeline.feeds)
        checkpoints = DetectorCheckpointService(pipeline: pipeline, desk: desk, store: store, interval: configuration.checkpointInterval,
                                                series: seriesCheckpoints,
                                                operatingHours: OperatingHoursRecorder(inventory: inventory, profiles: profiles, series: series,
                                                                                       repository: SQLiteOperatingHoursStore(store), logger: logger),
                                                logger: logger)
        ingest = IngestService(client: client, pipeline: pipeline, statsInterval: configuration.statsInterval, logger: logger)
        var transports: [any NotificationTransport] = configuration.webhooks.compactMap {
            URL(string: $0).map { WebhookTransport(url: $0, secret: configuration.webhookSecret) }
        }
        if configuration.publishEvents { transports.append(MQTTEventTransport(client: client)) }
        outbox = OutboxDelivery(store: store, transports: transports, maxAttempts: configuration.webhookMaxAttempts, logger: logger)
        if let listen = configuration.http.flatMap(GatewayConfiguration.parseListen) {
            let metrics = GatewayMetrics(pipeline: pipeline, client: client, series: series, desk: desk, store: store, checkpoints: checkpoints)
            api = APIServer(configuration: .init(host: listen.host, port: listen.port),
                            environment: APIEnvironment(workflow: workflow, inventory: inventory, profiles: profiles, series: series,
                                                        metrics: { metrics.render() }, faq: faq),
                            logger: logger)
        } else {
            api = nil
        }
    }

    /// The services in dependency order: the desk starts first and stops last, so it drains
    /// every anomaly that ingest produced before shutting down. Services stop in reverse order:
    /// ingest first, then the detector checkpoints, whose final save so holds every sample.
    public func makeServiceGroup(gracefulShutdownSignals: [UnixSignal] = [.sigterm, .sigint]) -> ServiceGroup {
        ServiceGroup(configuration: .init(
            services: [.init(service: desk), .init(service: escalation), .init(service: outbox)] + (api.map { [.init(service: $0)] } ?? [])
                + [.init(service: checkpoints), .init(service: ingest)],
            gracefulShutdownSignals: gracefulShutdownSignals,
            logger: logger))
    }

    /// One line for the operator at start-up: what was loaded and where things are.
    public var startupSummary: String {
        let bytes = RingBuffer.bytesPerSeries(capacity: configuration.ringCapacity)
        let sensorCount = inventory.devices.reduce(0) { $0 + (profiles[$1.profileID]?.sensors.count ?? 0) }
        return "fieldwatch: \(profiles.count) profile(s), \(inventory.sites.count) site(s), \(inventory.devices.count) device(s), "
            + "\(sensorCount) series × \(bytes) B = \(sensorCount * bytes / 1024) KiB ring memory; "
            + "broker \(configuration.broker), database \(configuration.database), policy \(policy.source)"
    }

    /// Runs until SIGINT or SIGTERM, then stops gracefully.
    public func run() async throws {
        logger.info("\(startupSummary)")
        try await makeServiceGroup().run()
    }
}

/// Service events on MQTT, QoS 1, under the outbox message's topic. Counted as delivered once
/// the broker acknowledged every outstanding publish.
struct MQTTEventTransport: NotificationTransport {
    let client: MQTTClient
    var name: String { "mqtt" }
    /// The broker is down for every message or for none: nothing is set aside, all wait.
    var setsAsideFailures: Bool { false }

    func deliver(_ message: OutboxMessage) async throws {
        guard client.isConnected else { throw ConfigurationError(problems: ["not connected to the broker"]) }
        try client.publish(topic: message.topic, payload: message.payload, qos: 1)
        guard await client.waitUntilPublished(timeout: .seconds(10)) else {
            throw ConfigurationError(problems: ["the broker did not acknowledge \(message.topic) within 10 s"])
        }
    }
}
