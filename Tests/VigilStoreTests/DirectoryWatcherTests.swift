import Testing

@testable import VigilStore

#if canImport(Glibc)
    import Glibc
#endif

#if os(Linux)
    @Suite("Directory watcher")
    struct DirectoryWatcherTests {
        /// One inotify event as the kernel lays it out: descriptor, mask, cookie, name length, the name padded
        /// with zeros.
        static func event(mask: UInt32, name: String = "") -> [UInt8] {
            var padded = Array(name.utf8)
            if !padded.isEmpty { padded += [UInt8](repeating: 0, count: 16 - padded.count % 16) }
            var bytes: [UInt8] = []
            for field in [UInt32(1), mask, 0, UInt32(padded.count)] { withUnsafeBytes(of: field) { bytes += $0 } }
            return bytes + padded
        }

        @Test func aWriteToAWatchedNameOrLostEventsAreReportedAndOtherNamesAreNot() {
            let watched: Set<String> = ["metadata.sqlite-wal"]
            let other = Self.event(mask: UInt32(IN_MODIFY), name: "access.sqlite-wal")
            let written = Self.event(mask: UInt32(IN_MODIFY), name: "metadata.sqlite-wal")
            // The kernel's queue overflowed while the thread rested: no name, and any write may be among those lost.
            let overflow = Self.event(mask: UInt32(IN_Q_OVERFLOW))
            #expect(!DirectoryWatcher.mentions(watched, in: other[...]))
            #expect(DirectoryWatcher.mentions(watched, in: (other + written)[...]))
            #expect(DirectoryWatcher.mentions(watched, in: (other + overflow)[...]))
            #expect(!DirectoryWatcher.mentions(watched, in: (other + other)[...]))
        }
    }
#endif
