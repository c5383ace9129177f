import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// S3's two date formats, parsed by hand: DateFormatter is slow and not safe to share between tasks.
enum S3Dates {
    /// ISO 8601 as in list answers: `2026-12-01T17:45:31.000Z`.
    static func parseISO8601(_ text: String) -> Date? {
        let bytes = Array(text.utf8)
        guard bytes.count >= 20 else { return nil }
        func number(_ from: Int, _ count: Int) -> Int32? {
            var value: Int32 = 0
            for byte in bytes[from..<(from + count)] {
                guard byte >= 48, byte <= 57 else { return nil }
                value = value * 10 + Int32(byte - 48)
            }
            return value
        }
        guard let year = number(0, 4), let month = number(5, 2), let day = number(8, 2), let hour = number(11, 2),
            let minute = number(14, 2), let second = number(17, 2)
        else { return nil }
        var fraction = 0.0
        if bytes[19] == UInt8(ascii: "."), let end = bytes[20...].firstIndex(where: { $0 < 48 || $0 > 57 }) {
            fraction = Double("0." + String(decoding: bytes[20..<end], as: UTF8.self)) ?? 0
        }
        return make(year, month, day, hour, minute, second).map { $0.addingTimeInterval(fraction) }
    }

    /// RFC 1123 as in `Last-Modified`: `Tue, 01 Dec 2026 17:45:31 GMT`.
    static func parseHTTP(_ text: String) -> Date? {
        let parts = text.split(separator: " ")
        guard parts.count >= 5, let day = Int32(parts[1]), let year = Int32(parts[3]) else { return nil }
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        guard let month = months.firstIndex(of: String(parts[2])) else { return nil }
        let clock = parts[4].split(separator: ":").compactMap { Int32($0) }
        guard clock.count == 3 else { return nil }
        return make(year, Int32(month + 1), day, clock[0], clock[1], clock[2])
    }

    private static func make(
        _ year: Int32, _ month: Int32, _ day: Int32, _ hour: Int32, _ minute: Int32, _ second: Int32
    ) -> Date? {
        var parts = tm()
        parts.tm_year = year - 1900
        parts.tm_mon = month - 1
        parts.tm_mday = day
        parts.tm_hour = hour
        parts.tm_min = minute
        parts.tm_sec = second
        let seconds = timegm(&parts)
        return seconds == -1 ? nil : Date(timeIntervalSince1970: Double(seconds))
    }
}
