import CMosquitto
import Foundation

/// A libmosquitto call that failed: which operation, the return code, and libmosquitto's own
/// explanation (`mosquitto_strerror`), plus what to check.
public struct MQTTError: Error, Sendable, CustomStringConvertible {
    public var operation: String
    public var code: Int32
    public var message: String

    public init(operation: String, code: Int32, message: String) {
        self.operation = operation
        self.code = code
        self.message = message
    }

    public var description: String { "MQTT \(operation) failed: \(message) (libmosquitto code \(code))" }
}

@inline(__always)
func mosqCode(_ e: mosq_err_t) -> Int32 { Int32(bitPattern: UInt32(e.rawValue)) }

/// The one funnel for libmosquitto return codes: success passes, anything else throws an
/// error carrying `mosquitto_strerror` text (and `strerror(errno)` for system errors).
func check(_ rc: Int32, operation: @autoclosure () -> String) throws(MQTTError) {
    guard rc != mosqCode(MOSQ_ERR_SUCCESS) else { return }
    throw MQTTError(operation: operation(), code: rc, message: describe(rc))
}

/// Human text for a libmosquitto return code.
func describe(_ rc: Int32) -> String {
    if rc == mosqCode(MOSQ_ERR_ERRNO) {
        let e = errno
        return String(cString: strerror(e))
    }
    let text = String(cString: mosquitto_strerror(rc))
    if rc == mosqCode(MOSQ_ERR_TLS) {
        return text + " Check that ca_file is the CA that signed the broker's certificate and that the certificate names the host you connect to"
    }
    return text
}
