import FieldwatchCore

/// Why saved series could not be read back. The caller starts with empty series then: saved
/// history is worth keeping, never worth refusing to run for.
public struct SeriesSnapshotError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What is wrong with the saved bytes, and where.
    public var problem: String

    public init(_ problem: String) { self.problem = problem }

    public var description: String { problem }
}

/// The contents of a `SeriesStore` (per series: the ring's samples and the compressed history
/// behind it), in a form that can be saved and put back after a restart.
///
/// It is saved in two parts because they change at different rates. A *sealed* history block
/// never changes once closed, so it is saved once, on its own, keyed by series and first
/// timestamp. The *recent* part — every ring, Gorilla-compressed on save, and every history
/// block still being filled — changes with each sample and is rewritten whole each time
/// (`encodedRecent()`). With days of history per series, rewriting everything at every
/// checkpoint would cost hundreds of times what changed.
public struct SeriesSnapshot: Sendable, Equatable {
    /// One series' saved samples, oldest first across `sealed`, `open` and `ring`.
    public struct Series: Sendable, Equatable {
        /// Closed history blocks, oldest first.
        public var sealed: [GorillaBlock]
        /// The history block being filled; nil when the series has no history.
        public var open: GorillaBlock?
        /// The ring's samples, oldest first.
        public var ring: [Sample]

        public init(sealed: [GorillaBlock] = [], open: GorillaBlock? = nil, ring: [Sample]) {
            self.sealed = sealed
            self.open = open
            self.ring = ring
        }

        /// Samples in every part.
        public var sampleCount: Int { sealed.reduce((open?.count ?? 0) + ring.count) { $0 + $1.count } }
    }

    public var series: [SeriesKey: Series]

    public init(series: [SeriesKey: Series] = [:]) { self.series = series }

    /// The version of `encodedRecent()` this code writes and reads. Bump it when the layout
    /// changes; an older reader then refuses the newer bytes with a message instead of misreading them.
    public static let format: UInt16 = 1
    static let magic: [UInt8] = Array("FWSS".utf8)

    /// Every series' ring and open history block, without the sealed blocks: `FWSS`, the
    /// format (UInt16), the series count (UInt32), then per series, ordered by key, the device
    /// and sensor (UInt16 length + UTF-8), the ring as a Gorilla block and the open block (each
    /// UInt32 length + `GorillaBlock.serialized`; length 0 for no open block). All integers
    /// little-endian. The rings are compressed here, so the caller should call this outside
    /// any lock the ingest path takes.
    public func encodedRecent() -> [UInt8] {
        var out = Self.magic
        out.reserveCapacity(series.count * 512)
        out.appendLittleEndian(Self.format)
        out.appendLittleEndian(UInt32(series.count))
        for (key, saved) in series.sorted(by: { ($0.key.device, $0.key.sensor) < ($1.key.device, $1.key.sensor) }) {
            out.appendString(key.device.rawValue)
            out.appendString(key.sensor.rawValue)
            var ring = GorillaBlock()
            for sample in saved.ring { ring.append(sample) }
            out.appendBytes(ring.serialized)
            out.appendBytes(saved.open?.serialized ?? [])
        }
        return out
    }

