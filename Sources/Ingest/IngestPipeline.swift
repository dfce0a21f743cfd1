import Detection
import FieldwatchCore
import Foundation
import PayloadFormats
import Logging
import MQTT
import Profiles
import Synchronization
import TimeSeries

/// The per-message path: topic → device → decode → validate → ring → detectors → anomaly.
///
/// Synchronous and bounded; nothing here touches SQLite or the network. Anomalies leave
/// through `sink`, which must return at once (the gateway puts them on the service desk's
/// queue) and must not call back into the pipeline: a detector's events are handed to it
/// while the detection lock is held.
public final class IngestPipeline: Sendable {
    public struct Configuration: Sendable {
        /// How far in the future a `ts` may be (device clock skew) before the message is refused.
        public var maxFutureSkew: Duration
        /// How much history before the condition started goes into a ticket's evidence.
        public var evidenceBefore: Duration
        /// The first segment of telemetry topics.
        public var topicPrefix: String

        public init(maxFutureSkew: Duration = .seconds(86_400), evidenceBefore: Duration = .seconds(300), topicPrefix: String = "fieldwatch") {
            self.maxFutureSkew = maxFutureSkew
            self.evidenceBefore = evidenceBefore
            self.topicPrefix = topicPrefix
        }
    }

    /// What the pipeline has done since start.
    public struct Counters: Sendable, Equatable {
        public var messages = 0
        public var samplesAccepted = 0
        public var rejects: [RejectReason: Int] = [:]
        public var anomaliesRaised = 0
        public var anomaliesCleared = 0
        /// Messages dated ahead of the gateway's clock by more than the late tolerance, stamped
        /// with the gateway's time instead (see `handle`).
        public var clockAhead = 0
        /// Messages by the format they came in (those decoded far enough to tell).
        public var messagesByFormat: [PayloadFormat: Int] = [:]
        /// Sparkplug B: rebirths asked of edge nodes (after a sequence gap, data before birth, or an unknown alias).
        public var sparkplugRebirthRequests = 0
        /// Sparkplug B: messages whose sequence number was not the one expected.
        public var sparkplugSequenceGaps = 0
        public init() {}
        public var totalRejects: Int { rejects.values.reduce(0, +) }
    }

    /// What happened to one message (for tests and the replay tool).
    public struct Outcome: Sendable, Equatable {
        public var accepted = 0
        public var rejected: [(reason: RejectReason, detail: String)] = []
        public var anomalies: [Anomaly] = []
        /// The device's time was ahead of the gateway's: the readings carry the gateway's time.
        public var restamped: Timestamp?
        /// The format the message was read as.
        public var format: PayloadFormat?
        /// Every sample stored, when asked for (`handle(_:trace:)`, for `fieldwatch ingest explain`).
        public var samples: [TracedSample]?
        /// What else the message did (a Sparkplug birth registered, a rebirth asked for, a device marked offline).
        public var notes: [String] = []

        public struct TracedSample: Sendable, Equatable {
            public var device: DeviceID
            public var sensor: SensorKey
            public var sample: Sample
            public var drill: Bool
        }

        public static func == (lhs: Outcome, rhs: Outcome) -> Bool {
            lhs.accepted == rhs.accepted && lhs.anomalies == rhs.anomalies && lhs.restamped == rhs.restamped
                && lhs.rejected.map(\.reason) == rhs.rejected.map(\.reason) && lhs.rejected.map(\.detail) == rhs.rejected.map(\.detail)
        }
    }

    struct SensorContext: Sendable {
        let spec: SensorSpec
        let series: SeriesKey
        /// Drill telemetry has its own ring and detector state, so a drill never disturbs the
        /// real series of the same sensor (nor the other way round).
        let drillSeries: SeriesKey
        /// The fault each behaviour detector of the sensor reports (limit detectors report the limit's).
        var faults: [DetectionEngine.Source: FaultCode] = [:]

        func key(drill: Bool) -> SeriesKey { drill ? drillSeries : series }
    }

    struct DeviceContext: Sendable {
        let device: Device
        let profile: DeviceProfile
        let sensors: [String: SensorContext]
        /// The sensors computed from each waveform sensor's blocks.
        var derived: [SensorKey: [SensorContext]] = [:]
        /// `<site>/<device>/`: the SenML base name that names this device.
        var senmlPrefix = ""
    }

