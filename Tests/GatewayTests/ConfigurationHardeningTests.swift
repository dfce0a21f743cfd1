import Foundation
import Gateway
import Testing

@Suite("Configuration: payload bounds and clear-text passwords")
struct ConfigurationHardeningTests {
    @Test func aPasswordOverPlainMQTTToAnotherHostIsWarnedAbout() throws {
        var c = GatewayConfiguration()
        c.username = "gw"
        c.password = "secret"
        c.broker = "mqtt://10.0.0.5:1883"
        #expect(c.warnings.count == 1 && c.warnings[0].contains("clear text") && c.warnings[0].contains("mqtts://"))
        c.broker = "mqtt://127.0.0.1:1883"
        #expect(c.warnings.isEmpty, "loopback never leaves the machine")
        c.broker = "mqtts://10.0.0.5:8883"
        #expect(c.warnings.isEmpty)
    }

    @Test func aClientCertificateNeedsItsKeyAndTLS() throws {
        var c = GatewayConfiguration()
        c.certFile = "/etc/hostname"
        do {
            try c.validate()
            Issue.record("a certificate without a key was accepted")
        } catch {
            #expect(error.description.contains("cert_file and key_file: give both") && error.description.contains("cert_file: a client certificate needs TLS"))
        }
        c.keyFile = "/etc/hostname"
        c.caFile = "/etc/hostname"
        c.broker = "mqtts://127.0.0.1:8883"
        try c.validate()
        #expect(c.mqtt.certFile == "/etc/hostname" && c.mqtt.keyFile == "/etc/hostname")
    }

    @Test func payloadAndBufferBoundsAreConfiguredAndValidated() throws {
        var c = GatewayConfiguration()
        #expect(c.mqtt.maxPayloadBytes == 256 * 1024 && c.mqtt.bufferBytes == 64 * 1024 * 1024)
        try c.applyEnvironment(["FIELDWATCH_MAX_PAYLOAD_KIB": "1024", "FIELDWATCH_MQTT_BUFFER_MIB": "8"])
        #expect(c.mqtt.maxPayloadBytes == 1024 * 1024 && c.mqtt.bufferBytes == 8 * 1024 * 1024)
        c.maxPayloadKiB = 0
        #expect(throws: ConfigurationError.self) { try c.validate() }
        c.maxPayloadKiB = 16_384
        c.mqttBufferMiB = 8
        do {
            try c.validate()
            Issue.record("a buffer smaller than one payload was accepted")
        } catch {
            #expect(error.description.contains("mqtt_buffer_mib: 8 MiB cannot hold one payload"))
        }
    }
}

@Suite("Configuration: webhooks are signed and encrypted")
struct WebhookConfigurationTests {
    func problems(_ c: GatewayConfiguration) -> String {
        do { try c.validate(); return "" } catch { return error.description }
    }

    @Test func webhooksNeedASecretAndHTTPSToAnotherMachine() {
        var c = GatewayConfiguration()
        c.webhooks = ["https://hooks.example.com/fieldwatch"]
        #expect(problems(c).contains("webhook_secret: required with webhooks"))
        c.webhookSecret = "short"
        #expect(problems(c).contains("webhook_secret: 5 characters is too short"))
        c.webhookSecret = String(repeating: "k", count: 32)
        #expect(problems(c).isEmpty)
        c.webhooks = ["http://10.1.2.3:9000/hook"]
        #expect(problems(c).contains("plain http:// to another machine"))
        c.webhooks = ["http://127.0.0.1:9000/hook"]
        #expect(problems(c).isEmpty, "loopback never crosses the network")
        c.webhooks = ["http://10.1.2.3:9000/hook"]
        c.webhookAllowHTTP = true
        #expect(problems(c).isEmpty)
        c.webhookMaxAttempts = 0
        #expect(problems(c).contains("webhook_max_attempts: 0 is outside 1...1000"))
    }
}
