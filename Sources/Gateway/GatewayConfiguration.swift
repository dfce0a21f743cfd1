import Foundation
import Logging
import MQTT
import Profiles
import Yams

/// Everything `fieldwatch serve` can be told, with the defaults it runs on. Read from an
/// optional YAML file, then environment variables, then command-line flags (each overriding
/// the one before), and validated as a whole before anything starts.
public struct GatewayConfiguration: Sendable, Equatable {
    public var broker = "mqtt://127.0.0.1:1883"
    public var clientID = "fieldwatch-gateway"
    public var username: String?
    public var password: String?
    public var caFile: String?
    /// The gateway's client certificate and key (PEM) for brokers that require one.
    public var certFile: String?
    public var keyFile: String?
    public var database = "./fieldwatch.db"
    public var profiles = "./DeviceProfiles"
    public var inventory = "./inventory.yaml"
    /// JSON-lines file of the first rejects of each reason; nil disables it.
    public var deadLetterFile: String? = "./fieldwatch-dead-letters.jsonl"
    public var ringCapacity = 256
    /// Kibibytes of compressed history kept per series behind its ring (0: none).
    public var historyKiB = 0
    public var lateTolerance: Duration = .seconds(5)
    public var maxFutureSkew: Duration = .seconds(86_400)
    public var evidenceWindow: Duration = .seconds(300)
    public var mqttBuffer = 65_536
    /// Largest MQTT payload accepted; larger ones are dropped uncopied and counted.
    public var maxPayloadKiB = 256
    /// Payload bytes buffered between the MQTT thread and ingest, at most.
    public var mqttBufferMiB = 64
    public var statsInterval: Duration = .seconds(60)
    public var logLevel: Logger.Level = .info
    /// Service policy YAML (grading, SLA targets, calendars, escalation); nil: the built-in default.
    public var policy: String?
    /// Webhook URLs that receive every service event (HTTP POST JSON).
    public var webhooks: [String] = []
    /// HMAC-SHA256 key of `X-Fieldwatch-Signature` on every webhook request; required with webhooks.
    public var webhookSecret: String?
    /// Allow plain http:// webhooks to other machines (loopback is always allowed).
    public var webhookAllowHTTP = false
    /// Failed attempts after which a message is set aside for that webhook.
    public var webhookMaxAttempts = 12
    /// Publish service events to MQTT under fieldwatch/events/<site>/<ticket>.
    public var publishEvents = true
    public var escalationInterval: Duration = .seconds(15)
    /// How often the detectors' state, the rings and the compressed history are saved to the
    /// database (and once more on shutdown).
    public var checkpointInterval: Duration = .seconds(60)
    /// FAQ of the customer assistant; a missing default file means an empty FAQ.
    public var faq = "./Assistant/faq.yaml"
    public var faqExplicit = false
    /// HOST:PORT of the HTTP API and dashboard; nil turns it off.
    public var http: String? = "127.0.0.1:8080"

    public init() {}