    public let configuration: Configuration
    public let store: SeriesStore
    let devices: [DeviceID: DeviceContext]
    /// `<prefix>/<site>/<device>/telemetry` of every device in the inventory: one hash lookup
    /// per message instead of splitting the topic (splitting was 40 % of `handle`). A topic not
    /// in here takes `route` and gets its precise reject.
    private let telemetryTopics: [String: DeviceContext]
    /// Per-series detector state and sensor arrival times, under the one lock a sample
    /// already takes on its way through the detectors.
    struct DetectionState {
        var engine: DetectionEngine
        /// When a sample of each watched series last arrived (gateway clock, not device clock,
        /// so a skewed device clock does not make a live sensor look stale).
        var lastArrival: [SeriesKey: Timestamp] = [:]
        var stale: Set<SeriesKey> = []
        /// Series that sent readings outside their physical range lately (entries leave once healthy).
        var rangeHealth: [SeriesKey: RangeHealthDetector] = [:]
        /// Devices whose profile tells running from stopped: running, and since when (the
        /// state sensor's first reading counts as settled).
        var operating: [DeviceID: (running: Bool, since: Timestamp)] = [:]
    }

    let detection: Mutex<DetectionState>
    /// Sites by id (their time zones read local times of mapped payloads).
    let sites: [SiteID: Site]
    /// Devices by every name they go by at their site: id and external id.
    let devicesByName: [SiteID: [String: DeviceContext]]
    /// Sparkplug group id → site.
    let sparkplugGroups: [String: SiteID]
    /// SenML base-name prefixes (`<site>/<device>/`, and external ids) → device.
    let senmlPrefixes: [String: DeviceContext]
    /// The inventory's custom topic mappings, in file order.
    let mappings: [TopicMapping]
    /// Sparkplug B edge nodes' session state, by `<group>/<edge node>`.
    let edgeNodes = Mutex<[String: EdgeNodeState]>([:])
    /// Parsed Sparkplug topics (bounded; see `handleSparkplug`).
    let sparkplugRoutes = Mutex<[String: SparkplugRoute]>([:])
    /// Publishes a command to a device (a Sparkplug rebirth request); set by the ingest service.
    let commands: @Sendable (_ topic: String, _ payload: [UInt8]) -> Void
    struct State {
        var counters = Counters()
        /// Messages per format, by `PayloadFormat.index`: an array, not a dictionary, on the per-message path.
        var messagesByFormat = [Int](repeating: 0, count: PayloadFormat.allCases.count)
        /// Devices whose clock ahead was said in the log (once each).
        var warnedClockAhead: Set<DeviceID> = []
    }

    let state = Mutex(State())
    let offlineDevices = Mutex(Set<DeviceID>())
    /// Gateway start: a sensor never heard from is stale once its timeout has passed since then.
    private let startedAt: Timestamp
    private let deadLetters: DeadLetterFile
    let sink: @Sendable (Anomaly) -> Void
    let now: @Sendable () -> Timestamp
    let logger: Logger
    /// Rejects of each reason logged at warning level before the rest are only counted.
    static let loggedRejectsPerReason = 5

