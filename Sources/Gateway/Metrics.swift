import FieldwatchCore
import Foundation
import Ingest
import MQTT
import Prometheus
import ServiceDesk
import Storage
import Synchronization
import TimeSeries

/// `/metrics` in the Prometheus text format. The components keep their own counters; a scrape
/// reads them and brings the registry up to date (counters by the increase since the last
/// scrape, gauges by value), so nothing on the hot path touches the registry.
final class GatewayMetrics: Sendable {
    private let registry = PrometheusCollectorRegistry()
    private let last = Mutex<[String: Int]>([:])
    private let pipeline: IngestPipeline
    private let client: MQTTClient
    private let series: SeriesStore
    private let desk: TicketDesk
    private let store: TicketStore
    private let checkpoints: DetectorCheckpointService

    init(pipeline: IngestPipeline, client: MQTTClient, series: SeriesStore, desk: TicketDesk, store: TicketStore, checkpoints: DetectorCheckpointService) {
        self.pipeline = pipeline
        self.client = client
        self.series = series
        self.desk = desk
        self.store = store
        self.checkpoints = checkpoints
    }

    static func descriptor(_ name: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "fieldwatch", metricName: String(name.dropFirst("fieldwatch_".count)), unitName: "", helpText: help)
    }

    /// Advances a counter to `value` (counters never go down; a smaller value is ignored).
    private func count(_ name: String, _ help: String, _ value: Int, labels: [(String, String)] = []) {
        let key = name + labels.map { "|\($0.0)=\($0.1)" }.joined()
        let delta = last.withLock { seen -> Int in
            let d = value - (seen[key] ?? 0)
            if d > 0 { seen[key] = value }
            return d
        }
        let counter = registry.makeCounter(descriptor: Self.descriptor(name, help), labels: labels)
        if delta > 0 { counter.increment(by: Int64(delta)) }
    }

    private func gauge(_ name: String, _ help: String, _ value: Double, labels: [(String, String)] = []) {
        registry.makeGauge(descriptor: Self.descriptor(name, help), labels: labels).set(to: value)
    }

    func render() -> String {
        let c = pipeline.counters
        count("fieldwatch_mqtt_messages_total", "Telemetry messages received from the broker.", c.messages)
        count("fieldwatch_samples_accepted_total", "Sensor samples written to the ring buffers.", c.samplesAccepted)
        for reason in RejectReason.allCases {
            count("fieldwatch_rejects_total", "Rejected messages or metrics, by reason.", c.rejects[reason] ?? 0, labels: [("reason", reason.rawValue)])
        }
        for format in PayloadFormat.allCases {
            count("fieldwatch_messages_by_format_total", "Messages read, by wire format (json, senml-json, senml-cbor, sparkplug, mapped).",
                  c.messagesByFormat[format] ?? 0, labels: [("format", format.rawValue)])
        }
        count("fieldwatch_sparkplug_sequence_gaps_total", "Sparkplug B messages whose sequence number showed lost messages.", c.sparkplugSequenceGaps)
        count("fieldwatch_sparkplug_rebirth_requests_total", "Rebirths asked of Sparkplug B edge nodes (NCMD Node Control/Rebirth).", c.sparkplugRebirthRequests)
        count("fieldwatch_clock_ahead_messages_total", "Messages dated ahead of the gateway's clock by more than late_tolerance, stamped with the gateway's time (fix the device clock).", c.clockAhead)
        count("fieldwatch_detector_events_total", "Detector transitions.", c.anomaliesRaised, labels: [("transition", "raised")])
        count("fieldwatch_detector_events_total", "Detector transitions.", c.anomaliesCleared, labels: [("transition", "cleared")])
        let m = client.counters
        count("fieldwatch_mqtt_overflow_drops_total", "Messages dropped because ingest fell behind the MQTT buffer (mqtt_buffer messages or mqtt_buffer_mib bytes).", m.droppedOverflow)
        count("fieldwatch_mqtt_oversized_drops_total", "Messages larger than max_payload_kib, dropped before they were copied.", m.droppedOversized)
        gauge("fieldwatch_mqtt_buffered_bytes", "Payload bytes waiting between the MQTT thread and ingest.", Double(client.bufferedBytes))
        count("fieldwatch_mqtt_refused_total", "Connections the broker refused (bad credentials, client id not allowed).", m.refused)
        count("fieldwatch_mqtt_connects_total", "Connections to the broker, reconnects included.", m.connects)
        gauge("fieldwatch_mqtt_connected", "1 while connected to the broker.", client.isConnected ? 1 : 0)
        gauge("fieldwatch_ring_series", "Time series held in memory.", Double(series.seriesCount))
        gauge("fieldwatch_ring_bytes", "Bytes of ring-buffer memory in use.", Double(series.bytesInUse))
        let d = desk.counters
        gauge("fieldwatch_desk_queue", "Anomalies waiting to be committed as tickets.", Double(desk.pendingCount))
        gauge("fieldwatch_desk_storage_failing", "1 while the store refuses the desk's writes because of the machine (disk full, I/O error); detections stay queued and are retried.", d.storageFailing ? 1 : 0)
        gauge("fieldwatch_desk_disk_full", "1 while the desk's writes fail because the disk (or the database's size limit) is full.", d.diskFull ? 1 : 0)
        count("fieldwatch_desk_quarantined_total", "Detections the store refused because of their data, set aside one by one (logged whole).", d.quarantined)
        let dl = pipeline.deadLetterCounters
        count("fieldwatch_dead_letter_write_failures_total", "Rejects that could not be written to the dead-letter file (disk full, permissions); still counted in fieldwatch_rejects_total.", dl.failures)
        count("fieldwatch_desk_dropped_total", "Anomalies dropped because the ticket queue was full.", d.droppedQueueFull)
        count("fieldwatch_desk_write_failures_total", "Failed ticket transactions (retried).", d.writeFailures)
        if let g = try? store.deskGauges(now: .now()) {
            for grade in Grade.allCases {
                gauge("fieldwatch_tickets_open", "Open tickets by grade (drills excluded).", Double(g.openByGrade[grade] ?? 0), labels: [("grade", grade.rawValue)])
            }
            gauge("fieldwatch_sla_breached_open", "SLA clocks running past their deadline.", Double(g.breachedRunning))
            count("fieldwatch_sla_breaches_total", "SLA breaches escalated to a supervisor.", g.breachesEscalated)
        }
        let k = checkpoints.counters
        count("fieldwatch_detector_checkpoints_total", "Detector state checkpoints saved.", k.saved)
        count("fieldwatch_detector_checkpoint_failures_total", "Detector checkpoints that failed or were put off (tried again next interval).", k.failures)
        if let duration = k.lastDuration, let bytes = k.lastBytes, let at = k.lastSavedAt {
            gauge("fieldwatch_detector_checkpoint_duration_seconds", "Time the last detector checkpoint took (snapshot, encode, write).", duration.secondsDouble)
            gauge("fieldwatch_detector_checkpoint_bytes", "Size of the last detector checkpoint.", Double(bytes))
            gauge("fieldwatch_detector_checkpoint_last_saved_timestamp_seconds", "When the last detector checkpoint was saved (Unix time).", Double(at.milliseconds) / 1000)
        }
        if let series = checkpoints.series {
            let h = series.counters
            count("fieldwatch_series_checkpoints_total", "Saves of the rings and compressed history.", h.saved)
            count("fieldwatch_series_checkpoint_failures_total", "Saves of the rings and history that failed (tried again next interval).", h.failures)
            if let duration = h.lastDuration, let bytes = h.lastBytes, let at = h.lastSavedAt {
                gauge("fieldwatch_series_checkpoint_duration_seconds", "Time the last save of the rings and history took (snapshot, compression, write).", duration.secondsDouble)
                gauge("fieldwatch_series_checkpoint_bytes", "Bytes the last save of the rings and history wrote (rings, open blocks, new sealed blocks).", Double(bytes))
                gauge("fieldwatch_series_checkpoint_last_saved_timestamp_seconds", "When the rings and history were last saved (Unix time).", Double(at.milliseconds) / 1000)
            }
        }
        if let hours = checkpoints.operatingHours {
            let o = hours.counters
            gauge("fieldwatch_operating_hours_counted", "Operating hours counted from run-hours counters since start (MTBF's denominator).", o.hoursCounted)
            count("fieldwatch_operating_hours_counter_resets_total", "Run-hours counters that went backwards (reset or replaced controller).", o.resets)
            count("fieldwatch_operating_hours_counter_jumps_total", "Run-hours counters that advanced more than the wall clock allows (not counted).", o.jumps)
            count("fieldwatch_operating_hours_failures_total", "Recordings of operating hours that failed (tried again next interval).", o.failures)
        }
        gauge("fieldwatch_history_bytes", "Bytes of compressed history behind the rings.", Double(series.historyBytesInUse))
        let wal = store.walCheckpoints
        count("fieldwatch_wal_checkpoints_total", "Background checkpoints of the database's write-ahead log.", wal.done)
        count("fieldwatch_wal_checkpoint_failures_total", "Background WAL checkpoints that failed (SQLite's own checkpoint at 4,000 pages takes over).", wal.failed)
        if let dead = try? store.outboxDeadLetters() {
            gauge("fieldwatch_outbox_dead_letters", "Notifications set aside after webhook_max_attempts failed attempts (fieldwatch outbox retry sends them again).", Double(dead.count))
        }
        if let backlog = try? store.outboxBacklog() {
            gauge("fieldwatch_outbox_backlog", "Notifications not yet delivered to every destination.", Double(backlog))
        }
        return registry.emitToString() + Self.histogram("fieldwatch_desk_commit_delay_seconds",
                                                        "From a detection reaching the desk to the end of the transaction that committed it.", d.commitDelay)
    }

    /// A histogram in the text format, from counts the desk keeps itself.
    static func histogram(_ name: String, _ help: String, _ h: DelayHistogram) -> String {
        var text = "# HELP \(name) \(help)\n# TYPE \(name) histogram\n"
        for (bound, count) in h.cumulative {
            text += "\(name)_bucket{le=\"\(bound.isFinite ? "\(bound)" : "+Inf")\"} \(count)\n"
        }
        return text + "\(name)_sum \(h.sum)\n\(name)_count \(h.count)\n"
    }
}