    /// Keys of the configuration file, with what each means (also printed by `--help`).
    public static let keys: [(key: String, env: String, help: String)] = [
        ("broker", "FIELDWATCH_BROKER", "MQTT broker URL, mqtt://HOST:PORT or mqtts://HOST:PORT (default mqtt://127.0.0.1:1883)"),
        ("client_id", "FIELDWATCH_CLIENT_ID", "MQTT client id; keep it stable so the broker keeps the session (default fieldwatch-gateway)"),
        ("username", "FIELDWATCH_MQTT_USERNAME", "MQTT user name"),
        ("password", "FIELDWATCH_MQTT_PASSWORD", "MQTT password"),
        ("ca_file", "FIELDWATCH_MQTT_CA_FILE", "PEM CA certificate; enables TLS"),
        ("cert_file", "FIELDWATCH_MQTT_CERT_FILE", "the gateway's client certificate (PEM), for brokers that require one; with key_file and ca_file"),
        ("key_file", "FIELDWATCH_MQTT_KEY_FILE", "the private key of cert_file (PEM, unencrypted)"),
        ("database", "FIELDWATCH_DB", "SQLite file of tickets and audit trail (default ./fieldwatch.db)"),
        ("profiles", "FIELDWATCH_PROFILES", "directory of device profiles (default ./DeviceProfiles)"),
        ("inventory", "FIELDWATCH_INVENTORY", "sites and devices YAML (default ./inventory.yaml)"),
        ("dead_letter_file", "FIELDWATCH_DEAD_LETTER_FILE", "JSON-lines file of rejected input, first 100 per reason; \"off\" disables"),
        ("ring_capacity", "FIELDWATCH_RING_CAPACITY", "samples kept per series in memory (default 256, 16 bytes each)"),
        ("history_kib", "FIELDWATCH_HISTORY_KIB", "KiB of compressed history per series behind its ring (default 0: none; about 1.3 bytes a sample)"),
        ("late_tolerance", "FIELDWATCH_LATE_TOLERANCE", "how late a sample may arrive and still be placed in order (default 5s)"),
        ("max_future_skew", "FIELDWATCH_MAX_FUTURE_SKEW", "how far ahead a device clock may be before its messages are refused (default 24h)"),
        ("evidence_window", "FIELDWATCH_EVIDENCE_WINDOW", "history before a detection stored as its evidence (default 5m)"),
        ("mqtt_buffer", "FIELDWATCH_MQTT_BUFFER", "messages buffered between the MQTT thread and ingest; overflow is counted (default 65536)"),
        ("mqtt_buffer_mib", "FIELDWATCH_MQTT_BUFFER_MIB", "MiB of payload buffered between the MQTT thread and ingest, at most; overflow is counted (default 64)"),
        ("max_payload_kib", "FIELDWATCH_MAX_PAYLOAD_KIB", "largest MQTT payload accepted, KiB; larger ones are dropped before they are copied, and counted (default 256)"),
        ("stats_interval", "FIELDWATCH_STATS_INTERVAL", "how often to log an ingest progress line (default 60s)"),
        ("log_level", "FIELDWATCH_LOG_LEVEL", "trace, debug, info, notice, warning, error or critical (default info)"),
        ("policy", "FIELDWATCH_POLICY", "service policy YAML: grading, SLA targets, calendars, escalation (default: built in, see ServicePolicy/example.yaml)"),
        ("webhooks", "FIELDWATCH_WEBHOOKS", "URLs that receive every service event as HTTP POST JSON (a YAML list; comma-separated in the environment)"),
        ("webhook_secret", "FIELDWATCH_WEBHOOK_SECRET", "key of the HMAC-SHA256 signature (X-Fieldwatch-Signature: t=<unix>,v1=<hex> over \"<t>.<body>\") on every webhook request; required with webhooks, 16 characters or more"),
        ("webhook_allow_http", "FIELDWATCH_WEBHOOK_ALLOW_HTTP", "allow plain http:// webhooks to other machines (default false: https://, or http:// to this machine only)"),
        ("webhook_max_attempts", "FIELDWATCH_WEBHOOK_MAX_ATTEMPTS", "failed attempts after which a message is set aside for that webhook so the next ones go on (default 12, about 40 minutes of retries)"),
        ("publish_events", "FIELDWATCH_PUBLISH_EVENTS", "publish service events to MQTT fieldwatch/events/<site>/<ticket> (default true)"),
        ("escalation_interval", "FIELDWATCH_ESCALATION_INTERVAL", "how often SLA deadlines are checked for escalation (default 15s)"),
        ("checkpoint_interval", "FIELDWATCH_CHECKPOINT_INTERVAL", "how often detector state (duration timers, flatline runs, fitted trends), the rings and the compressed history are saved so a restart resumes them; also saved on shutdown, so a kill -9 loses at most this much (default 60s)"),
        ("faq", "FIELDWATCH_FAQ", "questions and answers for the customer assistant (default ./Assistant/faq.yaml)"),
        ("http", "FIELDWATCH_HTTP", "HOST:PORT of the HTTP API (default 127.0.0.1:8080; 0.0.0.0:8080 for every interface; \"off\" disables)"),
    ]

    /// Reads a YAML configuration file on top of the defaults.
    public static func load(file: String) throws(ConfigurationError) -> GatewayConfiguration {
        let text: String
        do {
            text = try String(contentsOfFile: file, encoding: .utf8)
        } catch {
            throw ConfigurationError(problems: ["\(file): cannot read the configuration file (\(error.localizedDescription)); check --config"])
        }
        return try parse(text, file: file)
    }