    public init(
        inventory: Inventory, profiles: [String: DeviceProfile], store: SeriesStore, deadLetters: DeadLetterFile,
        configuration: Configuration = .init(), logger: Logger = Logger(label: "fieldwatch.ingest"),
        now: @escaping @Sendable () -> Timestamp = { Timestamp.now() },
        commands: @escaping @Sendable (_ topic: String, _ payload: [UInt8]) -> Void = { _, _ in },
        sink: @escaping @Sendable (Anomaly) -> Void
    ) {
        var contexts: [DeviceID: DeviceContext] = [:]
        var engine = DetectionEngine()
        for device in inventory.devices {
            guard let profile = profiles[device.profileID] else { continue }
            var sensors: [String: SensorContext] = [:]
            for spec in profile.sensors {
                sensors[spec.key.rawValue] = SensorContext(
                    spec: spec, series: SeriesKey(device: device.id, sensor: spec.key),
                    drillSeries: SeriesKey(device: DeviceID("\(device.id)#drill"), sensor: spec.key))
            }
            for detector in profile.effectiveDetectors {
                guard let spec = profile.sensor(detector.sensor), let sensor = sensors[spec.key.rawValue],
                      let registered = engine.register(detector, of: spec, for: [sensor.series, sensor.drillSeries]) else { continue }
                if let fault = registered.fault { sensors[spec.key.rawValue]?.faults[registered.source] = fault }
            }
            for rule in profile.rules {
                let specs = rule.sensors.compactMap { profile.sensor($0) }
                guard specs.count == rule.sensors.count else { continue }
                let configuration = MultiSensorRule.Configuration(
                    fault: rule.fault, sensors: rule.sensors, minChange: specs.map { rule.minChange * $0.scale },
                    movement: rule.movement == .rising ? .rising : .falling, window: rule.window, quietPeriod: rule.quiet)
                engine.register(device: device.id, rule: configuration)
                if let drill = sensors.values.first?.drillSeries.device { engine.register(device: drill, rule: configuration) }
            }
            var context = DeviceContext(device: device, profile: profile, sensors: sensors)
            context.senmlPrefix = "\(device.site)/\(device.id)/"
            for spec in profile.sensors {
                guard let from = spec.derived?.from, let sensor = sensors[spec.key.rawValue] else { continue }
                context.derived[from, default: []].append(sensor)
            }
            contexts[device.id] = context
        }
        self.devices = contexts
        telemetryTopics = Dictionary(uniqueKeysWithValues: contexts.values.map {
            ("\(configuration.topicPrefix)/\($0.device.site)/\($0.device.id)/telemetry", $0)
        })
        self.detection = Mutex(DetectionState(engine: engine))
        sites = Dictionary(inventory.sites.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        var byName: [SiteID: [String: DeviceContext]] = [:]
        var prefixes: [String: DeviceContext] = [:]
        for context in contexts.values {
            let d = context.device
            byName[d.site, default: [:]][d.id.rawValue] = context
            prefixes["\(d.site)/\(d.id)/"] = context
            if let external = d.externalID {
                byName[d.site, default: [:]][external] = context
                prefixes[external] = context
            }
        }
        devicesByName = byName
        senmlPrefixes = prefixes
        sparkplugGroups = Dictionary(inventory.sites.map { ($0.sparkplugGroup ?? $0.id.rawValue, $0.id) }, uniquingKeysWith: { a, _ in a })
        mappings = inventory.mappings
        self.commands = commands
        self.store = store
        self.deadLetters = deadLetters
        self.configuration = configuration
        self.logger = logger
        self.now = now
        self.sink = sink
        self.startedAt = now()
    }

    public var counters: Counters {
        state.withLock { s in
            var c = s.counters
            for format in PayloadFormat.allCases where s.messagesByFormat[format.index] > 0 { c.messagesByFormat[format] = s.messagesByFormat[format.index] }
            return c
        }
    }

    /// Whether `key` is a series this pipeline writes: a sensor of a device in the inventory
    /// (as its profile names it), or that sensor's drill series. Saved series that fail this
    /// belong to devices or sensors removed since, and are not restored.
    /// What the dead-letter file wrote and failed to write.
    public var deadLetterCounters: DeadLetterFile.Counters { deadLetters.counters }

    public func feeds(_ key: SeriesKey) -> Bool {
        let raw = key.device.rawValue
        let device = raw.hasSuffix("#drill") ? DeviceID(String(raw.dropLast("#drill".count))) : key.device
        guard let sensor = devices[device]?.sensors[key.sensor.rawValue] else { return false }
        return sensor.series == key || sensor.drillSeries == key
    }

    /// The detectors' state as a checkpoint (see `DetectionEngine.checkpoint()`). The engine is
    /// copied under the lock, which is a struct copy that shares storage until ingest next
    /// writes, and encoded outside it, so ingest never waits for the encoding. Every event the
    /// copied detectors fired has already been handed to the sink.
    public func detectorCheckpoint() throws -> Data {
        let engine = detection.withLock { $0.engine }
        return try engine.checkpoint()
    }

    /// Puts saved detector state in place of the fresh state (see `DetectionEngine.restore(from:)`).
    /// Meant for start-up, before messages flow: decoding holds the detection lock.
    public func restoreDetectors(from data: Data) throws -> DetectionEngine.RestoreReport {
        try detection.withLock { try $0.engine.restore(from: data) }
    }

    /// Ingests one message, in whichever format it comes (see `PayloadFormat`). Never throws
    /// and never traps on any input.
    @discardableResult
    public func handle(_ message: MQTTMessage, trace: Bool = false) -> Outcome {
        var outcome = Outcome()
        if trace { outcome.samples = [] }
        if let context = telemetryTopics[message.topic] {
            handleTelemetry(message, context: context, &outcome)
        } else if message.topic.hasPrefix(Sparkplug.namespace + "/") {
            handleSparkplug(message, &outcome)
        } else if message.topic == senmlTopic {
            handleSenML(message, device: nil, &outcome)
        } else if let (mapping, match) = matchMapping(message.topic) {
            handleMapped(message, mapping: mapping, match: match, &outcome)
        } else if route(message.topic, kind: "status") != nil {
            return handleStatus(message)
        } else if let context = routedDevice(message, &outcome) {
            handleTelemetry(message, context: context, &outcome)
        }
        let accepted = outcome.accepted
        let raised = outcome.anomalies.filter { $0.transition == .raised }.count
        let cleared = outcome.anomalies.count - raised
        state.withLock {
            $0.counters.messages += 1
            $0.counters.samplesAccepted += accepted
            $0.counters.anomaliesRaised += raised
            $0.counters.anomaliesCleared += cleared
            if let format = outcome.format { $0.messagesByFormat[format.index] += 1 }
        }
        return outcome
    }

    /// A message on a device's telemetry topic: Fieldwatch's JSON, or SenML (a JSON list or a
    /// CBOR array) from a device that speaks it; the first byte tells them apart.
    private func handleTelemetry(_ message: MQTTMessage, context: DeviceContext, _ outcome: inout Outcome) {
        var first: UInt8?
        for byte in message.payload where !(byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09) {
            first = byte
            break
        }
        if first == UInt8(ascii: "[") || (message.payload.first.map { $0 & 0xE0 == 0x80 } ?? false) {
            handleSenML(message, device: context, &outcome)
            return
        }
        outcome.format = .json
        let payload: TelemetryPayload
        switch TelemetryDecoder.decode(message.payload) {
        case let .success(p): payload = p
        case let .failure(error):
            reject(error.kind == .malformedJSON ? .malformedJSON : .invalidPayload,
                   error.kind == .malformedJSON ? "payload is not valid JSON \(error.detail)" : error.detail, message, &outcome)
            return
        }
        guard let timestamp = resolveTime(payload.timestamp, label: "\"ts\"", context: context, message: message, &outcome) else { return }
        if payload.metrics.isEmpty {
            reject(.invalidPayload, "\"metrics\" is empty; send at least one \"<sensor>\": <number>", message, &outcome)
            return
        }
        let arrival = Timestamp(message.receivedAt)
        for (key, value) in payload.metrics {
            ingest(key, value, unit: nil, at: timestamp, arrival: arrival, drill: payload.drill, context: context, message: message, &outcome)
        }
    }

    /// The time a reading is filed under: the device's, checked; the gateway's when the device
    /// sent none or its clock runs ahead. Nil (rejected) when the time cannot be used.
    func resolveTime(_ field: TelemetryPayload.TimestampField, label: String = "time", context: DeviceContext, message: MQTTMessage,
                     _ outcome: inout Outcome) -> Timestamp? {
        switch field {
        case .missing:
            return Timestamp(message.receivedAt)
        case let .invalid(detail):
            reject(.invalidTimestamp, detail, message, &outcome)
            return nil
        case let .valid(t):
            let gatewayNow = now()
            guard t <= gatewayNow + configuration.maxFutureSkew else {
                reject(.futureTimestamp, "\(label) \(t.rfc3339) is more than \(Int(configuration.maxFutureSkew.secondsDouble / 3600)) h ahead of the gateway clock; fix the device clock (NTP)", message, &outcome)
                return nil
            }
            // A reading dated ahead of now would become its series' newest, and every correct
            // reading after it would look older than the late tolerance allows and be refused:
            // the sensor blinded, across restarts too. Dated ahead by more than that tolerance,
            // it takes the gateway's time (a clock a few hours fast still reports, in order).
            guard t > gatewayNow + store.configuration.lateTolerance else { return t }
            outcome.restamped = t
            let first = state.withLock { s -> Bool in
                s.counters.clockAhead += 1
                return s.warnedClockAhead.insert(context.device.id).inserted
            }
            if first {
                logger.warning("""
                    device \(context.device.id)'s clock is \(formatAhead(t - gatewayNow)) ahead of the gateway's (\(label) \(t.rfc3339)); \
                    its readings are stamped with the gateway's time until the device clock is fixed (NTP)
                    """)
            }
            return gatewayNow
        }
    }

    /// One metric of a message, whatever the format: known sensor, unit, kind of value, then
    /// the range check, ring and detectors.
    func ingest(_ key: String, _ value: MetricValue, unit: String?, at timestamp: Timestamp, arrival: Timestamp, drill: Bool,
                context: DeviceContext, message: MQTTMessage, _ outcome: inout Outcome) {
        guard let sensor = context.sensors[key] else {
            let known = context.sensors.keys.sorted()
            reject(.unknownSensor, "sensor \"\(key.prefix(64))\" is not in profile \(context.profile.id) of device \(context.device.id) (known: \(known.joined(separator: ", "))); fix the device or the profile", message, &outcome)
            return
        }
        if let unit, !Units.agree(unit, sensor.spec.unit) {
            reject(.unitMismatch, "sensor \"\(key)\" arrives in \"\(unit.prefix(24))\" but profile \(context.profile.id) measures it in \"\(sensor.spec.unit)\"; convert on the device (or in the mapping's scale) or fix the profile's unit", message, &outcome)
            return
        }
        switch value {
        case let .number(number):
            guard sensor.spec.kind != .waveform else {
                reject(.nonNumericValue, "sensor \"\(key)\" is a waveform: send its raw samples as a list of numbers, e.g. [0.12, -0.08, ...]", message, &outcome)
                return
            }
            accept(number, of: sensor, at: timestamp, arrival: arrival, drill: drill, context: context, message: message, &outcome)
        case let .block(values):
            guard sensor.spec.kind == .waveform else {
                reject(.nonNumericValue, "sensor \"\(key)\" value is a list of \(values.count) numbers; only sensors with kind: waveform take blocks of samples", message, &outcome)
                return
            }
            let range = sensor.spec.validRange
            if let bad = values.firstIndex(where: { !range.contains($0) }) {
                reject(.outOfRange, "sensor \"\(key)\" block sample \(bad) is \(fmt(values[bad])) \(sensor.spec.unit), outside its physical range \(fmt(range.lowerBound))...\(fmt(range.upperBound)); the sensor clips or is miswired, so the whole block was dropped", message, &outcome)
                return
            }
            guard let features = BlockFeatures(values) else {
                reject(.invalidPayload, "sensor \"\(key)\" block has \(values.count) samples; a block needs at least \(BlockFeatures.minimumCount)", message, &outcome)
                return
            }
            if !drill && sensor.spec.staleAfter != nil {
                detection.withLock { $0.lastArrival[sensor.series] = arrival }
            }
            for derived in context.derived[sensor.spec.key] ?? [] {
                guard let feature = derived.spec.derived?.feature else { continue }
                accept(features.value(feature), of: derived, at: timestamp, arrival: arrival, drill: drill, context: context, message: message, &outcome)
            }
        case let .nonFinite(token):
            reject(.nonFiniteValue, "sensor \"\(key)\" value \(token) is not a finite number; the device must omit a reading it does not have", message, &outcome)
        case let .nonNumeric(kind):
            reject(.nonNumericValue, "sensor \"\(key)\" value is \(kind), not a number", message, &outcome)
        }
    }

    /// One reading of one sensor: range check, ring, detectors, anomalies to the sink.
    private func accept(_ number: Double, of sensor: SensorContext, at timestamp: Timestamp, arrival: Timestamp, drill: Bool,
                        context: DeviceContext, message: MQTTMessage, _ outcome: inout Outcome) {
        let key = sensor.spec.key
        let range = sensor.spec.validRange
        let sample = Sample(timestamp: timestamp, value: number)
        let series = sensor.key(drill: drill)
        guard range.contains(number) else {
            let origin = sensor.spec.derived.map { " (\($0.feature.rawValue) of \($0.from))" } ?? ""
            reject(.outOfRange, "sensor \"\(key)\"\(origin) value \(fmt(number)) \(sensor.spec.unit) is outside its physical range \(fmt(range.lowerBound))...\(fmt(range.upperBound)); check the sensor and its wiring", message, &outcome)
            // One such reading is refused; a run of them is a broken sensor, and a ticket.
            let bound = number > range.upperBound ? range.upperBound : range.lowerBound
            let anomalies = detection.withLock { d -> [Anomaly] in
                var health = d.rangeHealth[series] ?? RangeHealthDetector()
                let event = health.observe(sample, inRange: false, limit: bound)
                d.rangeHealth[series] = health
                guard let event else { return [] }
                let anomaly = makeAnomaly(DetectionEngine.Fired(source: .rangeHealth, event: event), context: context, sensor: sensor, drill: drill)
                sink(anomaly)
                return [anomaly]
            }
            outcome.anomalies.append(contentsOf: anomalies)
            return
        }
        if store.append(sample, to: series) == .tooLate {
            reject(.tooLate, "sensor \"\(key)\" sample at \(timestamp.rfc3339) is older than the late tolerance allows; it was dropped", message, &outcome)
            return
        }
        outcome.accepted += 1
        outcome.samples?.append(.init(device: context.device.id, sensor: key, sample: sample, drill: drill))
        let watched = !drill && sensor.spec.staleAfter != nil
        let state = context.profile.operatingState
        let anomalies = detection.withLock { d -> [Anomaly] in
            if watched { d.lastArrival[series] = arrival }
            var judging = DetectionEngine.Judging.all
            if let state {
                // The device's operating state (drill series keep their own under the drill id).
                let device = series.device
                if state.sensor == key {
                    let running = state.isRunning(number)
                    if let known = d.operating[device] {
                        if known.running != running { d.operating[device] = (running, timestamp) }
                    } else {
                        d.operating[device] = (running, .init(milliseconds: .min / 2))
                    }
                }
                if let now = d.operating[device] {
                    judging = !now.running ? .limitsAbove : timestamp < now.since + state.settle ? .nothing : .all
                } else {
                    judging = .limitsAbove
                }
            }
            var events = d.engine.observeAll(sample, for: series, judging: judging)
            if !d.rangeHealth.isEmpty, var health = d.rangeHealth[series] {
                let bound = number > (range.lowerBound + range.upperBound) / 2 ? range.upperBound : range.lowerBound
                if let event = health.observe(sample, inRange: true, limit: bound) { events.append(DetectionEngine.Fired(source: .rangeHealth, event: event)) }
                d.rangeHealth[series] = health.active ? health : nil
            }
            if events.isEmpty { return [] }
            // Handed over before the lock is released (events are rare: transitions only), so
            // a detector checkpoint never holds a detector that fired an event the sink has
            // not been given yet.
            let anomalies = events.map { makeAnomaly($0, context: context, sensor: sensor, drill: drill) }
            for anomaly in anomalies { sink(anomaly) }
            return anomalies
        }
        outcome.anomalies.append(contentsOf: anomalies)
    }

    /// Fault code of a sensor that has not reported within its `stale_after`.
    public static let staleSensorFault = FaultCode.sensorStale

    /// How often `sweepStaleness` should run: a quarter of the shortest timeout, 1 s to 30 s.
    public var stalenessSweepInterval: Duration? {
        let shortest = devices.values.flatMap { $0.profile.sensors.compactMap(\.staleAfter) }.min()
        return shortest.map { min(max($0 / 4, .seconds(1)), .seconds(30)) }
    }

    /// Raises `SENSOR_STALE` for every sensor with a `stale_after` that has not reported for
    /// that long (by the gateway's clock), and clears it once the sensor reports again. Sensors
    /// of a device that is offline are not reported stale: the offline ticket covers them.
    @discardableResult
    public func sweepStaleness() -> [Anomaly] { sweepStaleness(now: now()) }

    /// `only`: the sensors to consider (a backtest's exported columns); nil, all.
    @discardableResult
    public func sweepStaleness(now: Timestamp, only: Set<SensorKey>? = nil) -> [Anomaly] {
        let offline = offlineDevices.withLock { $0 }
        var anomalies: [Anomaly] = []
        detection.withLock { state in
            for context in devices.values where !offline.contains(context.device.id) {
                for sensor in context.sensors.values {
                    guard let timeout = sensor.spec.staleAfter, only?.contains(sensor.spec.key) ?? true else { continue }
                    let last = state.lastArrival[sensor.series] ?? startedAt
                    let silent = now - last
                    let isStale = silent > timeout
                    let wasStale = state.stale.contains(sensor.series)
                    guard isStale != wasStale else { continue }
                    if isStale { state.stale.insert(sensor.series) } else { state.stale.remove(sensor.series) }
                    let name = sensor.spec.name
                    anomalies.append(Anomaly(
                        site: context.device.site, device: context.device.id, sensor: sensor.spec.key, faultCode: Self.staleSensorFault,
                        transition: isStale ? .raised : .cleared, severity: .warning, detectedAt: now, conditionSince: last,
                        value: silent.secondsDouble, limit: timeout.secondsDouble, unit: "s", detector: "staleness", detectorVersion: 1,
                        profileID: context.profile.id, profileVersion: context.profile.version,
                        summary: isStale
                            ? "\(name): no reading for \(Int(silent.secondsDouble)) s (expected every \(sensor.spec.period.map { "\(Int($0.secondsDouble)) s" } ?? "?"), stale after \(Int(timeout.secondsDouble)) s)"
                            : "\(name) reports again",
                        evidence: []))
                }
            }
        }
        for anomaly in anomalies { sink(anomaly) }
        return anomalies
    }

    /// The general path for a topic that is not one of the inventory's telemetry topics: the
    /// device it names if that is registered at that site, else the reject that says what is wrong.
    func routedDevice(_ message: MQTTMessage, _ outcome: inout Outcome) -> DeviceContext? {
        guard let (site, deviceID) = route(message.topic) else {
            reject(.badTopic, "topic \"\(message.topic.prefix(120))\" is not \(configuration.topicPrefix)/<site>/<device>/telemetry", message, &outcome)
            return nil
        }
        if let context = devices[deviceID], context.device.site == site { return context }
        let detail: String
        if let other = devices[deviceID] {
            detail = "device \"\(deviceID)\" is registered at site \"\(other.device.site)\", not \"\(site)\"; fix the device's topic or the inventory"
        } else {
            detail = "device \"\(deviceID)\" (site \"\(site)\") is not in the inventory; add it to the inventory file or fix the topic"
        }
        reject(.unknownDevice, detail, message, &outcome)
        return nil
    }

    /// The device of a telemetry topic by the fast path (the index) and by the general path
    /// (`route`), for the test that holds them to each other.
    func deviceByBothPaths(_ topic: String) -> (fast: DeviceID?, general: DeviceID?) {
        var outcome = Outcome()
        return (telemetryTopics[topic]?.device.id, routedDevice(MQTTMessage(topic: topic, payload: []), &outcome)?.device.id)
    }

    /// `fieldwatch/<site>/<device>/telemetry` → (site, device).
    func route(_ topic: String, kind: String = "telemetry") -> (SiteID, DeviceID)? {
        let parts = topic.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0] == configuration.topicPrefix, parts[3] == kind,
              !parts[1].isEmpty, !parts[2].isEmpty
        else { return nil }
        return (SiteID(String(parts[1])), DeviceID(String(parts[2])))
    }

