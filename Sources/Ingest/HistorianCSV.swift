import FieldwatchCore
import Foundation

/// A historian export read as a stream: a header, then one row per time, a timestamp column and
/// one column per tag (`Time;P101_Temp;P101_Flow` …), `,` or `;` separated, as SCADA historians
/// and spreadsheets write them. Memory stays bounded (one read buffer) whatever the file's size.
///
/// Numbers are parsed by hand when they are plain decimals (`-12.375`, `12,375` with `;`):
/// `Double(String)` per cell was most of the old reader's time. Decimals of up to 15 significant
/// digits are exact (an integer mantissa divided by an exact power of ten rounds once, as
/// `strtod` does); anything else (exponents, more digits) goes to `strtod`.
public final class HistorianCSVReader {
    public enum TimeFormat: String, Sendable, CaseIterable {
        /// ISO 8601 / RFC 3339 (`2026-03-01T08:00:00Z`, `2026-03-01 08:00:00.250`), `DD.MM.YYYY HH:MM[:SS]`,
        /// or epoch seconds / milliseconds by magnitude, decided from the first row.
        case auto
        case iso
        /// `DD.MM.YYYY HH:MM[:SS]` or `DD/MM/YYYY …` (Europe, China's Excel exports).
        case dmy
        /// `MM/DD/YYYY HH:MM[:SS]` (US).
        case mdy
        case epochSeconds = "epoch_s"
        case epochMilliseconds = "epoch_ms"
    }

    public struct Failure: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    public let path: String
    public let delimiter: UInt8
    public let columns: [String]
    public let timeColumn: Int
    /// Where local times (without an offset) are read: the site's zone.
    public let timeZone: TimeZone
    public private(set) var format: TimeFormat
    /// Data rows read, and rows skipped (the reason of the first few is kept).
    public private(set) var rows = 0
    public private(set) var skipped = 0
    public private(set) var skipReasons: [String] = []
    /// Cells that were empty or not numbers (`N/A`, `Bad`, `#####`): missing readings, counted.
    public private(set) var missingCells = 0
    public private(set) var bytesRead = 0

    /// Columns to read (default all); the others are skipped without parsing or counting.
    public var wanted: [Bool] = []

    private let handle: FileHandle
    private var buffer: [UInt8] = []
    private var position = 0
    private var eof = false
    private var lineNumber = 1
    /// The zone offset of the last local hour converted (offsets change at most twice a year).
    private var zoneCache: (hour: Int64, offset: Int64) = (.min, 0)

    static let chunk = 1 << 20

    /// Opens the file and reads its header. `timeColumnName` nil: the first column whose name
    /// looks like a time (`time`, `timestamp`, `date`, `datetime`, `时间`), else the first column.
    public init(path: String, delimiter: UInt8? = nil, timeColumnName: String? = nil, format: TimeFormat = .auto, timeZone: TimeZone) throws(Failure) {
        self.path = path
        guard let handle = FileHandle(forReadingAtPath: path) else { throw Failure(description: "cannot open \(path); check the path") }
        self.handle = handle
        self.timeZone = timeZone
        self.format = format
        var header: [UInt8] = []
        var tmpBuffer: [UInt8] = []
        var tmpPosition = 0
        // Read the header line (up to 1 MiB).
        while true {
            let data = (try? handle.read(upToCount: Self.chunk)) ?? nil
            guard let data, !data.isEmpty else { break }
            tmpBuffer += data
            if let nl = tmpBuffer.firstIndex(of: 0x0A) {
                header = Array(tmpBuffer[..<nl])
                tmpPosition = nl + 1
                break
            }
            if tmpBuffer.count > Self.chunk { throw Failure(description: "\(path): no line break in the first MiB; is this a CSV file?") }
        }
        if header.isEmpty && tmpPosition == 0 { header = tmpBuffer; tmpPosition = tmpBuffer.count }
        if header.last == 0x0D { header.removeLast() }
        if header.starts(with: [0xEF, 0xBB, 0xBF]) { header.removeFirst(3) }  // a UTF-8 BOM (Excel)
        guard !header.isEmpty else { throw Failure(description: "\(path) is empty; expected a header line such as Time;P101_Temp;P101_Flow") }
        let semicolons = header.filter { $0 == UInt8(ascii: ";") }.count
        let commas = header.filter { $0 == UInt8(ascii: ",") }.count
        let tabs = header.filter { $0 == 0x09 }.count
        let chosen = delimiter ?? (semicolons > max(commas, tabs) ? UInt8(ascii: ";") : tabs > commas ? 0x09 : UInt8(ascii: ","))
        self.delimiter = chosen
        let names = Self.split(header[...], by: chosen).map { String(decoding: Self.unquote($0), as: UTF8.self).trimmingCharacters(in: .whitespaces) }
        guard names.count >= 2 else {
            throw Failure(description: "\(path):1: the header has \(names.count) column; expected a time column and at least one tag, separated by ',' or ';'")
        }
        columns = names
        if let timeColumnName {
            guard let i = names.firstIndex(of: timeColumnName) else {
                throw Failure(description: "\(path):1: no column \"\(timeColumnName)\" (columns: \(names.joined(separator: ", ")))")
            }
            timeColumn = i
        } else {
            let timeish = ["time", "timestamp", "date", "datetime", "date/time", "ts", "时间", "日期时间"]
            timeColumn = names.firstIndex { timeish.contains($0.lowercased()) } ?? 0
        }
        buffer = tmpBuffer
        position = tmpPosition
        bytesRead = tmpBuffer.count
    }

