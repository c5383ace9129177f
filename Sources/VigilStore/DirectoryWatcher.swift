import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Wakes a long-running service (the engine, the notifier) when another process changes the data: inotify on
/// the data folder, reporting writes to the named files (the databases' write-ahead logs). No polling: an idle
/// service sleeps in the kernel.
public enum DirectoryWatcher {
    /// A stream that yields when any of `names` in `folder` is written, until it is dropped: at once for the
    /// first write, then at most once per `interval`. Empty where inotify is not available.
    ///
    /// The thread itself rests for `interval` after each report, rather than waking for every write: SQLite
    /// writes its log a page at a time, and a busy service writes a few hundred pages a second. Woken for each,
    /// the thread took the cores from the detector's threads hundreds of times a second; the kernel meanwhile
    /// merges the writes it would have reported one by one.
    public static func changes(
        in folder: URL, names: Set<String>, interval: Duration = .zero
    ) -> AsyncStream<Void> {
        let (stream, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        #if os(Linux)
            let watch = inotify_init1(Int32(IN_CLOEXEC | IN_NONBLOCK))
            var stop: [Int32] = [-1, -1]
            guard watch >= 0, pipe(&stop) == 0,
                inotify_add_watch(watch, folder.path, UInt32(IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE)) >= 0
            else {
                continuation.finish()
                return stream
            }
            let (stopRead, stopWrite) = (stop[0], stop[1])
            continuation.onTermination = { _ in
                var byte: UInt8 = 1
                _ = write(stopWrite, &byte, 1)
            }
            let thread = Thread {
                defer {
                    close(watch)
                    close(stopRead)
                    close(stopWrite)
                }
                var buffer = [UInt8](repeating: 0, count: 64 << 10)
                let (seconds, attoseconds) = interval.components
                let rest = Int32(clamping: seconds * 1000 + attoseconds / 1_000_000_000_000_000)
                while true {
                    var fds = [
                        pollfd(fd: watch, events: Int16(POLLIN), revents: 0),
                        pollfd(fd: stopRead, events: Int16(POLLIN), revents: 0),
                    ]
                    guard poll(&fds, 2, -1) >= 0 || errno == EINTR else { return }
                    if fds[1].revents != 0 { return }
                    guard fds[0].revents != 0 else { continue }
                    let count = read(watch, &buffer, buffer.count)
                    guard count > 0 else { continue }
                    guard Self.mentions(names, in: buffer[..<count]) else { continue }
                    continuation.yield()
                    // Resting, but still stopped at once when the stream is dropped.
                    var stopOnly = pollfd(fd: stopRead, events: Int16(POLLIN), revents: 0)
                    if rest > 0, poll(&stopOnly, 1, rest) > 0 { return }
                }
            }
            thread.name = "vigil-watch"
            thread.start()
        #else
            continuation.finish()
        #endif
        return stream
    }

    #if os(Linux)
        /// Whether any inotify event in `events` names one of `names`, or says events were lost (the kernel's
        /// queue overflowed while the thread rested: any of them may have been one of `names`).
        static func mentions(_ names: Set<String>, in events: ArraySlice<UInt8>) -> Bool {
            var offset = events.startIndex
            let header = MemoryLayout<inotify_event>.size
            while offset + header <= events.endIndex {
                let (mask, length) = events.withUnsafeBytes { raw in
                    let at = offset - events.startIndex
                    return (
                        raw.loadUnaligned(fromByteOffset: at + 4, as: UInt32.self),
                        Int(raw.loadUnaligned(fromByteOffset: at + 12, as: UInt32.self))
                    )
                }
                if mask & UInt32(IN_Q_OVERFLOW) != 0 { return true }
                let nameBytes = events[(offset + header)..<min(offset + header + length, events.endIndex)]
                let name = String(decoding: nameBytes.prefix { $0 != 0 }, as: UTF8.self)
                if names.contains(name) { return true }
                offset += header + length
            }
            return false
        }
    #endif
}