    /// Fault code of a device that dropped off the network (its MQTT last will).
    public static let offlineFault = FaultCode.deviceOffline

    /// A message on `fieldwatch/<site>/<device>/status`: `{"status": "offline" | "online"}`,
    /// usually the device's MQTT last will. Offline raises `DEVICE_OFFLINE`, online clears it.
    @discardableResult
    public func handleStatus(_ message: MQTTMessage) -> Outcome {
        var outcome = Outcome()
        guard let (site, deviceID) = route(message.topic, kind: "status"), let context = devices[deviceID], context.device.site == site else {
            reject(.unknownDevice, "status topic \"\(message.topic.prefix(120))\" names no device of the inventory", message, &outcome)
            return outcome
        }
        guard let json = try? JSONSerialization.jsonObject(with: Data(message.payload)) as? [String: Any],
              let status = json["status"] as? String, status == "offline" || status == "online"
        else {
            reject(.invalidPayload, "status payload must be {\"status\": \"offline\"} or {\"status\": \"online\"}", message, &outcome)
            return outcome
        }
        setOnline(status == "online", context: context, at: Timestamp(message.receivedAt), reason: "connection lost", &outcome)
        return outcome
    }

    /// Marks a device offline (raising `DEVICE_OFFLINE`) or online again (clearing it). Only a
    /// change is an event: retained statuses and repeated births come again on every reconnect.
    func setOnline(_ online: Bool, context: DeviceContext, at: Timestamp, reason: String, _ outcome: inout Outcome) {
        let deviceID = context.device.id
        let changed = offlineDevices.withLock { set in online ? set.remove(deviceID) != nil : set.insert(deviceID).inserted }
        guard changed else { return }
        let name = context.device.name ?? deviceID.rawValue
        let anomaly = Anomaly(
            site: context.device.site, device: deviceID, sensor: "status", faultCode: Self.offlineFault, transition: online ? .cleared : .raised,
            severity: .warning, detectedAt: at, conditionSince: at, value: online ? 1 : 0, limit: 1, unit: "",
            detector: "last-will", detectorVersion: 1, profileID: context.profile.id, profileVersion: context.profile.version,
            summary: online ? "\(name) is back online" : "\(name) went offline (\(reason))",
            evidence: [])
        outcome.anomalies.append(anomaly)
        outcome.notes.append("device \(deviceID) marked \(online ? "online" : "offline")")
        sink(anomaly)
    }