    deinit { try? handle.close() }

    /// The next data row: its time, and each column's value (nil: empty or not a number). The
    /// time column's own slot is nil. False at the end of the file; a row without a usable time
    /// is skipped and counted (`skipped`, `skipReasons`), never an error.
    public func next(time: inout Timestamp, values: inout [Double?]) -> Bool {
        while true {
            guard let line = nextLine() else { return false }
            lineNumber += 1
            if line.isEmpty { continue }
            if values.count != columns.count { values = Array(repeating: nil, count: columns.count) }
            var column = 0
            var start = line.startIndex
            var t: Timestamp?
            var cells = 0
            var i = line.startIndex
            while true {
                let end = i == line.endIndex
                if end || line[i] == delimiter {
                    if column < columns.count {
                        let cell = Self.trim(line[start..<i])
                        if column == timeColumn {
                            t = parseTime(Self.unquote(cell))
                            values[column] = nil
                        } else if !wanted.isEmpty && !wanted[column] {
                            values[column] = nil
                        } else if cell.isEmpty {
                            values[column] = nil
                            missingCells += 1
                        } else if let v = Self.number(Self.unquote(cell), decimalComma: delimiter == UInt8(ascii: ";")) {
                            values[column] = v
                        } else {
                            values[column] = nil
                            missingCells += 1
                        }
                    }
                    column += 1
                    cells += 1
                    if end { break }
                    start = line.index(after: i)
                }
                i = line.index(after: i)
            }
            guard let t else { skip("line \(lineNumber): no time in column \(timeColumn + 1)"); continue }
            if cells < columns.count { for c in cells..<columns.count { values[c] = nil } }
            time = t
            rows += 1
            return true
        }
    }

    private func skip(_ reason: String) {
        skipped += 1
        if skipReasons.count < 5 { skipReasons.append(reason) }
    }

    /// The next line without its line break, from the buffer (refilled as needed).
    private func nextLine() -> ArraySlice<UInt8>? {
        while true {
            if let nl = buffer[position...].firstIndex(of: 0x0A) {
                var line = buffer[position..<nl]
                position = nl + 1
                if line.last == 0x0D { line = line.dropLast() }
                return line
            }
            if eof {
                guard position < buffer.count else { return nil }
                var line = buffer[position...]
                position = buffer.count
                if line.last == 0x0D { line = line.dropLast() }
                return line
            }
            // Keep the partial line, read the next chunk behind it.
            buffer.removeFirst(position)
            position = 0
            let data = (try? handle.read(upToCount: Self.chunk)) ?? nil
            if let data, !data.isEmpty {
                buffer += data
                bytesRead += data.count
            } else {
                eof = true
            }
        }
    }

    static func split(_ line: ArraySlice<UInt8>, by delimiter: UInt8) -> [ArraySlice<UInt8>] {
        line.split(separator: delimiter, omittingEmptySubsequences: false)
    }