    public static func parse(_ text: String, file: String) throws(ConfigurationError) -> GatewayConfiguration {
        var c = GatewayConfiguration()
        let context = YAMLContext(file: file)
        if let node = context.compose(text), var r = MappingReader(node, path: "", context: context, what: "the gateway configuration") {
            func text(_ key: String) -> String? { r.string(key, required: false, "text") }
            if let v = text("broker") { c.broker = v }
            if let v = text("client_id") { c.clientID = v }
            if let v = text("username") { c.username = v }
            if let v = text("password") { c.password = v }
            if let v = text("ca_file") { c.caFile = v }
            if let v = text("cert_file") { c.certFile = v }
            if let v = text("key_file") { c.keyFile = v }
            if let v = text("database") { c.database = v }
            if let v = text("profiles") { c.profiles = v }
            if let v = text("inventory") { c.inventory = v }
            if let v = text("dead_letter_file") { c.deadLetterFile = v == "off" ? nil : v }
            if let v = r.integer("ring_capacity", required: false, "samples per series") { c.ringCapacity = v }
            if let v = r.integer("history_kib", required: false, "KiB of compressed history per series") { c.historyKiB = v }
            if let v = r.duration("late_tolerance", "late tolerance") { c.lateTolerance = v }
            if let v = r.duration("max_future_skew", "allowed device clock skew") { c.maxFutureSkew = v }
            if let v = r.duration("evidence_window", "evidence history") { c.evidenceWindow = v }
            if let v = r.integer("mqtt_buffer", required: false, "buffered messages") { c.mqttBuffer = v }
            if let v = r.integer("mqtt_buffer_mib", required: false, "MiB of buffered payload") { c.mqttBufferMiB = v }
            if let v = r.integer("max_payload_kib", required: false, "largest payload, KiB") { c.maxPayloadKiB = v }
            if let v = r.duration("stats_interval", "progress interval") { c.statsInterval = v }
            if let v = text("policy") { c.policy = v }
            if let v = r.stringList("webhooks", "webhook URLs") { c.webhooks = v }
            if let v = r.bool("publish_events", "publish service events to MQTT") { c.publishEvents = v }
            if let v = text("webhook_secret") { c.webhookSecret = v }
            if let v = r.bool("webhook_allow_http", "allow plain http:// webhooks") { c.webhookAllowHTTP = v }
            if let v = r.integer("webhook_max_attempts", required: false, "attempts before a message is set aside") { c.webhookMaxAttempts = v }
            if let v = r.duration("escalation_interval", "escalation check interval") { c.escalationInterval = v }
            if let v = r.duration("checkpoint_interval", "detector checkpoint interval") { c.checkpointInterval = v }
            if let v = text("http") { c.http = v == "off" ? nil : v }
            if let v = text("faq") { c.faq = v; c.faqExplicit = true }
            if let v = text("log_level") {
                if let level = Logger.Level(rawValue: v) { c.logLevel = level } else {
                    context.report(r.value("log_level"), "log_level", "\"\(v)\" is not a log level; use trace, debug, info, notice, warning, error or critical")
                }
            }
            r.finish()
        }
        if !context.issues.isEmpty { throw ConfigurationError(problems: context.issues.map(\.description)) }
        return c
    }

