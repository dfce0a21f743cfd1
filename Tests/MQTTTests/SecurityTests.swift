import FieldwatchTesting
import Foundation
import Testing
@testable import MQTT

/// Runs a command-line tool (openssl, mosquitto_passwd) in `directory`; fails the test with its output.
func shell(_ command: String, in directory: URL) throws {
    let log = directory.appendingPathComponent("shell.log").path
    let pid = try spawn("/bin/sh", ["-c", "cd '\(directory.path)' && \(command)"], logPath: log)
    var status: Int32 = 0
    waitpid(pid, &status, 0)
    guard status == 0 else {
        throw FixtureError("`\(command)` failed: \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
    }
}

@Suite("MQTT credentials and TLS against a real mosquitto")
struct MQTTSecurityTests {
    @Test func usernameAndPassword() async throws {
        let dir = try makeTemporaryDirectory()
        try shell("mosquitto_passwd -b -c passwd gateway s3cret && chmod 0644 passwd", in: dir)
        let broker = try MosquittoBroker(anonymous: false, extraConfiguration: "password_file \(dir.path)/passwd")
        var good = MQTTConfiguration(host: "127.0.0.1", port: broker.port, clientID: "auth-ok", cleanSession: true)
        good.username = "gateway"
        good.password = "s3cret"
        let client = try MQTTClient(configuration: good)
        try client.connect()
        #expect(await client.waitUntilConnected())
        client.disconnect()

        var bad = good
        bad.clientID = "auth-bad"
        bad.password = "wrong"
        let refused = try MQTTClient(configuration: bad)
        try refused.connect()
        #expect(await eventually { refused.counters.refused >= 1 })
        #expect(!refused.isConnected)
        refused.disconnect()
    }

    @Test func tlsWithACAFile() async throws {
        let dir = try makeTemporaryDirectory()
        try shell("""
            openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 -subj /CN=fieldwatch-test-ca 2>/dev/null && \
            openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=127.0.0.1 2>/dev/null && \
            printf 'subjectAltName=IP:127.0.0.1\\n' > san.ext && \
            openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt -days 2 -extfile san.ext 2>/dev/null && \
            chmod 0644 server.key ca.key
            """, in: dir)
        let broker = try MosquittoBroker(extraConfiguration: """
            cafile \(dir.path)/ca.crt
            certfile \(dir.path)/server.crt
            keyfile \(dir.path)/server.key
            """)
        let config = MQTTConfiguration(host: "127.0.0.1", port: broker.port, clientID: "tls", caFile: "\(dir.path)/ca.crt", cleanSession: true)
        let client = try MQTTClient(configuration: config)
        try client.subscribe("t", qos: 1)
        var received: [MQTTMessage] = []
        try client.connect()
        #expect(await client.waitUntilConnected())
        try await Task.sleep(for: .milliseconds(200))
        try client.publish(topic: "t", payload: "over TLS", qos: 1)
        for await message in client.messages {
            received.append(message)
            break
        }
        #expect(received.map { String(decoding: $0.payload, as: UTF8.self) } == ["over TLS"])
        client.disconnect()

        // A client that does not trust the broker's CA never connects.
        try shell("openssl req -x509 -newkey rsa:2048 -nodes -keyout other.key -out other.crt -days 2 -subj /CN=other 2>/dev/null", in: dir)
        var untrusting = config
        untrusting.clientID = "tls-untrusting"
        untrusting.caFile = "\(dir.path)/other.crt"
        let other = try MQTTClient(configuration: untrusting)
        do {
            // The handshake may fail inside connect() (thrown) or on the loop thread (never connected).
            try other.connect()
            try await Task.sleep(for: .seconds(1))
            #expect(!other.isConnected)
        } catch {
            #expect("\(error)".contains("A TLS error occurred. Check that ca_file is the CA that signed the broker's certificate"))
        }
        other.disconnect()
    }

    @Test func aBrokerThatRequiresClientCertificatesLetsOnlyTheGatewayWithItsCertificateIn() async throws {
        let dir = try makeTemporaryDirectory()
        try shell("""
            openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 -subj /CN=fieldwatch-test-ca 2>/dev/null && \
            openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=127.0.0.1 2>/dev/null && \
            printf 'subjectAltName=IP:127.0.0.1\\n' > san.ext && \
            openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt -days 2 -extfile san.ext 2>/dev/null && \
            openssl req -newkey rsa:2048 -nodes -keyout gateway.key -out gateway.csr -subj /CN=fieldwatch-gateway 2>/dev/null && \
            openssl x509 -req -in gateway.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out gateway.crt -days 2 2>/dev/null && \
            chmod 0644 server.key ca.key gateway.key
            """, in: dir)
        let broker = try MosquittoBroker(extraConfiguration: """
            cafile \(dir.path)/ca.crt
            certfile \(dir.path)/server.crt
            keyfile \(dir.path)/server.key
            require_certificate true
            """)
        var config = MQTTConfiguration(host: "127.0.0.1", port: broker.port, clientID: "mtls", caFile: "\(dir.path)/ca.crt", cleanSession: true)
        config.certFile = "\(dir.path)/gateway.crt"
        config.keyFile = "\(dir.path)/gateway.key"
        let client = try MQTTClient(configuration: config)
        try client.connect()
        #expect(await client.waitUntilConnected(), "the gateway's certificate is accepted")
        client.disconnect()

        // Without a client certificate the broker hangs up during the handshake.
        var anonymous = config
        anonymous.clientID = "mtls-none"
        anonymous.certFile = nil
        anonymous.keyFile = nil
        let other = try MQTTClient(configuration: anonymous)
        do {
            try other.connect()
            try await Task.sleep(for: .seconds(1))
            #expect(!other.isConnected)
        } catch {
            // Refused inside connect(): fine, it is not connected either.
        }
        other.disconnect()
    }

    @Test func aMissingCAFileIsAClearError() throws {
        #expect {
            _ = try MQTTClient(configuration: MQTTConfiguration(clientID: "x", caFile: "/nonexistent/ca.pem"))
        } throws: { error in
            (error as? MQTTError)?.description.hasPrefix("MQTT tls_set(cafile: /nonexistent/ca.pem) failed:") == true
        }
    }
}