    static func trim(_ cell: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        var c = cell
        while let f = c.first, f == 0x20 || f == 0x09 { c = c.dropFirst() }
        while let l = c.last, l == 0x20 || l == 0x09 { c = c.dropLast() }
        return c
    }

    static func unquote(_ cell: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        if cell.count >= 2, cell.first == UInt8(ascii: "\""), cell.last == UInt8(ascii: "\"") { return cell.dropFirst().dropLast() }
        return cell
    }

    static let powersOfTen: [Double] = (0...22).map { pow(10, Double($0)) }

    /// A cell as a number: the hand-written decimal path, else `strtod` on the text.
    static func number(_ cell: ArraySlice<UInt8>, decimalComma: Bool) -> Double? {
        var i = cell.startIndex
        var negative = false
        if i < cell.endIndex, cell[i] == UInt8(ascii: "-") || cell[i] == UInt8(ascii: "+") {
            negative = cell[i] == UInt8(ascii: "-")
            i += 1
        }
        var mantissa: Int64 = 0
        var digits = 0
        var fraction = 0
        var seenPoint = false
        var plain = i < cell.endIndex
        while i < cell.endIndex {
            let c = cell[i]
            if c >= 0x30 && c <= 0x39 {
                let d = Int64(c - 0x30)
                if seenPoint { fraction += 1 }
                if mantissa == 0 && d == 0 {
                    // A leading zero: no significant digit yet.
                } else if digits < 15 {
                    mantissa = mantissa * 10 + d
                    digits += 1
                } else {
                    plain = false
                    break
                }
            } else if (c == UInt8(ascii: ".") || (decimalComma && c == UInt8(ascii: ","))) && !seenPoint {
                seenPoint = true
            } else {
                plain = false
                break
            }
            i += 1
        }
        if plain && digits <= 15 && fraction <= 22 {
            let v = Double(mantissa) / powersOfTen[fraction]
            return negative ? -v : v
        }
        var text = String(decoding: cell, as: UTF8.self)
        if decimalComma { text = text.replacingOccurrences(of: ",", with: ".") }
        guard let v = Double(text), v.isFinite else { return nil }
        return v
    }

    // MARK: Times

    func parseTime(_ cell: ArraySlice<UInt8>) -> Timestamp? {
        if format == .auto { format = Self.guessFormat(cell) }
        switch format {
        case .auto: return nil
        case .epochSeconds, .epochMilliseconds:
            // Within 1970…33658 (what a millisecond count below 1e15 covers); anything else is no time.
            guard let v = Self.number(cell, decimalComma: false), case let ms = (format == .epochSeconds ? v * 1000 : v).rounded(),
                  ms >= 0, ms < 1e15 else { return nil }
            return Timestamp(milliseconds: Int64(ms))
        case .iso:
            return isoTime(cell)
        case .dmy, .mdy:
            return slashedTime(cell)
        }
    }

    static func guessFormat(_ cell: ArraySlice<UInt8>) -> TimeFormat {
        let a = Array(cell)
        if a.count >= 10, a[4] == UInt8(ascii: "-") || a[4] == UInt8(ascii: "/") { return .iso }
        if a.count >= 10, a[2] == UInt8(ascii: ".") || a[2] == UInt8(ascii: "/") || a[2] == UInt8(ascii: "-") {
            // 03/25/2026 can only be month first; 25/03/2026 only day first; 03/04 is taken as day first (most of the world).
            let first = int(cell, cell.startIndex, 2) ?? 0
            let second = int(cell, cell.startIndex + 3, 2) ?? 0
            return first <= 12 && second > 12 ? .mdy : .dmy
        }
        if let v = number(cell, decimalComma: false) { return v < 1e11 ? .epochSeconds : .epochMilliseconds }
        return .iso
    }

    /// `YYYY-MM-DD[T ]HH:MM[:SS[.fff]][Z|±HH:MM]`, or with `/` between date parts.
    func isoTime(_ cell: ArraySlice<UInt8>) -> Timestamp? {
        let a = cell
        let s = a.startIndex
        guard a.count >= 10, let y = Self.int(a, s, 4), let mo = Self.int(a, s + 5, 2), let d = Self.int(a, s + 8, 2) else { return nil }
        return clock(a, from: s + 10, year: y, month: mo, day: d)
    }