    /// Fault code of a stuck sensor (a sensor-health fault, kept apart from machine faults).
    public static let stuckSensorFault = FaultCode.sensorStuck

    private func makeAnomaly(_ fired: DetectionEngine.Fired, context: DeviceContext, sensor: SensorContext, drill: Bool) -> Anomaly {
        let (event, source) = (fired.event, fired.source)
        let spec = sensor.spec
        let limits = spec.limits
        let side = limits?.direction == .below ? "below" : "above"
        let held = Int((event.at - event.since).secondsDouble.rounded())
        var summary: String
        var faultCode = sensor.faults[source] ?? limits?.faultCode ?? FaultCode("\(spec.key.rawValue.uppercased())_LIMIT")
        let detector = source.detector
        switch (source, event.transition) {
        case (.flatline, .raised):
            summary = "\(spec.name) stuck at \(fmt(event.value)) \(spec.unit) for \(held) s: a sensor fault, not a machine reading"
        case (.flatline, .cleared):
            summary = "\(spec.name) reading moves again (\(fmt(event.value)) \(spec.unit)) after \(held) s stuck"
        case (.forecast, .raised):
            let f = fired.forecast
            let trend = f.map { "\($0.slopePerHour >= 0 ? "rising" : "falling") \(fmt(abs($0.slopePerHour))) \(spec.unit)/h" } ?? "trending"
            summary = "\(spec.name) \(trend) towards its critical limit \(fmt(event.limit)) \(spec.unit): predicted to reach it "
                + (f.map { "\($0.leadDescription) (now \(fmt($0.level)) \(spec.unit))" } ?? "within the horizon")
        case (.forecast, .cleared):
            summary = "\(spec.name) no longer trends towards its critical limit \(fmt(event.limit)) \(spec.unit) (now \(fmt(event.value)) \(spec.unit))"
        case (.rateOfChange, .raised):
            summary = "\(spec.name) \(event.value >= 0 ? "rising" : "falling") \(fmt(abs(event.value))) \(spec.unit)/min, "
                + "faster than the \(fmt(abs(event.limit))) \(spec.unit)/min it may"
        case (.rateOfChange, .cleared):
            summary = "\(spec.name) changes at a normal rate again (\(fmt(event.value)) \(spec.unit)/min)"
        case (.changePoint, .raised):
            summary = "\(spec.name) level shifted \(event.value >= event.limit ? "up" : "down") from about \(fmt(event.limit)) \(spec.unit) "
                + "to \(fmt(event.value)) \(spec.unit) and stays there, within its limits"
        case (.changePoint, .cleared):
            summary = "\(spec.name) level steady again at about \(fmt(event.limit)) \(spec.unit)"
        case (.anomaly, .raised):
            summary = "\(spec.name) \(fmt(event.value)) \(spec.unit) is unusual for this sensor (anomaly score \(fmt(event.limit)); "
                + "0.5 is as unusual as the worst seen so far)"
        case (.rule, .raised):
            let rule = fired.rule
            let names = rule?.sensors.map { context.profile.sensor($0)?.name ?? $0.rawValue } ?? []
            let moves = zip(rule?.sensors ?? [], rule?.changes ?? []).map { key, change in
                "\(change.map { ($0 >= 0 ? "+" : "") + fmt($0) } ?? "?") \(context.profile.sensor(key)?.unit ?? "")"
            }
            let hours = fmt((rule?.window.secondsDouble ?? 0) / 3600)
            let way = (rule?.changes.compactMap { $0 }.first ?? 0) >= 0 ? "rising" : "falling"
            summary = "\(names.joined(separator: " and ")) \(way) together over \(hours) h (\(moves.joined(separator: ", ")))"
        case (.rule, .cleared):
            summary = "\(fired.rule?.sensors.map(\.rawValue).joined(separator: " and ") ?? "the rule's sensors") no longer move together"
        case (.rangeHealth, .raised):
            summary = "\(spec.name) reads \(fmt(event.value)) \(spec.unit), outside its physical range \(fmt(spec.validRange.lowerBound))...\(fmt(spec.validRange.upperBound)) \(spec.unit), "
                + "again and again: a broken, saturated or miswired sensor, not a machine reading"
        case (.rangeHealth, .cleared):
            summary = "\(spec.name) reads within its physical range again (\(fmt(event.value)) \(spec.unit))"
        case (.anomaly, .cleared):
            summary = "\(spec.name) behaves as usual again (\(fmt(event.value)) \(spec.unit))"
        case (_, .raised):
            summary = "\(spec.name) \(fmt(event.value)) \(spec.unit) \(side) \(event.severity) limit \(fmt(event.limit)) \(spec.unit) for \(held) s"
        case (_, .cleared):
            summary = "\(spec.name) back to \(fmt(event.value)) \(spec.unit), past the clear level \(fmt(event.limit)) \(spec.unit) for \(held) s"
        }
        if source == .flatline { faultCode = Self.stuckSensorFault }
        if source == .rangeHealth { faultCode = .sensorOutOfRange }
        if let rule = fired.rule { faultCode = rule.fault }
        // Name the fault first when the profile's catalogue knows it: "Bearing overheating: ...".
        if let fault = context.profile.fault(faultCode) {
            summary = "\(fault.name): \(summary)"
        }
        // A forecast's evidence is the window its trend was fitted on.
        let from = fired.forecast.map { min($0.windowStart, event.since) } ?? event.since - configuration.evidenceBefore
        let evidence = store.range(sensor.key(drill: drill), from: from, to: event.at)
        return Anomaly(
            site: context.device.site, device: context.device.id, sensor: spec.key,
            faultCode: faultCode,
            transition: event.transition, severity: event.severity, detectedAt: event.at, conditionSince: event.since,
            value: event.value, limit: event.limit, unit: spec.unit,
            detector: detector.0, detectorVersion: detector.1,
            profileID: context.profile.id, profileVersion: context.profile.version,
            summary: summary, evidence: evidence, drill: drill, forecast: fired.forecast)
    }