    /// The snapshot from its recent part and the sealed blocks saved beside it (by series,
    /// oldest first). Throws, naming the series and what is wrong, on an unknown format,
    /// truncated or damaged bytes, or parts that overlap in time.
    public static func decode(recent bytes: some Collection<UInt8>, sealed: [SeriesKey: [GorillaBlock]] = [:]) throws(SeriesSnapshotError) -> SeriesSnapshot {
        var reader = ByteReader(bytes: Array(bytes))
        guard Array(try reader.take(4, "the header")) == Self.magic else {
            throw SeriesSnapshotError("the saved series are not a series snapshot (no FWSS header)")
        }
        let format = try reader.uint16("the format")
        guard format == Self.format else {
            throw SeriesSnapshotError("the saved series have format \(format); this version reads format \(Self.format) only")
        }
        let count = Int(try reader.uint32("the series count"))
        var snapshot = SeriesSnapshot()
        for index in 0..<count {
            let device = try reader.string("the device of series \(index + 1) of \(count)")
            let sensor = try reader.string("the sensor of series \(index + 1) of \(count)")
            let key = SeriesKey(device: DeviceID(device), sensor: SensorKey(sensor))
            do throws(SeriesSnapshotError) {
                let ring = try GorillaBlock(serialized: try reader.lengthPrefixed("the ring"))
                let openBytes = try reader.lengthPrefixed("the open history block")
                let open = openBytes.isEmpty ? nil : try GorillaBlock(serialized: openBytes)
                let saved = Series(sealed: sealed[key] ?? [], open: open, ring: ring.samples)
                try saved.checkOrder()
                snapshot.series[key] = saved
            } catch {
                throw SeriesSnapshotError("series \(key): \(error.problem)")
            }
        }
        guard reader.isAtEnd else {
            throw SeriesSnapshotError("the saved series have \(reader.remaining) bytes after the last of their \(count) series")
        }
        return snapshot
    }
}

extension SeriesSnapshot.Series {
    /// Sealed blocks, open block and ring must follow one another in time, as a store fills them.
    func checkOrder() throws(SeriesSnapshotError) {
        var previous: (what: String, last: Timestamp)?
        func follow(_ what: String, first: Timestamp?, last: Timestamp?) throws(SeriesSnapshotError) {
            guard let first, let last else { return }
            if let previous, first < previous.last {
                throw SeriesSnapshotError("\(what) starts at \(first.milliseconds) ms, before the end of \(previous.what) (\(previous.last.milliseconds) ms)")
            }
            previous = (what, last)
        }
        for block in sealed { try follow("the history block of \(block.first?.milliseconds ?? 0) ms", first: block.first, last: block.last) }
        try follow("the open history block", first: open?.first, last: open?.last)
        try follow("the ring", first: ring.first?.timestamp, last: ring.last?.timestamp)
    }
}

/// Bounds-checked reading of saved bytes: a damaged snapshot throws, never traps.
struct ByteReader {
    let bytes: [UInt8]
    var offset = 0

    var isAtEnd: Bool { offset == bytes.count }
    var remaining: Int { bytes.count - offset }

    mutating func take(_ n: Int, _ what: String) throws(SeriesSnapshotError) -> ArraySlice<UInt8> {
        guard n >= 0, n <= remaining else {
            throw SeriesSnapshotError("the saved series end in \(what) (\(n) bytes wanted at offset \(offset), \(remaining) left)")
        }
        defer { offset += n }
        return bytes[offset..<offset + n]
    }

    mutating func uint16(_ what: String) throws(SeriesSnapshotError) -> UInt16 {
        try take(2, what).reversed().reduce(0) { $0 << 8 | UInt16($1) }
    }

    mutating func uint32(_ what: String) throws(SeriesSnapshotError) -> UInt32 {
        try take(4, what).reversed().reduce(0) { $0 << 8 | UInt32($1) }
    }

    mutating func string(_ what: String) throws(SeriesSnapshotError) -> String {
        let length = Int(try uint16(what))
        let utf8 = try take(length, what)
        guard let string = String(validating: utf8, as: UTF8.self), !string.isEmpty else {
            throw SeriesSnapshotError("\(what) at offset \(offset - length) is not a non-empty UTF-8 name")
        }
        return string
    }

    mutating func lengthPrefixed(_ what: String) throws(SeriesSnapshotError) -> ArraySlice<UInt8> {
        try take(Int(try uint32(what)), what)
    }
}

extension [UInt8] {
    mutating func appendLittleEndian(_ value: some FixedWidthInteger) {
        Swift.withUnsafeBytes(of: value.littleEndian) { append(contentsOf: $0) }
    }

    mutating func appendString(_ string: String) {
        let utf8 = Array(string.utf8.prefix(Int(UInt16.max)))
        appendLittleEndian(UInt16(utf8.count))
        append(contentsOf: utf8)
    }

    mutating func appendBytes(_ bytes: [UInt8]) {
        appendLittleEndian(UInt32(bytes.count))
        append(contentsOf: bytes)
    }
}