    /// `DD.MM.YYYY HH:MM[:SS]` (or `/`, `-`), `MM/DD/YYYY …` for mdy.
    func slashedTime(_ cell: ArraySlice<UInt8>) -> Timestamp? {
        let a = cell
        let s = a.startIndex
        guard a.count >= 10, let p = Self.int(a, s, 2), let q = Self.int(a, s + 3, 2), let y = Self.int(a, s + 6, 4) else { return nil }
        return clock(a, from: s + 10, year: y, month: format == .mdy ? p : q, day: format == .mdy ? q : p)
    }

    /// The time of day after a date (`[T ]HH:MM[:SS[.fff]]` and an optional zone), as a timestamp.
    func clock(_ a: ArraySlice<UInt8>, from start: Int, year: Int, month: Int, day: Int) -> Timestamp? {
        guard (1...12).contains(month), (1...31).contains(day) else { return nil }
        var i = start
        var h = 0, mi = 0, sec = 0, millis = 0
        if i < a.endIndex, a[i] == UInt8(ascii: "T") || a[i] == UInt8(ascii: " ") {
            guard let hh = Self.int(a, i + 1, 2), i + 3 < a.endIndex, a[i + 3] == UInt8(ascii: ":"), let mm = Self.int(a, i + 4, 2) else { return nil }
            h = hh
            mi = mm
            i += 6
            if i < a.endIndex, a[i] == UInt8(ascii: ":") {
                guard let ss = Self.int(a, i + 1, 2) else { return nil }
                sec = ss
                i += 3
                if i < a.endIndex, a[i] == UInt8(ascii: ".") || a[i] == UInt8(ascii: ",") {
                    i += 1
                    var scale = 100
                    while i < a.endIndex, a[i] >= 0x30, a[i] <= 0x39 {
                        millis += Int(a[i] - 0x30) * scale
                        scale /= 10
                        i += 1
                    }
                }
            }
        }
        guard h < 24, mi < 60, sec < 61 else { return nil }
        let naive = Self.daysFromCivil(year, month, day) * 86_400 + Int64(h * 3600 + mi * 60 + sec)
        var offset: Int64
        if i < a.endIndex {
            if a[i] == UInt8(ascii: "Z") {
                offset = 0
            } else if a[i] == UInt8(ascii: "+") || a[i] == UInt8(ascii: "-"), let oh = Self.int(a, i + 1, 2) {
                let om = i + 4 < a.endIndex ? (Self.int(a, i + (a[i + 3] == UInt8(ascii: ":") ? 4 : 3), 2) ?? 0) : 0
                offset = Int64(oh * 3600 + om * 60) * (a[i] == UInt8(ascii: "-") ? -1 : 1)
            } else {
                return nil
            }
        } else {
            offset = zoneOffset(naive)
        }
        return Timestamp(milliseconds: (naive - offset) * 1000 + Int64(millis))
    }

    /// The zone's offset for a local time, cached per local hour.
    func zoneOffset(_ naive: Int64) -> Int64 {
        let hour = naive / 3600
        if hour == zoneCache.hour { return zoneCache.offset }
        // The offset at the instant the naive time would be in UTC, corrected once: right
        // except within the hour a clock change repeats or skips.
        var offset = Int64(timeZone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(naive))))
        offset = Int64(timeZone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(naive - offset))))
        zoneCache = (hour, offset)
        return offset
    }

    static func int(_ a: ArraySlice<UInt8>, _ at: Int, _ count: Int) -> Int? {
        guard at >= a.startIndex, at + count <= a.endIndex else { return nil }
        var v = 0
        for k in at..<(at + count) {
            let c = a[k]
            guard c >= 0x30 && c <= 0x39 else { return nil }
            v = v * 10 + Int(c - 0x30)
        }
        return v
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
    static func daysFromCivil(_ year: Int, _ month: Int, _ day: Int) -> Int64 {
        let y = Int64(month <= 2 ? year - 1 : year)
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let m = Int64(month)
        let doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + Int64(day) - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }
}
