import FieldwatchCore
import Logging
import MQTT
import ServiceLifecycle

/// The long-running ingest loop: subscribes to telemetry, hands each message to the pipeline,
/// and logs a progress line periodically. On graceful shutdown it disconnects from the broker
/// first and then drains what was already received, so nothing accepted is dropped.
public final class IngestService: Service, Sendable {
    public let client: MQTTClient
    public let pipeline: IngestPipeline
    private let logger: Logger
    private let statsInterval: Duration

    public init(client: MQTTClient, pipeline: IngestPipeline, statsInterval: Duration = .seconds(60),
                logger: Logger = Logger(label: "fieldwatch.ingest")) {
        self.client = client
        self.pipeline = pipeline
        self.statsInterval = statsInterval
        self.logger = logger
    }

    /// `fieldwatch/+/+/telemetry` for the configured prefix.
    public var topicFilter: String { "\(pipeline.configuration.topicPrefix)/+/+/telemetry" }

    /// `fieldwatch/+/+/status`: devices' last wills and online announcements.
    public var statusFilter: String { "\(pipeline.configuration.topicPrefix)/+/+/status" }

    public func run() async throws {
        try client.subscribe(topicFilter, qos: 1)
        try client.subscribe(statusFilter, qos: 1)
        for filter in pipeline.formatSubscriptions { try client.subscribe(filter, qos: 1) }
        try client.connect()
        logger.info("ingest started", metadata: ["mqtt.topic": .string(([topicFilter, statusFilter] + pipeline.formatSubscriptions).joined(separator: " "))])
        let client = self.client
        let pipeline = self.pipeline
        await withTaskGroup(of: Void.self) { group in
            group.addTask { [self] in await reportProgress() }
            if let interval = pipeline.stalenessSweepInterval {
                group.addTask {
                    while !Task.isCancelled {
                        do { try await Task.sleep(for: interval) } catch { return }
                        pipeline.sweepStaleness()
                    }
                }
            }
            await withGracefulShutdownHandler {
                // Telemetry, statuses and every other format: the pipeline routes by topic.
                for await message in client.messages {
                    pipeline.handle(message)
                }
            } onGracefulShutdown: {
                client.disconnect()
            }
            group.cancelAll()
        }
        let c = pipeline.counters
        logger.info("ingest stopped: \(c.messages) messages, \(c.samplesAccepted) samples, \(c.totalRejects) rejects, \(client.counters.droppedOverflow) dropped on overflow")
    }

    private func reportProgress() async {
        var last = pipeline.counters
        let clock = ContinuousClock()
        var lastTime = clock.now
        while !Task.isCancelled {
            do { try await Task.sleep(for: statsInterval) } catch { return }
            let c = pipeline.counters
            let t = clock.now
            let rate = Double(c.messages - last.messages) / max((t - lastTime).secondsDouble, 0.001)
            let rejects = c.rejects.sorted { $0.key < $1.key }.map { "\($0.key.rawValue)=\($0.value)" }.joined(separator: " ")
            logger.info("ingest: \(c.messages) messages (\(Int(rate)) msg/s), \(c.samplesAccepted) samples, \(c.anomaliesRaised) raised, rejects: \(rejects.isEmpty ? "none" : rejects), overflow drops: \(client.counters.droppedOverflow)")
            last = c
            lastTime = t
        }
    }
}
