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
