import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Wakes a long-running service (the engine, the notifier) when another process changes the data: inotify on
/// the data folder, reporting writes to the named files (the databases' write-ahead logs). No polling: an idle
/// service sleeps in the kernel.
public enum DirectoryWatcher {
    /// A stream that yields (coalesced) when any of `names` in `folder` is written, until it is dropped.
    /// Empty where inotify is not available.
    public static func changes(in folder: URL, names: Set<String>) -> AsyncStream<Void> {
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
                    if Self.mentions(names, in: buffer[..<count]) { continuation.yield() }
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
        /// Whether any inotify event in `events` names one of `names`.
        private static func mentions(_ names: Set<String>, in events: ArraySlice<UInt8>) -> Bool {
            var offset = events.startIndex
            let header = MemoryLayout<inotify_event>.size
            while offset + header <= events.endIndex {
                let length = events.withUnsafeBytes { raw in
                    Int(raw.loadUnaligned(fromByteOffset: offset - events.startIndex + 12, as: UInt32.self))
                }
                let nameBytes = events[(offset + header)..<min(offset + header + length, events.endIndex)]
                let name = String(decoding: nameBytes.prefix { $0 != 0 }, as: UTF8.self)
                if names.contains(name) { return true }
                offset += header + length
            }
            return false
        }
    #endif
}
