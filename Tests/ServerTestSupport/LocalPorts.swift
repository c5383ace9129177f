import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Loopback ports for the servers the tests start.
public enum LocalPorts {
    /// Whether something listens on 127.0.0.1:`port`.
    public static func accepts(port: Int) -> Bool {
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socket >= 0 else { return false }
        defer { close(socket) }
        return withLoopback(port: port) { connect(socket, $0, $1) == 0 }
    }

    /// `count` distinct ports free on 127.0.0.1 right now, none handed out before in this process.
    ///
    /// They are drawn from below the kernel's ephemeral range (`ip_local_port_range`): a port in that range can
    /// be taken, between this check and the server's bind, as the local end of any outgoing connection (the
    /// server's own, too: a SeaweedFS starting its master and volume connects out before it binds its admin
    /// port). Below 55535 as well, because some tools add 10000 to a port.
    public static func free(_ count: Int) throws -> [Int] {
        let candidates = Self.candidates
        guard candidates.count >= count * 4 else {
            throw LocalPortsError(message: "too few ports below the ephemeral range: \(candidates)")
        }
        return try handedOut.withLock { handedOut in
            var ports: [Int] = []
            var start = Int.random(in: candidates)
            var tried = 0
            while ports.count < count {
                guard tried < candidates.count else {
                    throw LocalPortsError(message: "no \(count) free ports in \(candidates) on 127.0.0.1")
                }
                let port = start
                start = start + 1 == candidates.upperBound ? candidates.lowerBound : start + 1
                tried += 1
                guard !handedOut.contains(port), isFree(port) else { continue }
                handedOut.insert(port)
                ports.append(port)
            }
            return ports
        }
    }

    /// Ports this process handed out: a server that has not bound its port yet must not get it twice.
    private static let handedOut = Mutex<Set<Int>>([])

    /// 20000 up to the ephemeral range's start (32768 by default), or 20000–29999 where that range is unusual.
    private static let candidates: Range<Int> = {
        let text = (try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8)) ?? ""
        let bounds = text.split(whereSeparator: \.isWhitespace).compactMap { Int($0) }
        guard let low = bounds.first, low > 21000 else { return 20000..<30000 }
        return 20000..<min(low, 55535)
    }()

    /// Whether a socket can bind 127.0.0.1:`port` now (no `SO_REUSEADDR`: a port still in TIME_WAIT is not free).
    public static func isFree(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        return withLoopback(port: port) { bind(fd, $0, $1) == 0 }
    }

    /// Calls `body` with 127.0.0.1:`port` as the socket calls take it (`connect`, `bind`).
    public static func withLoopback<T>(
        port: Int, _ body: (UnsafePointer<sockaddr>, socklen_t) throws -> T
    ) rethrows -> T {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return try withUnsafePointer(to: &address) {
            try $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                try body($0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
    }
}

public struct LocalPortsError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}