    /// Applies `FIELDWATCH_*` environment variables.
    public mutating func applyEnvironment(_ environment: [String: String]) throws(ConfigurationError) {
        var problems: [String] = []
        for (key, env, _) in Self.keys {
            guard let value = environment[env] else { continue }
            switch key {
            case "broker": broker = value
            case "client_id": clientID = value
            case "username": username = value
            case "password": password = value
            case "ca_file": caFile = value
            case "cert_file": certFile = value
            case "key_file": keyFile = value
            case "database": database = value
            case "profiles": profiles = value
            case "inventory": inventory = value
            case "dead_letter_file": deadLetterFile = value == "off" ? nil : value
            case "webhook_secret": webhookSecret = value
            case "webhook_allow_http":
                guard let b = Bool(value.lowercased()) else { problems.append("\(env)=\(value): expected true or false"); continue }
                webhookAllowHTTP = b
            case "ring_capacity", "mqtt_buffer", "history_kib", "mqtt_buffer_mib", "max_payload_kib", "webhook_max_attempts":
                guard let n = Int(value) else { problems.append("\(env)=\(value): expected a whole number"); continue }
                switch key {
                case "ring_capacity": ringCapacity = n
                case "history_kib": historyKiB = n
                case "mqtt_buffer_mib": mqttBufferMiB = n
                case "max_payload_kib": maxPayloadKiB = n
                case "webhook_max_attempts": webhookMaxAttempts = n
                default: mqttBuffer = n
                }
            case "policy": policy = value
            case "http": http = value == "off" ? nil : value
            case "faq": faq = value; faqExplicit = true
            case "webhooks": webhooks = value.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            case "publish_events":
                guard let b = Bool(value.lowercased()) else { problems.append("\(env)=\(value): expected true or false"); continue }
                publishEvents = b
            case "late_tolerance", "max_future_skew", "evidence_window", "stats_interval", "escalation_interval", "checkpoint_interval":
                guard let d = parseDuration(value), d >= .zero else { problems.append("\(env)=\(value): expected a duration such as 30s, 5m or 2h"); continue }
                switch key {
                case "late_tolerance": lateTolerance = d
                case "max_future_skew": maxFutureSkew = d
                case "evidence_window": evidenceWindow = d
                case "escalation_interval": escalationInterval = d
                case "checkpoint_interval": checkpointInterval = d
                default: statsInterval = d
                }
            case "log_level":
                guard let level = Logger.Level(rawValue: value) else { problems.append("\(env)=\(value): use trace, debug, info, notice, warning, error or critical"); continue }
                logLevel = level
            default: break
            }
        }
        if !problems.isEmpty { throw ConfigurationError(problems: problems) }
    }

    /// Checks every value; all problems are reported together.
    public func validate() throws(ConfigurationError) {
        var problems: [String] = []
        switch MQTTConfiguration.parseBrokerURL(broker) {
        case let .failure(error): problems.append("broker: \(error)")
        case let .success(url):
            if url.tls && caFile == nil { problems.append("broker: \(broker) uses mqtts:// but ca_file is not set; give the CA certificate that signed the broker's") }
        }
        if clientID.isEmpty || clientID.utf8.count > 65_535 || clientID.contains(where: { $0.isWhitespace || !$0.isASCII }) {
            problems.append("client_id: \"\(clientID)\" must be non-empty printable ASCII without spaces")
        }
        if password != nil && username == nil { problems.append("password: set without username; give both or neither") }
        if let caFile, !FileManager.default.isReadableFile(atPath: caFile) { problems.append("ca_file: \(caFile) is not a readable file") }
        if (certFile == nil) != (keyFile == nil) { problems.append("cert_file and key_file: give both (the client certificate and its private key) or neither") }
        if certFile != nil && caFile == nil { problems.append("cert_file: a client certificate needs TLS; set ca_file (and use mqtts://)") }
        for (key, file) in [("cert_file", certFile), ("key_file", keyFile)] {
            if let file, !FileManager.default.isReadableFile(atPath: file) { problems.append("\(key): \(file) is not a readable file") }
        }
        if !(16...1_048_576).contains(ringCapacity) { problems.append("ring_capacity: \(ringCapacity) is outside 16...1048576 samples per series") }
        if !(0...65_536).contains(historyKiB) { problems.append("history_kib: \(historyKiB) is outside 0...65536 KiB per series (0 keeps no history)") }
        if !(16...10_000_000).contains(mqttBuffer) { problems.append("mqtt_buffer: \(mqttBuffer) is outside 16...10000000 messages") }
        if !(1...65_536).contains(maxPayloadKiB) { problems.append("max_payload_kib: \(maxPayloadKiB) is outside 1...65536 KiB") }
        if !(1...65_536).contains(mqttBufferMiB) { problems.append("mqtt_buffer_mib: \(mqttBufferMiB) is outside 1...65536 MiB") }
        else if mqttBufferMiB * 1024 < maxPayloadKiB { problems.append("mqtt_buffer_mib: \(mqttBufferMiB) MiB cannot hold one payload of max_payload_kib (\(maxPayloadKiB) KiB)") }
        if maxFutureSkew < .seconds(1) { problems.append("max_future_skew: must be at least 1s; device clocks are never exact") }
        if statsInterval < .seconds(1) { problems.append("stats_interval: must be at least 1s") }
        if database.isEmpty { problems.append("database: empty path; give a file such as ./fieldwatch.db") }
        for url in webhooks {
            guard let u = URL(string: url), u.scheme == "http" || u.scheme == "https", let host = u.host else {
                problems.append("webhooks: \"\(url)\" is not an http:// or https:// URL")
                continue
            }
            if u.scheme == "http" && !webhookAllowHTTP && !Self.isLoopback(host) {
                problems.append("webhooks: \"\(url)\" is plain http:// to another machine: ticket data would cross the network readable; use https://, or set webhook_allow_http: true on a network you trust")
            }
        }
        if !webhooks.isEmpty {
            if let secret = webhookSecret {
                if secret.count < 16 { problems.append("webhook_secret: \(secret.count) characters is too short to sign with; use 16 or more (for example `openssl rand -hex 32`)") }
            } else {
                problems.append("webhook_secret: required with webhooks, so receivers can check each request's X-Fieldwatch-Signature; use 16 characters or more (for example `openssl rand -hex 32`)")
            }
        }
        if !(1...1000).contains(webhookMaxAttempts) { problems.append("webhook_max_attempts: \(webhookMaxAttempts) is outside 1...1000") }
        if let http, Self.parseListen(http) == nil {
            problems.append("http: \"\(http)\" is not HOST:PORT (such as 127.0.0.1:8080) or \"off\"")
        }
        if escalationInterval < .seconds(1) || escalationInterval > .seconds(300) {
            problems.append("escalation_interval: must be between 1s and 5m; escalations fire at most this late")
        }
        if checkpointInterval < .seconds(1) || checkpointInterval > .seconds(3600) {
            problems.append("checkpoint_interval: must be between 1s and 1h; a kill -9 loses up to this much detector state")
        }
        if !problems.isEmpty { throw ConfigurationError(problems: problems) }
    }

