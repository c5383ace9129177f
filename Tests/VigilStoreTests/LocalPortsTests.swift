import Foundation
import ServerTestSupport
import Testing

/// The ports the test servers get: SeaweedFS binds ten of them one after another while it connects out, so they
/// must be ones no outgoing connection can take meanwhile.
struct LocalPortsTests {
    @Test func portsAreBelowTheEphemeralRangeDistinctAndNeverHandedOutTwice() throws {
        let text = try String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8)
        let ephemeralStart = try #require(text.split(whereSeparator: \.isWhitespace).compactMap { Int($0) }.first)
        let first = try LocalPorts.free(10)
        let second = try LocalPorts.free(10)
        #expect(Set(first).count == 10)
        #expect(Set(first).isDisjoint(with: second))
        for port in first + second {
            #expect(port >= 1024)
            #expect(port < min(ephemeralStart, 55535))
            #expect(!LocalPorts.accepts(port: port))
        }
    }

    @Test func aPortSomethingListensOnIsNotFree() throws {
        let port = try #require(try LocalPorts.free(1).first)
        #expect(LocalPorts.isFree(port))
        let socket = try listen(on: port)
        #expect(!LocalPorts.isFree(port))
        close(socket)
        #expect(LocalPorts.isFree(port))
    }

    private func listen(on port: Int) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        try #require(LocalPorts.withLoopback(port: port) { bind(fd, $0, $1) } == 0)
        try #require(Glibc.listen(fd, 4) == 0)
        return fd
    }
}