    func reject(_ reason: RejectReason, _ detail: String, _ message: MQTTMessage, _ outcome: inout Outcome) {
        outcome.rejected.append((reason, detail))
        let count = state.withLock { state -> Int in
            state.counters.rejects[reason, default: 0] += 1
            return state.counters.rejects[reason]!
        }
        deadLetters.record(reason: reason, topic: message.topic, detail: detail, payload: message.payload, at: Timestamp(message.receivedAt))
        if count <= Self.loggedRejectsPerReason {
            logger.warning("rejected telemetry: \(detail)\(count == Self.loggedRejectsPerReason ? " (further \(reason.rawValue) rejects are only counted)" : "")",
                           metadata: ["mqtt.topic": .string(String(message.topic.prefix(200))), "ingest.reason": .string(reason.rawValue)])
        }
    }
}

func fmt(_ x: Double) -> String {
    let r = (x * 100).rounded() / 100
    return r == r.rounded() && abs(r) < 1e15 ? String(Int64(r)) : String(r)
}

func formatAhead(_ d: Duration) -> String {
    let s = Int(d.secondsDouble)
    return s >= 3600 ? "\(s / 3600) h \(s % 3600 / 60) min" : s >= 60 ? "\(s / 60) min \(s % 60) s" : "\(s) s"
}
