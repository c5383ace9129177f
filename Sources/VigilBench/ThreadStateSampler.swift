import Foundation
import Synchronization
import VigilStore
import VigilVision

#if canImport(Glibc)
    import Glibc
#endif

/// What this process's threads waited for in the kernel, sampled from `/proc/self/task` every few milliseconds
/// on a thread of its own (`serve --watch-threads`): how often each kind of thread (by name) was found in
/// uninterruptible sleep (`D`, on Linux mostly a wait for the disk), in which kernel function (`wchan`), and how
/// long at most two or more threads of one kind were in it at once (for Swift's cooperative threads, named
/// `…default-qos`, that is async code as a whole held up). Swift's async code shares as many
/// cooperative threads as there are cores: a file system call that holds them all holds every request, commit
/// and delivery of the process (docs/benchmarks.md, session 48). A diagnostic: its thread wakes every few
/// milliseconds, which keeps a core from idling and so changes a little what it watches.
final class ThreadStateSampler: Sendable {
    /// The threads of one name.
    struct Kind: Encodable, Sendable {
        var name: String
        var threads: Int
        /// Samples that found one or more of them in `D`.
        var blockedSamples: Int
        /// Where they waited (kernel function → samples), the five most frequent.
        var waits: [String: Int]
        /// Samples that found two or more of them in `D` at once, and the longest run of such samples back to back.
        var togetherSamples: Int
        var longestTogetherMilliseconds: Double

        /// The waits, most frequent first.
        var waitsInOrder: [(function: String, samples: Int)] { Self.mostFrequentFirst(waits) }

        /// Counts by function, most frequent first (ties by name).
        static func mostFrequentFirst(_ counts: [String: Int]) -> [(function: String, samples: Int)] {
            counts.sorted { ($0.value, $1.key) > ($1.value, $0.key) }.map { ($0.key, $0.value) }
        }
    }

    struct Report: Encodable, Sendable {
        var intervalMilliseconds: Double
        var samples: Int
        /// The kinds found in `D` at least once, most often first.
        var kinds: [Kind]
    }

    private struct Tally {
        var samples = 0
        var threads: [String: Set<Int32>] = [:]
        var blocked: [String: Int] = [:]
        var waits: [String: [String: Int]] = [:]
        var together: [String: Int] = [:]
        var streaks: [String: Int] = [:]
        var longestStreaks: [String: Int] = [:]
        var sampling = true
    }

    let interval: Duration
    private let tally = Mutex(Tally())
    private let stopped = Atomic<Bool>(false)
    /// Where the sampling loop runs, never on a thread that async code shares.
    private let thread = WorkerThread(name: "vigil-threads")

    /// Starts sampling at once, every `interval`.
    init(interval: Duration = .milliseconds(5)) {
        self.interval = interval
        thread.submit { [self] in
            while !stopped.load(ordering: .relaxed) {
                if tally.withLock({ $0.sampling }) { sample() }
                Thread.sleep(forTimeInterval: interval.inSeconds)
            }
        }
    }

    /// Sampling pauses (while something not to be watched runs) and resumes.
    func pause() { tally.withLock { $0.sampling = false } }
    func resume() { tally.withLock { $0.sampling = true } }

    /// What was seen since the last `take()` (or the start); counting starts afresh.
    func take() -> Report {
        let taken = tally.withLock { tally in
            defer {
                let sampling = tally.sampling
                tally = Tally()
                tally.sampling = sampling
            }
            return tally
        }
        let milliseconds = interval.inSeconds * 1000
        let kinds = taken.blocked.map { name, samples in
            let waits = Kind.mostFrequentFirst(taken.waits[name] ?? [:]).prefix(5)
            return Kind(
                name: name, threads: taken.threads[name]?.count ?? 0, blockedSamples: samples,
                waits: Dictionary(uniqueKeysWithValues: waits.map { ($0.function, $0.samples) }),
                togetherSamples: taken.together[name] ?? 0,
                longestTogetherMilliseconds: Double(taken.longestStreaks[name] ?? 0) * milliseconds)
        }
        .sorted { ($0.blockedSamples, $1.name) > ($1.blockedSamples, $0.name) }
        return Report(intervalMilliseconds: milliseconds, samples: taken.samples, kinds: kinds)
    }

    /// Ends the sampling loop and waits for it (the thread runs its work in order).
    func stop() async {
        stopped.store(true, ordering: .relaxed)
        _ = try? await thread.run {}
    }

    /// One look at every thread of the process.
    private func sample() {
        guard let directory = opendir("/proc/self/task") else { return }
        defer { closedir(directory) }
        var seen: [(name: String, id: Int32, wait: String?)] = []
        while let entry = readdir(directory) {
            let id = withUnsafeBytes(of: entry.pointee.d_name) { bytes in
                Int32(String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self))
            }
            guard let id, let stat = Self.read("/proc/self/task/\(id)/stat"), let (name, state) = Self.parse(stat)
            else { continue }
            let wait = state == "D" ? Self.read("/proc/self/task/\(id)/wchan") ?? "?" : nil
            seen.append((name, id, wait))
        }
        tally.withLock { tally in
            tally.samples += 1
            var blockedNow: [String: Int] = [:]
            for thread in seen {
                tally.threads[thread.name, default: []].insert(thread.id)
                guard let wait = thread.wait else { continue }
                blockedNow[thread.name, default: 0] += 1
                tally.waits[thread.name, default: [:]][wait.isEmpty || wait == "0" ? "?" : wait, default: 0] += 1
            }
            for name in blockedNow.keys { tally.blocked[name, default: 0] += 1 }
            for name in Set(tally.streaks.keys).union(blockedNow.keys) {
                guard blockedNow[name, default: 0] >= 2 else {
                    tally.streaks[name] = nil
                    continue
                }
                tally.together[name, default: 0] += 1
                tally.streaks[name, default: 0] += 1
                tally.longestStreaks[name] = max(tally.longestStreaks[name] ?? 0, tally.streaks[name] ?? 0)
            }
        }
    }

    /// A thread's name and state from its `stat` line: `tid (name) S …`, the name possibly holding spaces and
    /// parentheses itself, so it ends at the last `)`.
    static func parse(_ stat: String) -> (name: String, state: Character)? {
        guard let open = stat.firstIndex(of: "("), let close = stat.lastIndex(of: ")"), open < close else { return nil }
        let rest = stat[stat.index(after: close)...].drop { $0 == " " }
        guard let state = rest.first else { return nil }
        return (String(stat[stat.index(after: open)..<close]), state)
    }

    private static func read(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 512)
        let count = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
        guard count > 0 else { return nil }
        return String(decoding: buffer[..<count], as: UTF8.self)
    }

    /// The report as a line of the benchmark's output.
    static func line(_ report: Report) -> String {
        guard !report.kinds.isEmpty else {
            return String(
                format: "  threads in uninterruptible sleep (D), %d samples every %.0f ms: none", report.samples,
                report.intervalMilliseconds)
        }
        let kinds = report.kinds.map { kind in
            "\(kind.name) (\(kind.threads) threads) \(kind.blockedSamples) ("
                + kind.waitsInOrder.map { "\($0.function) \($0.samples)" }.joined(separator: ", ")
                + String(
                    format: "), two or more at once %d, at most %.0f ms in a row", kind.togetherSamples,
                    kind.longestTogetherMilliseconds)
        }
        return String(
            format: "  threads in uninterruptible sleep (D), %d samples every %.0f ms: %@", report.samples,
            report.intervalMilliseconds, kinds.joined(separator: "; "))
    }
}