    /// What is allowed but unwise, for the start-up log.
    public var warnings: [String] {
        var w: [String] = []
        if password != nil, case let .success(url) = MQTTConfiguration.parseBrokerURL(broker), !url.tls, !Self.isLoopback(url.host) {
            w.append("password: sent in clear text over \(broker) to a host that is not this machine; use mqtts:// with ca_file")
        }
        return w
    }

    static func isLoopback(_ host: String) -> Bool { host == "localhost" || host == "::1" || host.hasPrefix("127.") }

    /// HOST:PORT → (host, port); port 0 picks a free one.
    public static func parseListen(_ text: String) -> (host: String, port: Int)? {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65_535).contains(port) else { return nil }
        let host = String(text[..<colon])
        return host.isEmpty ? nil : (host, port)
    }

    /// The MQTT settings this configuration describes (call after `validate()`).
    public var mqtt: MQTTConfiguration {
        let url = (try? MQTTConfiguration.parseBrokerURL(broker).get()) ?? (host: "127.0.0.1", port: 1883, tls: false)
        // Nagle stays on for the gateway's own connection: what it sends is acks and ticket
        // events, and a PUBACK per TCP segment cost a quarter of the QoS 1 drain rate (66 k
        // against 88 k msg/s in `make bench`) for no gain in telemetry → ticket latency, which
        // depends on the publishers' and the broker's sockets (`set_tcp_nodelay true`).
        var c = MQTTConfiguration(host: url.host, port: url.port, clientID: clientID, username: username, password: password,
                                  caFile: caFile, bufferCapacity: mqttBuffer, tcpNoDelay: false)
        c.certFile = certFile
        c.keyFile = keyFile
        c.maxPayloadBytes = maxPayloadKiB * 1024
        c.bufferBytes = mqttBufferMiB * 1024 * 1024
        return c
    }
}

/// The gateway cannot start: each problem names the key or file and what to do.
public struct ConfigurationError: Error, Sendable, CustomStringConvertible {
    public var problems: [String]
    public init(problems: [String]) { self.problems = problems }
    public var description: String { problems.joined(separator: "\n") }
}
